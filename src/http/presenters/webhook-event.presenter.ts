import type { WebhookLogEntry, WebhookLogStats } from '../../domain/webhook-log/webhook-log.types.js';
import { iso } from './time.js';

/** A webhook log entry as the admin API shows it; the body only where asked for. */
export function presentWebhookEvent(entry: WebhookLogEntry, options: { withBody: boolean }) {
  return {
    id: entry.id,
    receivedAt: iso(entry.receivedAt),
    outcome: entry.outcome,
    httpStatus: entry.httpStatus,
    event: entry.event,
    subject: entry.subject,
    format: entry.format,
    clientIp: entry.clientIp,
    userAgent: entry.userAgent,
    sizeBytes: entry.sizeBytes,
    durationMs: entry.durationMs,
    error: entry.error,
    authScheme: entry.authScheme,
    authKey: entry.authKey,
    ipAllowed: entry.ipAllowed,
    replayOf: entry.replayOf,
    replayedAt: iso(entry.replayedAt),
    replayOutcome: entry.replayOutcome,
    hasBody: entry.rawBody !== null,
    ...(options.withBody && { body: entry.rawBody }),
  };
}

export function presentWebhookStats(stats: WebhookLogStats) {
  return { ...stats, from: iso(stats.from), to: iso(stats.to), lastReceivedAt: iso(stats.lastReceivedAt) };
}
