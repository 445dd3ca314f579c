/**
 * Of the attempts a login count holds, how many are still having their password checked. An
 * attempt is counted before its check (so that a burst of parallel guesses cannot all pass it),
 * and a burst of right passwords from one office filled the count too: refused for the whole
 * window, although the count fell back a few milliseconds later. Knowing how many are in progress
 * tells a refusal that lasts the window from one that lasts until they are decided.
 */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('login_failures').addColumn('in_progress', 'integer', (c) => c.notNull().defaultTo(0)).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('login_failures').dropColumn('in_progress').execute();
}
