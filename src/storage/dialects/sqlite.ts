/**
 * The embedded default. WAL with synchronous=FULL makes every commit reach the disk before it
 * returns, which is what lets a 200 promise that nothing is lost.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { SqliteDialect, type Dialect } from 'kysely';

/** Where the SQLite database lives: a file path or ':memory:'. */
export function openSqliteDialect(location: string): Dialect {
  if (location !== ':memory:') mkdirSync(dirname(location), { recursive: true });
  const database = new BetterSqlite3(location);
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = FULL');
  database.pragma('foreign_keys = ON');
  database.pragma('busy_timeout = 5000');
  // Kysely's destroy() closes the database.
  return new SqliteDialect({ database: withStatementCache(database) });
}

/**
 * Kysely prepares every query anew, and preparing costs more than running a small statement.
 * The intake runs the same few statements thousands of times a second, so prepared statements
 * are reused by their SQL text (bounded, in case some caller builds SQL with literals).
 */
function withStatementCache(database: BetterSqlite3.Database): BetterSqlite3.Database {
  const cache = new Map<string, BetterSqlite3.Statement>();
  const prepare = database.prepare.bind(database);
  return new Proxy(database, {
    get(target, property, receiver) {
      if (property !== 'prepare') return Reflect.get(target, property, receiver) as unknown;
      return (source: string) => {
        let statement = cache.get(source);
        if (statement === undefined) {
          if (cache.size >= 1000) cache.clear();
          statement = prepare(source);
          cache.set(source, statement);
        }
        return statement;
      };
    },
  });
}
