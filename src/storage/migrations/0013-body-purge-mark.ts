/**
 * How far the hourly purge has dropped the bodies of accepted webhooks. Emptied entries stay until
 * they expire (30 days against 7 by default), and the purge read them all again every hour to find
 * the few that still held a body. With the mark it reads from where it stopped: only the entries
 * whose bodies it drops. (An index of kept bodies would also have served, at the cost of one more
 * B-tree written by every webhook.)
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // One row. Every accepted entry received before `bodies_dropped_before` has lost its body.
  await db.schema.createTable('webhook_log_purge').addColumn('bodies_dropped_before', 'bigint', (c) => c.notNull()).execute();
  // Where the bodies still held begin; a store never purged starts from its oldest entry.
  await sql`
    insert into webhook_log_purge (bodies_dropped_before)
    select coalesce(min(received_at), 0) from webhook_events where outcome = 'accepted' and raw_body is not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('webhook_log_purge').execute();
}
