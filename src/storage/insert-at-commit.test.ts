import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, testDialects, type TestDatabase } from '../../test/helpers/test-database.js';
import { openDatabase, type DatabaseHandle } from './database.js';
import type { Executor } from './executor.js';
import { createGroupCommitter } from './group-commit.js';
import { insertAtCommit, type RowsWriter } from './insert-at-commit.js';
import { migrateToLatest } from './migrations/index.js';
import { prepareRowsQuery } from './prepared.js';

interface Row {
  type: string;
  payload: string;
  created_at: number;
}

const insertRows = prepareRowsQuery<Row, { seq: number }>(['type', 'payload', 'created_at'], (db, rows) =>
  db.insertInto('domain_events').values(rows).returning('seq'),
);

describe.each(testDialects)('inserts at commit on %s', (dialect) => {
  let testDb: TestDatabase;
  let handle: DatabaseHandle;
  /** The size of every statement the writer ran. */
  let statements: number[];
  let writer: RowsWriter<Row, number>;
  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    handle = openDatabase(testDb.url);
    await migrateToLatest(handle.db);
    statements = [];
    writer = {
      async write(trx, rows) {
        statements.push(rows.length);
        const { rows: inserted } = await insertRows.execute(trx, rows);
        return inserted.map((r) => Number(r.seq)).sort((a, b) => a - b);
      },
    };
  });
  afterEach(async () => {
    await handle.close();
    await testDb.drop();
  });

  const stored = async () =>
    (await handle.db.selectFrom('domain_events').select(['seq', 'payload']).orderBy('seq').execute()).map((r) => ({ seq: Number(r.seq), payload: r.payload }));
  const row = (payload: string): Row => ({ type: 'contact.updated', payload, created_at: 1 });

  it("writes a batch's rows in few statements, in the order the units added them, before the commit", async () => {
    const committer = createGroupCommitter(handle.db, { maxBatchSize: 1000 });
    // 300 units of one batch, two rows each: 600 rows in statements of 256, 256 and 88.
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        committer.run(async (trx: Executor) => ({ seqs: [insertAtCommit(trx, writer, row(`${i}a`)), insertAtCommit(trx, writer, row(`${i}b`))] })),
      ),
    );
    expect(statements).toEqual([256, 256, 88]);
    const rows = await stored();
    expect(rows.map((r) => r.payload)).toEqual(Array.from({ length: 300 }, (_, i) => [`${i}a`, `${i}b`]).flat());
    // Each unit learns the sequence numbers of its own rows.
    const seqs = await Promise.all(results.flatMap((r) => r.seqs));
    expect(seqs).toEqual(rows.map((r) => r.seq));
  });

  it('writes the rows of a failed batch only for the units that succeed alone', async () => {
    const committer = createGroupCommitter(handle.db, { maxBatchSize: 100 });
    const outcomes = await Promise.allSettled(
      ['first', 'bad', 'last'].map((payload) =>
        committer.run(async (trx: Executor) => {
          const seq = insertAtCommit(trx, writer, row(payload));
          if (payload === 'bad') throw new Error('this unit fails');
          return { seq };
        }),
      ),
    );
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const rows = await stored();
    expect(rows.map((r) => r.payload)).toEqual(['first', 'last']);
    const seqOf = async (o: PromiseSettledResult<{ seq: Promise<number> }>) => (o.status === 'fulfilled' ? o.value.seq : undefined);
    expect([await seqOf(outcomes[0]!), await seqOf(outcomes[2]!)]).toEqual(rows.map((r) => r.seq));
  });

  it('fails every unit of a batch whose rows cannot be written, and ends nothing else (no unhandled rejection)', async () => {
    const failing: RowsWriter<Row, number> = {
      async write() {
        throw new Error('the disk is full');
      },
    };
    const committer = createGroupCommitter(handle.db, { maxBatchSize: 100 });
    // Each unit hands out a promise derived from its row, as the outbox does; the committer retries
    // each unit alone, and the promises of the failed batch are never awaited.
    const outcomes = await Promise.allSettled(
      ['one', 'two'].map((payload) =>
        committer.run(async (trx: Executor) => {
          const seq = insertAtCommit(trx, failing, row(payload));
          const derived = seq.then((n) => n + 1);
          derived.catch(() => undefined);
          return { derived };
        }),
      ),
    );
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    expect(await stored()).toEqual([]);
  });

  it('fails the batch when a writer answers for fewer rows than it was given (nobody waits for ever)', async () => {
    const short: RowsWriter<Row, number> = {
      async write(trx, rows) {
        return (await writer.write(trx, rows)).slice(1);
      },
    };
    const committer = createGroupCommitter(handle.db, { maxBatchSize: 100 });
    const outcome = committer.run(async (trx: Executor) => {
      const seq = insertAtCommit(trx, short, row('one'));
      seq.catch(() => undefined);
      return { seq };
    });
    await expect(outcome).rejects.toThrow(/returned 0 results for 1 rows/);
    expect(await stored()).toEqual([]);
  });

  it('refuses a transaction the group committer did not open (its rows would never be written)', async () => {
    await expect(handle.db.transaction().execute(async (trx) => insertAtCommit(trx, writer, row('lost')))).rejects.toThrow(/group committer/);
  });
});
