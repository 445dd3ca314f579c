import type { Selectable } from 'kysely';
import { containsPattern, likeEscaped, likeFolded, phonePatterns } from '../../storage/like.js';
import type { Executor } from '../../storage/executor.js';
import { newId } from '../../storage/ids.js';
import { prepareQuery } from '../../storage/prepared.js';
import type { ContactsTable } from '../../storage/schema.js';
import type { Contact } from './contacts.types.js';

function toContact(row: Selectable<ContactsTable>): Contact {
  return {
    id: row.id,
    phone: row.phone,
    phoneRaw: row.phone_raw,
    name: row.name,
    avatarUrl: row.avatar_url,
    infoUpdatedAt: row.info_updated_at,
    rawUpdatedAt: row.raw_updated_at,
    nameUpdatedAt: row.name_updated_at,
    avatarUpdatedAt: row.avatar_updated_at,
    usernameUpdatedAt: row.username_updated_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    externalKey: row.external_key,
    username: row.username,
  };
}

const selectByPhone = prepareQuery((db, p: { phone: string }) => db.selectFrom('contacts').selectAll().where('phone', '=', p.phone));

export async function findContactByPhone(db: Executor, phone: string): Promise<Contact | undefined> {
  const { rows } = await selectByPhone.execute(db, { phone });
  return rows[0] && toContact(rows[0]);
}

export async function findContactByExternalKey(db: Executor, externalKey: string): Promise<Contact | undefined> {
  const row = await db.selectFrom('contacts').selectAll().where('external_key', '=', externalKey).executeTakeFirst();
  return row && toContact(row);
}

export async function findContactById(db: Executor, id: string): Promise<Contact | undefined> {
  const row = await db.selectFrom('contacts').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toContact(row);
}

/** The data of the contact event held for this contact (`contacts.raw`, JSON), or null. */
export async function findHeldContactEvent(db: Executor, id: string): Promise<string | null> {
  const row = await db.selectFrom('contacts').select('raw').where('id', '=', id).executeTakeFirst();
  return row?.raw ?? null;
}

/**
 * Inserts a contact unless one with this phone or external key exists (then returns undefined).
 * `raw`: the contact event's data as JSON, or null.
 */
export async function insertContactIfAbsent(
  db: Executor,
  contact: Omit<Contact, 'id' | 'updatedAt'> & { raw: string | null },
): Promise<Contact | undefined> {
  const row = await db
    .insertInto('contacts')
    .values({
      id: newId(),
      phone: contact.phone,
      phone_raw: contact.phoneRaw,
      name: contact.name,
      avatar_url: contact.avatarUrl,
      info_updated_at: contact.infoUpdatedAt,
      raw_updated_at: contact.rawUpdatedAt,
      name_updated_at: contact.nameUpdatedAt,
      avatar_updated_at: contact.avatarUpdatedAt,
      username_updated_at: contact.usernameUpdatedAt,
      created_at: contact.createdAt,
      updated_at: contact.createdAt,
      external_key: contact.externalKey,
      username: contact.username,
      raw: contact.raw,
    })
    // No target: a clash on either unique key (phone, external key) means it exists.
    .onConflict((oc) => oc.doNothing())
    .returningAll()
    .executeTakeFirst();
  return row && toContact(row);
}

/** A phone (with the phone as written) or a messenger identity to give a contact. */
export interface ContactIdentity {
  phone?: string;
  phoneRaw?: string | null;
  externalKey?: string;
}

/** Gives a contact the identity it lacks; the caller has checked that no other contact holds it. */
export async function attachContactIdentity(
  db: Executor,
  id: string,
  identity: ContactIdentity,
  now: number,
): Promise<Contact> {
  const row = await db
    .updateTable('contacts')
    .set({
      updated_at: now,
      ...(identity.phone !== undefined && { phone: identity.phone, phone_raw: identity.phoneRaw ?? null }),
      ...(identity.externalKey !== undefined && { external_key: identity.externalKey }),
    })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
  return toContact(row);
}

/** When each piece of a contact's information was true, by the sender's clock. */
export type ContactInfoTimes = Pick<Contact, 'infoUpdatedAt' | 'rawUpdatedAt' | 'nameUpdatedAt' | 'avatarUpdatedAt' | 'usernameUpdatedAt'>;

/** `raw`: the contact event's data as JSON; null keeps the one held (a message's sender has none). */
type ContactInfo = Pick<Contact, 'name' | 'avatarUrl' | 'username' | 'phoneRaw' | 'updatedAt'> & ContactInfoTimes & { raw: string | null };

const timeColumns = (p: ContactInfoTimes) => ({
  info_updated_at: p.infoUpdatedAt,
  raw_updated_at: p.rawUpdatedAt,
  name_updated_at: p.nameUpdatedAt,
  avatar_updated_at: p.avatarUpdatedAt,
  username_updated_at: p.usernameUpdatedAt,
});

// No condition on the times here: the service decided on the row as read in this transaction, and
// writers take turns (SQLite's write lock, PostgreSQL's writer lock), so the row is still as read.
const updateInfo = prepareQuery((db, p: ContactInfo & { id: string }) =>
  db
    .updateTable('contacts')
    .set((eb) => ({
      name: p.name,
      avatar_url: p.avatarUrl,
      username: p.username,
      phone_raw: p.phoneRaw,
      ...timeColumns(p),
      updated_at: p.updatedAt,
      raw: eb.fn.coalesce(eb.val(p.raw), eb.ref('raw')),
    }))
    .where('id', '=', p.id)
    .returningAll(),
);

/** Writes the contact's information and the times it was true. */
export async function updateContactInfo(db: Executor, id: string, info: ContactInfo): Promise<Contact> {
  const { rows } = await updateInfo.execute(db, { ...info, id });
  if (!rows[0]) throw new Error(`contact ${id} vanished during its update`);
  return toContact(rows[0]);
}

export async function findContactsByIds(db: Executor, ids: string[]): Promise<Contact[]> {
  if (ids.length === 0) return [];
  return (await db.selectFrom('contacts').selectAll().where('id', 'in', ids).execute()).map(toContact);
}

/**
 * Newest first (ids are time-ordered); `q` matches name, phone or username. `phoneDigits`: what
 * `q` means as a phone number (`phoneSearchDigits`).
 */
export async function listContacts(
  db: Executor,
  query: { q?: string; afterId?: string; limit: number },
  phoneDigits: readonly string[] = [],
): Promise<Contact[]> {
  let select = db.selectFrom('contacts').selectAll().orderBy('id', 'desc').limit(query.limit);
  if (query.afterId) select = select.where('id', '<', query.afterId);
  if (query.q) {
    const pattern = containsPattern(query.q);
    const phones = phonePatterns(query.q, phoneDigits).map((phone) => likeEscaped('phone', phone));
    select = select.where((eb) => eb.or([likeFolded('name', pattern), ...phones, likeFolded('username', pattern)]));
  }
  return (await select.execute()).map(toContact);
}

const advanceInfoTimes = prepareQuery((db, p: ContactInfoTimes & { id: string; raw: string | null }) =>
  db
    .updateTable('contacts')
    .set((eb) => ({ ...timeColumns(p), raw: eb.fn.coalesce(eb.val(p.raw), eb.ref('raw')) }))
    .where('id', '=', p.id),
);

/**
 * Moves only the times of the contact's information forward: the information itself is unchanged
 * (most messages repeat the sender's name), but an older update arriving later must still lose.
 * `raw`: a newer contact event's data as JSON; null keeps the one held.
 */
export async function advanceContactInfoTimes(db: Executor, id: string, times: ContactInfoTimes, raw: string | null): Promise<void> {
  await advanceInfoTimes.execute(db, { ...times, id, raw });
}
