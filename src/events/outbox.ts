/**
 * The outbox of domain events: every event is written, with an increasing sequence number, in the
 * same transaction as the change it announces. Real-time clients replay from it when they
 * reconnect, and other instances read it when PostgreSQL tells them something was committed.
 */
import type { DomainEvent } from '../domain/domain-events.js';
import type { Executor } from '../storage/executor.js';
import { inChunks, type ChunkOptions } from '../storage/in-chunks.js';
import { insertAtCommit, type RowsWriter } from '../storage/insert-at-commit.js';
import { prepareRowsQuery } from '../storage/prepared.js';

/** A domain event with its place in the sequence. */
export type PublishedEvent = DomainEvent & { seq: number; createdAt: number };

/**
 * Stored without messages' raw sender payload: clients never see it, and it can be large. (A
 * JSON.stringify replacer would do the same, at the cost of a call per key of every event.)
 */
function storedPayload(event: DomainEvent): string {
  const payload = event.payload as Record<string, unknown>;
  const stripped: Record<string, unknown> = { ...payload };
  for (const key of ['message', 'lastMessage']) {
    const message = payload[key] as Record<string, unknown> | null | undefined;
    if (message) stripped[key] = { ...message, raw: undefined };
  }
  return JSON.stringify(stripped);
}

interface OutboxRow {
  type: string;
  payload: string;
  created_at: number;
}

const insertRows = prepareRowsQuery<OutboxRow, { seq: number }>(['type', 'payload', 'created_at'], (db, rows) =>
  db.insertInto('domain_events').values(rows).returning('seq'),
);

/** Writes events' rows in order; returns their sequence numbers in the same order. */
const outboxWriter: RowsWriter<OutboxRow, number> = {
  async write(trx, rows) {
    const result = await insertRows.execute(trx, rows);
    // Rows of one multi-row insert get increasing numbers in the order given.
    return result.rows.map((row) => Number(row.seq)).sort((a, b) => a - b);
  },
};

const toRow = (event: DomainEvent, now: number): OutboxRow => ({ type: event.type, payload: storedPayload(event), created_at: now });

/**
 * Appends events with the rest of the group-committed batch, just before it commits (one
 * statement for all of the batch's events); resolves to them with their sequence numbers then.
 * Never await it inside the unit of work that calls it.
 */
export function appendToOutboxAtCommit(trx: Executor, events: DomainEvent[], now: number): Promise<PublishedEvent[]> {
  const published = Promise.all(
    events.map(async (event) => ({ ...event, seq: await insertAtCommit(trx, outboxWriter, toRow(event, now)), createdAt: now })),
  );
  // When the transaction fails, the group committer runs the change again and answers from that
  // run: nobody awaits this promise then, and its rejection must not end the process.
  published.catch(() => undefined);
  return published;
}

/** Events after `seq`, in order, at most `limit`. */
export async function readOutboxAfter(db: Executor, seq: number, limit: number): Promise<PublishedEvent[]> {
  const rows = await db.selectFrom('domain_events').selectAll().where('seq', '>', seq).orderBy('seq').limit(limit).execute();
  return rows.map((row) => ({ type: row.type, payload: JSON.parse(row.payload), seq: Number(row.seq), createdAt: row.created_at }) as PublishedEvent);
}

/** The newest sequence number, 0 when empty. */
export async function latestOutboxSeq(db: Executor): Promise<number> {
  const row = await db.selectFrom('domain_events').select((eb) => eb.fn.max('seq').as('seq')).executeTakeFirst();
  return Number(row?.seq ?? 0);
}

/**
 * Every event up to this number may have been purged, and every later one is kept: a client that
 * has seen less has missed events it can no longer get.
 */
export async function purgedThroughSeq(db: Executor): Promise<number> {
  const row = await db.selectFrom('domain_events_purge').select('purged_through_seq').executeTakeFirst();
  return Number(row?.purged_through_seq ?? 0);
}

/**
 * Drops events older than `before` (epoch ms), but always keeps the newest: its number is how a
 * reconnecting client is told that what it missed is gone, rather than that nothing happened.
 */
export async function purgeOutbox(db: Executor, before: number, chunks?: ChunkOptions): Promise<number> {
  const newest = await latestOutboxSeq(db);
  const row = await db
    .selectFrom('domain_events')
    .select((eb) => eb.fn.max('seq').as('seq'))
    .where('created_at', '<', before)
    .where('seq', '<', newest)
    .executeTakeFirst();
  if (row?.seq === null || row?.seq === undefined) return 0;
  const through = Number(row.seq);
  // The mark moves before the rows go, so that a reader who finds an event missing finds the
  // mark past it (see the replay in realtime-hub.ts); a crash in between only deletes them later.
  await db.updateTable('domain_events_purge').set({ purged_through_seq: through }).where('purged_through_seq', '<', through).execute();
  // A chunk at a time, so that webhooks keep being served meanwhile.
  return inChunks(async (limit) => {
    const result = await db
      .deleteFrom('domain_events')
      .where('seq', 'in', (eb) => eb.selectFrom('domain_events').select('seq').where('seq', '<=', through).orderBy('seq').limit(limit))
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }, chunks);
}
