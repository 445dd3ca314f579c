/**
 * PostgreSQL, for scale. A normal commit is durable (fsync of the WAL) unless the server was
 * configured otherwise.
 */
import pg from 'pg';
import { PostgresDialect, sql, type Dialect, type Kysely } from 'kysely';
import type { Database } from '../schema.js';

const INT8_OID = 20;

/** Connects a pool to the given postgres:// URL. */
export function openPostgresDialect(connectionString: string): Dialect {
  const pool = new pg.Pool({
    connectionString,
    max: 10,
    // Epoch-millisecond columns are bigint; they fit a JS number exactly until the year 287396.
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  // An idle client that loses its connection emits 'error'; without a listener it would crash the process.
  pool.on('error', () => undefined);
  // Kysely's destroy() ends the pool.
  return new PostgresDialect({ pool });
}

/** The channel that says "domain events were committed"; its payload is empty. */
const EVENTS_CHANNEL = 'backchat_events';
/** Arbitrary, fixed key of the advisory lock that orders writers across instances. */
const WRITERS_LOCK_KEY = 727_011;

/**
 * Taken first in every write transaction and held until commit. Each instance already writes one
 * group-committed batch at a time; this makes the batches of all instances take turns, so that
 * outbox sequence numbers commit in order and two batches never deadlock on the same rows.
 */
export async function lockWriters(trx: Kysely<Database>): Promise<void> {
  await sql`select pg_advisory_xact_lock(${WRITERS_LOCK_KEY})`.execute(trx);
}

/** Inside the transaction: PostgreSQL delivers it to every listener when (and only if) it commits. */
export async function notifyEventsCommitted(trx: Kysely<Database>): Promise<void> {
  await sql.raw(`notify ${EVENTS_CHANNEL}`).execute(trx);
}

/**
 * Listens for committed events from every instance on a connection of its own, reconnecting
 * after a failure (and then calling `onCommit`, since notifications may have been missed).
 */
export async function listenForCommittedEvents(connectionString: string, onCommit: () => void, onError: (error: unknown) => void): Promise<() => Promise<void>> {
  let client: pg.Client | undefined;
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;

  const connect = async (): Promise<void> => {
    // Keep-alive probes find a half-open connection, which would otherwise wait for NOTIFYs forever.
    const next = new pg.Client({ connectionString, keepAlive: true });
    next.on('notification', () => onCommit());
    next.on('error', (error) => {
      onError(error);
      reconnect();
    });
    await next.connect();
    await next.query(`listen ${EVENTS_CHANNEL}`);
    client = next;
  };
  const reconnect = () => {
    if (stopped || retry) return;
    void client?.end().catch(() => undefined);
    client = undefined;
    retry = setTimeout(() => {
      retry = undefined;
      connect()
        .then(() => onCommit())
        .catch((error: unknown) => {
          onError(error);
          reconnect();
        });
    }, 1000);
  };

  await connect();
  return async () => {
    stopped = true;
    if (retry) clearTimeout(retry);
    await client?.end().catch(() => undefined);
  };
}
