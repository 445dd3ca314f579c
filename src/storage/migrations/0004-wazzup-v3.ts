/**
 * What native Wazzup24 v3 webhooks carry beyond the seed: contacts known by messenger identity
 * rather than phone (Telegram, Instagram), message authors and quotes, and edits and deletions
 * with their history.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  // `chatType:chatId` for contacts without a phone (a Telegram user, an Instagram account).
  await db.schema.alterTable('contacts').addColumn('external_key', 'text').execute();
  await db.schema.alterTable('contacts').addColumn('username', 'text').execute();
  await db.schema.createIndex('contacts_external_key_unique').on('contacts').column('external_key').unique().execute();

  await db.schema.alterTable('messages').addColumn('author_name', 'text').execute();
  await db.schema.alterTable('messages').addColumn('author_id', 'text').execute();
  await db.schema.alterTable('messages').addColumn('quoted_message_id', 'text').execute();
  await db.schema.alterTable('messages').addColumn('edited_at', 'bigint').execute();
  await db.schema.alterTable('messages').addColumn('deleted_at', 'bigint').execute();

  await db.schema
    .createTable('message_revisions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('message_external_id', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('old_text', 'text')
    .addColumn('new_text', 'text')
    .addColumn('author_name', 'text')
    .addColumn('author_id', 'text')
    .addColumn('occurred_at', 'bigint', (c) => c.notNull())
    .addColumn('received_at', 'bigint', (c) => c.notNull())
    // The same revision delivered twice has the same fingerprint and is stored once.
    .addColumn('fingerprint', 'text', (c) => c.notNull())
    .addColumn('raw', 'text', (c) => c.notNull())
    .addUniqueConstraint('message_revisions_fingerprint_unique', ['message_external_id', 'fingerprint'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('message_revisions').execute();
  for (const column of ['deleted_at', 'edited_at', 'quoted_message_id', 'author_id', 'author_name']) {
    await db.schema.alterTable('messages').dropColumn(column).execute();
  }
  await db.schema.dropIndex('contacts_external_key_unique').execute();
  await db.schema.alterTable('contacts').dropColumn('username').execute();
  await db.schema.alterTable('contacts').dropColumn('external_key').execute();
}
