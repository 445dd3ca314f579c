/**
 * PostgreSQL, for scale. A normal commit is durable (fsync of the WAL) unless the server was
 * configured otherwise.
 */
import pg from 'pg';
import { PostgresDialect, sql, type Dialect, type Kysely } from 'kysely';
import { compiledOnceId } from '../prepared.js';
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
  pool.on('connect', keepCompiledOnceQueriesParsed);
  // Kysely's destroy() ends the pool.
  return new PostgresDialect({ pool });
}

/**
 * The intake's statements (`storage/prepared.ts`) run thousands of times a second, each a round
 * trip during which every other writer waits (the writer lock below). Sent as named prepared
 * statements, they are parsed and planned once per connection instead of on every run, which
 * takes about a third off each round trip here (docs/PERFORMANCE.md). Every other query stays
 * unnamed.
 */
function keepCompiledOnceQueriesParsed(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (config: pg.QueryConfig | string, values?: unknown[]) => Promise<pg.QueryResult>;
  // Kysely calls query(sql, parameters) and awaits the promise; that is the only form named here.
  client.query = ((text: unknown, values?: unknown[]) => {
    const id = typeof text === 'string' ? compiledOnceId(text) : undefined;
    if (id === undefined) return query(text as string, values);
    return query({ name: `backchat_${id}_${preparedGeneration}`, text: text as string, values }).catch((error: unknown) => {
      if (isStalePreparedStatement(error)) preparedGeneration += 1;
      throw error;
    });
  }) as typeof client.query;
}

/**
 * Bumped when a prepared statement went stale, so that every connection parses its statements
 * anew under new names. A statement that reads `*` goes stale when a migration (run by a newer
 * instance) adds a column: PostgreSQL then refuses to run it ("cached plan must not change
 * result type") for as long as the connection lives. The transaction that hit it fails: a webhook
 * alone in its batch gets a 500 and is sent again, the units of a larger batch are retried alone,
 * both under the new names. The stale statements go when their connections do.
 */
let preparedGeneration = 1;

function isStalePreparedStatement(error: unknown): boolean {
  const { code, message } = error as { code?: unknown; message?: unknown };
  return code === '0A000' && typeof message === 'string' && message.includes('cached plan must not change result type');
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
