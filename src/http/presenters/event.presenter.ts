/**
 * Domain events as WebSocket frames: `{"seq":…,"type":…,"data":…}`, where `data` is the same
 * representation the REST API gives (a message, a chat with its contact and last message, a
 * contact), so that a client never needs to refetch.
 */
import type { PublishedEvent } from '../../events/outbox.js';
import { presentChat, presentContact, presentMessage } from './inbox.presenter.js';

export function presentEvent(event: PublishedEvent) {
  const frame = (data: unknown) => ({ seq: event.seq, type: event.type, at: new Date(event.createdAt).toISOString(), data });
  switch (event.type) {
    case 'message.created':
    case 'message.updated':
    case 'message.status_changed':
      return frame(presentMessage(event.payload.message));
    case 'chat.updated':
      return frame(presentChat(event.payload));
    case 'contact.updated':
      return frame(presentContact(event.payload.contact));
  }
}
