/**
 * Opens the store named by DATABASE_URL. Only this file and dialects/ know which engine is
 * underneath; everything else talks Kysely.
 */
import { Kysely } from 'kysely';
import { openPostgresDialect } from './dialects/postgres.js';
import { openSqliteDialect } from './dialects/sqlite.js';
import type { Database } from './schema.js';

export type DialectName = 'sqlite' | 'postgres';

export interface DatabaseHandle {
  readonly db: Kysely<Database>;
  readonly dialect: DialectName;
  /** Closes the connection(s); safe to call twice. */
  close(): Promise<void>;
}

/** Opens `sqlite:<path>`, `sqlite::memory:` or `postgres://…`. */
export function openDatabase(databaseUrl: string): DatabaseHandle {
  if (databaseUrl.startsWith('sqlite:')) {
    const dialect = openSqliteDialect(databaseUrl.slice('sqlite:'.length));
    return wrap(new Kysely<Database>({ dialect }), 'sqlite');
  }
  if (/^postgres(ql)?:\/\//.test(databaseUrl)) {
    const dialect = openPostgresDialect(databaseUrl);
    return wrap(new Kysely<Database>({ dialect }), 'postgres');
  }
  throw new Error(`Unsupported DATABASE_URL: ${databaseUrl}`);
}

function wrap(db: Kysely<Database>, dialect: DialectName): DatabaseHandle {
  let closing: Promise<void> | undefined;
  return {
    db,
    dialect,
    close: () => (closing ??= db.destroy()),
  };
}
