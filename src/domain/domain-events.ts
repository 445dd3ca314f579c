/**
 * What the domain announces after a commit. Names follow `entity.verb_past`; payloads carry the
 * full current state so that a listener never needs to read it back.
 */
import type { ChatView } from './chats/chats.types.js';
import type { Contact } from './contacts/contacts.types.js';
import type { Message } from './messages/messages.types.js';

export interface DomainEventMap {
  /** The chat it changed follows as `chat.updated`, in the same commit. */
  'message.created': { message: Message };
  'message.status_changed': { message: Message };
  /** Edited or deleted; the message carries the new state, its history is kept. */
  'message.updated': { message: Message };
  /** The chat as operators see it in their list: with its contact and last message. */
  'chat.updated': ChatView;
  'contact.updated': { contact: Contact };
}

export type DomainEventName = keyof DomainEventMap;

export type DomainEvent = {
  [K in DomainEventName]: { type: K; payload: DomainEventMap[K] };
}[DomainEventName];

/** What a change inside a transaction produced: whether it did anything, and what to announce. */
export interface ChangeResult {
  /** `duplicate`: this exact event was seen before and changed nothing. */
  outcome: 'applied' | 'duplicate';
  events: DomainEvent[];
}
