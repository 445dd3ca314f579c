export type ChatStatus = 'open' | 'closed';

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
