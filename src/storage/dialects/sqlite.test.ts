import { mkdtempSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { sql, type Kysely } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../database.js';

describe('SQLite background checkpoints', () => {
  let dir: string;
  let handle: DatabaseHandle | undefined;
  afterEach(async () => {
    await handle?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('copies committed pages into the database file without any commit doing it', async () => {
    dir = mkdtempSync(join(tmpdir(), 'backchat-checkpoint-'));
    const file = join(dir, 'store.db');
    handle = openDatabase(`sqlite:${file}`);
    await sql`create table notes (id integer primary key, body text)`.execute(handle.db);
    const before = statSync(file).size;
    // ~400 KiB: a few hundred WAL pages, far below the automatic checkpoint (10,000 pages), so
    // only the background thread can have copied them into the file.
    await handle.db.transaction().execute(async (trx) => {
      for (let i = 0; i < 200; i += 1) await sql`insert into notes (body) values (${'x'.repeat(2000)})`.execute(trx);
    });
    const deadline = Date.now() + 5000;
    while (statSync(file).size < before + 300_000 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(statSync(file).size).toBeGreaterThan(before + 300_000);
  });

  it('says when the checkpointer cannot work, and the store goes on without it', async () => {
    dir = mkdtempSync(join(tmpdir(), 'backchat-checkpoint-'));
    const file = join(dir, 'store.db');
    const errors: Error[] = [];
    handle = openDatabase(`sqlite:${file}`, (error) => errors.push(error));
    // Moved away before the thread opens it, and back once it has given up.
    renameSync(file, `${file}.away`);
    const deadline = Date.now() + 5000;
    while (errors.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    renameSync(`${file}.away`, file);
    expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/^SQLite background checkpointer stopped: /)]);
    await sql`create table notes (id integer primary key, body text)`.execute(handle.db);
    await sql`insert into notes (body) values ('still written')`.execute(handle.db);
    expect((await sql<{ n: number }>`select count(*) as n from notes`.execute(handle.db)).rows[0]!.n).toBe(1);
  });
});

describe('SQLite row locks', () => {
  it('runs a query that locks rows on PostgreSQL without its lock clause (its transactions hold the write lock)', async () => {
    const handle = openDatabase('sqlite::memory:');
    try {
      await sql`create table notes (id integer primary key, body text)`.execute(handle.db);
      await sql`insert into notes (body) values ('a')`.execute(handle.db);
      const db = handle.db as unknown as Kysely<{ notes: { id: number; body: string } }>;
      const locked = db.selectFrom('notes').select('body').where('id', '=', 1);
      for (const query of [locked.forShare(), locked.forUpdate(), locked.forNoKeyUpdate(), locked.forKeyShare()]) {
        expect(query.compile().sql).toBe('select "body" from "notes" where "id" = ?');
        expect(await db.transaction().execute((trx) => trx.executeQuery(query.compile()))).toMatchObject({ rows: [{ body: 'a' }] });
      }
      // These change what the query means: left in, for SQLite to refuse.
      expect(locked.forUpdate().skipLocked().compile().sql).toMatch(/skip locked$/);
    } finally {
      await handle.close();
    }
  });
});

describe('SQLite write lock held by another process', () => {
  let dir: string;
  let handle: DatabaseHandle | undefined;
  let other: BetterSqlite3.Database | undefined;
  afterEach(async () => {
    other?.close();
    await handle?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const open = async (writeLockTimeoutMs: number) => {
    dir = mkdtempSync(join(tmpdir(), 'backchat-lock-'));
    const file = join(dir, 'store.db');
    handle = openDatabase(`sqlite:${file}`, undefined, { writeLockTimeoutMs });
    await sql`create table notes (id integer primary key, body text)`.execute(handle.db);
    // Another connection, as a `sqlite3` shell or the CLI would hold it: the write lock, taken.
    other = new BetterSqlite3(file);
    other.exec('begin immediate');
    return handle.db;
  };
  // A transaction, and a statement outside one (a token's last-use time, the purge's deletes).
  const writes = {
    transaction: (db: DatabaseHandle['db']) => db.transaction().execute((trx) => sql`insert into notes (body) values ('waited')`.execute(trx)),
    'lone statement': (db: DatabaseHandle['db']) => sql`insert into notes (body) values ('waited')`.execute(db),
  };

  describe.each(Object.entries(writes))('a %s', (_, write) => {
    it('waits for it without holding the event loop, and writes once it is free', async () => {
      const db = await open(5000);
      let written = false;
      const writing = write(db).then(() => (written = true));
      // Timers run meanwhile: SQLite's own busy wait would have held them until it gave up.
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(written).toBe(false);
      other!.exec('commit');
      await writing;
      expect((await sql<{ n: number }>`select count(*) as n from notes`.execute(db)).rows[0]!.n).toBe(1);
    });

    it('gives up with SQLITE_BUSY after WRITE_LOCK_TIMEOUT_SECONDS, and takes it once it is free', async () => {
      const db = await open(300);
      await expect(write(db)).rejects.toMatchObject({ code: 'SQLITE_BUSY' });
      other!.exec('commit');
      await write(db);
    });
  });
});
