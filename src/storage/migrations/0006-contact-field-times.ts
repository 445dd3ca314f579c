/**
 * A time per piece of contact information: an update newer than the avatar held, but older than
 * the name a later message confirmed, still brings its avatar. The single info_updated_at stays,
 * as the newest of the three.
 */
import { sql, type Kysely } from 'kysely';

const COLUMNS = ['name_updated_at', 'avatar_updated_at', 'username_updated_at'];

export async function up(db: Kysely<any>): Promise<void> {
  for (const column of COLUMNS) await db.schema.alterTable('contacts').addColumn(column, 'bigint').execute();
  // What is held was known at info_updated_at, whichever field it is.
  await sql`update contacts set name_updated_at = info_updated_at, avatar_updated_at = info_updated_at, username_updated_at = info_updated_at`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const column of [...COLUMNS].reverse()) await db.schema.alterTable('contacts').dropColumn(column).execute();
}
