import { sql, type Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import { createTestDatabase, testDialects } from '../../../test/helpers/test-database.js';
import { openDatabase, type DatabaseHandle } from '../database.js';
import { prepareQuery, prepareRowsQuery } from '../prepared.js';
import { lostConnection } from './postgres.js';

// Tables of the test's own, unknown to the schema type.
type Notes = { notes: { id: number; body: string | null; n: string | number } };
const notes = (db: unknown) => db as Kysely<Notes>;
const noteById = prepareQuery((db, p: { id: number }) => notes(db).selectFrom('notes').selectAll().where('id', '=', p.id));
const idByN = prepareQuery((db, p: { n: string }) => notes(db).selectFrom('notes').select('id').where('n', '=', p.n));
const insertNotes = prepareRowsQuery<{ id: number; body: string; n: string }, never>(['id', 'body', 'n'], (db, rows) =>
  notes(db).insertInto('notes').values(rows),
);

async function withNotes(test: (handle: DatabaseHandle) => Promise<void>): Promise<void> {
  const database = await createTestDatabase('postgres');
  const handle = openDatabase(database.url);
  try {
    await sql`create table notes (id integer primary key, body text, n text)`.execute(handle.db);
    await sql`insert into notes values (1, 'one', '1')`.execute(handle.db);
    await test(handle);
  } finally {
    await handle.close();
    await database.drop();
  }
}

describe.runIf(testDialects.includes('postgres'))('PostgreSQL prepared statements', () => {
  it('runs single-row compiled-once queries as named statements, multi-row ones unnamed', () =>
    withNotes(async (handle) => {
      // One connection throughout: prepared statements belong to a connection.
      await handle.db.connection().execute(async (connection) => {
        expect((await noteById.execute(connection, { id: 1 })).rows).toEqual([{ id: 1, body: 'one', n: '1' }]);
        await insertNotes.execute(connection, [
          { id: 2, body: 'two', n: '2' },
          { id: 3, body: 'three', n: '3' },
        ]);
        const prepared = await sql<{ name: string }>`select name from pg_prepared_statements`.execute(connection);
        expect(prepared.rows.map((row) => row.name)).toEqual([expect.stringMatching(/^backchat_\d+$/)]);
      });
    }));

  it('replaces a connection whose statement a migration made stale: one failure, then the new schema', () =>
    withNotes(async (handle) => {
      await handle.db.connection().execute(async (connection) => {
        await noteById.execute(connection, { id: 1 });
        // What a newer instance's migration does: `select *` now has another result type.
        await sql`alter table notes add column extra text`.execute(connection);
        await expect(noteById.execute(connection, { id: 1 })).rejects.toMatchObject({ code: '0A000', routine: 'RevalidateCachedQuery' });
      });
      expect((await noteById.execute(handle.db, { id: 1 })).rows).toEqual([{ id: 1, body: 'one', n: '1', extra: null }]);
    }));

  it('in a transaction too, where the caller sees the real error (the rollback still runs on the old connection)', () =>
    withNotes(async (handle) => {
      // The pool hands back the connection released last: the one that parsed the statement.
      await idByN.execute(handle.db, { n: '1' });
      await sql`alter table notes alter column n type integer using n::integer`.execute(handle.db);
      const stale = handle.db.transaction().execute((trx) => idByN.execute(trx, { n: '1' }));
      await expect(stale).rejects.toMatchObject({ code: '42883' });
      expect((await handle.db.transaction().execute((trx) => idByN.execute(trx, { n: '1' }))).rows).toEqual([{ id: 1 }]);
    }));
});

describe.runIf(testDialects.includes('postgres'))('PostgreSQL limits of a write transaction', () => {
  it('bounds the lock wait and idle time of write transactions only, and sets nothing on the connection', async () => {
    const database = await createTestDatabase('postgres');
    const handle = openDatabase(database.url, undefined, { writeLockTimeoutMs: 1500 });
    const limits = sql<{ lock: string; idle: string }>`select current_setting('lock_timeout') as lock, current_setting('idle_in_transaction_session_timeout') as idle`;
    try {
      // Not on the connection (PgBouncer refuses startup parameters it does not know), nor for
      // migrations and reads.
      expect((await limits.execute(handle.db)).rows[0]).toEqual({ lock: '0', idle: '0' });
      const inWrite = await handle.db.transaction().execute(async (trx) => {
        await handle.writers.lockWriters(trx);
        return (await limits.execute(trx)).rows[0];
      });
      expect(inWrite).toEqual({ lock: '1500ms', idle: '30s' });
      expect((await limits.execute(handle.db)).rows[0]).toEqual({ lock: '0', idle: '0' });
    } finally {
      await handle.close();
      await database.drop();
    }
  });
});

// What group commit tries once more: a connection that was there and is gone, not one that could
// not be made (trying again would wait, or fail, as long again).
describe('lostConnection', () => {
  const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });
  it.each([
    [new Error('Connection terminated unexpectedly'), true],
    [new Error('Client has encountered a connection error and is not queryable'), true],
    [withCode('terminating connection due to administrator command', '57P01'), true],
    [withCode('read ECONNRESET', 'ECONNRESET'), true],
    [new Error('timeout exceeded when trying to connect'), false],
    [new Error('Connection terminated due to connection timeout'), false],
    [withCode('the database system is starting up', '57P03'), false],
    [withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'), false],
    [withCode('canceling statement due to lock timeout', '55P03'), false],
    ['Connection terminated', false],
  ])('%s → %s', (error, expected) => {
    expect(lostConnection(error)).toBe(expected);
  });
});
