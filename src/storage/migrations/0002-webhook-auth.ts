/** Who a webhook request authenticated as, and whether its address was on the allowlist. */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('webhook_events').addColumn('auth_scheme', 'text').execute();
  await db.schema.alterTable('webhook_events').addColumn('auth_key', 'text').execute();
  // 1 inside the allowlist, 0 outside (recorded in report mode), null when no allowlist is set.
  await db.schema.alterTable('webhook_events').addColumn('ip_allowed', 'integer').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('webhook_events').dropColumn('ip_allowed').execute();
  await db.schema.alterTable('webhook_events').dropColumn('auth_key').execute();
  await db.schema.alterTable('webhook_events').dropColumn('auth_scheme').execute();
}
