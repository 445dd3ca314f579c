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
  raw: unknown;
}

/** A delivery status report as the intake hands it over. */
export interface StatusReport {
  messageExternalId: string;
  status: DeliveryStatus;
  occurredAt: number;
  error: unknown;
}
