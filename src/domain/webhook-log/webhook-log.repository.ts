import type { Selectable } from 'kysely';
import { statementsHoldEventLoop } from '../../storage/database.js';
import { likeEscaped, prefixPattern } from '../../storage/like.js';
import { insertAtCommit, type RowsWriter } from '../../storage/insert-at-commit.js';
import { prepareRowsQuery } from '../../storage/prepared.js';
import type { Executor } from '../../storage/executor.js';
import { turnOfEventLoop } from '../../storage/in-chunks.js';
import type { WebhookEventsTable } from '../../storage/schema.js';
import {
  WEBHOOK_OUTCOMES,
  type WebhookLogEntry,
  type WebhookLogFilter,
  type WebhookLogStats,
  type WebhookOutcome,
} from './webhook-log.types.js';

function toEntry(row: Selectable<WebhookEventsTable>): WebhookLogEntry {
  return {
    id: row.id,
    receivedAt: row.received_at,
    clientIp: row.client_ip,
    userAgent: row.user_agent,
    sizeBytes: row.size_bytes,
    format: row.format,
    event: row.event,
    subject: row.subject,
    outcome: row.outcome as WebhookOutcome,
    httpStatus: row.http_status,
    durationMs: row.duration_ms,
    error: row.error === null ? null : (JSON.parse(row.error) as WebhookLogEntry['error']),
    rawBody: row.raw_body,
    authScheme: row.auth_scheme,
    authKey: row.auth_key,
    ipAllowed: row.ip_allowed === null ? null : row.ip_allowed === 1,
    replayOf: row.replay_of,
    replayedAt: row.replayed_at,
    replayOutcome: row.replay_outcome as WebhookOutcome | null,
  };
}

const WEBHOOK_EVENT_COLUMNS = [
  'id', 'received_at', 'client_ip', 'user_agent', 'size_bytes', 'format', 'event', 'subject', 'outcome', 'http_status',
  'duration_ms', 'error', 'raw_body', 'auth_scheme', 'auth_key', 'ip_allowed', 'replay_of', 'replayed_at', 'replay_outcome',
] as const;

const insertRows = prepareRowsQuery<Selectable<WebhookEventsTable>, never>(WEBHOOK_EVENT_COLUMNS, (db, rows) =>
  db.insertInto('webhook_events').values(rows),
);

function toRow(entry: WebhookLogEntry): Selectable<WebhookEventsTable> {
  return {
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
    replay_of: entry.replayOf,
    replayed_at: entry.replayedAt,
    replay_outcome: entry.replayOutcome,
  };
}

const webhookLogWriter: RowsWriter<WebhookLogEntry, void> = {
  async write(trx, entries) {
    await insertRows.execute(trx, entries.map(toRow));
    return entries.map(() => undefined);
  },
};

export async function insertWebhookLogEntry(db: Executor, entry: WebhookLogEntry): Promise<void> {
  await webhookLogWriter.write(db, [entry]);
}

/**
 * Records the entry with the rest of the group-committed batch, just before it commits (one
 * statement for the whole batch). Should that fail, the transaction fails with it.
 */
export function insertWebhookLogEntryAtCommit(trx: Executor, entry: WebhookLogEntry): void {
  void insertAtCommit(trx, webhookLogWriter, entry);
}

export async function findWebhookLogEntry(db: Executor, id: string): Promise<WebhookLogEntry | undefined> {
  const row = await db.selectFrom('webhook_events').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toEntry(row);
}

/**
 * Entries a search by text or by event reads at most per statement on SQLite. No index serves
 * those filters, and SQLite's statements run on the event loop: one statement over 600,000
 * entries held every webhook for 0.5–8 s (a review's find). A window at a time, with turns between.
 */
export const SCAN_WINDOW_ROWS = 5000;

/**
 * How much later than its arrival (`received_at`) an entry's id may be made: once its body is
 * read, which the server allows 30 s (app.ts, requestTimeout), and a margin. A search from a time
 * reads on until the windows are older than that time by this much.
 */
const ID_AFTER_ARRIVAL_MAX_MS = 60_000;

/**
 * Newest first. Ids are UUIDv7, so ordering by id is ordering by arrival, and the id is the cursor.
 * On SQLite, a search by `q` or `event` reads the log in windows of SCAN_WINDOW_ROWS ids, newest
 * first, yielding to the event loop between two, until it has `limit` entries or reaches the oldest.
 */
export async function listWebhookLogEntries(db: Executor, filter: WebhookLogFilter): Promise<WebhookLogEntry[]> {
  const matching = (upper: string | undefined, lower: string | undefined, limit: number) => {
    let query = db.selectFrom('webhook_events').selectAll().orderBy('id', 'desc').limit(limit);
    if (upper !== undefined) query = query.where('id', '<', upper);
    if (lower !== undefined) query = query.where('id', '>=', lower);
    if (filter.outcome) query = query.where('outcome', '=', filter.outcome);
    if (filter.event) query = query.where('event', '=', filter.event);
    if (filter.from !== undefined) query = query.where('received_at', '>=', filter.from);
    if (filter.to !== undefined) query = query.where('received_at', '<', filter.to);
    if (filter.q) {
      const q = filter.q;
      // The subject holds every id of a batch, space-separated: match the start of any of them.
      query = query.where((eb) =>
        eb.or([eb('id', '=', q), likeEscaped('subject', prefixPattern(q)), likeEscaped('subject', `% ${prefixPattern(q)}`), eb('replay_of', '=', q)]),
      );
    }
    return query.execute();
  };
  // PostgreSQL's statements hold nothing: there, one statement (windows doubled its time).
  if ((!filter.q && !filter.event) || !statementsHoldEventLoop(db)) return (await matching(filter.before, undefined, filter.limit)).map(toEntry);

  const found: Selectable<WebhookEventsTable>[] = [];
  let upper = filter.before;
  for (;;) {
    // The window's oldest id, along the primary key alone; none when fewer entries are left.
    let edgeQuery = db.selectFrom('webhook_events').select(['id', 'received_at']).orderBy('id', 'desc').offset(SCAN_WINDOW_ROWS - 1).limit(1);
    if (upper !== undefined) edgeQuery = edgeQuery.where('id', '<', upper);
    const edge = await edgeQuery.executeTakeFirst();
    found.push(...(await matching(upper, edge?.id, filter.limit - found.length)));
    // Id order is arrival order, give or take the time a body takes to arrive: well past `from`,
    // older windows hold nothing to find.
    const pastFrom = filter.from !== undefined && Number(edge?.received_at) < filter.from - ID_AFTER_ARRIVAL_MAX_MS;
    if (!edge || found.length >= filter.limit || pastFrom) break;
    upper = edge.id;
    await turnOfEventLoop();
  }
  return found.map(toEntry);
}

export async function markWebhookLogEntryReplayed(db: Executor, id: string, outcome: WebhookOutcome, at: number): Promise<void> {
  await db.updateTable('webhook_events').set({ replayed_at: at, replay_outcome: outcome }).where('id', '=', id).execute();
}

/**
 * Deletes at most `limit` entries received before `before`, but none that a replay still kept
 * points at: a replay of that replay dates what it re-applies by the original's arrival
 * (intake.service.ts, firstArrival), and without the original would date it by its own, making
 * old data newer than what arrived since. Returns how many.
 */
export async function deleteWebhookLogEntriesBefore(db: Executor, before: number, limit: number): Promise<number> {
  const result = await db
    .deleteFrom('webhook_events')
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('webhook_events as expired')
        .select('expired.id')
        .where('expired.received_at', '<', before)
        .where(({ not, exists, selectFrom }) =>
          not(exists(selectFrom('webhook_events as replay').select('replay.id').whereRef('replay.replay_of', '=', 'expired.id'))),
        )
        .limit(limit),
    )
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** Where the body purge stopped: every accepted entry received before it has lost its body. */
export async function bodiesDroppedBefore(db: Executor): Promise<number> {
  const row = await db.selectFrom('webhook_log_purge').select('bodies_dropped_before').executeTakeFirst();
  return Number(row?.bodies_dropped_before ?? 0);
}

/** Moves that mark on (never back: another instance may have purged further). */
export async function markBodiesDroppedBefore(db: Executor, before: number): Promise<void> {
  await db.updateTable('webhook_log_purge').set({ bodies_dropped_before: before }).where('bodies_dropped_before', '<', before).execute();
}

/**
 * Drops the bodies of the oldest `limit` accepted entries received in [from, to) that still hold
 * one (failed and partial entries keep theirs until they expire, for replay; the other outcomes
 * keep none). Returns how many, and the arrival of the last: where the next chunk starts.
 */
export async function dropWebhookLogBodies(
  db: Executor,
  range: { from: number; to: number },
  limit: number,
): Promise<{ dropped: number; lastReceivedAt: number | null }> {
  // Along the (outcome, received_at) index, from where the last chunk stopped.
  const rows = await db
    .selectFrom('webhook_events')
    .select(['id', 'received_at'])
    .where('outcome', '=', 'accepted')
    .where('received_at', '>=', range.from)
    .where('received_at', '<', range.to)
    .where('raw_body', 'is not', null)
    .orderBy('received_at')
    .limit(limit)
    .execute();
  if (rows.length === 0) return { dropped: 0, lastReceivedAt: null };
  await db
    .updateTable('webhook_events')
    .set({ raw_body: null })
    .where('id', 'in', rows.map((row) => row.id))
    .execute();
  return { dropped: rows.length, lastReceivedAt: Number(rows[rows.length - 1]!.received_at) };
}

/**
 * Ids of failed entries in a time window that a bulk replay should replay, oldest first: original
 * requests (never a replay: replaying one would replay its original's body a second time) that
 * were never replayed, or whose last replay failed too. One whose last replay was accepted,
 * duplicate, partial (its valid items are in; the others will not become valid) or invalid is done.
 */
export async function listFailedWebhookLogIds(db: Executor, window: { from?: number; to?: number }, limit: number): Promise<string[]> {
  let query = db
    .selectFrom('webhook_events')
    .select('id')
    .where('outcome', '=', 'failed')
    .where('replay_of', 'is', null)
    .where((eb) => eb.or([eb('replay_outcome', 'is', null), eb('replay_outcome', '=', 'failed')]))
    .orderBy('id')
    .limit(limit);
  if (window.from !== undefined) query = query.where('received_at', '>=', window.from);
  if (window.to !== undefined) query = query.where('received_at', '<', window.to);
  return (await query.execute()).map((row) => row.id);
}

/**
 * The time of the last accepted (or duplicate) webhook the sender sent, if any: a replay is not
 * news from Wazzup24, and must not quiet the silence alert after a restart.
 */
export async function lastAcceptedWebhookAt(db: Executor): Promise<number | null> {
  const row = await db
    .selectFrom('webhook_events')
    .select((eb) => eb.fn.max('received_at').as('last'))
    .where('outcome', 'in', ['accepted', 'duplicate', 'partial'])
    .where('replay_of', 'is', null)
    .executeTakeFirst();
  return row?.last === null || row?.last === undefined ? null : Number(row.last);
}

/**
 * Counts by outcome, error ratio, latency percentiles (nearest rank) and the last accepted arrival
 * over a window, replays left out. The window is read in chunks of SCAN_WINDOW_ROWS entries along
 * the arrival index, with turns of the event loop between two: over 30 days, statements that
 * counted and sorted the whole window held SQLite's event loop for 1.5 s (a review's find).
 */
export async function webhookLogStats(db: Executor, window: { from: number; to: number }): Promise<WebhookLogStats> {
  const byOutcome = Object.fromEntries(WEBHOOK_OUTCOMES.map((o) => [o, 0])) as Record<WebhookOutcome, number>;
  /** How many processed requests took each duration (as stored: to the hundredth of a ms). */
  const durations = new Map<number, number>();
  let lastReceivedAt: number | null = null;
  let after: { receivedAt: number; id: string } | null = null;
  for (;;) {
    let query = db
      .selectFrom('webhook_events')
      .select(['id', 'received_at', 'outcome', 'duration_ms', 'replay_of'])
      .where('received_at', '<', window.to)
      .orderBy('received_at')
      .orderBy('id')
      .limit(SCAN_WINDOW_ROWS);
    const from = after;
    query =
      from === null
        ? query.where('received_at', '>=', window.from)
        : query.where('received_at', '>=', from.receivedAt).where((eb) => eb.or([eb('received_at', '>', from.receivedAt), eb('id', '>', from.id)]));
    const rows = await query.execute();
    for (const row of rows) {
      if (row.replay_of !== null || !(row.outcome in byOutcome)) continue;
      const outcome = row.outcome as WebhookOutcome;
      byOutcome[outcome] += 1;
      if (outcome === 'accepted' || outcome === 'duplicate' || outcome === 'partial' || outcome === 'failed') {
        durations.set(row.duration_ms, (durations.get(row.duration_ms) ?? 0) + 1);
      }
      if (outcome !== 'failed' && outcome !== 'invalid' && outcome !== 'rejected') lastReceivedAt = Math.max(lastReceivedAt ?? 0, Number(row.received_at));
    }
    if (rows.length < SCAN_WINDOW_ROWS) break;
    const last = rows[rows.length - 1]!;
    after = { receivedAt: Number(last.received_at), id: last.id };
    await turnOfEventLoop();
  }

  const total = Object.values(byOutcome).reduce((a, b) => a + b, 0);
  const processed = byOutcome.accepted + byOutcome.duplicate + byOutcome.partial + byOutcome.failed;
  const sorted = [...durations.entries()].sort(([a], [b]) => a - b);
  /** The smallest duration that at least `p` of the processed requests did not exceed. */
  const percentile = (p: number): number | null => {
    if (processed === 0) return null;
    const rank = Math.max(1, Math.ceil(p * processed));
    let seen = 0;
    for (const [duration, count] of sorted) {
      seen += count;
      if (seen >= rank) return Math.round(duration * 100) / 100;
    }
    return null;
  };
  return {
    from: window.from,
    to: window.to,
    total,
    byOutcome,
    errorRatio: processed === 0 ? 0 : byOutcome.failed / processed,
    latencyMs: { p50: percentile(0.5), p95: percentile(0.95) },
    lastReceivedAt,
  };
}
