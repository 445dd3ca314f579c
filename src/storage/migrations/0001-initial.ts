/**
 * Frozen in time: never edit a migration that has shipped; add a new one. Migrations never import
 * application code, so that the schema they build does not drift when the app changes.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('contacts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('phone', 'text', (c) => c.unique())
    .addColumn('phone_raw', 'text')
    .addColumn('name', 'text')
    .addColumn('avatar_url', 'text')
    .addColumn('info_updated_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('chats')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('channel_id', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('chat_type', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('external_id', 'text', (c) => c.notNull())
    .addColumn('contact_id', 'text', (c) => c.references('contacts.id'))
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('open'))
    .addColumn('assignee_id', 'text')
    .addColumn('last_message_id', 'text')
    .addColumn('last_message_at', 'bigint')
    .addColumn('last_activity_at', 'bigint', (c) => c.notNull())
    .addColumn('unread_count', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .addUniqueConstraint('chats_channel_type_external_unique', ['channel_id', 'chat_type', 'external_id'])
    .execute();
  await db.schema.createIndex('chats_last_activity_idx').on('chats').column('last_activity_at').execute();
  await db.schema.createIndex('chats_contact_idx').on('chats').column('contact_id').execute();

  await db.schema
    .createTable('messages')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('external_id', 'text', (c) => c.notNull().unique())
    .addColumn('chat_id', 'text', (c) => c.notNull().references('chats.id'))
    .addColumn('contact_id', 'text', (c) => c.references('contacts.id'))
    .addColumn('direction', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('text', 'text')
    .addColumn('sender', 'text')
    .addColumn('file_url', 'text')
    .addColumn('file_name', 'text')
    .addColumn('file_size', 'bigint')
    .addColumn('file_mime_type', 'text')
    .addColumn('sent_at', 'bigint', (c) => c.notNull())
    .addColumn('status', 'text')
    .addColumn('status_rank', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('status_at', 'bigint')
    .addColumn('failed_at', 'bigint')
    .addColumn('error', 'text')
    .addColumn('raw', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('messages_chat_sent_idx').on('messages').columns(['chat_id', 'sent_at']).execute();

  await db.schema
    .createTable('message_statuses')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('message_external_id', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('occurred_at', 'bigint', (c) => c.notNull())
    .addColumn('received_at', 'bigint', (c) => c.notNull())
    .addColumn('error', 'text')
    .addUniqueConstraint('message_statuses_message_status_unique', ['message_external_id', 'status'])
    .execute();

  await db.schema
    .createTable('webhook_events')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('received_at', 'bigint', (c) => c.notNull())
    .addColumn('client_ip', 'text')
    .addColumn('user_agent', 'text')
    .addColumn('size_bytes', 'integer', (c) => c.notNull())
    .addColumn('format', 'text')
    .addColumn('event', 'text')
    .addColumn('subject', 'text')
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('http_status', 'integer', (c) => c.notNull())
    .addColumn('duration_ms', 'double precision', (c) => c.notNull())
    .addColumn('error', 'text')
    .addColumn('raw_body', 'text')
    .execute();
  await db.schema.createIndex('webhook_events_received_idx').on('webhook_events').column('received_at').execute();
  await db.schema
    .createIndex('webhook_events_outcome_received_idx')
    .on('webhook_events')
    .columns(['outcome', 'received_at'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('webhook_events').execute();
  await db.schema.dropTable('message_statuses').execute();
  await db.schema.dropTable('messages').execute();
  await db.schema.dropTable('chats').execute();
  await db.schema.dropTable('contacts').execute();
}
