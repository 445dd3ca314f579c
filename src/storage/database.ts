/**
 * Opens the store named by DATABASE_URL. Only this file and dialects/ know which engine is
 * underneath; everything else talks Kysely.
 */
import { Kysely, SqliteAdapter, sql } from 'kysely';
import { pendingMigrations } from './migrations/index.js';
import {
  listenForCommittedEvents,
  lostConnection,
  notifyEventsCommitted,
  openPostgresDialect,
  postgresSettingWarnings,
  writeLimitsOnly,
  writersLock,
} from './dialects/postgres.js';
import { openSqliteDialect, sqliteSettingWarnings } from './dialects/sqlite.js';
import type { Database } from './schema.js';

export type DialectName = 'sqlite' | 'postgres';

/**
 * Whether a statement on `db` holds the event loop while it runs: SQLite's do (better-sqlite3 is
 * synchronous), so a long read must be cut into short ones; PostgreSQL's run in its server.
 */
export function statementsHoldEventLoop(db: Kysely<Database>): boolean {
  return db.getExecutor().adapter instanceof SqliteAdapter;
}

/** What write transactions do so that every instance sees committed events in order, and none waits unbounded. */
export interface WriterHooks {
  /**
   * First thing in the transaction: on PostgreSQL, a lock that makes writers of all instances
   * commit one after the other, so that outbox sequence numbers are committed in order (a reader
   * that has seen N never gets a smaller one later) and writers never deadlock.
   */
  lockWriters(trx: Kysely<Database>): Promise<void>;
  /**
   * First thing in a write transaction that orders nothing and so takes no such lock (the webhook
   * log's refusals and failures): on PostgreSQL, the same bounds on waiting for a lock and on
   * sitting idle that `lockWriters` sets.
   */
  limitWaits(trx: Kysely<Database>): Promise<void>;
  /** Last thing before the commit: on PostgreSQL, wakes every instance's event reader once it commits. */
  announceCommit(trx: Kysely<Database>): Promise<void>;
  /** Whether an error means a connection that was lost (so another one may do), not one never made. */
  lostConnection(error: unknown): boolean;
}

export interface DatabaseHandle {
  readonly db: Kysely<Database>;
  /**
   * For the group committers, which write webhooks and operators' changes: on PostgreSQL a pool
   * of its own, so that reads, however many or slow (an operator's search, a table locked in
   * psql), never take the connections writes need (a review's find: ten reads held behind a lock
   * made every webhook fail for want of a connection). On SQLite, `db`: one connection serves all.
   */
  readonly writerDb: Kysely<Database>;
  readonly dialect: DialectName;
  readonly writers: WriterHooks;
  /**
   * Calls `onCommit` whenever any instance commits domain events; resolves to a stop function.
   * Null where this process is the only writer (SQLite): its own bus says it all.
   */
  readonly listenForCommittedEvents: ((onCommit: () => void, onError: (error: unknown) => void) => Promise<() => Promise<void>>) | null;
  /**
   * Store settings worth fixing: under which a 200 would not mean that the webhook is on disk (an
   * in-memory store, PostgreSQL with fsync or synchronous_commit off), text could not be stored (a
   * PostgreSQL database not in UTF-8) or searches would not fold case (one of the C locale); empty
   * when none. Checked at start.
   */
  settingWarnings(): Promise<string[]>;
  /** What keeps the store from serving (unreachable, migrations pending); empty when ready. */
  readiness(): Promise<string[]>;
  /** Closes the connection(s); safe to call twice. */
  close(): Promise<void>;
}

/** How long a write waits for the writers' lock (PostgreSQL) or the write lock (SQLite) by default (WRITE_LOCK_TIMEOUT_SECONDS). */
export const DEFAULT_WRITE_LOCK_TIMEOUT_MS = 5_000;

/**
 * Opens `sqlite:<path>`, `sqlite::memory:` or `postgres://…`. `onBackgroundError` hears of failures
 * of background work that the store survives (SQLite's checkpointer).
 */
export function openDatabase(
  databaseUrl: string,
  onBackgroundError?: (error: Error) => void,
  options: { writeLockTimeoutMs?: number } = {},
): DatabaseHandle {
  const lockTimeoutMs = options.writeLockTimeoutMs ?? DEFAULT_WRITE_LOCK_TIMEOUT_MS;
  if (databaseUrl.startsWith('sqlite:')) {
    const { dialect, end } = openSqliteDialect(databaseUrl.slice('sqlite:'.length), lockTimeoutMs, onBackgroundError);
    // One process writes SQLite, one transaction at a time: nothing to order, nobody to wake.
    const nothing = async () => undefined;
    const db = new Kysely<Database>({ dialect });
    return wrap({ db, writerDb: db, endUnused: async () => end() }, 'sqlite', { lockWriters: nothing, limitWaits: nothing, announceCommit: nothing, lostConnection: () => false }, null, () => sqliteSettingWarnings(db, databaseUrl === 'sqlite::memory:'));
  }
  if (/^postgres(ql)?:\/\//.test(databaseUrl)) {
    const reads = openPostgresDialect(databaseUrl, READ_CONNECTIONS);
    const writes = openPostgresDialect(databaseUrl, WRITER_CONNECTIONS);
    const db = new Kysely<Database>({ dialect: reads.dialect });
    const writerDb = new Kysely<Database>({ dialect: writes.dialect });
    // Kysely's destroy() does nothing to a pool it never used, which it would then open on the
    // next query: a store closed before its first write would take writes after it. Ended here.
    const endUnused = async () => {
      for (const pool of [reads.pool, writes.pool]) if (!pool.ending) await pool.end();
    };
    return wrap(
      { db, writerDb, endUnused },
      'postgres',
      {
        lockWriters: writersLock(lockTimeoutMs),
        limitWaits: writeLimitsOnly(lockTimeoutMs),
        announceCommit: notifyEventsCommitted,
        lostConnection,
      },
      (onCommit, onError) => listenForCommittedEvents(databaseUrl, onCommit, onError),
      () => postgresSettingWarnings(db),
    );
  }
  throw new Error(`Unsupported DATABASE_URL: ${databaseUrl.split(':', 1)[0]}:…`);
}

/**
 * PostgreSQL connections per instance: for everything but the committers, and for the committers
 * (each writes one batch at a time; a spare for the retry of a batch whose connection was lost).
 */
const READ_CONNECTIONS = 10;
const WRITER_CONNECTIONS = 3;

function wrap(
  { db, writerDb, endUnused }: { db: Kysely<Database>; writerDb: Kysely<Database>; endUnused?: () => Promise<void> },
  dialect: DialectName,
  writers: WriterHooks,
  listen: DatabaseHandle['listenForCommittedEvents'],
  settingWarnings: () => Promise<string[]>,
): DatabaseHandle {
  let closing: Promise<void> | undefined;
  /** The readiness check under way: probes that come while one waits share it (see readiness). */
  let checking: Promise<string[]> | undefined;
  const checkReadiness = async () => {
    // On the writers' pool: what webhooks need. Reads that took every connection of their own
    // pool (an operator's slow search) must not take the instance out of a load balancer.
    try {
      await sql`select 1`.execute(writerDb);
      const pending = await pendingMigrations(writerDb);
      return pending.length > 0 ? [`migrations not applied: ${pending.join(', ')}`] : [];
    } catch {
      return ['database unreachable'];
    }
  };
  return {
    db,
    writerDb,
    dialect,
    writers,
    listenForCommittedEvents: listen,
    settingWarnings,
    // One check at a time, so that probes of a database that stopped answering (each given up
    // after 2 s, its query still waiting) never hold more than one of the writers' connections.
    readiness: () => (checking ??= checkReadiness().finally(() => (checking = undefined))),
    close: () => (closing ??= Promise.all([db.destroy(), writerDb === db ? undefined : writerDb.destroy()]).then(async () => endUnused?.())),
  };
}
