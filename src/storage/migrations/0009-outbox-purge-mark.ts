/**
 * How far the event outbox has been purged. Reconnecting clients were told that what they missed
 * is gone when the oldest kept event was not the one right after theirs; but on PostgreSQL a
 * rolled-back transaction leaves a hole in the sequence, so a hole next to the oldest kept event
 * asked clients to reload for nothing. With the mark, a client has missed purged events exactly
 * when its sequence number is below it.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // One row. Every event up to `purged_through_seq` may be gone; every later one is kept.
  await db.schema.createTable('domain_events_purge').addColumn('purged_through_seq', 'bigint', (c) => c.notNull()).execute();
  // The best guess for a store purged before the mark existed: what the old check assumed.
  await sql`insert into domain_events_purge (purged_through_seq) select coalesce(min(seq) - 1, 0) from domain_events`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('domain_events_purge').execute();
}
