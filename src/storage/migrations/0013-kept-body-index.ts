/**
 * Lets the hourly purge find the accepted entries that still hold their body, oldest first,
 * without reading the ones whose bodies it dropped before: those stay until the entry expires
 * (30 days against 7 by default), and the purge used to read them all, every hour. Partial: an
 * entry leaves the index when its body goes, and only the few failed and partial entries keep
 * theirs until they expire.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createIndex('webhook_events_kept_body_idx')
    .on('webhook_events')
    .column('received_at')
    .where(sql.ref('raw_body'), 'is not', null)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('webhook_events_kept_body_idx').execute();
}
