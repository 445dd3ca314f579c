import { sql, type Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import { createTestDatabase, testDialects } from '../../../test/helpers/test-database.js';
import { openDatabase } from '../database.js';
import { prepareQuery } from '../prepared.js';

// A table of the test's own, unknown to the schema type.
type Notes = { notes: { id: number; body: string | null } };
const noteById = prepareQuery((db, p: { id: number }) => (db as unknown as Kysely<Notes>).selectFrom('notes').selectAll().where('id', '=', p.id));

describe.runIf(testDialects.includes('postgres'))('PostgreSQL prepared statements', () => {
  it('runs compiled-once queries as named statements, renamed when a migration makes them stale', async () => {
    const database = await createTestDatabase('postgres');
    const handle = openDatabase(database.url);
    try {
      await sql`create table notes (id integer primary key, body text)`.execute(handle.db);
      await sql`insert into notes values (1, 'one')`.execute(handle.db);
      // One connection throughout: prepared statements belong to a connection.
      await handle.db.connection().execute(async (connection) => {
        expect((await noteById.execute(connection, { id: 1 })).rows).toEqual([{ id: 1, body: 'one' }]);
        const prepared = await sql<{ name: string }>`select name from pg_prepared_statements`.execute(connection);
        expect(prepared.rows.map((row) => row.name)).toContainEqual(expect.stringMatching(/^backchat_\d+_\d+$/));

        // What a newer instance's migration does; `select *` now has another result type.
        await sql`alter table notes add column extra text`.execute(connection);
        await expect(noteById.execute(connection, { id: 1 })).rejects.toThrow(/cached plan must not change result type/);
        // Parsed again under a new name: it works from the next run on, on every connection.
        expect((await noteById.execute(connection, { id: 1 })).rows).toEqual([{ id: 1, body: 'one', extra: null }]);
      });
    } finally {
      await handle.close();
      await database.drop();
    }
  });
});
