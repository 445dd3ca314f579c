/**
 * The sender's time of the contact event whose data `contacts.raw` holds. It was compared with
 * info_updated_at, which messages move forward too: a contact event newer than the one held but
 * older than a later message was taken for its avatar, and its data was dropped.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('contacts').addColumn('raw_updated_at', 'bigint').execute();
  // The data held was the newest when it was taken, so no later than the newest information.
  await sql`update contacts set raw_updated_at = info_updated_at where raw is not null`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('contacts').dropColumn('raw_updated_at').execute();
}
