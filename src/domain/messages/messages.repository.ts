import { sql, type Insertable, type Selectable } from 'kysely';
import { prepareQuery, row } from '../../storage/prepared.js';
import type { Executor } from '../../storage/executor.js';
import { newId } from '../../storage/ids.js';
import type { MessageRevisionsTable, MessagesTable, MessageStatusesTable } from '../../storage/schema.js';
import { statusRank, toDeliveryStatus, type DeliveryStatus } from './delivery-status.js';
import type { Message, MessageDirection, RevisionKind, StoredRevision } from './messages.types.js';

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

const MESSAGE_COLUMNS = [
  'id', 'external_id', 'chat_id', 'contact_id', 'direction', 'type', 'text', 'sender', 'file_url', 'file_name', 'file_size',
  'file_mime_type', 'sent_at', 'status', 'status_rank', 'status_at', 'failed_at', 'error', 'raw', 'created_at', 'author_name',
  'author_id', 'quoted_message_id', 'edited_at', 'deleted_at',
] as const;

const insertMessage = prepareQuery((db, p: Selectable<MessagesTable>) =>
  db
    .insertInto('messages')
    .values(row(p, MESSAGE_COLUMNS))
    .onConflict((oc) => oc.column('external_id').doNothing())
    .returning('id'),
);

/** Inserts a message unless its external id is already stored (then returns false). */
export async function insertMessageIfAbsent(db: Executor, message: Message): Promise<boolean> {
  const values: Selectable<MessagesTable> = {
    id: message.id,
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
  const { rows } = await insertMessage.execute(db, values);
  return rows.length > 0;
}

type StatusUpdate = { externalId: string; status: string; rank: number; at: number; error: string | null };

/** The status columns, moved only when the new rank is higher: the comparison is in SQL, race-free. */
const forward = (p: StatusUpdate) => ({
  status: sql<string>`case when status_rank < ${p.rank} then ${p.status} else status end`,
  status_at: sql<number>`case when status_rank < ${p.rank} then ${p.at} else status_at end`,
  status_rank: sql<number>`case when status_rank < ${p.rank} then ${p.rank} else status_rank end`,
});

const advanceStatus = prepareQuery((db, p: StatusUpdate) =>
  db.updateTable('messages').set(forward(p)).where('external_id', '=', p.externalId).where('status_rank', '<', p.rank).returningAll(),
);

const advanceStatusWithFailure = prepareQuery((db, p: StatusUpdate) =>
  db
    .updateTable('messages')
    .set({ ...forward(p), failed_at: p.at, error: p.error })
    .where('external_id', '=', p.externalId)
    .where((eb) => eb.or([eb('status_rank', '<', p.rank), eb('failed_at', 'is', null)]))
    .returningAll(),
);

/**
 * Moves a message's status forward; returns undefined when the message is unknown or already at
 * this status or further. A failure also records its time and error, whatever the rank.
 */
export async function advanceMessageStatus(
  db: Executor,
  externalId: string,
  report: { status: DeliveryStatus; at: number; error: string | null },
): Promise<Message | undefined> {
  const update = { externalId, status: report.status, rank: statusRank(report.status), at: report.at, error: report.error };
  const { rows } = await (report.status === 'failed' ? advanceStatusWithFailure : advanceStatus).execute(db, update);
  return rows[0] && toMessage(rows[0]);
}

export interface StoredStatus {
  /** As recorded: one of ours, or a name we do not rank. */
  status: string;
  occurredAt: number;
  error: unknown;
}

const insertStatus = prepareQuery((db, p: Selectable<MessageStatusesTable>) =>
  db
    .insertInto('message_statuses')
    .values(row(p, ['id', 'message_external_id', 'status', 'occurred_at', 'received_at', 'error', 'raw']))
    .onConflict((oc) => oc.columns(['message_external_id', 'status']).doNothing())
    .returning('id'),
);

/** Records a status report once per (message, status); returns false for a repeat. */
export async function insertStatusIfAbsent(
  db: Executor,
  report: { messageExternalId: string; status: string; occurredAt: number; receivedAt: number; error: string | null; raw: string | null },
): Promise<boolean> {
  const values: Selectable<MessageStatusesTable> = {
    id: newId(),
    message_external_id: report.messageExternalId,
    status: report.status,
    occurred_at: report.occurredAt,
    received_at: report.receivedAt,
    error: report.error,
    raw: report.raw,
  };
  const { rows } = await insertStatus.execute(db, values);
  return rows.length > 0;
}

/**
 * Gives a status recorded without an error (an echo's `status: "error"`) the error a later report
 * of it carries, and, for the failure, its message too; returns the message when that changed.
 */
export async function addStatusError(db: Executor, messageExternalId: string, status: string, error: string): Promise<Message | undefined> {
  const added = await db
    .updateTable('message_statuses')
    .set({ error })
    .where('message_external_id', '=', messageExternalId)
    .where('status', '=', status)
    .where('error', 'is', null)
    .returning('id')
    .executeTakeFirst();
  if (!added || toDeliveryStatus(status) !== 'failed') return undefined;
  const row = await db
    .updateTable('messages')
    .set({ error })
    .where('external_id', '=', messageExternalId)
    .where('failed_at', 'is not', null)
    .where('error', 'is', null)
    .returningAll()
    .executeTakeFirst();
  return row && toMessage(row);
}

/**
 * Whether a message is stored, and every status and revision reported for it so far (including
 * those that came before it): one statement, since every new message asks.
 */
const selectMessageAndStatuses = prepareQuery((db, p: { externalId: string }) =>
  db
    .selectFrom('messages')
    .select([sql<string>`'message'`.as('source'), sql<string | null>`null`.as('status'), sql<number | null>`null`.as('occurred_at'), sql<string | null>`null`.as('error')])
    .where('external_id', '=', p.externalId)
    .unionAll(
      db
        .selectFrom('message_statuses')
        .select([sql<string>`'status'`.as('source'), 'status', 'occurred_at', 'error'])
        .where('message_external_id', '=', p.externalId),
    )
    .unionAll(
      db
        .selectFrom('message_revisions')
        .select([sql<string>`'revision'`.as('source'), 'kind as status', 'occurred_at', sql<string | null>`null`.as('error')])
        .where('message_external_id', '=', p.externalId),
    ),
);

export async function findMessageAndStatuses(
  db: Executor,
  messageExternalId: string,
): Promise<{ stored: boolean; statuses: StoredStatus[]; revisions: { kind: RevisionKind; occurredAt: number }[] }> {
  const { rows } = await selectMessageAndStatuses.execute(db, { externalId: messageExternalId });
  const statuses: StoredStatus[] = [];
  const revisions: { kind: RevisionKind; occurredAt: number }[] = [];
  let stored = false;
  for (const r of rows) {
    if (r.source === 'message') stored = true;
    else if (r.source === 'revision') revisions.push({ kind: r.status as RevisionKind, occurredAt: Number(r.occurred_at) });
    else statuses.push({ status: r.status!, occurredAt: Number(r.occurred_at), error: r.error === null ? null : (JSON.parse(r.error) as unknown) });
  }
  return { stored, statuses, revisions };
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

/**
 * A message's edits and deletions, oldest first by the sender's time (ties by id, the order they
 * were received); keyset cursor on (occurred_at, id).
 */
export async function listRevisionsOfMessage(
  db: Executor,
  externalId: string,
  page: { after?: { occurredAt: number; id: string }; limit: number },
): Promise<StoredRevision[]> {
  let select = db
    .selectFrom('message_revisions')
    .select(['id', 'kind', 'old_text', 'new_text', 'author_name', 'author_id', 'occurred_at', 'received_at'])
    .where('message_external_id', '=', externalId)
    .orderBy('occurred_at')
    .orderBy('id')
    .limit(page.limit);
  if (page.after) {
    const { occurredAt, id } = page.after;
    select = select.where((eb) => eb.or([eb('occurred_at', '>', occurredAt), eb.and([eb('occurred_at', '=', occurredAt), eb('id', '>', id)])]));
  }
  return (await select.execute()).map((row) => ({
    id: row.id,
    kind: row.kind as RevisionKind,
    oldText: row.old_text,
    newText: row.new_text,
    authorName: row.author_name,
    authorId: row.author_id,
    occurredAt: Number(row.occurred_at),
    receivedAt: Number(row.received_at),
  }));
}

/**
 * Applies an edit (its time, and its new text unless that is undefined: not reported) or a
 * deletion (its time, and the text it removed when it says) to a stored message; undefined when
 * it changes nothing.
 *
 * Revisions can arrive in any order, and every order ends in the same message: an edit older than
 * the one applied changes nothing; an edit made after the deletion neither. An edit made before
 * the deletion but received after it counts as the message's last edit, and gives it its text
 * unless the deletion said which text it removed (that is the last text, whatever edit made it).
 * All of them stay in the history.
 */
export async function reviseMessage(
  db: Executor,
  externalId: string,
  revision: { kind: 'edited'; text: string | null | undefined; at: number } | { kind: 'deleted'; at: number; oldText: string | null },
): Promise<Message | undefined> {
  const update =
    revision.kind === 'edited'
      ? db
          .updateTable('messages')
          .set((eb) => ({
            edited_at: revision.at,
            ...(revision.text !== undefined && {
              text: eb
                .case()
                .when(
                  eb.exists(
                    eb
                      .selectFrom('message_revisions')
                      .select('message_revisions.id')
                      .where('message_revisions.message_external_id', '=', externalId)
                      .where('message_revisions.kind', '=', 'deleted')
                      .where('message_revisions.old_text', 'is not', null),
                  ),
                )
                .then(eb.ref('messages.text'))
                .else(revision.text)
                .end(),
            }),
          }))
          .where((eb) => eb.or([eb('deleted_at', 'is', null), eb('deleted_at', '>', revision.at)]))
          .where((eb) => eb.or([eb('edited_at', 'is', null), eb('edited_at', '<=', revision.at)]))
      : db
          .updateTable('messages')
          .set({ deleted_at: revision.at, ...(revision.oldText !== null && { text: revision.oldText }) })
          .where('deleted_at', 'is', null);
  const row = await update.where('external_id', '=', externalId).returningAll().executeTakeFirst();
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
