import BetterSqlite3 from 'better-sqlite3';
import { Migrator, sql, type Migration } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createTestDatabase, POSTGRES_ADMIN_URL, testDialects } from '../../../test/helpers/test-database.js';
import { openDatabase, type DatabaseHandle } from '../database.js';
import { MIGRATIONS, migrateToLatest, pendingMigrations } from './index.js';

describe.each(testDialects)('migrations on %s', (dialect) => {
  /** Runs `test` on a new, empty store of this dialect, dropped afterwards. */
  const onEmptyStore = (test: (handle: DatabaseHandle, migrator: Migrator) => Promise<void>) => async () => {
    const testDb = await createTestDatabase(dialect);
    const handle = openDatabase(testDb.url);
    try {
      await test(handle, new Migrator({ db: handle.db, provider: { getMigrations: async () => MIGRATIONS } }));
    } finally {
      await handle.close();
      await testDb.drop();
    }
  };

  // For a while 0014 added the column 0015 adds: a store migrated then must not fail on 0015.
  it(
    'adds in_progress_until to a store whose 0014 had it already, and to one whose 0014 had not',
    onEmptyStore(async (handle, migrator) => {
      expect((await migrator.migrateTo('0014-login-attempts-in-progress')).error).toBeUndefined();
      await handle.db.schema.alterTable('login_failures').addColumn('in_progress_until', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
      expect((await migrateToLatest(handle.db)).error).toBeUndefined();
      expect((await migrator.migrateDown()).error).toBeUndefined();
      expect((await migrateToLatest(handle.db)).error).toBeUndefined();
      await sql`select in_progress, in_progress_until from login_failures`.execute(handle.db);
    }),
  );

  it(
    'apply in order, and every down undoes its up, back to an empty schema and up again',
    onEmptyStore(async (handle, migrator) => {
      const applied = await migrateToLatest(handle.db);
      expect(applied.results?.map((r) => r.status).every((s) => s === 'Success')).toBe(true);
      expect(await pendingMigrations(handle.db)).toEqual([]);

      // migrateDown undoes the last applied migration; walk down to nothing.
      for (;;) {
        const step = await migrator.migrateDown();
        expect(step.error).toBeUndefined();
        if (!step.results || step.results.length === 0) break;
      }
      const tables = (await handle.db.introspection.getTables()).map((t) => t.name).filter((name) => !name.startsWith('kysely_'));
      expect(tables).toEqual([]);
      expect((await migrateToLatest(handle.db)).error).toBeUndefined();
      await sql`select 1 from messages`.execute(handle.db);
    }),
  );

  it(
    'gives contacts stored before 0006 the time of their information for each piece',
    onEmptyStore(async (handle, migrator) => {
      expect((await migrator.migrateTo('0005-operators')).error).toBeUndefined();
      await sql`insert into contacts (id, phone, name, info_updated_at, created_at, updated_at) values ('c1', '+77770000001', 'Ann', 1000, 1, 1)`.execute(handle.db);
      await migrateToLatest(handle.db);
      const row = await handle.db.selectFrom('contacts').selectAll().where('id', '=', 'c1').executeTakeFirstOrThrow();
      expect(row).toMatchObject({ info_updated_at: 1000, name_updated_at: 1000, avatar_updated_at: 1000, username_updated_at: 1000 });
    }),
  );

  // A start stopped in the middle of a migration (SIGTERM, SIGKILL, a full disk) must leave the
  // store as before it: on SQLite each statement used to commit alone, and the next start failed
  // on "table already exists". A migration that fails after its first statement stands in for it.
  it(
    'applies pending migrations all or nothing: a failure midway leaves no table behind, and the store migrates afterwards',
    onEmptyStore(async (handle) => {
      const broken: Migration = {
        up: async (db) => {
          await db.schema.createTable('half_done').addColumn('id', 'text').execute();
          throw new Error('stopped midway');
        },
      };
      const withBroken = new Migrator({ db: handle.db, provider: { getMigrations: async () => ({ ...MIGRATIONS, '9999-broken': broken }) } });
      const failed = await withBroken.migrateToLatest();
      expect(String(failed.error)).toContain('stopped midway');
      const tables = (await handle.db.introspection.getTables()).map((t) => t.name).filter((name) => !name.startsWith('kysely_'));
      expect(tables).toEqual([]);
      expect(await pendingMigrations(handle.db)).toEqual(Object.keys(MIGRATIONS));
      expect((await migrateToLatest(handle.db)).error).toBeUndefined();
      expect(await pendingMigrations(handle.db)).toEqual([]);
    }),
  );

  // A deploy runs `backchat migrate`, or a second instance starts, beside a server that is writing.
  it(
    'with nothing to apply, takes no lock: it returns while another connection holds the lock the migrator would wait for',
    onEmptyStore(async (handle) => {
      await migrateToLatest(handle.db);
      const release = await holdMigratorLock(handle);
      try {
        const started = Date.now();
        expect((await migrateToLatest(handle.db)).results).toEqual([]);
        // SQLite's write lock is waited for up to 5 s; PostgreSQL's advisory lock without end.
        expect(Date.now() - started).toBeLessThan(2_000);
      } finally {
        await release();
      }
    }),
    15_000,
  );

  it(
    'still refuses a store that a newer backchat migrated',
    onEmptyStore(async (handle) => {
      const newer: Migration = { up: async () => undefined };
      const fromTheFuture = new Migrator({ db: handle.db, provider: { getMigrations: async () => ({ ...MIGRATIONS, '9999-from-a-newer-version': newer }) } });
      expect((await fromTheFuture.migrateToLatest()).error).toBeUndefined();
      await expect(migrateToLatest(handle.db)).rejects.toThrow(/9999-from-a-newer-version is missing/);
    }),
  );

  /** Holds, from another connection, the lock that Kysely's migrator takes first; resolves to its release. */
  async function holdMigratorLock(handle: DatabaseHandle): Promise<() => Promise<void>> {
    if (dialect === 'sqlite') {
      const file = (await sql<{ file: string }>`select file from pragma_database_list where name = 'main'`.execute(handle.db)).rows[0]!.file;
      const other = new BetterSqlite3(file);
      other.exec('begin immediate');
      return async () => {
        other.exec('rollback');
        other.close();
      };
    }
    const url = (await sql<{ db: string }>`select current_database() as db`.execute(handle.db)).rows[0]!.db;
    const other = new pg.Client({ connectionString: POSTGRES_ADMIN_URL.replace(/\/[^/]*$/, `/${url}`) });
    await other.connect();
    // Kysely's migration lock on PostgreSQL (postgres-adapter.js, LOCK_ID).
    await other.query('select pg_advisory_lock(3853314791062309107)');
    return async () => {
      await other.end();
    };
  }

  it(
    'dates the contact event data held before 0010 by its own timestamp, else by the newest information',
    onEmptyStore(async (handle, migrator) => {
      expect((await migrator.migrateTo('0009-outbox-purge-mark')).error).toBeUndefined();
      // A message (at 1640995400) came after the contact event held (at 1640995300).
      const contact = (id: string, raw: string | null) =>
        sql`insert into contacts (id, phone, name, info_updated_at, created_at, updated_at, raw) values (${id}, ${`+7777000000${id.length}${id}`}, 'Vera', 1640995400000, 1, 1, ${raw})`;
      await contact('c1', JSON.stringify({ phone: '+7 701 555 66 77', timestamp: 1640995300 })).execute(handle.db);
      await contact('c2', JSON.stringify({ phone: '+7 701 555 66 78', timestamp: '2021-12-31T23:55:00.000Z' })).execute(handle.db);
      await contact('c3', JSON.stringify({ phone: '+7 701 555 66 79' })).execute(handle.db);
      await contact('c4', null).execute(handle.db);
      await migrateToLatest(handle.db);
      const rows = await handle.db.selectFrom('contacts').select(['id', 'raw_updated_at']).orderBy('id').execute();
      expect(rows.map((row) => [row.id, row.raw_updated_at === null ? null : Number(row.raw_updated_at)])).toEqual([
        ['c1', 1640995300000],
        ['c2', Date.parse('2021-12-31T23:55:00.000Z')],
        ['c3', 1640995400000],
        ['c4', null],
      ]);
    }),
  );

  it(
    'drops the single-column indexes that a store migrated by the first version of 0005 kept, after which it migrates down cleanly',
    onEmptyStore(async (handle, migrator) => {
      expect((await migrator.migrateTo('0005-operators')).error).toBeUndefined();
      // What the first version of 0005 left behind.
      await sql`create index messages_chat_sent_idx on messages (chat_id, sent_at)`.execute(handle.db);
      await sql`create index chats_last_activity_idx on chats (last_activity_at)`.execute(handle.db);
      await migrateToLatest(handle.db);
      const indexes = async () => {
        const query =
          dialect === 'sqlite'
            ? sql<{ name: string }>`select name from sqlite_master where type = 'index'`
            : sql<{ name: string }>`select indexname as name from pg_indexes where schemaname = current_schema()`;
        return (await query.execute(handle.db)).rows.map((row) => row.name);
      };
      expect(await indexes()).not.toContain('messages_chat_sent_idx');
      expect(await indexes()).not.toContain('chats_last_activity_idx');
      expect((await migrator.migrateTo('0004-wazzup-v3')).error).toBeUndefined();
    }),
  );

  const purgeMark = async (handle: DatabaseHandle) =>
    Number((await handle.db.selectFrom('domain_events_purge').select('purged_through_seq').executeTakeFirstOrThrow()).purged_through_seq);

  it(
    'starts the outbox purge mark where the oldest kept event says a purge stopped, and at 0 on an empty outbox',
    onEmptyStore(async (handle, migrator) => {
      expect((await migrator.migrateTo('0008-login-failures')).error).toBeUndefined();
      // Events 1 and 2 purged before the mark existed.
      for (let seq = 1; seq <= 4; seq += 1) {
        await sql`insert into domain_events (type, payload, created_at) values ('chat.updated', '{}', 1)`.execute(handle.db);
      }
      await sql`delete from domain_events where seq <= 2`.execute(handle.db);
      await migrateToLatest(handle.db);
      expect(await purgeMark(handle)).toBe(2);

      await migrator.migrateTo('0008-login-failures');
      await sql`delete from domain_events`.execute(handle.db);
      await migrateToLatest(handle.db);
      expect(await purgeMark(handle)).toBe(0);
    }),
  );

  // Concurrent first messages of a chat rely on these, not only on writers taking turns: a second
  // writer's insert fails, the unit is retried alone and then finds the row.
  it(
    'refuses a second contact per phone, chat per key and message per external id',
    onEmptyStore(async (handle) => {
      await migrateToLatest(handle.db);
      const contact = (id: string) => sql`insert into contacts (id, phone, created_at, updated_at) values (${id}, '+77770000001', 1, 1)`;
      const chat = (id: string) => sql`insert into chats (id, external_id, last_activity_at, created_at, updated_at) values (${id}, 'chat-1', 1, 1, 1)`;
      const message = (id: string) =>
        sql`insert into messages (id, external_id, chat_id, direction, type, sent_at, raw, created_at) values (${id}, 'm-1', 'h1', 'in', 'text', 1, '{}', 1)`;
      for (const insert of [contact, chat, message]) {
        await insert('h1').execute(handle.db);
        await expect(insert('h2').execute(handle.db)).rejects.toThrow(/unique/i);
      }
    }),
  );
});
