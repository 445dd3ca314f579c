/**
 * Chats, messages and contacts as the operator API shows them: camelCase, ISO-8601 times, never
 * the sender's raw payload. The WebSocket sends the same shapes, so a client never refetches.
 */
import type { ChatView } from '../../domain/chats/chats.types.js';
import type { Contact } from '../../domain/contacts/contacts.types.js';
import type { Message, StoredRevision } from '../../domain/messages/messages.types.js';
import { iso } from './time.js';

export function presentContact(contact: Contact) {
  return {
    id: contact.id,
    name: contact.name,
    phone: contact.phone,
    username: contact.username,
    avatarUrl: contact.avatarUrl,
    createdAt: iso(contact.createdAt),
    updatedAt: iso(contact.updatedAt),
  };
}

export function presentMessage(message: Message) {
  return {
    id: message.id,
    chatId: message.chatId,
    externalId: message.externalId,
    direction: message.direction,
    type: message.type,
    text: message.text,
    file: message.file,
    sender: message.sender,
    author: authorOf(message),
    quotedMessageId: message.quotedMessageId,
    status: message.status,
    statusAt: iso(message.statusAt),
    failedAt: iso(message.failedAt),
    error: message.error ?? null,
    sentAt: iso(message.sentAt),
    createdAt: iso(message.createdAt),
    editedAt: iso(message.editedAt),
    deletedAt: iso(message.deletedAt),
  };
}

export function presentRevision(revision: StoredRevision) {
  return {
    id: revision.id,
    kind: revision.kind,
    oldText: revision.oldText,
    newText: revision.newText,
    author: authorOf(revision),
    occurredAt: iso(revision.occurredAt),
    receivedAt: iso(revision.receivedAt),
  };
}

/** Who wrote (or changed) it on our side, as the sender reports it; null for a customer. */
const authorOf = (item: { authorName: string | null; authorId: string | null }) =>
  item.authorName === null && item.authorId === null ? null : { id: item.authorId, name: item.authorName };

export function presentChat(view: ChatView) {
  const { chat } = view;
  return {
    id: chat.id,
    channelId: chat.channelId,
    chatType: chat.chatType,
    externalId: chat.externalId,
    status: chat.status,
    assigneeId: chat.assigneeId,
    unreadCount: chat.unreadCount,
    lastActivityAt: iso(chat.lastActivityAt),
    createdAt: iso(chat.createdAt),
    updatedAt: iso(chat.updatedAt),
    contact: view.contact && presentContact(view.contact),
    lastMessage: view.lastMessage && presentMessage(view.lastMessage),
  };
}
