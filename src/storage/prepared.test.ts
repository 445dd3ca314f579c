import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, testDialects, type TestDatabase } from '../../test/helpers/test-database.js';
import { openDatabase, type DatabaseHandle } from './database.js';
import type { Executor } from './executor.js';
import { prepareQuery } from './prepared.js';

// The contacts table stands in for any table: a compiled-once query must give the same result
// in a transaction (where SQLite runs it directly on the connection) as outside one (through Kysely).
const insertContact = prepareQuery((db, p: { id: string; phone: string; now: number }) =>
  db.insertInto('contacts').values({ id: p.id, phone: p.phone, created_at: p.now, updated_at: p.now }).returning(['id', 'phone']),
);
const renameContacts = prepareQuery((db, p: { name: string; prefix: string }) =>
  db.updateTable('contacts').set({ name: p.name }).where('phone', 'like', p.prefix),
);

describe.each(testDialects)('compiled-once queries (%s)', (dialect) => {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  afterEach(async () => {
    await handle.close();
    await database.drop();
  });

  it('return the same rows and counts inside a transaction as outside', async () => {
    database = await createTestDatabase(dialect);
    handle = openDatabase(database.url);
    await sql`create table contacts (id text primary key, phone text, name text, created_at bigint, updated_at bigint)`.execute(handle.db);
    const run = async (db: Executor, n: number) => ({
      inserted: (await insertContact.execute(db, { id: `c${n}`, phone: `+7${n}`, now: n })).rows,
      renamed: (await renameContacts.execute(db, { name: `Name ${n}`, prefix: `+7${n}%` })).numAffectedRows,
      missed: (await renameContacts.execute(db, { name: 'nobody', prefix: 'none%' })).numAffectedRows,
    });
    const outside = await run(handle.db, 1);
    const inside = await handle.db.transaction().execute((trx) => run(trx, 2));
    expect(outside).toEqual({ inserted: [{ id: 'c1', phone: '+71' }], renamed: 1n, missed: 0n });
    expect(inside).toEqual({ inserted: [{ id: 'c2', phone: '+72' }], renamed: 1n, missed: 0n });
  });

  it('rolls back what it ran inside a failed transaction', async () => {
    database = await createTestDatabase(dialect);
    handle = openDatabase(database.url);
    await sql`create table contacts (id text primary key, phone text, name text, created_at bigint, updated_at bigint)`.execute(handle.db);
    await expect(
      handle.db.transaction().execute(async (trx) => {
        await insertContact.execute(trx, { id: 'x', phone: '+7', now: 1 });
        await insertContact.execute(trx, { id: 'x', phone: '+7', now: 1 });
      }),
    ).rejects.toThrow();
    expect(await handle.db.selectFrom('contacts').selectAll().execute()).toEqual([]);
  });
});
