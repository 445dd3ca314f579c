/**
 * When the attempts counted in progress (0014) would all be over, however long their checks: an
 * attempt never ended (its process died) is forgotten once this has passed, where it made every
 * refusal of the window say "try again in 1 s". A migration of its own, not added to 0014: a store
 * already migrated by 0014 would never get the column. For a while 0014 did add it, so a store
 * migrated then has it already.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  const tables = await db.introspection.getTables();
  const loginFailures = tables.find((table) => table.name === 'login_failures');
  if (loginFailures?.columns.some((column) => column.name === 'in_progress_until')) return;
  await db.schema.alterTable('login_failures').addColumn('in_progress_until', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('login_failures').dropColumn('in_progress_until').execute();
}
