/**
 * PostgreSQL, for scale. A normal commit is durable (fsync of the WAL) unless the server was
 * configured otherwise.
 */
import pg from 'pg';
import { PostgresDialect, sql, type Dialect, type Kysely } from 'kysely';
import { compiledOnceId } from '../prepared.js';
import type { Database } from '../schema.js';

const INT8_OID = 20;

/** A pool of at most `connections` to the given postgres:// URL, and the dialect over it. */
export function openPostgresDialect(connectionString: string, connections: number): { dialect: Dialect; pool: pg.Pool } {
  const pool = new pg.Pool({
    connectionString,
    max: connections,
    // A request waits at most this long for a connection, then fails (500) instead of hanging.
    connectionTimeoutMillis: 10_000,
    // Epoch-millisecond columns are bigint; they fit a JS number exactly until the year 287396.
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  // A client whose session ends (pg_terminate_backend, a restart or failover, a reset, our own
  // idle-in-transaction timeout) emits 'error'; with no listener that crashes the process. The pool
  // listens only while a client is idle, so each client gets its own listener for its whole life:
  // the query in flight fails on its own (a 500 the sender retries), and the pool drops the client
  // when it is handed back.
  pool.on('error', () => undefined);
  const outgrown = new WeakSet<pg.PoolClient>();
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
    keepCompiledOnceQueriesParsed(client, outgrown);
  });
  // Closed once handed back (after its transaction rolled back, so that the error the caller sees
  // is the real one); the pool drops a client that is ending, and its statements go with it.
  pool.on('release', (_error: Error | undefined, client: pg.PoolClient) => {
    if (outgrown.has(client)) void client.end().catch(() => undefined);
  });
  // Kysely's destroy() ends the pool, if Kysely ever used it (see database.ts).
  return { dialect: new PostgresDialect({ pool }), pool };
}

/**
 * Whether `error` means a connection that was there and is gone: ended by the server (a restart,
 * a failover, pg_terminate_backend: SQLSTATE 57P01, 57P02) or cut under the client. Not a
 * connection that could not be made (refused, "cannot connect now", the pool's connect timeout,
 * which pg-pool words "Connection terminated due to connection timeout"): trying again at once
 * would only fail, or wait, as long again.
 */
export function lostConnection(error: unknown): boolean {
  if (!(error instanceof Error) || /timeout/i.test(error.message)) return false;
  const code = (error as { code?: unknown }).code;
  if (code === '57P01' || code === '57P02' || code === 'ECONNRESET' || code === 'EPIPE') return true;
  return /^Connection terminated unexpectedly$|not queryable/i.test(error.message);
}

/**
 * The intake's statements (`storage/prepared.ts`) run thousands of times a second, each a round
 * trip during which every other writer waits (the writer lock below). Sent as named prepared
 * statements, they are parsed once per connection instead of on every run, which takes about a
 * third off each round trip here (docs/PERFORMANCE.md). Every other query stays unnamed.
 */
function keepCompiledOnceQueriesParsed(client: pg.PoolClient, outgrown: WeakSet<pg.PoolClient>): void {
  const query = client.query.bind(client) as (...args: unknown[]) => Promise<pg.QueryResult>;
  /** Statements that have run on this connection: should one fail later, the schema moved under it. */
  const ran = new Set<string>();
  // Kysely calls query(sql, parameters) and awaits the promise: the only form named here.
  client.query = ((...args: unknown[]) => {
    const [text, values] = args;
    const id = typeof text === 'string' && args.length <= 2 ? compiledOnceId(text) : undefined;
    if (id === undefined) return query(...args);
    const name = `backchat_${id}`;
    return query({ name, text, values }).then(
      (result) => {
        ran.add(name);
        return result;
      },
      (error: unknown) => {
        if (ran.has(name) && outgrownBySchema(error)) outgrown.add(client);
        throw error;
      },
    );
  }) as typeof client.query;
}

/**
 * A prepared statement keeps what it was parsed against. After a migration (run by a newer
 * instance while this one runs), one that reads `*` from a table that gained a column is refused
 * ("cached plan must not change result type"), and one whose table, column or column type changed
 * fails as if its SQL were wrong, for as long as its connection lives. The transaction that hit it
 * fails (a webhook alone in its batch gets a 500 and is sent again; the units of a larger batch
 * are retried alone), and so may one more on each other open connection.
 */
function outgrownBySchema(error: unknown): boolean {
  const { code, routine } = error as { code?: unknown; routine?: unknown };
  // `routine` names the server function that raised it; unlike the message, it is never translated.
  if (code === '0A000') return routine === 'RevalidateCachedQuery';
  // Undefined column, table or operator/function, and a mismatched type: what parsing decided.
  return code === '42703' || code === '42P01' || code === '42883' || code === '42804';
}

/**
 * Server settings under which a commit can return before it is on disk; a database whose encoding
 * is not UTF-8, which cannot store most customers' text; and one whose lower() folds no letter
 * beyond ASCII (its LC_CTYPE is C), under which operators' searches are case-insensitive for Latin
 * letters only, unlike on SQLite.
 */
export async function postgresSettingWarnings(db: Kysely<Database>): Promise<string[]> {
  const { rows } = await sql<{ fsync: string; synchronous_commit: string; encoding: string }>`
    select current_setting('fsync') as fsync, current_setting('synchronous_commit') as synchronous_commit,
      current_setting('server_encoding') as encoding`.execute(db);
  const settings = rows[0]!;
  const warnings: string[] = [];
  if (settings.fsync === 'off') warnings.push('PostgreSQL runs with fsync=off: a crash of its machine can lose webhooks answered 200, and corrupt the database.');
  // on, local, remote_write and remote_apply all flush the local WAL before a commit returns.
  if (settings.synchronous_commit === 'off') {
    warnings.push("PostgreSQL runs with synchronous_commit=off: a 200 can come before the webhook is on disk, and a crash can lose it. Set it to on for backchat's database or role.");
  }
  if (settings.encoding !== 'UTF8') {
    // Nor can it be asked how it folds Cyrillic: the question itself would not be understood.
    warnings.push(`The PostgreSQL database's encoding is ${settings.encoding}, not UTF8: a webhook with text outside it (Cyrillic, emoji) fails with a 500. Create it with -E UTF8.`);
    return warnings;
  }
  const { rows: folding } = await sql<{ folds: boolean }>`select lower('ДМИТРИЙ') = 'дмитрий' as folds`.execute(db);
  if (!folding[0]!.folds) {
    warnings.push("The PostgreSQL database's LC_CTYPE folds no letter beyond ASCII (the C locale): searches find 'Дмитрий' only as typed. Create it with a UTF-8 locale (LC_CTYPE 'C.UTF-8' or 'en_US.UTF-8').");
  }
  return warnings;
}

/** The channel that says "domain events were committed"; its payload is empty. */
const EVENTS_CHANNEL = 'backchat_events';
/** Arbitrary, fixed key of the advisory lock that orders writers across instances. */
export const WRITERS_LOCK_KEY = 727_011;

/**
 * How long PostgreSQL lets a write transaction sit idle (its instance frozen or cut off mid-batch)
 * before it ends the session, which releases the writers' lock: one stuck instance stops the
 * others for this long at most. backchat's write transactions wait on nothing but the database.
 */
const IDLE_IN_WRITE_TRANSACTION_MS = 30_000;

/**
 * Taken first in every write transaction of the domain (the group committer's) and held until commit. Each instance already writes one
 * group-committed batch at a time; this makes the batches of all instances take turns, so that
 * outbox sequence numbers commit in order and two batches never deadlock on the same rows.
 *
 * Waiting for it is bounded by `lockTimeoutMs`: when the lock is held by an instance that froze
 * mid-batch, or by someone in psql, the batch fails (a 500 that the sender retries, and that the
 * error-rate alert sees) instead of every webhook hanging unseen. The limits are set for this
 * transaction only, in the same statement (the subquery runs first: its volatile calls keep it
 * from being merged into the outer query): not as connection settings, which PgBouncer refuses,
 * and not for migrations, which may rightly wait longer for a table.
 */
export function writersLock(lockTimeoutMs: number): (trx: Kysely<Database>) => Promise<void> {
  return async (trx) => {
    await sql`select pg_advisory_xact_lock(${WRITERS_LOCK_KEY}) from (${writeLimits(lockTimeoutMs)}) as limits`.execute(trx);
  };
}

/**
 * The same limits without the lock, for write transactions that order nothing (the webhook log's
 * refusals and failures): a lock on their table held elsewhere (a migration, psql) fails them in
 * time too, and a frozen instance's transaction is ended as any other.
 */
export function writeLimitsOnly(lockTimeoutMs: number): (trx: Kysely<Database>) => Promise<void> {
  return async (trx) => {
    await writeLimits(lockTimeoutMs).execute(trx);
  };
}

const writeLimits = (lockTimeoutMs: number) =>
  sql`select set_config('lock_timeout', ${String(lockTimeoutMs)}, true), set_config('idle_in_transaction_session_timeout', ${String(IDLE_IN_WRITE_TRANSACTION_MS)}, true)`;

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
