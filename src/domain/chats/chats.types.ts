import type { Contact } from '../contacts/contacts.types.js';
import type { Message } from '../messages/messages.types.js';

export const CHAT_STATUSES = ['open', 'closed'] as const;
export type ChatStatus = (typeof CHAT_STATUSES)[number];

/** A conversation with one contact on one channel. */
export interface Chat {
  id: string;
  channelId: string;
  chatType: string;
  /** The sender's chat id. */
  externalId: string;
  contactId: string | null;
  status: ChatStatus;
  assigneeId: string | null;
  lastMessageId: string | null;
  lastMessageAt: number | null;
  lastActivityAt: number;
  unreadCount: number;
  createdAt: number;
  updatedAt: number;
}

/** How a chat is found: Wazzup24 chat ids are unique only within a channel and messenger. */
export interface ChatKey {
  channelId: string;
  chatType: string;
  externalId: string;
}

/** A chat with what an operator's list shows beside it. */
export interface ChatView {
  chat: Chat;
  contact: Contact | null;
  lastMessage: Message | null;
}

/** Filters of the operators' chat list. */
export interface ChatListQuery {
  status?: ChatStatus;
  /** `none`: unassigned; otherwise a user id. */
  assignee?: string | 'none';
  /** true: chats with unread messages; false: chats without. */
  unread?: boolean;
  /** Matches contact name, phone or message text. */
  q?: string;
  /** Keyset cursor: only chats after this position (newest activity first). */
  after?: { lastActivityAt: number; id: string };
  limit: number;
}
