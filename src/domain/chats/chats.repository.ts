import { sql, type Selectable } from 'kysely';
import type { Executor } from '../../storage/executor.js';
import { newId } from '../../storage/ids.js';
import { containsPattern, likeEscaped, likeFolded, phonePatterns } from '../../storage/like.js';
import { prepareQuery } from '../../storage/prepared.js';
import type { ChatsTable } from '../../storage/schema.js';
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
 * Newest activity first; ties broken by id so that the keyset cursor is stable. `phoneDigits`:
 * what `q` means as a phone number (`phoneSearchDigits`).
 */
export async function listChats(db: Executor, query: ChatListQuery, phoneDigits: readonly string[] = []): Promise<Chat[]> {
  let select = db.selectFrom('chats').selectAll('chats').orderBy('chats.last_activity_at', 'desc').orderBy('chats.id', 'desc').limit(query.limit);
  if (query.status) select = select.where('chats.status', '=', query.status);
  if (query.assignee === 'none') select = select.where('chats.assignee_id', 'is', null);
  else if (query.assignee) select = select.where('chats.assignee_id', '=', query.assignee);
  if (query.unread !== undefined) select = select.where('chats.unread_count', query.unread ? '>' : '=', 0);
  if (query.after) {
    const { lastActivityAt, id } = query.after;
    select = select.where((eb) =>
      eb.or([eb('chats.last_activity_at', '<', lastActivityAt), eb.and([eb('chats.last_activity_at', '=', lastActivityAt), eb('chats.id', '<', id)])]),
    );
  }
  if (query.q) {
    // Case-insensitive on both stores (likeFolded): SQLite's LIKE folds ASCII only, PostgreSQL's none.
    const pattern = containsPattern(query.q);
    const phones = phonePatterns(query.q, phoneDigits);
    select = select.where((eb) =>
      eb.or([
        eb.exists(
          eb
            .selectFrom('contacts')
            .select('contacts.id')
            .whereRef('contacts.id', '=', 'chats.contact_id')
            .where((inner) =>
              inner.or([
                likeFolded('contacts.name', pattern),
                ...phones.map((phone) => likeEscaped('contacts.phone', phone)),
                likeFolded('contacts.username', pattern),
              ]),
            ),
        ),
        eb.exists(
          eb
            .selectFrom('messages')
            .select('messages.id')
            .whereRef('messages.chat_id', '=', 'chats.id')
            .where(likeFolded('messages.text', pattern)),
        ),
      ]),
    );
  }
  return (await select.execute()).map(toChat);
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
