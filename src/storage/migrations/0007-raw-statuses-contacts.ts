/**
 * Fields of status and contact events that backchat does not model are kept, as they are for
 * messages: the webhook log drops accepted bodies after a week.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // The status event's data as sent; null for a status carried inside a message (the message keeps it).
  await db.schema.alterTable('message_statuses').addColumn('raw', 'text').execute();
  // The data of the newest contact event.
  await db.schema.alterTable('contacts').addColumn('raw', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('contacts').dropColumn('raw').execute();
  await db.schema.alterTable('message_statuses').dropColumn('raw').execute();
}
