/**
 * Operators: accounts, their tokens (sessions and named API tokens, stored only as hashes), and
 * the outbox of domain events that real-time clients replay from when they reconnect.
 */
import { PostgresAdapter, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('users')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('email', 'text', (c) => c.notNull().unique())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('password_hash', 'text')
    .addColumn('disabled_at', 'bigint')
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('updated_at', 'bigint', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('auth_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
    // `session` (from a login, expires) or `api` (named, for integrations).
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('name', 'text')
    // SHA-256 of the token: a leaked table does not leak tokens.
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('expires_at', 'bigint')
    .addColumn('revoked_at', 'bigint')
    .addColumn('last_used_at', 'bigint')
    .execute();
  await db.schema.createIndex('auth_tokens_user_idx').on('auth_tokens').column('user_id').execute();

  // Increasing sequence: what a reconnecting client names to get what it missed. The only
  // column type that differs between the dialects.
  const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
  await db.schema
    .createTable('domain_events')
    .addColumn('seq', postgres ? 'bigserial' : 'integer', (c) => (postgres ? c.primaryKey() : c.primaryKey().autoIncrement()))
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('domain_events_created_idx').on('domain_events').column('created_at').execute();

  // Keyset pagination orders by (time, id); these replace the single-column indexes, which every
  // write would otherwise keep up to date for nothing.
  await db.schema.createIndex('messages_chat_order_idx').on('messages').columns(['chat_id', 'sent_at', 'id']).execute();
  await db.schema.dropIndex('messages_chat_sent_idx').execute();
  await db.schema.createIndex('chats_activity_order_idx').on('chats').columns(['last_activity_at', 'id']).execute();
  await db.schema.dropIndex('chats_last_activity_idx').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('chats_last_activity_idx').on('chats').column('last_activity_at').execute();
  await db.schema.dropIndex('chats_activity_order_idx').execute();
  await db.schema.createIndex('messages_chat_sent_idx').on('messages').columns(['chat_id', 'sent_at']).execute();
  await db.schema.dropIndex('messages_chat_order_idx').execute();
  await db.schema.dropTable('domain_events').execute();
  await db.schema.dropTable('auth_tokens').execute();
  await db.schema.dropTable('users').execute();
}
