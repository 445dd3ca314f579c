import type { WebhookLogEntry } from '../domain/webhook-log/webhook-log.types.js';

/** When the last webhook was accepted: the health output shows it, a silent integration shows in it. */
export interface WebhookActivity {
  lastAcceptedAt(): number | null;
  record(entry: WebhookLogEntry): void;
}

/** `initial`: the last accepted time found in the webhook log at start. */
export function createWebhookActivity(initial: number | null): WebhookActivity {
  let last = initial;
  return {
    lastAcceptedAt: () => last,
    record(entry) {
      if ((entry.outcome === 'accepted' || entry.outcome === 'duplicate' || entry.outcome === 'partial') && (last === null || entry.receivedAt > last)) {
        last = entry.receivedAt;
      }
    },
  };
}
