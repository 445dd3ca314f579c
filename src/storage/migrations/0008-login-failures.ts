/**
 * Failed logins, counted in the database so that every instance on one PostgreSQL sees the same
 * count (kept in each process's memory before, which let N instances allow N times the limit).
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('login_failures')
    // `account:<normalised email>` or `address:<IPv4 address, or IPv6 /64>`.
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('failures', 'integer', (c) => c.notNull())
    .addColumn('window_started_at', 'bigint', (c) => c.notNull())
    .execute();
  // Ended windows are deleted by time.
  await db.schema.createIndex('login_failures_window_idx').on('login_failures').column('window_started_at').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('login_failures').execute();
}
