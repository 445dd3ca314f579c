/**
 * What operators do with chats: list and search them, open one, read its messages, assign and
 * close it, mark it read. Changes go through the change runner, so that every instance and every
 * connected operator hears of them after they are committed.
 */
import { AppError } from '../../errors.js';
import type { CommitChange } from '../../events/change-runner.js';
import type { Executor } from '../../storage/executor.js';
import { findChatById, listChats, listChatsOfContact, updateChatFields } from '../chats/chats.repository.js';
import type { Chat, ChatListQuery, ChatStatus, ChatView } from '../chats/chats.types.js';
import { findContactById, findContactsByIds, listContacts } from '../contacts/contacts.repository.js';
import type { Contact } from '../contacts/contacts.types.js';
import { countIncomingAfter, findMessageById, findMessagesByIds, listMessagesOfChat, listRevisionsOfMessage } from '../messages/messages.repository.js';
import type { Message, StoredRevision } from '../messages/messages.types.js';
import { phoneSearchDigits, type PhoneCountry } from '../phone.js';
import { findUserById, lockUserCredentials } from '../users/users.repository.js';
import type { User } from '../users/users.types.js';

export interface InboxService {
  /** A page of chats, newest activity first; `hasMore` when another page follows. */
  listChats(query: ChatListQuery): Promise<{ chats: ChatView[]; hasMore: boolean }>;
  getChat(id: string): Promise<ChatView>;
  /** Assigns (or unassigns, with null) and opens or closes a chat. */
  updateChat(id: string, changes: { status?: ChatStatus; assigneeId?: string | null }): Promise<ChatView>;
  /** Marks the chat read up to a message (everything when absent); the unread count follows. */
  markRead(id: string, upToMessageId?: string): Promise<ChatView>;
  listMessages(chatId: string, page: { after?: { sentAt: number; id: string }; limit: number }): Promise<{ messages: Message[]; hasMore: boolean }>;
  /** A message's edits and deletions, oldest first. */
  listRevisions(messageId: string, page: { after?: { occurredAt: number; id: string }; limit: number }): Promise<{ revisions: StoredRevision[]; hasMore: boolean }>;
  listContacts(query: { q?: string; afterId?: string; limit: number }): Promise<{ contacts: Contact[]; hasMore: boolean }>;
  /** A contact with its chats. */
  getContact(id: string): Promise<{ contact: Contact; chats: ChatView[] }>;
}

export function createInboxService(deps: {
  db: Executor;
  commitChange: CommitChange;
  now: () => number;
  /** Where phone numbers written the local way are from: a search for "8 777 …" finds +7 777 …. */
  phoneCountry: PhoneCountry | null;
}): InboxService {
  const { db, commitChange, now } = deps;
  const phoneDigitsOf = (q: string | undefined) => (q ? phoneSearchDigits(q, deps.phoneCountry) : []);

  const viewsOf = async (executor: Executor, chats: Chat[]): Promise<ChatView[]> => {
    const contacts = await findContactsByIds(executor, [...new Set(chats.flatMap((c) => (c.contactId ? [c.contactId] : [])))]);
    const messages = await findMessagesByIds(executor, chats.flatMap((c) => (c.lastMessageId ? [c.lastMessageId] : [])));
    const contactById = new Map(contacts.map((c) => [c.id, c]));
    const messageById = new Map(messages.map((m) => [m.id, m]));
    return chats.map((chat) => ({
      chat,
      contact: (chat.contactId && contactById.get(chat.contactId)) || null,
      lastMessage: (chat.lastMessageId && messageById.get(chat.lastMessageId)) || null,
    }));
  };

  const requireChat = async (executor: Executor, id: string): Promise<Chat> => {
    const chat = await findChatById(executor, id);
    if (!chat) throw new AppError('not_found', 404, 'No chat with this id');
    return chat;
  };

  /**
   * Applies chat changes and announces the chat as operators see it. Checks that can refuse the
   * request run before, outside the group-committed transaction: a unit that throws makes its whole
   * batch (webhooks included) roll back and commit unit by unit.
   */
  const changeChat = async (id: string, decide: (trx: Executor) => Promise<Parameters<typeof updateChatFields>[2]>) => {
    await requireChat(db, id);
    return commitChange(async (trx) => {
      // Chats are never deleted, so the chat found above is still there.
      const updated = (await updateChatFields(trx, id, await decide(trx)))!;
      const [view] = await viewsOf(trx, [updated]);
      return { result: view!, events: [{ type: 'chat.updated', payload: view! }] };
    });
  };

  return {
    async listChats(query) {
      const chats = await listChats(db, { ...query, limit: query.limit + 1 }, phoneDigitsOf(query.q));
      return { chats: await viewsOf(db, chats.slice(0, query.limit)), hasMore: chats.length > query.limit };
    },

    async getChat(id) {
      const [view] = await viewsOf(db, [await requireChat(db, id)]);
      return view!;
    },

    async updateChat(id, changes) {
      const { assigneeId } = changes;
      if (assigneeId === undefined || assigneeId === null) return changeChat(id, async () => ({ ...changes, now: now() }));
      // Checked before the change is queued, so that a refusal never fails a batch; and again in
      // its transaction, the user's row locked: the user may have been disabled while it waited.
      requireActive(await findUserById(db, assigneeId));
      return changeChat(id, async (trx) => {
        requireActive((await lockUserCredentials(trx, assigneeId))?.user);
        return { ...changes, now: now() };
      });
    },

    async markRead(id, upToMessageId) {
      const upTo = upToMessageId === undefined ? undefined : await findMessageById(db, upToMessageId);
      if (upToMessageId !== undefined && (!upTo || upTo.chatId !== id)) {
        await requireChat(db, id);
        throw new AppError('bad_request', 400, 'Invalid request data', { upToMessageId: ['The message must belong to this chat.'] });
      }
      return changeChat(id, async (trx) => ({ unreadCount: upTo ? await countIncomingAfter(trx, id, upTo) : 0, now: now() }));
    },

    async listMessages(chatId, page) {
      await requireChat(db, chatId);
      const messages = await listMessagesOfChat(db, chatId, { ...page, limit: page.limit + 1 });
      return { messages: messages.slice(0, page.limit), hasMore: messages.length > page.limit };
    },

    async listRevisions(messageId, page) {
      const message = await findMessageById(db, messageId);
      if (!message) throw new AppError('not_found', 404, 'No message with this id');
      const revisions = await listRevisionsOfMessage(db, message.externalId, { ...page, limit: page.limit + 1 });
      return { revisions: revisions.slice(0, page.limit), hasMore: revisions.length > page.limit };
    },

    async listContacts(query) {
      const contacts = await listContacts(db, { ...query, limit: query.limit + 1 }, phoneDigitsOf(query.q));
      return { contacts: contacts.slice(0, query.limit), hasMore: contacts.length > query.limit };
    },

    async getContact(id) {
      const contact = await findContactById(db, id);
      if (!contact) throw new AppError('not_found', 404, 'No contact with this id');
      return { contact, chats: await viewsOf(db, await listChatsOfContact(db, id)) };
    },
  };
}

function requireActive(assignee: User | undefined): void {
  if (!assignee || assignee.disabledAt !== null) {
    throw new AppError('bad_request', 400, 'Invalid request data', { assigneeId: ['The assignee must be an active user.'] });
  }
}
