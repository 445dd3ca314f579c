import type { Executor } from '../../storage/executor.js';
import type { ChangeResult } from '../domain-events.js';
import {
  advanceContactInfoTime,
  findContactByExternalKey,
  findContactByPhone,
  insertContactIfAbsent,
  updateContactInfo,
} from './contacts.repository.js';
import type { Contact, ContactUpdate } from './contacts.types.js';

/** The phone when known, else the messenger identity: how a contact is found. */
async function findContact(trx: Executor, update: ContactUpdate): Promise<Contact | undefined> {
  if (update.phone !== null) {
    const byPhone = await findContactByPhone(trx, update.phone);
    if (byPhone) return byPhone;
  }
  return update.externalKey === null ? undefined : findContactByExternalKey(trx, update.externalKey);
}

/**
 * Creates the contact or applies newer information to it. Information older (by the sender's
 * timestamp) than what is held is ignored. Runs inside the caller's transaction.
 */
export async function upsertContact(
  trx: Executor,
  update: ContactUpdate,
  now: number,
): Promise<{ contact: Contact; changed: boolean }> {
  const carriesInfo = update.name !== undefined || update.avatarUrl !== undefined || update.username !== undefined;
  let contact = await findContact(trx, update);
  if (!contact) {
    const created = await insertContactIfAbsent(trx, {
      phone: update.phone,
      phoneRaw: update.phoneRaw,
      externalKey: update.externalKey,
      name: update.name ?? null,
      avatarUrl: update.avatarUrl ?? null,
      username: update.username ?? null,
      infoUpdatedAt: carriesInfo ? update.occurredAt : null,
      createdAt: now,
    });
    if (created) return { contact: created, changed: true };
    // Another writer created it between our read and our insert.
    contact = (await findContact(trx, update))!;
  }

  if (!carriesInfo) return { contact, changed: false };
  if (contact.infoUpdatedAt !== null && update.occurredAt < contact.infoUpdatedAt) return { contact, changed: false };

  const next = {
    name: update.name !== undefined ? update.name : contact.name,
    avatarUrl: update.avatarUrl !== undefined ? update.avatarUrl : contact.avatarUrl,
    username: update.username !== undefined ? update.username : contact.username,
    phoneRaw: update.phoneRaw ?? contact.phoneRaw,
  };
  const differs =
    next.name !== contact.name ||
    next.avatarUrl !== contact.avatarUrl ||
    next.username !== contact.username ||
    next.phoneRaw !== contact.phoneRaw;
  // Even an unchanged value moves info_updated_at forward, so that a late, older update cannot
  // overwrite it afterwards.
  if (!differs) {
    if (contact.infoUpdatedAt === update.occurredAt) return { contact, changed: false };
    await advanceContactInfoTime(trx, contact.id, update.occurredAt);
    return { contact: { ...contact, infoUpdatedAt: update.occurredAt }, changed: false };
  }
  const updated = await updateContactInfo(trx, contact.id, {
    ...next,
    infoUpdatedAt: update.occurredAt,
    updatedAt: now,
  });
  if (!updated) return { contact, changed: false };
  return { contact: updated, changed: true };
}

/** Applies a `contact` event. */
export async function receiveContactUpdate(trx: Executor, update: ContactUpdate, now: number): Promise<ChangeResult> {
  const { contact, changed } = await upsertContact(trx, update, now);
  return {
    outcome: 'applied',
    events: changed ? [{ type: 'contact.updated', payload: { contact } }] : [],
  };
}
