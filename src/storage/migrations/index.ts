/**
 * The ordered, in-code list of migrations. Kysely's Migrator applies them in key order and
 * records each in its own table, on SQLite and PostgreSQL alike.
 */
import { DEFAULT_MIGRATION_TABLE, Migrator, type Kysely, type Migration, type MigrationResultSet } from 'kysely';
import * as initial from './0001-initial.js';
import * as webhookAuth from './0002-webhook-auth.js';
import * as webhookReplay from './0003-webhook-replay.js';
import * as wazzupV3 from './0004-wazzup-v3.js';
import * as operators from './0005-operators.js';
import * as contactFieldTimes from './0006-contact-field-times.js';
import * as rawStatusesContacts from './0007-raw-statuses-contacts.js';
import * as loginFailures from './0008-login-failures.js';
import * as outboxPurgeMark from './0009-outbox-purge-mark.js';
import * as contactRawTime from './0010-contact-raw-time.js';
import * as dropStaleIndexes from './0011-drop-stale-indexes.js';
import * as replayOfIndex from './0012-replay-of-index.js';
import * as bodyPurgeMark from './0013-body-purge-mark.js';
import * as loginAttemptsInProgress from './0014-login-attempts-in-progress.js';
import * as loginAttemptsInProgressUntil from './0015-login-attempts-in-progress-until.js';

/** Every migration, by name; applied in key order. */
export const MIGRATIONS: Record<string, Migration> = {
  '0001-initial': initial,
  '0002-webhook-auth': webhookAuth,
  '0003-webhook-replay': webhookReplay,
  '0004-wazzup-v3': wazzupV3,
  '0005-operators': operators,
  '0006-contact-field-times': contactFieldTimes,
  '0007-raw-statuses-contacts': rawStatusesContacts,
  '0008-login-failures': loginFailures,
  '0009-outbox-purge-mark': outboxPurgeMark,
  '0010-contact-raw-time': contactRawTime,
  '0011-drop-stale-indexes': dropStaleIndexes,
  '0012-replay-of-index': replayOfIndex,
  '0013-body-purge-mark': bodyPurgeMark,
  '0014-login-attempts-in-progress': loginAttemptsInProgress,
  '0015-login-attempts-in-progress-until': loginAttemptsInProgressUntil,
};

export class MigrationError extends Error {
  constructor(message: string, override readonly cause: unknown) {
    super(message);
    this.name = 'MigrationError';
  }
}

/** Applies every pending migration; throws MigrationError when one fails. */
export async function migrateToLatest(db: Kysely<any>): Promise<MigrationResultSet> {
  // The migrator takes the store's write lock (SQLite) or a lock of its own (PostgreSQL) before
  // it looks. With nothing to apply, a start or `backchat migrate` beside a busy server would
  // wait on that server's writes, and on SQLite fail after WRITE_LOCK_TIMEOUT_SECONDS: look first, without it.
  // A store migrated by a newer backchat still goes to the migrator, which refuses it.
  if ((await pendingMigrations(db)).length === 0 && (await appliedMigrationCount(db)) === Object.keys(MIGRATIONS).length) {
    return { results: [] };
  }
  const migrator = new Migrator({ db, provider: { getMigrations: async () => MIGRATIONS } });
  const result = await migrator.migrateToLatest();
  if (result.error) {
    const failed = result.results?.find((r) => r.status === 'Error')?.migrationName;
    // No migration named: it failed before any ran (the database unreachable, say), not in one.
    const what = failed === undefined ? 'Could not migrate the database' : `Migration "${failed}" failed`;
    throw new MigrationError(`${what}: ${String(result.error)}`, result.error);
  }
  return result;
}

/** Names of migrations not yet applied (readiness checks use it). */
export async function pendingMigrations(db: Kysely<any>): Promise<string[]> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => MIGRATIONS } });
  const all = await migrator.getMigrations();
  return all.filter((m) => m.executedAt === undefined).map((m) => m.name);
}

async function appliedMigrationCount(db: Kysely<any>): Promise<number> {
  const row = await db.selectFrom(DEFAULT_MIGRATION_TABLE).select((eb) => eb.fn.countAll<number | string>().as('count')).executeTakeFirstOrThrow();
  return Number(row.count);
}
