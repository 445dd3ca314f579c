/**
 * Migration 0005 was changed after it first shipped, to drop two single-column indexes that its
 * ordered ones replace. A store migrated by the first version still has them: every write keeps
 * them up to date for nothing, and 0005's down, which recreates them, fails there. This drops
 * them wherever they are left, so that every store has the same schema.
 */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists messages_chat_sent_idx`.execute(db);
  await sql`drop index if exists chats_last_activity_idx`.execute(db);
}

export async function down(): Promise<void> {
  // Nothing to undo: the stores that had the indexes did not need them, and the others never had them.
}
