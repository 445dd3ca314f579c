/**
 * PostgreSQL, for scale. A normal commit is durable (fsync of the WAL) unless the server was
 * configured otherwise.
 */
import pg from 'pg';
import { PostgresDialect, type Dialect } from 'kysely';

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
