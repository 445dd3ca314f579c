import type { Executor } from '../../storage/executor.js';
import type { ChangeResult } from '../domain-events.js';
import {
  findContactByPhone,
  insertContactIfAbsent,
  updateContactInfo,
} from './contacts.repository.js';
import type { Contact, ContactUpdate } from './contacts.types.js';

/**
 * Creates the contact or applies newer information to it. Information older (by the sender's
 * timestamp) than what is held is ignored. Runs inside the caller's transaction.
 */
export async function upsertContact(
  trx: Executor,
  update: ContactUpdate,
  now: number,
): Promise<{ contact: Contact; changed: boolean }> {
  let contact = await findContactByPhone(trx, update.phone);
  if (!contact) {
    const created = await insertContactIfAbsent(trx, {
      phone: update.phone,
      phoneRaw: update.phoneRaw,
      name: update.name ?? null,
      avatarUrl: update.avatarUrl ?? null,
      infoUpdatedAt: update.name !== undefined || update.avatarUrl !== undefined ? update.occurredAt : null,
      createdAt: now,
    });
    if (created) return { contact: created, changed: true };
    // Another writer created it between our read and our insert.
    contact = (await findContactByPhone(trx, update.phone))!;
  }

  const carriesInfo = update.name !== undefined || update.avatarUrl !== undefined;
  if (!carriesInfo) return { contact, changed: false };
  if (contact.infoUpdatedAt !== null && update.occurredAt < contact.infoUpdatedAt) return { contact, changed: false };

  const next = {
    name: update.name !== undefined ? update.name : contact.name,
    avatarUrl: update.avatarUrl !== undefined ? update.avatarUrl : contact.avatarUrl,
    phoneRaw: update.phoneRaw,
  };
  const differs =
    next.name !== contact.name || next.avatarUrl !== contact.avatarUrl || next.phoneRaw !== contact.phoneRaw;
  // Even an unchanged value moves info_updated_at forward, so that a late, older update cannot
  // overwrite it afterwards.
  if (!differs && contact.infoUpdatedAt === update.occurredAt) return { contact, changed: false };
  const updated = await updateContactInfo(trx, contact.id, {
    ...next,
    infoUpdatedAt: update.occurredAt,
    updatedAt: differs ? now : contact.updatedAt,
  });
  if (!updated) return { contact, changed: false };
  return { contact: updated, changed: differs };
}

/** Applies a `contact` event. */
export async function receiveContactUpdate(trx: Executor, update: ContactUpdate, now: number): Promise<ChangeResult> {
  const { contact, changed } = await upsertContact(trx, update, now);
  return {
    outcome: 'applied',
    events: changed ? [{ type: 'contact.updated', payload: { contact } }] : [],
  };
}
