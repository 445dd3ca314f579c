/**
 * The internal form of one webhook event, whatever body shape it came in. Every format is
 * normalised into these, so that one domain path handles them all.
 */
import type { ContactUpdate } from '../domain/contacts/contacts.types.js';
import type { IncomingMessage, MessageRevision, StatusReport } from '../domain/messages/messages.types.js';
import type { PhoneCountry } from '../domain/phone.js';

/** What a body format needs, besides the body, to turn it into events. */
export interface EventReading {
  /** The time the body's events default to when they leave theirs out. */
  readonly receivedAt: number;
  /** Where phone numbers written the local way are from (`PHONE_DEFAULT_COUNTRY`). */
  readonly phoneCountry: PhoneCountry | null;
}

export type IntakeEvent =
  | { kind: 'message'; message: IncomingMessage }
  | { kind: 'status'; status: StatusReport }
  | { kind: 'contact'; contact: ContactUpdate }
  | { kind: 'revision'; revision: MessageRevision };

/** The id an event is about (message id, or the contact's phone), for the webhook log's search. */
export function subjectOf(event: IntakeEvent): string {
  switch (event.kind) {
    case 'message':
      return event.message.externalId;
    case 'status':
      return event.status.messageExternalId;
    case 'contact':
      return event.contact.phone ?? event.contact.externalKey ?? '';
    case 'revision':
      return event.revision.messageExternalId;
  }
}
