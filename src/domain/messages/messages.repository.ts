import { sql, type Insertable, type Selectable } from 'kysely';
import type { Executor } from '../../storage/executor.js';
import { newId } from '../../storage/ids.js';
import type { MessageRevisionsTable, MessagesTable, MessageStatusesTable } from '../../storage/schema.js';
import { statusRank, type DeliveryStatus } from './delivery-status.js';
import type { Message, MessageDirection } from './messages.types.js';

function toMessage(row: Selectable<MessagesTable>): Message {
  return {
    id: row.id,
    externalId: row.external_id,
    chatId: row.chat_id,
    contactId: row.contact_id,
    direction: row.direction as MessageDirection,
    type: row.type,
    text: row.text,
    sender: row.sender,
    file:
      row.file_url === null
        ? null
        : { url: row.file_url, name: row.file_name, size: row.file_size, mimeType: row.file_mime_type },
    sentAt: row.sent_at,
    status: row.status as DeliveryStatus | null,
    statusAt: row.status_at,
    failedAt: row.failed_at,
    error: row.error === null ? null : (JSON.parse(row.error) as unknown),
    raw: JSON.parse(row.raw) as unknown,
    createdAt: row.created_at,
    authorName: row.author_name,
    authorId: row.author_id,
    quotedMessageId: row.quoted_message_id,
    editedAt: row.edited_at,
    deletedAt: row.deleted_at,
  };
}

export async function messageExists(db: Executor, externalId: string): Promise<boolean> {
  const row = await db.selectFrom('messages').select('id').where('external_id', '=', externalId).executeTakeFirst();
  return row !== undefined;
}

export async function findMessageByExternalId(db: Executor, externalId: string): Promise<Message | undefined> {
  const row = await db.selectFrom('messages').selectAll().where('external_id', '=', externalId).executeTakeFirst();
  return row && toMessage(row);
}

/** Inserts a message unless its external id is already stored (then returns undefined). */
export async function insertMessageIfAbsent(
  db: Executor,
  message: Omit<Message, 'id'>,
): Promise<Message | undefined> {
  const values: Insertable<MessagesTable> = {
    id: newId(),
    external_id: message.externalId,
    chat_id: message.chatId,
    contact_id: message.contactId,
    direction: message.direction,
    type: message.type,
    text: message.text,
    sender: message.sender,
    file_url: message.file?.url ?? null,
    file_name: message.file?.name ?? null,
    file_size: message.file?.size ?? null,
    file_mime_type: message.file?.mimeType ?? null,
    sent_at: message.sentAt,
    status: message.status,
    status_rank: message.status === null ? 0 : statusRank(message.status),
    status_at: message.statusAt,
    failed_at: message.failedAt,
    error: message.error === null || message.error === undefined ? null : JSON.stringify(message.error),
    raw: JSON.stringify(message.raw),
    created_at: message.createdAt,
    author_name: message.authorName,
    author_id: message.authorId,
    quoted_message_id: message.quotedMessageId,
    edited_at: message.editedAt,
    deleted_at: message.deletedAt,
  };
  const row = await db
    .insertInto('messages')
    .values(values)
    .onConflict((oc) => oc.column('external_id').doNothing())
    .returningAll()
    .executeTakeFirst();
  return row && toMessage(row);
}

/**
 * Moves a message's status forward; returns undefined when the message is unknown or already at
 * this status or further. A failure also records its time and error, whatever the rank.
 */
export async function advanceMessageStatus(
  db: Executor,
  externalId: string,
  report: { status: DeliveryStatus; at: number; error: string | null },
): Promise<Message | undefined> {
  const rank = statusRank(report.status);
  const failed = report.status === 'failed';
  const row = await db
    .updateTable('messages')
    .set({
      status: sql`case when status_rank < ${rank} then ${report.status} else status end`,
      status_at: sql`case when status_rank < ${rank} then ${report.at} else status_at end`,
      status_rank: sql`case when status_rank < ${rank} then ${rank} else status_rank end`,
      ...(failed ? { failed_at: report.at, error: report.error } : {}),
    })
    .where('external_id', '=', externalId)
    .where((eb) =>
      failed ? eb.or([eb('status_rank', '<', rank), eb('failed_at', 'is', null)]) : eb('status_rank', '<', rank),
    )
    .returningAll()
    .executeTakeFirst();
  return row && toMessage(row);
}

export interface StoredStatus {
  /** As recorded: one of ours, or a name we do not rank. */
  status: string;
  occurredAt: number;
  error: unknown;
}

/** Records a status report once per (message, status); returns false for a repeat. */
export async function insertStatusIfAbsent(
  db: Executor,
  report: { messageExternalId: string; status: string; occurredAt: number; receivedAt: number; error: string | null },
): Promise<boolean> {
  const values: Insertable<MessageStatusesTable> = {
    id: newId(),
    message_external_id: report.messageExternalId,
    status: report.status,
    occurred_at: report.occurredAt,
    received_at: report.receivedAt,
    error: report.error,
  };
  const row = await db
    .insertInto('message_statuses')
    .values(values)
    .onConflict((oc) => oc.columns(['message_external_id', 'status']).doNothing())
    .returning('id')
    .executeTakeFirst();
  return row !== undefined;
}

/** Every status reported for a message so far, including those that came before it. */
export async function listStatusesOf(db: Executor, messageExternalId: string): Promise<StoredStatus[]> {
  const rows = await db
    .selectFrom('message_statuses')
    .select(['status', 'occurred_at', 'error'])
    .where('message_external_id', '=', messageExternalId)
    .execute();
  return rows.map((r) => ({
    status: r.status,
    occurredAt: r.occurred_at,
    error: r.error === null ? null : (JSON.parse(r.error) as unknown),
  }));
}

/** Records an edit or deletion once per fingerprint; returns false for a repeat. */
export async function insertRevisionIfAbsent(
  db: Executor,
  revision: Omit<Insertable<MessageRevisionsTable>, 'id'>,
): Promise<boolean> {
  const row = await db
    .insertInto('message_revisions')
    .values({ id: newId(), ...revision })
    .onConflict((oc) => oc.columns(['message_external_id', 'fingerprint']).doNothing())
    .returning('id')
    .executeTakeFirst();
  return row !== undefined;
}

/** Applies an edit (new text) or a deletion (its time) to a stored message. */
export async function reviseMessage(
  db: Executor,
  externalId: string,
  revision: { kind: 'edited'; text: string | null; at: number } | { kind: 'deleted'; at: number },
): Promise<Message | undefined> {
  const row = await db
    .updateTable('messages')
    .set(revision.kind === 'edited' ? { text: revision.text, edited_at: revision.at } : { deleted_at: revision.at })
    .where('external_id', '=', externalId)
    .returningAll()
    .executeTakeFirst();
  return row && toMessage(row);
}

export async function findMessageById(db: Executor, id: string): Promise<Message | undefined> {
  const row = await db.selectFrom('messages').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toMessage(row);
}

export async function findMessagesByIds(db: Executor, ids: string[]): Promise<Message[]> {
  if (ids.length === 0) return [];
  return (await db.selectFrom('messages').selectAll().where('id', 'in', ids).execute()).map(toMessage);
}

/** A chat's messages, newest first by the sender's time; keyset cursor on (sent_at, id). */
export async function listMessagesOfChat(
  db: Executor,
  chatId: string,
  page: { after?: { sentAt: number; id: string }; limit: number },
): Promise<Message[]> {
  let select = db.selectFrom('messages').selectAll().where('chat_id', '=', chatId).orderBy('sent_at', 'desc').orderBy('id', 'desc').limit(page.limit);
  if (page.after) {
    const { sentAt, id } = page.after;
    select = select.where((eb) => eb.or([eb('sent_at', '<', sentAt), eb.and([eb('sent_at', '=', sentAt), eb('id', '<', id)])]));
  }
  return (await select.execute()).map(toMessage);
}

/** Incoming messages of a chat that come after `message` (by the sender's time, then id). */
export async function countIncomingAfter(db: Executor, chatId: string, message: { sentAt: number; id: string }): Promise<number> {
  const row = await db
    .selectFrom('messages')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('chat_id', '=', chatId)
    .where('direction', '=', 'in')
    .where((eb) => eb.or([eb('sent_at', '>', message.sentAt), eb.and([eb('sent_at', '=', message.sentAt), eb('id', '>', message.id)])]))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
