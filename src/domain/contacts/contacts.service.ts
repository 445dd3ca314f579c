import type { Executor } from '../../storage/executor.js';
import type { ChangeResult } from '../domain-events.js';
import {
  advanceContactInfoTimes,
  attachContactIdentity,
  findContactByExternalKey,
  findContactByPhone,
  findHeldContactEvent,
  insertContactIfAbsent,
  updateContactInfo,
  type ContactIdentity,
  type ContactInfoTimes,
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
 * A phone and a messenger identity (`telegram:<chatId>`) that arrive at different times belong to
 * one customer: the contact found by one takes the other it lacks, unless another contact holds
 * it already (two contacts are never merged here).
 */
async function identityToAttach(trx: Executor, contact: Contact, update: ContactUpdate): Promise<ContactIdentity> {
  const identity: ContactIdentity = {};
  // Found without it, and findContact asks by phone first: no contact holds this phone.
  if (contact.phone === null && update.phone !== null) Object.assign(identity, { phone: update.phone, phoneRaw: update.phoneRaw });
  if (contact.externalKey === null && update.externalKey !== null && !(await findContactByExternalKey(trx, update.externalKey))) {
    identity.externalKey = update.externalKey;
  }
  return identity;
}

/** The pieces of a contact's information, each with the time of the value held. */
const PIECES = [
  { value: 'name', time: 'nameUpdatedAt' },
  { value: 'avatarUrl', time: 'avatarUpdatedAt' },
  { value: 'username', time: 'usernameUpdatedAt' },
] as const;

/**
 * Creates the contact or applies newer information to it, piece by piece: a piece (name, avatar,
 * username) older by the sender's timestamp than the one held is ignored, the others are taken.
 * Runs inside the caller's transaction.
 */
export async function upsertContact(
  trx: Executor,
  update: ContactUpdate,
  now: number,
): Promise<{ contact: Contact; changed: boolean; repeated: boolean }> {
  const carried = PIECES.filter((piece) => update[piece.value] !== undefined);
  let contact = await findContact(trx, update);
  if (!contact) {
    const created = await insertContactIfAbsent(trx, {
      phone: update.phone,
      phoneRaw: update.phoneRaw,
      externalKey: update.externalKey,
      name: update.name ?? null,
      avatarUrl: update.avatarUrl ?? null,
      username: update.username ?? null,
      infoUpdatedAt: update.occurredAt,
      rawUpdatedAt: update.raw === undefined ? null : update.occurredAt,
      nameUpdatedAt: update.name !== undefined ? update.occurredAt : null,
      avatarUpdatedAt: update.avatarUrl !== undefined ? update.occurredAt : null,
      usernameUpdatedAt: update.username !== undefined ? update.occurredAt : null,
      createdAt: now,
      raw: update.raw === undefined ? null : JSON.stringify(update.raw),
    });
    if (created) return { contact: created, changed: true, repeated: false };
    // Another writer created it between our read and our insert.
    contact = (await findContact(trx, update))!;
  }
  const identity = await identityToAttach(trx, contact, update);
  const attached = Object.keys(identity).length > 0;
  if (attached) contact = await attachContactIdentity(trx, contact.id, identity, now);
  /** Whether this update's information replaces what was held since `heldAt`. */
  const replaces = (heldAt: number | null) => heldAt === null || update.occurredAt > heldAt || (update.occurredAt === heldAt && !update.replayed);
  // At least as new as anything held: then the phone as written is taken.
  const newest = replaces(contact.infoUpdatedAt);
  // A contact event's data (whether or not what backchat models changed) is taken when it is at
  // least as new as the contact event held: messages, which carry none, do not count.
  const sent = update.raw === undefined ? null : JSON.stringify(update.raw);
  const takesRaw = sent !== null && replaces(contact.rawUpdatedAt);
  const raw = takesRaw ? sent : null;
  // An event that carries none of the pieces still moves the information's time forward when it
  // is the newest: its phone as written is then held, and an older event must not replace it.
  const next: Contact = { ...contact };
  for (const { value, time } of carried) {
    if (!replaces(contact[time])) continue;
    next[value] = update[value] ?? null;
    next[time] = update.occurredAt;
  }
  // Only as a spelling of the phone held: a messenger contact found by its key keeps its phone
  // when a message carries another (identityToAttach), and so keeps that phone's spelling.
  if (newest && update.phoneRaw !== null && update.phone === contact.phone) next.phoneRaw = update.phoneRaw;
  const times: ContactInfoTimes = {
    nameUpdatedAt: next.nameUpdatedAt,
    avatarUpdatedAt: next.avatarUpdatedAt,
    usernameUpdatedAt: next.usernameUpdatedAt,
    infoUpdatedAt: Math.max(contact.infoUpdatedAt ?? 0, update.occurredAt),
    rawUpdatedAt: takesRaw ? update.occurredAt : contact.rawUpdatedAt,
  };
  const differs = next.name !== contact.name || next.avatarUrl !== contact.avatarUrl || next.username !== contact.username || next.phoneRaw !== contact.phoneRaw;
  if (!differs) {
    // Even an unchanged value moves its time forward, so that a late, older update cannot
    // overwrite it afterwards.
    const moved = times.infoUpdatedAt !== contact.infoUpdatedAt || carried.some(({ time }) => next[time] !== contact[time]);
    // This very contact event is held already (resent, or replayed): it changes nothing, like a
    // repeated message id. Only then is the data held read, to compare.
    const repeated =
      !attached && !moved && sent !== null && contact.rawUpdatedAt === update.occurredAt && (await findHeldContactEvent(trx, contact.id)) === sent;
    if (!repeated && (moved || raw !== null)) await advanceContactInfoTimes(trx, contact.id, times, raw);
    return { contact: { ...contact, ...times }, changed: attached, repeated };
  }
  const updated = await updateContactInfo(trx, contact.id, { ...next, ...times, updatedAt: now, raw });
  return { contact: updated, changed: true, repeated: false };
}

/** Applies a `contact` event. */
export async function receiveContactUpdate(trx: Executor, update: ContactUpdate, now: number): Promise<ChangeResult> {
  const { contact, changed, repeated } = await upsertContact(trx, update, now);
  return {
    outcome: repeated ? 'duplicate' : 'applied',
    events: changed ? [{ type: 'contact.updated', payload: { contact } }] : [],
  };
}
