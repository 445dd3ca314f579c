import type { Executor } from '../../storage/executor.js';
import type { WebhookLogEntry } from './webhook-log.types.js';

export async function insertWebhookLogEntry(db: Executor, entry: WebhookLogEntry): Promise<void> {
  await db
    .insertInto('webhook_events')
    .values({
      id: entry.id,
      received_at: entry.receivedAt,
      client_ip: entry.clientIp,
      user_agent: entry.userAgent,
      size_bytes: entry.sizeBytes,
      format: entry.format,
      event: entry.event,
      subject: entry.subject,
      outcome: entry.outcome,
      http_status: entry.httpStatus,
      duration_ms: entry.durationMs,
      error: entry.error === null ? null : JSON.stringify(entry.error),
      raw_body: entry.rawBody,
      auth_scheme: entry.authScheme,
      auth_key: entry.authKey,
      ip_allowed: entry.ipAllowed === null ? null : Number(entry.ipAllowed),
    })
    .execute();
}
