import { beforeAll, describe, expect, it } from 'vitest';
import { testDialects, useMigratedDatabase } from '../../../test/helpers/test-database.js';
import { newId } from '../../storage/ids.js';
import {
  insertWebhookLogEntry,
  lastAcceptedWebhookAt,
  listFailedWebhookLogIds,
  listWebhookLogEntries,
  SCAN_WINDOW_ROWS,
  webhookLogStats,
} from './webhook-log.repository.js';
import type { WebhookLogEntry, WebhookLogFilter, WebhookOutcome } from './webhook-log.types.js';

describe.each(testDialects)('failed webhook log entries for a bulk replay (%s)', (dialect) => {
  const T = Date.parse('2026-01-05T09:00:00.000Z');
  const { db } = useMigratedDatabase(dialect);

  const entry = async (
    receivedAt: number,
    outcome: WebhookOutcome,
    replay: { of?: string; lastOutcome?: WebhookOutcome } = {},
    durationMs = 1,
  ): Promise<string> => {
    const id = newId();
    const row: WebhookLogEntry = {
      id,
      receivedAt,
      clientIp: null,
      userAgent: null,
      sizeBytes: 2,
      format: 'seed',
      event: 'message',
      subject: null,
      outcome,
      httpStatus: outcome === 'failed' ? 500 : 200,
      durationMs,
      error: null,
      rawBody: '{}',
      authScheme: replay.of ? 'replay' : null,
      authKey: null,
      ipAllowed: null,
      replayOf: replay.of ?? null,
      replayedAt: replay.lastOutcome ? receivedAt + 1 : null,
      replayOutcome: replay.lastOutcome ?? null,
    };
    await insertWebhookLogEntry(db(), row);
    return id;
  };

  it('selects original failures never replayed or whose last replay failed, oldest first, and nothing else', async () => {
    const neverReplayed = await entry(T, 'failed');
    const replayFailed = await entry(T + 1, 'failed', { lastOutcome: 'failed' });
    const done: string[] = [];
    for (const [i, lastOutcome] of (['accepted', 'duplicate', 'partial', 'invalid'] as const).entries()) {
      done.push(await entry(T + 2 + i, 'failed', { lastOutcome }));
    }
    // The replays themselves, failed or not, are never replayed: their original is.
    await entry(T + 10, 'failed', { of: replayFailed });
    await entry(T + 11, 'failed', { of: done[0]! });
    await entry(T + 12, 'accepted', { of: done[0]! });
    await entry(T + 13, 'accepted');

    expect(await listFailedWebhookLogIds(db(), { from: T, to: T + 100 }, 100)).toEqual([neverReplayed, replayFailed]);
    expect(await listFailedWebhookLogIds(db(), { from: T, to: T + 100 }, 1)).toEqual([neverReplayed]);
    expect(await listFailedWebhookLogIds(db(), { from: T + 1 }, 100)).toEqual([replayFailed]);
    expect(await listFailedWebhookLogIds(db(), { to: T + 1 }, 100)).toEqual([neverReplayed]);
  });

  it('dates the last webhook by what the sender sent, not by replays', async () => {
    const sent = await entry(T + 200, 'accepted');
    await entry(T + 300, 'accepted', { of: sent });
    expect(await lastAcceptedWebhookAt(db())).toBe(T + 200);
  });

  // Nearest rank: the p-th percentile is the smallest duration that at least p of them do not
  // exceed. Of two durations the median is the lower one, not the higher.
  it('reads latency percentiles by nearest rank', async () => {
    const window = { from: T + 1000, to: T + 2000 };
    await entry(T + 1000, 'accepted', {}, 10);
    await entry(T + 1001, 'accepted', {}, 30);
    expect((await webhookLogStats(db(), window)).latencyMs).toEqual({ p50: 10, p95: 30 });
    for (let i = 2; i < 20; i += 1) await entry(T + 1000 + i, 'accepted', {}, 100 + i);
    // 20 durations: the 10th smallest is the median, the 19th the p95.
    expect((await webhookLogStats(db(), window)).latencyMs).toEqual({ p50: 109, p95: 118 });
  });
});

describe.each(testDialects)('searching a large webhook log (%s)', (dialect) => {
  const { db } = useMigratedDatabase(dialect);
  const T = Date.parse('2026-02-01T00:00:00.000Z');
  const TOTAL = 2 * SCAN_WINDOW_ROWS + 500;
  /** Subjects by position, oldest first; the needles sit in the oldest, a middle and the newest window. */
  const subjectAt = (i: number) => (i === 0 ? 'needle-old' : i === SCAN_WINDOW_ROWS + 7 ? 'm-1 needle-mid' : i === TOTAL - 1 ? 'needle-new' : `m-${i}`);
  const ids: string[] = [];

  beforeAll(async () => {
    for (let start = 0; start < TOTAL; start += 1000) {
      const rows = Array.from({ length: Math.min(1000, TOTAL - start) }, (_, k) => {
        const i = start + k;
        const id = newId();
        ids.push(id);
        return { id, received_at: T + i, size_bytes: 2, outcome: 'accepted', http_status: 200, duration_ms: 1, subject: subjectAt(i), event: i % 4000 === 1 ? 'contact' : 'message' };
      });
      await db().insertInto('webhook_events').values(rows).execute();
    }
  });

  const search = (filter: Partial<WebhookLogFilter>) => listWebhookLogEntries(db(), { limit: 10, ...filter }).then((entries) => entries.map((e) => e.subject));

  it('finds entries in every window, newest first, and pages on from the cursor', async () => {
    expect(await search({ q: 'needle' })).toEqual(['needle-new', 'm-1 needle-mid', 'needle-old']);
    const firstTwo = await listWebhookLogEntries(db(), { q: 'needle', limit: 2 });
    expect(firstTwo.map((e) => e.subject)).toEqual(['needle-new', 'm-1 needle-mid']);
    expect(await search({ q: 'needle', before: firstTwo[1]!.id })).toEqual(['needle-old']);
    expect(await search({ event: 'contact' })).toEqual(['m-8001', 'm-4001', 'm-1']);
    // From a time on, nothing older is read or returned.
    expect(await search({ q: 'needle', from: T + SCAN_WINDOW_ROWS })).toEqual(['needle-new', 'm-1 needle-mid']);
  });

  // A slow upload arrives first and gets its id last, once its body is in: at the edge of a window,
  // its early arrival made the search stop before the next window, whose entries arrived later.
  it('reads on past a window whose oldest entry arrived long before its id was made', async () => {
    const edge = ids[TOTAL - SCAN_WINDOW_ROWS]!;
    const target = TOTAL - SCAN_WINDOW_ROWS - 5;
    await db().updateTable('webhook_events').set({ received_at: T - 30_000 }).where('id', '=', edge).execute();
    try {
      expect(await search({ q: `m-${target}`, from: T + target - 10 })).toEqual([`m-${target}`]);
    } finally {
      await db().updateTable('webhook_events').set({ received_at: T + TOTAL - SCAN_WINDOW_ROWS }).where('id', '=', edge).execute();
    }
  });

  it('aggregates stats over every chunk of a large window, entries of one same time across two chunks included', async () => {
    const stats = await webhookLogStats(db(), { from: T, to: T + TOTAL });
    expect(stats).toMatchObject({ total: TOTAL, byOutcome: { accepted: TOTAL }, latencyMs: { p50: 1, p95: 1 }, lastReceivedAt: T + TOTAL - 1 });
    // More entries of one millisecond than a chunk holds: the walk goes on past them by id.
    const tied = T + 10_000_000;
    const rows = Array.from({ length: SCAN_WINDOW_ROWS + 300 }, (_, i) => ({
      id: newId(), received_at: tied, size_bytes: 2, outcome: i % 2 === 0 ? 'accepted' : 'failed', http_status: 200, duration_ms: i % 2 === 0 ? 5 : 7,
    }));
    for (let start = 0; start < rows.length; start += 1000) await db().insertInto('webhook_events').values(rows.slice(start, start + 1000)).execute();
    const tiedStats = await webhookLogStats(db(), { from: tied, to: tied + 1 });
    expect(tiedStats).toMatchObject({ total: rows.length, byOutcome: { accepted: rows.length / 2, failed: rows.length / 2 }, errorRatio: 0.5, latencyMs: { p50: 5, p95: 7 } });
  });

  // Only SQLite's statements run on the event loop: a PostgreSQL query lets it turn anyway.
  it.runIf(dialect === 'sqlite')('lets the event loop turn between two windows', async () => {
    let turned = false;
    const searching = listWebhookLogEntries(db(), { q: 'needle', limit: 10 }).then(() => turned);
    setImmediate(() => (turned = true));
    expect(await searching).toBe(true);
    turned = false;
    const counting = webhookLogStats(db(), { from: T, to: T + TOTAL }).then(() => turned);
    setImmediate(() => (turned = true));
    expect(await counting).toBe(true);
  });
});
