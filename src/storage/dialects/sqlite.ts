/**
 * The embedded default. WAL with synchronous=FULL makes every commit reach the disk before it
 * returns, which is what lets a 200 promise that nothing is lost.
 */
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import {
  SqliteAdapter,
  SqliteDialect,
  SqliteDriver,
  SqliteQueryCompiler,
  sql,
  type DatabaseConnection,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type SelectModifier,
  type SelectQueryNode,
  type SqliteDatabase,
  type SqliteStatement,
} from 'kysely';
import { registerSynchronousRunner } from '../prepared.js';
import type { Database } from '../schema.js';

/**
 * Where the SQLite database lives: a file path or ':memory:'; how long a transaction waits for
 * the write lock another process holds (PatientSqliteDriver). `onBackgroundError` hears of a
 * failure of the background checkpointer (the store keeps working: the automatic checkpoint inside
 * a COMMIT takes over, at the price of stalls on the event loop).
 *
 * `end` closes the database and stops the checkpointer, if Kysely has not: its destroy() does
 * nothing to a driver that never ran a query, and the thread then kept a CLI command that failed
 * before its first query from exiting (a review's find).
 */
export function openSqliteDialect(
  location: string,
  writeLockTimeoutMs: number,
  onBackgroundError: (error: Error) => void = () => undefined,
): { dialect: Dialect; end: () => void } {
  if (location !== ':memory:') mkdirSync(dirname(location), { recursive: true });
  const database = new BetterSqlite3(location);
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = FULL');
  database.pragma('foreign_keys = ON');
  // SQLite never waits for a lock itself, which would hold the event loop: PatientSqliteDriver
  // asks again instead.
  database.pragma('busy_timeout = 0');
  // SQLite's lower() folds ASCII only; searches lower-case both sides and must find "Дмитрий" too.
  database.function('lower', { deterministic: true }, (value: unknown) => (typeof value === 'string' ? value.toLowerCase() : value));
  // PostgreSQL's translate(), which SQLite lacks: searches fold case with it on both stores alike.
  database.function('translate', { deterministic: true }, (value: unknown, from: unknown, to: unknown) =>
    typeof value === 'string' && typeof from === 'string' && typeof to === 'string' ? translate(value, from, to) : value,
  );
  // A 64 MiB page cache keeps the indexes the intake touches in memory (the default is 2 MiB).
  database.pragma('cache_size = -65536');
  // A checkpoint copies the WAL into the database file and syncs it: tens of milliseconds during
  // which, run by a COMMIT here, the event loop would stand still. A background thread does it
  // (below); this automatic one, in a COMMIT, is only the backstop should that thread fall behind.
  database.pragma('wal_autocheckpoint = 10000');
  const checkpointer = location === ':memory:' ? null : startBackgroundCheckpointer(location, onBackgroundError);
  const end = () => {
    void checkpointer?.terminate();
    if (database.open) database.close();
  };
  // Kysely's destroy() ends it too, once a query has run.
  return { dialect: new SynchronousSqliteDialect(withStatementCache(database, end), database, writeLockTimeoutMs), end };
}

/** How often a transaction waiting for the write lock asks again. */
const LOCK_RETRY_MS = 10;

/** Settings under which a commit would return before it is on disk. */
export async function sqliteSettingWarnings(db: Kysely<Database>, inMemory: boolean): Promise<string[]> {
  if (inMemory) return ['DATABASE_URL=sqlite::memory: keeps nothing on disk: every webhook answered 200 is lost when backchat stops.'];
  const { rows } = await sql<{ synchronous: number }>`pragma synchronous`.execute(db);
  const { rows: journal } = await sql<{ journal_mode: string }>`pragma journal_mode`.execute(db);
  // FULL is 2. openSqliteDialect sets both, so anything else is a bug worth shouting about.
  return rows[0]?.synchronous === 2 && journal[0]?.journal_mode === 'wal' ? [] : ['SQLite is not in WAL mode with synchronous=FULL: a crash can lose webhooks answered 200.'];
}

/**
 * Kysely's SQLite dialect, which also lets compiled-once queries (`storage/prepared.ts`) run on
 * the connection directly inside a transaction: what Kysely's SQLite connection does, minus the
 * promises and the connection handling around it.
 */
class SynchronousSqliteDialect extends SqliteDialect {
  constructor(
    private readonly database: SqliteDatabase,
    private readonly connection: BetterSqlite3.Database,
    private readonly writeLockTimeoutMs: number,
  ) {
    super({ database });
  }

  override createDriver(): Driver {
    return new PatientSqliteDriver(this.database, this.connection, this.writeLockTimeoutMs);
  }

  override createAdapter(): DialectAdapter {
    const adapter = new TransactionalDdlAdapter();
    registerSynchronousRunner(adapter, (sql, parameters) => {
      const statement = this.database.prepare(sql);
      if (statement.reader) return { rows: statement.all(parameters) };
      const { changes, lastInsertRowid } = statement.run(parameters);
      return { rows: [], numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid) };
    });
    return adapter;
  }

  override createQueryCompiler(): QueryCompiler {
    return new WithoutRowLocksCompiler();
  }
}

/**
 * A transaction begins by taking the write lock (BEGIN IMMEDIATE, see withStatementCache), and a
 * statement outside one takes it for itself. When another process holds it (the CLI, a `sqlite3`
 * shell, a backup), SQLite's busy_timeout would wait for it on the event loop: for five seconds
 * nothing else ran, not /api/health, not /metrics, not a SIGTERM (a review's find, for a BEGIN
 * and then for a token's last-use time written outside a transaction). Here nothing waits inside
 * SQLite (busy_timeout is 0): whatever is run outside a transaction, a BEGIN included, is asked
 * again every LOCK_RETRY_MS while SQLite answers SQLITE_BUSY, between which the event loop
 * serves, for up to WRITE_LOCK_TIMEOUT_SECONDS, and then fails with SQLITE_BUSY. A statement
 * refused that way did nothing, so asking again is safe; inside a transaction, which holds the
 * write lock from its BEGIN, none is refused.
 */
class PatientSqliteDriver extends SqliteDriver {
  constructor(
    database: SqliteDatabase,
    private readonly connection: BetterSqlite3.Database,
    private readonly writeLockTimeoutMs: number,
  ) {
    super({ database });
  }

  override async acquireConnection(): Promise<DatabaseConnection> {
    const connection = await super.acquireConnection();
    return {
      executeQuery: (query) => (this.connection.inTransaction ? connection.executeQuery(query) : this.patiently(() => connection.executeQuery(query))),
      streamQuery: (query, chunkSize) => connection.streamQuery(query, chunkSize),
    };
  }

  private async patiently<T>(run: () => Promise<T>): Promise<T> {
    const deadline = performance.now() + this.writeLockTimeoutMs;
    for (;;) {
      try {
        return await run();
      } catch (error) {
        if (!String((error as { code?: unknown }).code).startsWith('SQLITE_BUSY') || performance.now() >= deadline) throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, LOCK_RETRY_MS));
    }
  }
}

/**
 * SQLite runs CREATE, ALTER and DROP inside a transaction like any write; Kysely's adapter says it
 * cannot, so its migrator ran each statement on its own. A start or `migrate` stopped in the middle
 * of a migration (SIGTERM, SIGKILL, a full disk) then left its first tables without the record of
 * the migration, and every later start failed on "table already exists". With this, the pending
 * migrations commit together or not at all, as on PostgreSQL. (A migration that needs to run
 * outside a transaction, such as one that turns foreign keys off, would have to say so.)
 */
class TransactionalDdlAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

const ROW_LOCKS: ReadonlySet<SelectModifier | undefined> = new Set(['ForUpdate', 'ForNoKeyUpdate', 'ForShare', 'ForKeyShare']);

/**
 * SQLite has no row locks, and needs none: every transaction here begins immediate (below), so it
 * holds the one write lock of the database from its first statement to its commit. A query that
 * locks rows on PostgreSQL (`.forShare()`, `.forUpdate()`) therefore runs here without its lock
 * clause, which SQLite would refuse as a syntax error. NOWAIT and SKIP LOCKED are left in: they
 * change what a query means, so SQLite should refuse them.
 */
class WithoutRowLocksCompiler extends SqliteQueryCompiler {
  protected override visitSelectQuery(node: SelectQueryNode): void {
    const modifiers = node.endModifiers;
    if (modifiers?.some((m) => ROW_LOCKS.has(m.modifier))) {
      super.visitSelectQuery({ ...node, endModifiers: modifiers.filter((m) => !ROW_LOCKS.has(m.modifier)) });
    } else {
      super.visitSelectQuery(node);
    }
  }
}

const CHECKPOINT_INTERVAL_MS = 100;

/**
 * A worker thread with its own connection that checkpoints the WAL every
 * CHECKPOINT_INTERVAL_MS. PASSIVE checkpoints never block the writer; with synchronous=FULL the
 * database file is synced before the WAL may be reused. Evaluated from a string so that it needs
 * no file of its own (and runs the same from the sources under test as from dist/).
 */
function startBackgroundCheckpointer(location: string, onError: (error: Error) => void): Worker {
  const worker = new Worker(
    `
    const { parentPort, workerData } = require('node:worker_threads');
    const Database = require(workerData.driver);
    const db = new Database(workerData.location, { fileMustExist: true });
    db.pragma('synchronous = FULL');
    db.pragma('busy_timeout = 5000');
    let reported = false;
    const loop = () => {
      try {
        db.pragma('wal_checkpoint(PASSIVE)');
        reported = false;
      } catch (error) {
        // Busy is normal (another checkpoint runs); anything else is said once until it recovers.
        if (!String(error && error.code).startsWith('SQLITE_BUSY') && !reported) {
          reported = true;
          parentPort.postMessage(String(error && error.message));
        }
      }
      setTimeout(loop, workerData.intervalMs);
    };
    loop();
    `,
    {
      eval: true,
      workerData: { location, driver: createRequire(import.meta.url).resolve('better-sqlite3'), intervalMs: CHECKPOINT_INTERVAL_MS },
    },
  );
  // Never what keeps the process alive, and never what brings it down: the backstop remains. But
  // said, so that an operator learns why the event loop stalls on commits.
  worker.unref();
  worker.on('message', (message: string) => onError(new Error(`SQLite background checkpoint failed: ${message}`)));
  worker.on('error', (error) => onError(new Error(`SQLite background checkpointer stopped: ${error.message}`, { cause: error })));
  return worker;
}

/** What a ROLLBACK does when SQLite has already rolled the transaction back. */
const NOTHING_TO_ROLL_BACK: SqliteStatement = {
  reader: false,
  all: () => [],
  run: () => ({ changes: 0, lastInsertRowid: 0 }),
  iterate: () => [][Symbol.iterator](),
};

/**
 * Kysely prepares every query anew, and preparing costs more than running a small statement.
 * The intake runs the same few statements thousands of times a second, so prepared statements
 * are reused by their SQL text (bounded, in case some caller builds SQL with literals).
 */
function withStatementCache(database: BetterSqlite3.Database, close: () => void): SqliteDatabase {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    close,
    prepare(source: string) {
      // Kysely begins with a deferred BEGIN. Writers here read before they write, and a deferred
      // transaction that another process (the CLI) wrote under fails with SQLITE_BUSY_SNAPSHOT;
      // an immediate one takes the write lock first and waits (PatientSqliteDriver) instead.
      if (source === 'begin') source = 'begin immediate';
      // SQLite rolls a transaction back by itself on some errors (SQLITE_FULL, SQLITE_IOERR):
      // Kysely's ROLLBACK then fails, and its "no transaction is active" took the place of the
      // error that said why, in every log line (a review's find).
      if (source === 'rollback' && !database.inTransaction) return NOTHING_TO_ROLL_BACK;
      let statement = cache.get(source);
      if (statement === undefined) {
        if (cache.size >= 1000) cache.clear();
        statement = database.prepare(source);
        cache.set(source, statement);
      }
      return statement;
    },
  };
}

/** Each character of `from` in `value` becomes the one at its place in `to`, or goes when `to` is shorter. */
function translate(value: string, from: string, to: string): string {
  const source = [...from];
  // Searches run it on every row: most values hold none of the characters.
  if (!source.some((char) => value.includes(char))) return value;
  const target = [...to];
  return [...value].map((char) => {
    const at = source.indexOf(char);
    return at === -1 ? char : (target[at] ?? '');
  }).join('');
}
