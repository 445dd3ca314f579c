/**
 * The webhook log as the admin API and the CLI see it. Replays live in the intake, which owns
 * the path a body takes through the domain.
 */
import type { Executor } from '../../storage/executor.js';
import { parseIsoTime } from '../iso-time.js';
import { inChunks, type ChunkOptions } from '../../storage/in-chunks.js';
import {
  bodiesDroppedBefore,
  deleteWebhookLogEntriesBefore,
  dropWebhookLogBodies,
  findWebhookLogEntry,
  listFailedWebhookLogIds,
  listWebhookLogEntries,
  markBodiesDroppedBefore,
  webhookLogStats,
} from './webhook-log.repository.js';
import type { WebhookLogEntry, WebhookLogFilter, WebhookLogStats } from './webhook-log.types.js';

const DAY_MS = 24 * 60 * 60 * 1000;
/** How far behind the bodies it dropped the purge leaves its mark (see purgeExpiredWebhookLog). */
const MARK_MARGIN_MS = 60 * 60 * 1000;

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
 * rows at a time, so that webhooks keep being served meanwhile; `chunks.signal` stops it between
 * two (what is left goes at the next purge).
 */
export async function purgeExpiredWebhookLog(
  db: Executor,
  policy: { retentionDays: number; bodyRetentionDays: number },
  now: number,
  chunks: ChunkOptions = {},
): Promise<{ deleted: number; bodiesDropped: number }> {
  const expiredBefore = now - policy.retentionDays * DAY_MS;
  let deleted = 0;
  // An entry goes only after the replays that point at it (deleteWebhookLogEntriesBefore): each
  // pass frees the next link of an expired chain of replays, until a pass finds nothing.
  while (!chunks.signal?.aborted) {
    const pass = await inChunks((limit) => deleteWebhookLogEntriesBefore(db, expiredBefore, limit), chunks);
    if (pass === 0) break;
    deleted += pass;
  }
  const bodiesBefore = now - policy.bodyRetentionDays * DAY_MS;
  // From where the last purge stopped: the entries before it were emptied then, and stay until
  // they expire; read again, they made every purge read a month of entries to drop an hour's.
  let from = await bodiesDroppedBefore(db);
  const bodiesDropped = await inChunks(async (limit) => {
    const chunk = await dropWebhookLogBodies(db, { from, to: bodiesBefore }, limit);
    from = chunk.lastReceivedAt ?? from;
    return chunk.dropped;
  }, chunks);
  // Only once every body before it is gone: a purge stopped halfway starts again where it was.
  // An hour short of it: an entry may be committed a while after it arrived (a slow body, a wait
  // for the lock), or by an instance whose clock is behind, and it must not land below the mark.
  if (!chunks.signal?.aborted) await markBodiesDroppedBefore(db, bodiesBefore - MARK_MARGIN_MS);
  return { deleted, bodiesDropped };
}
