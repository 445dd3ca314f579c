/**
 * Opens the store named by DATABASE_URL. Only this file and dialects/ know which engine is
 * underneath; everything else talks Kysely.
 */
import { Kysely, sql } from 'kysely';
import { pendingMigrations } from './migrations/index.js';
import { listenForCommittedEvents, lockWriters, notifyEventsCommitted, openPostgresDialect } from './dialects/postgres.js';
import { openSqliteDialect } from './dialects/sqlite.js';
import type { Database } from './schema.js';

export type DialectName = 'sqlite' | 'postgres';

/** What every write transaction does so that every instance sees committed events in order. */
export interface WriterHooks {
  /**
   * First thing in the transaction: on PostgreSQL, a lock that makes writers of all instances
   * commit one after the other, so that outbox sequence numbers are committed in order (a reader
   * that has seen N never gets a smaller one later) and writers never deadlock.
   */
  lockWriters(trx: Kysely<Database>): Promise<void>;
  /** Last thing before the commit: on PostgreSQL, wakes every instance's event reader once it commits. */
  announceCommit(trx: Kysely<Database>): Promise<void>;
}

export interface DatabaseHandle {
  readonly db: Kysely<Database>;
  readonly dialect: DialectName;
  readonly writers: WriterHooks;
  /**
   * Calls `onCommit` whenever any instance commits domain events; resolves to a stop function.
   * Null where this process is the only writer (SQLite): its own bus says it all.
   */
  readonly listenForCommittedEvents: ((onCommit: () => void, onError: (error: unknown) => void) => Promise<() => Promise<void>>) | null;
  /**
   * Settings under which a 200 would not mean that the webhook is on disk (an in-memory store,
   * PostgreSQL with fsync or synchronous_commit off); empty when none. Checked at start.
   */
  durabilityWarnings(): Promise<string[]>;
  /** What keeps the store from serving (unreachable, migrations pending); empty when ready. */
  readiness(): Promise<string[]>;
  /** Closes the connection(s); safe to call twice. */
  close(): Promise<void>;
}

/**
 * Opens `sqlite:<path>`, `sqlite::memory:` or `postgres://…`. `onBackgroundError` hears of failures
 * of background work that the store survives (SQLite's checkpointer).
 */
export function openDatabase(databaseUrl: string, onBackgroundError?: (error: Error) => void): DatabaseHandle {
  if (databaseUrl.startsWith('sqlite:')) {
    const dialect = openSqliteDialect(databaseUrl.slice('sqlite:'.length), onBackgroundError);
    // One process writes SQLite, one transaction at a time: nothing to order, nobody to wake.
    const nothing = async () => undefined;
    const db = new Kysely<Database>({ dialect });
    return wrap(db, 'sqlite', { lockWriters: nothing, announceCommit: nothing }, null, () => sqliteDurabilityWarnings(db, databaseUrl));
  }
  if (/^postgres(ql)?:\/\//.test(databaseUrl)) {
    const dialect = openPostgresDialect(databaseUrl);
    const db = new Kysely<Database>({ dialect });
    return wrap(
      db,
      'postgres',
      { lockWriters, announceCommit: notifyEventsCommitted },
      (onCommit, onError) => listenForCommittedEvents(databaseUrl, onCommit, onError),
      () => postgresDurabilityWarnings(db),
    );
  }
  throw new Error(`Unsupported DATABASE_URL: ${databaseUrl.split(':', 1)[0]}:…`);
}

async function sqliteDurabilityWarnings(db: Kysely<Database>, databaseUrl: string): Promise<string[]> {
  if (databaseUrl === 'sqlite::memory:') return ['DATABASE_URL=sqlite::memory: keeps nothing on disk: every webhook answered 200 is lost when backchat stops.'];
  const { rows } = await sql<{ synchronous: number }>`pragma synchronous`.execute(db);
  const { rows: journal } = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(db);
  // FULL is 2; the dialect sets it, so anything else is a bug worth shouting about.
  return rows[0]?.synchronous === 2 && journal[0]?.journal_mode === 'wal' ? [] : ['SQLite is not in WAL mode with synchronous=FULL: a crash can lose webhooks answered 200.'];
}

async function postgresDurabilityWarnings(db: Kysely<Database>): Promise<string[]> {
  const { rows } = await sql<{ fsync: string; synchronous_commit: string }>`
    select current_setting('fsync') as fsync, current_setting('synchronous_commit') as synchronous_commit`.execute(db);
  const settings = rows[0]!;
  const warnings: string[] = [];
  if (settings.fsync === 'off') warnings.push('PostgreSQL runs with fsync=off: a crash of its machine can lose webhooks answered 200, and corrupt the database.');
  // on, local, remote_write and remote_apply all flush the local WAL before a commit returns.
  if (settings.synchronous_commit === 'off') {
    warnings.push('PostgreSQL runs with synchronous_commit=off: a 200 can come before the webhook is on disk, and a crash can lose it. Set it to on for backchat\'s database or role.');
  }
  return warnings;
}

function wrap(
  db: Kysely<Database>,
  dialect: DialectName,
  writers: WriterHooks,
  listen: DatabaseHandle['listenForCommittedEvents'],
  durabilityWarnings: () => Promise<string[]>,
): DatabaseHandle {
  let closing: Promise<void> | undefined;
  return {
    db,
    dialect,
    writers,
    listenForCommittedEvents: listen,
    durabilityWarnings,
    async readiness() {
      try {
        await sql`select 1`.execute(db);
        const pending = await pendingMigrations(db);
        return pending.length > 0 ? [`migrations not applied: ${pending.join(', ')}`] : [];
      } catch {
        return ['database unreachable'];
      }
    },
    close: () => (closing ??= db.destroy()),
  };
}
