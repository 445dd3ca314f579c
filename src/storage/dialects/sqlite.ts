/**
 * The embedded default. WAL with synchronous=FULL makes every commit reach the disk before it
 * returns, which is what lets a 200 promise that nothing is lost.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { SqliteDialect, type Dialect, type SqliteDatabase } from 'kysely';

/** Where the SQLite database lives: a file path or ':memory:'. */
export function openSqliteDialect(location: string): Dialect {
  if (location !== ':memory:') mkdirSync(dirname(location), { recursive: true });
  const database = new BetterSqlite3(location);
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = FULL');
  database.pragma('foreign_keys = ON');
  database.pragma('busy_timeout = 5000');
  // SQLite's lower() folds ASCII only; searches lower-case both sides and must find "Дмитрий" too.
  database.function('lower', { deterministic: true }, (value: unknown) => (typeof value === 'string' ? value.toLowerCase() : value));
  // A 64 MiB page cache keeps the indexes the intake touches in memory (the default is 2 MiB).
  database.pragma('cache_size = -65536');
  // Checkpoints run inside a COMMIT, on the event loop: fewer, larger ones stall it less often.
  database.pragma('wal_autocheckpoint = 10000');
  // Kysely's destroy() closes the database.
  return new SqliteDialect({ database: withStatementCache(database) });
}

/**
 * Kysely prepares every query anew, and preparing costs more than running a small statement.
 * The intake runs the same few statements thousands of times a second, so prepared statements
 * are reused by their SQL text (bounded, in case some caller builds SQL with literals).
 */
function withStatementCache(database: BetterSqlite3.Database): SqliteDatabase {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => database.close(),
    prepare(source: string) {
      // Kysely begins with a deferred BEGIN. Writers here read before they write, and a deferred
      // transaction that another process (the CLI) wrote under fails with SQLITE_BUSY_SNAPSHOT;
      // an immediate one takes the write lock first and waits (busy_timeout) instead.
      if (source === 'begin') source = 'begin immediate';
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
