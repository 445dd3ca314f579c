import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestDatabase, testDialects, type TestDatabase } from '../../test/helpers/test-database.js';
import { openDatabase, type DatabaseHandle } from './database.js';
import { createGroupCommitter, type BatchStats } from './group-commit.js';
import { migrateToLatest } from './migrations/index.js';

describe.each(testDialects)('group commit on %s', (dialect) => {
  let testDb: TestDatabase;
  let handle: DatabaseHandle;
  beforeEach(async () => {
    testDb = await createTestDatabase(dialect);
    handle = openDatabase(testDb.url);
    await migrateToLatest(handle.db);
  });
  afterEach(async () => {
    await handle.close();
    await testDb.drop();
  });

  const insertContact = (phone: string) => (trx: DatabaseHandle['db']) =>
    trx.insertInto('contacts').values({ id: phone, phone, phone_raw: phone, name: null, avatar_url: null, info_updated_at: null, created_at: 1, updated_at: 1 }).execute();

  it('commits units submitted together in one transaction, each caller answered', async () => {
    const batches: BatchStats[] = [];
    const committer = createGroupCommitter(handle.db, { maxBatchSize: 100, onBatch: (s) => batches.push(s) });
    await Promise.all(Array.from({ length: 50 }, (_, i) => committer.run(insertContact(`+1555000${String(i).padStart(4, '0')}`))));
    expect(batches.map((b) => b.size)).toEqual([50]);
    const { count } = await handle.db.selectFrom('contacts').select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow();
    expect(Number(count)).toBe(50);
  });

  it('runs the begin and end hooks once per transaction, around every unit of it', async () => {
    const calls: string[] = [];
    const committer = createGroupCommitter(handle.db, {
      maxBatchSize: 100,
      onBegin: async () => void calls.push('begin'),
      onEnd: async () => void calls.push('end'),
    });
    await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        committer.run(async (trx) => {
          calls.push('unit');
          await insertContact(`+1555400000${i}`)(trx);
        }),
      ),
    );
    expect(calls).toEqual(['begin', 'unit', 'unit', 'unit', 'unit', 'unit', 'end']);
  });

  // The writers' lock not granted in time, say: the units are not at fault, and retried alone each
  // would wait as long again.
  it('fails every unit at once, none retried, when the transaction fails before its first unit', async () => {
    const batches: BatchStats[] = [];
    let begins = 0;
    let unitsRun = 0;
    const committer = createGroupCommitter(handle.db, {
      maxBatchSize: 100,
      onBegin: async () => {
        begins += 1;
        throw new Error('lock not granted');
      },
      onBatch: (s) => batches.push(s),
    });
    const results = await Promise.allSettled(Array.from({ length: 5 }, () => committer.run(async () => void (unitsRun += 1))));
    expect(results.map((r) => r.status === 'rejected' && String(r.reason))).toEqual(Array(5).fill('Error: lock not granted'));
    expect({ begins, unitsRun }).toEqual({ begins: 1, unitsRun: 0 });
    expect(batches).toMatchObject([{ size: 5, failedUnits: 5 }]);
  });

  // A pooled connection that died during a failover fails the BEGIN: nothing has run, and
  // another connection will do. Simulated by a transaction that fails before calling back.
  const failingToBegin = (db: DatabaseHandle['db'], errors: Error[]) => {
    const attempts = { count: 0 };
    const proxy = new Proxy(db, {
      get(target, property, receiver) {
        if (property !== 'transaction') return Reflect.get(target, property, receiver) as unknown;
        return () => {
          const builder = target.transaction();
          return {
            execute: (callback: Parameters<typeof builder.execute>[0]) => {
              attempts.count += 1;
              const error = errors.shift();
              return error ? Promise.reject(error) : builder.execute(callback);
            },
          };
        };
      },
    });
    return { db: proxy, attempts };
  };
  const lost = () => new Error('Connection terminated unexpectedly');
  const lostConnection = (error: unknown) => error instanceof Error && error.message.startsWith('Connection terminated');

  it('tries a batch once more, whole, when its transaction could not begin on a lost connection', async () => {
    const batches: BatchStats[] = [];
    const { db, attempts } = failingToBegin(handle.db, [lost()]);
    const committer = createGroupCommitter(db, { maxBatchSize: 100, onBatch: (s) => batches.push(s), lostConnection });
    await Promise.all(Array.from({ length: 5 }, (_, i) => committer.run(insertContact(`+1555600000${i}`))));
    expect(attempts.count).toBe(2);
    const { count } = await handle.db.selectFrom('contacts').select((eb) => eb.fn.countAll<number>().as('count')).executeTakeFirstOrThrow();
    expect(Number(count)).toBe(5);
    expect(batches).toMatchObject([{ size: 5, failedUnits: 0 }]);
  });

  it('fails the batch at once when the second try fails too, or when no connection could be had', async () => {
    for (const errors of [[lost(), lost()], [new Error('timeout exceeded when trying to connect')]]) {
      const batches: BatchStats[] = [];
      const { db, attempts } = failingToBegin(handle.db, errors);
      const tries = errors.length;
      const committer = createGroupCommitter(db, { maxBatchSize: 100, onBatch: (s) => batches.push(s), lostConnection });
      const results = await Promise.allSettled(Array.from({ length: 3 }, (_, i) => committer.run(insertContact(`+1555700000${i}`))));
      expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
      expect(attempts.count).toBe(tries);
      expect(batches).toMatchObject([{ size: 3, failedUnits: 3 }]);
    }
  });

  it('keeps committing after a failure outside any unit (here: the statistics callback throws)', async () => {
    const committer = createGroupCommitter(handle.db, {
      maxBatchSize: 100,
      onBatch: () => {
        throw new Error('statistics broke');
      },
    });
    await committer.run(insertContact('+15556000001'));
    await committer.run(insertContact('+15556000002'));
    await committer.drain();
    const phones = await handle.db.selectFrom('contacts').select('phone').where('phone', 'like', '+1555600000%').execute();
    expect(phones).toHaveLength(2);
  });

  it('answers no unit before its COMMIT has succeeded', async () => {
    // A deferred constraint is checked by COMMIT itself: the one failure that comes after every unit ran.
    await sql`create table parents (id integer primary key)`.execute(handle.db);
    await sql`create table children (parent integer references parents (id) deferrable initially deferred)`.execute(handle.db);
    const committer = createGroupCommitter(handle.db, { maxBatchSize: 100 });
    const orphan = committer.run(async (trx) => {
      await sql`insert into children values (42)`.execute(trx);
      return 'answered';
    });
    await expect(orphan).rejects.toThrow(/foreign key/i);
    expect(Number((await sql<{ n: number }>`select count(*) as n from children`.execute(handle.db)).rows[0]!.n)).toBe(0);
  });

  it('respects the batch size limit', async () => {
    const batches: number[] = [];
    const committer = createGroupCommitter(handle.db, { maxBatchSize: 8, onBatch: (s) => batches.push(s.size) });
    await Promise.all(Array.from({ length: 20 }, (_, i) => committer.run(insertContact(`+1555100${String(i).padStart(4, '0')}`))));
    expect(batches).toEqual([8, 8, 4]);
  });

  it('fails only the bad unit of a batch; the others commit', async () => {
    const committer = createGroupCommitter(handle.db, { maxBatchSize: 100 });
    const results = await Promise.allSettled([
      committer.run(insertContact('+15552000001')),
      committer.run(async (trx) => {
        await insertContact('+15552000002')(trx);
        throw new Error('a bug in one event');
      }),
      // A constraint violation: same primary key as the first unit.
      committer.run(insertContact('+15552000001')),
      committer.run(insertContact('+15552000003')),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    const phones = await handle.db.selectFrom('contacts').select('phone').orderBy('phone').execute();
    // The failing unit's own write was rolled back with it.
    expect(phones.map((p) => p.phone)).toEqual(['+15552000001', '+15552000003']);
  });

  it('takes new work while a batch is being written and drains it all', async () => {
    const committer = createGroupCommitter(handle.db, { maxBatchSize: 100 });
    const first = committer.run(insertContact('+15553000001'));
    const second = first.then(() => committer.run(insertContact('+15553000002')));
    await committer.drain();
    await second;
    const phones = await handle.db.selectFrom('contacts').select('phone').execute();
    expect(phones).toHaveLength(2);
  });
});
