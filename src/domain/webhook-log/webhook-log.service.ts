/**
 * The webhook log as the admin API and the CLI see it. Replays live in the intake, which owns
 * the path a body takes through the domain.
 */
import type { Executor } from '../../storage/executor.js';
import { parseIsoTime } from '../iso-time.js';
import { inChunks } from '../../storage/in-chunks.js';
import {
  BODY_DROPPED_OUTCOMES,
  deleteWebhookLogEntriesBefore,
  dropWebhookLogBodies,
  findWebhookLogEntry,
  listFailedWebhookLogIds,
  listWebhookLogEntries,
  oldestWebhookLogArrival,
  webhookLogStats,
} from './webhook-log.repository.js';
import type { WebhookLogEntry, WebhookLogFilter, WebhookLogStats } from './webhook-log.types.js';

const DAY_MS = 24 * 60 * 60 * 1000;
/** Arrival time covered by one step of the body purge (see purgeExpiredWebhookLog). */
const BODY_SLICE_MS = 10 * 60 * 1000;

/** The latest time a JavaScript Date can hold (±10⁸ days from 1970), in epoch milliseconds. */
const MAX_DATE_MS = 8_640_000_000_000_000;

/**
 * A time bound of the log as people write it: an ISO-8601 date, or epoch milliseconds; undefined
 * if neither, or if it lies beyond the dates there are (epoch milliseconds of 20 digits would
 * overflow PostgreSQL's bigint, and would lose precision long before).
 */
export function parseLogTime(text: string): number | undefined {
  const ms = /^\d+$/.test(text) ? Number(text) : parseIsoTime(text);
  return Number.isNaN(ms) || Math.abs(ms) > MAX_DATE_MS ? undefined : ms;
}

/** A page of entries, newest first, and the cursor of the next page (null on the last one). */
export async function listWebhookLog(
  db: Executor,
  filter: Omit<WebhookLogFilter, 'limit'> & { limit: number },
): Promise<{ entries: WebhookLogEntry[]; nextCursor: string | null }> {
  // One more than asked tells whether a next page exists without a count query.
  const rows = await listWebhookLogEntries(db, { ...filter, limit: filter.limit + 1 });
  const entries = rows.slice(0, filter.limit);
  return { entries, nextCursor: rows.length > filter.limit ? entries[entries.length - 1]!.id : null };
}

/** One entry with its body. */
export function getWebhookLogEntry(db: Executor, id: string): Promise<WebhookLogEntry | undefined> {
  return findWebhookLogEntry(db, id);
}

/**
 * Ids of the failed requests in a window that a bulk replay should retry (never replays
 * themselves, nor requests a replay already settled), oldest first, at most `limit`.
 */
export function failedWebhookLogIds(db: Executor, window: { from?: number; to?: number }, limit: number): Promise<string[]> {
  return listFailedWebhookLogIds(db, window, limit);
}

/** Counts by outcome, error ratio, latency percentiles and the last accepted time over a window. */
export function webhookStats(db: Executor, window: { from: number; to: number }): Promise<WebhookLogStats> {
  return webhookLogStats(db, window);
}

/**
 * Applies the retention policy: old rows go, and bodies of accepted ones go earlier. A chunk of
 * rows at a time (`chunkRows`), so that webhooks keep being served meanwhile.
 */
export async function purgeExpiredWebhookLog(
  db: Executor,
  policy: { retentionDays: number; bodyRetentionDays: number },
  now: number,
  chunkRows?: number,
): Promise<{ deleted: number; bodiesDropped: number }> {
  const deleted = await inChunks((limit) => deleteWebhookLogEntriesBefore(db, now - policy.retentionDays * DAY_MS, limit), chunkRows);
  let bodiesDropped = 0;
  const bodiesBefore = now - policy.bodyRetentionDays * DAY_MS;
  for (const outcome of BODY_DROPPED_OUTCOMES) {
    // Entries emptied by earlier purges stay until they expire. Walked in slices of arrival time,
    // each statement reads at most a slice's worth of them, rather than all from the oldest on.
    let from = await oldestWebhookLogArrival(db, outcome);
    while (from !== null && from < bodiesBefore) {
      const to = Math.min(from + BODY_SLICE_MS, bodiesBefore);
      let next = from;
      bodiesDropped += await inChunks(async (limit) => {
        const chunk = await dropWebhookLogBodies(db, { outcome, from: next, to }, limit);
        next = chunk.lastReceivedAt ?? next;
        return chunk.dropped;
      }, chunkRows);
      from = to;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
  return { deleted, bodiesDropped };
}
