/** Replays of logged webhooks, and search of the log by subject. */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('webhook_events').addColumn('replay_of', 'text').execute();
  await db.schema.alterTable('webhook_events').addColumn('replayed_at', 'bigint').execute();
  await db.schema.alterTable('webhook_events').addColumn('replay_outcome', 'text').execute();
  await db.schema.createIndex('webhook_events_subject_idx').on('webhook_events').column('subject').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('webhook_events_subject_idx').execute();
  await db.schema.alterTable('webhook_events').dropColumn('replay_outcome').execute();
  await db.schema.alterTable('webhook_events').dropColumn('replayed_at').execute();
  await db.schema.alterTable('webhook_events').dropColumn('replay_of').execute();
}
