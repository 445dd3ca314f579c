/**
 * The sender's time of the contact event whose data `contacts.raw` holds. It was compared with
 * info_updated_at, which messages move forward too: a contact event newer than the one held but
 * older than a later message was taken for its avatar, and its data was dropped.
 */
import { type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('contacts').addColumn('raw_updated_at', 'bigint').execute();
  // The event's own time, as the intake read it then: its `timestamp` (seconds, milliseconds or
  // ISO-8601). Without one it was the time received, unknown now: then the newest information's
  // time, which is no earlier than the event.
  const held = await db.selectFrom('contacts').select(['id', 'raw', 'info_updated_at']).where('raw', 'is not', null).execute();
  for (const row of held) {
    const at = eventTime(row.raw as string) ?? (row.info_updated_at === null ? null : Number(row.info_updated_at));
    await db.updateTable('contacts').set({ raw_updated_at: at }).where('id', '=', row.id).execute();
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('contacts').dropColumn('raw_updated_at').execute();
}

/** Epoch ms of a stored contact event's `timestamp`, or undefined. Frozen here, as migrations are. */
function eventTime(raw: string): number | undefined {
  let timestamp: unknown;
  try {
    timestamp = (JSON.parse(raw) as { timestamp?: unknown } | null)?.timestamp;
  } catch {
    return undefined;
  }
  let ms: number | undefined;
  if (typeof timestamp === 'number' && Number.isFinite(timestamp) && timestamp >= 0) ms = Math.round(timestamp < 1e11 ? timestamp * 1000 : timestamp);
  else if (typeof timestamp === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(timestamp)) ms = Date.parse(timestamp);
  return ms !== undefined && Number.isFinite(ms) && ms <= 8.64e15 ? ms : undefined;
}
