import type { ContactUpdate } from '../contacts/contacts.types.js';
import type { ChatKey } from '../chats/chats.types.js';
import type { DeliveryStatus } from './delivery-status.js';

export type MessageDirection = 'in' | 'out';

export interface MessageFile {
  url: string;
  name: string | null;
  size: number | null;
  mimeType: string | null;
}

export interface Message {
  id: string;
  externalId: string;
  chatId: string;
  contactId: string | null;
  direction: MessageDirection;
  type: string;
  text: string | null;
  /** The sender as written in the event (`from`). */
  sender: string | null;
  file: MessageFile | null;
  sentAt: number;
  status: DeliveryStatus | null;
  statusAt: number | null;
  failedAt: number | null;
  error: unknown;
  /** Everything the sender sent about this message, including fields we do not model. */
  raw: unknown;
  createdAt: number;
  /** The operator who wrote an outgoing message, as the messenger platform names them. */
  authorName: string | null;
  authorId: string | null;
  /** The sender's id of the message this one quotes. */
  quotedMessageId: string | null;
  editedAt: number | null;
  deletedAt: number | null;
}

/** A new message as the intake hands it over. */
export interface IncomingMessage {
  externalId: string;
  chat: ChatKey;
  direction: MessageDirection;
  type: string;
  text: string | null;
  sender: string | null;
  file: MessageFile | null;
  sentAt: number;
  /** The contact the message comes from, if the event names one. */
  contact: ContactUpdate | null;
  /**
   * The chat is a group's: its messages come from members, none of whom is the chat's contact
   * (the chat keeps none). Otherwise the message's contact is the chat's.
   */
  groupChat?: boolean;
  raw: unknown;
  authorName?: string | null;
  authorId?: string | null;
  quotedMessageId?: string | null;
}

export type RevisionKind = 'edited' | 'deleted';

/** An edit or a deletion of a message, as the intake hands it over. */
export interface MessageRevision {
  messageExternalId: string;
  kind: RevisionKind;
  /** The text after the edit (null for a deletion, and for an edit whose new text was not reported). */
  newText: string | null;
  /** The text before, as the sender reports it. */
  oldText: string | null;
  authorName: string | null;
  authorId: string | null;
  occurredAt: number;
  /** Identifies this revision, so that a repeat is recognised. */
  fingerprint: string;
  raw: unknown;
  /**
   * The message as the revision shows it: stored as new when the original never arrived. Null
   * when the revision came without it (Wazzup24's `edited` status, for an edit made in the
   * messenger app), which then only tells that and when the message was edited.
   */
  message: IncomingMessage | null;
}

/** An edit or a deletion as kept in a message's history. */
export interface StoredRevision {
  id: string;
  kind: RevisionKind;
  oldText: string | null;
  newText: string | null;
  authorName: string | null;
  authorId: string | null;
  /** When the sender says it happened. */
  occurredAt: number;
  receivedAt: number;
}

/** A delivery status report as the intake hands it over. */
export interface StatusReport {
  messageExternalId: string;
  /** Our name for a known status; any other name as sent (it is recorded, and moves nothing). */
  status: DeliveryStatus | (string & {});
  occurredAt: number;
  error: unknown;
  /** The status event as sent, kept whole; null when the status came inside a message (which keeps it). */
  raw: unknown;
}
