import { sql, type ExpressionBuilder, type Selectable } from 'kysely';
import type { Executor } from '../../storage/executor.js';
import { statementsHoldEventLoop } from '../../storage/database.js';
import { newId } from '../../storage/ids.js';
import { turnOfEventLoop } from '../../storage/in-chunks.js';
import { containsPattern, likeEscaped, likeFolded, phonePatterns } from '../../storage/like.js';
import { prepareQuery } from '../../storage/prepared.js';
import type { ChatsTable, Database } from '../../storage/schema.js';
import type { Chat, ChatKey, ChatListQuery, ChatStatus } from './chats.types.js';

function toChat(row: Selectable<ChatsTable>): Chat {
  return {
    id: row.id,
    channelId: row.channel_id,
    chatType: row.chat_type,
    externalId: row.external_id,
    contactId: row.contact_id,
    status: row.status as ChatStatus,
    assigneeId: row.assignee_id,
    lastMessageId: row.last_message_id,
    lastMessageAt: row.last_message_at,
    lastActivityAt: row.last_activity_at,
    unreadCount: row.unread_count,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export async function findChatById(db: Executor, id: string): Promise<Chat | undefined> {
  const row = await db.selectFrom('chats').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toChat(row);
}

type ChatMessage = ChatKey & {
  newChatId: string;
  messageId: string;
  sentAt: number;
  incoming: number;
  contactId: string | null;
  now: number;
};

const upsertChatWithMessage = prepareQuery((db, p: ChatMessage) => {
  // In the conflict branch, `chats.` is the stored row; the comparisons run in SQL so that
  // concurrent writers cannot move a chat backwards.
  const isLatest = sql<boolean>`(chats.last_message_at is null or chats.last_message_at <= ${p.sentAt})`;
  return db
    .insertInto('chats')
    .values({
      id: p.newChatId,
      channel_id: p.channelId,
      chat_type: p.chatType,
      external_id: p.externalId,
      contact_id: p.contactId,
      status: 'open',
      assignee_id: null,
      last_message_id: p.messageId,
      last_message_at: p.sentAt,
      last_activity_at: p.now,
      unread_count: p.incoming,
      created_at: p.now,
      updated_at: p.now,
    })
    .onConflict((oc) =>
      oc.columns(['channel_id', 'chat_type', 'external_id']).doUpdateSet({
        last_message_id: sql`case when ${isLatest} then ${p.messageId} else chats.last_message_id end`,
        last_message_at: sql`case when ${isLatest} then ${p.sentAt} else chats.last_message_at end`,
        last_activity_at: sql`case when chats.last_activity_at < ${p.now} then ${p.now} else chats.last_activity_at end`,
        unread_count: sql`chats.unread_count + ${p.incoming}`,
        // A customer writing again reopens a closed conversation, as operators expect.
        status: sql`case when ${p.incoming} = 1 then 'open' else chats.status end`,
        contact_id: sql`coalesce(chats.contact_id, ${p.contactId})`,
        updated_at: p.now,
      }),
    )
    .returningAll();
});

/**
 * Records a new message on its chat, creating the chat (linked to the contact) on its first
 * message: one statement, since every message does it. A message that arrives late (older than
 * the chat's last one) still counts as unread but does not become the last message; an incoming
 * one reopens a closed chat.
 */
export async function recordMessageOnChat(
  db: Executor,
  key: ChatKey,
  message: { id: string; sentAt: number; incoming: boolean; contactId: string | null; now: number },
): Promise<Chat> {
  const { rows } = await upsertChatWithMessage.execute(db, {
    ...key,
    newChatId: newId(),
    messageId: message.id,
    sentAt: message.sentAt,
    incoming: message.incoming ? 1 : 0,
    contactId: message.contactId,
    now: message.now,
  });
  return toChat(rows[0]!);
}

/**
 * Chats a search by text reads at most per statement on SQLite. Matching a message's text reads
 * every message of the chats it looks at, and SQLite's statements run on the event loop: one
 * statement over 20,000 chats and 300,000 messages held every webhook for 0.7 s (a review's find).
 * A window at a time, newest activity first, with turns between. (On PostgreSQL, where statements
 * hold nothing and a window's round trips made the same search 3.6 times slower, one statement.)
 */
export const CHAT_SCAN_WINDOW = 500;

/**
 * Newest activity first; ties broken by id so that the keyset cursor is stable. `phoneDigits`:
 * what `q` means as a phone number (`phoneSearchDigits`).
 */
export async function listChats(db: Executor, query: ChatListQuery, phoneDigits: readonly string[] = []): Promise<Chat[]> {
  /** The chats that pass every filter but `q`, in list order, after the `after` position. */
  const listed = (after: ChatListQuery['after']) => {
    let select = db.selectFrom('chats').orderBy('chats.last_activity_at', 'desc').orderBy('chats.id', 'desc');
    if (query.status) select = select.where('chats.status', '=', query.status);
    if (query.assignee === 'none') select = select.where('chats.assignee_id', 'is', null);
    else if (query.assignee) select = select.where('chats.assignee_id', '=', query.assignee);
    if (query.unread !== undefined) select = select.where('chats.unread_count', query.unread ? '>' : '=', 0);
    if (after) {
      const { lastActivityAt, id } = after;
      select = select.where((eb) =>
        eb.or([eb('chats.last_activity_at', '<', lastActivityAt), eb.and([eb('chats.last_activity_at', '=', lastActivityAt), eb('chats.id', '<', id)])]),
      );
    }
    return select;
  };
  if (!query.q) return (await listed(query.after).selectAll('chats').limit(query.limit).execute()).map(toChat);

  // Case-insensitive on both stores (likeFolded): SQLite's LIKE folds ASCII only, PostgreSQL's none.
  const pattern = containsPattern(query.q);
  const phones = phonePatterns(query.q, phoneDigits);
  /**
   * That the chat's contact or one of its messages matches `q`, looking only at `window`'s when
   * given. The subqueries name the window's rows: correlated with `chats` instead, PostgreSQL
   * hashed every message and contact of the store once per window.
   */
  const matches = (eb: ExpressionBuilder<Database, 'chats'>, window?: { chatIds: string[]; contactIds: string[] }) => {
    const byMessage = eb.selectFrom('messages').select('messages.chat_id').where(likeFolded('messages.text', pattern));
    const conditions = [eb('chats.id', 'in', window ? byMessage.where('messages.chat_id', 'in', window.chatIds) : byMessage)];
    if (!window || window.contactIds.length > 0) {
      const byContact = eb
        .selectFrom('contacts')
        .select('contacts.id')
        .where((inner) => inner.or([likeFolded('contacts.name', pattern), ...phones.map((phone) => likeEscaped('contacts.phone', phone)), likeFolded('contacts.username', pattern)]));
      conditions.push(eb('chats.contact_id', 'in', window ? byContact.where('contacts.id', 'in', window.contactIds) : byContact));
    }
    return eb.or(conditions);
  };
  if (!statementsHoldEventLoop(db)) {
    return (await listed(query.after).selectAll('chats').where((eb) => matches(eb)).limit(query.limit).execute()).map(toChat);
  }

  const found: Chat[] = [];
  let after = query.after;
  for (;;) {
    const window = await listed(after).select(['chats.id', 'chats.last_activity_at', 'chats.contact_id']).limit(CHAT_SCAN_WINDOW).execute();
    if (window.length === 0) return found;
    const chatIds = fullWindow(window.map((chat) => chat.id));
    const contactIds = fullWindow(window.flatMap((chat) => (chat.contact_id === null ? [] : [chat.contact_id])));
    // The filters and the cursor again: a chat closed or bumped since the window was read is not
    // the window's any more.
    const rows = await listed(after)
      .selectAll('chats')
      .where('chats.id', 'in', chatIds)
      .where((eb) => matches(eb, { chatIds, contactIds }))
      .limit(query.limit - found.length)
      .execute();
    found.push(...rows.map(toChat));
    const last = window[window.length - 1]!;
    if (window.length < CHAT_SCAN_WINDOW || found.length >= query.limit) return found;
    after = { lastActivityAt: last.last_activity_at, id: last.id };
    await turnOfEventLoop();
  }
}

/**
 * `ids` (at most CHAT_SCAN_WINDOW; none stays none) made CHAT_SCAN_WINDOW long by repeating the
 * first: lists of every length made statements of as many texts, each prepared and cached (a
 * review's find: 100 MB after a few hundred searches).
 */
function fullWindow(ids: string[]): string[] {
  return ids.length === 0 ? ids : [...ids, ...Array<string>(CHAT_SCAN_WINDOW - ids.length).fill(ids[0]!)];
}

export async function listChatsOfContact(db: Executor, contactId: string): Promise<Chat[]> {
  const rows = await db.selectFrom('chats').selectAll().where('contact_id', '=', contactId).orderBy('last_activity_at', 'desc').execute();
  return rows.map(toChat);
}

export async function updateChatFields(
  db: Executor,
  id: string,
  changes: { status?: ChatStatus; assigneeId?: string | null; unreadCount?: number; now: number },
): Promise<Chat | undefined> {
  const row = await db
    .updateTable('chats')
    .set({
      ...(changes.status !== undefined && { status: changes.status }),
      ...(changes.assigneeId !== undefined && { assignee_id: changes.assigneeId }),
      ...(changes.unreadCount !== undefined && { unread_count: changes.unreadCount }),
      updated_at: changes.now,
    })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
  return row && toChat(row);
}
