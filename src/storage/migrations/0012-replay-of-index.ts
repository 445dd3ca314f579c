/**
 * Lets the purge find, for an entry, the replays that point at it (`replay_of`): an original is
 * kept while a replay of it is, since a later replay of that replay dates what it re-applies by
 * the original's arrival. Partial: only replays have the column set, so ordinary webhooks, nearly
 * every row, cost the index nothing.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('webhook_events_replay_of_idx').on('webhook_events').column('replay_of').where(sql.ref('replay_of'), 'is not', null).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('webhook_events_replay_of_idx').execute();
}
