/**
 * Throwaway databases for tests: a fresh SQLite file, or a uniquely named PostgreSQL database
 * that is dropped afterwards, so that runs never see each other's data.
 *
 * Which dialects run is chosen by TEST_DIALECTS (default `sqlite`; `npm run test:postgres`
 * sets `postgres`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { openDatabase, type DatabaseHandle, type DialectName } from '../../src/storage/database.js';
import { migrateToLatest } from '../../src/storage/migrations/index.js';

export const POSTGRES_ADMIN_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** The dialects this run tests against. */
export const testDialects: DialectName[] = (process.env.TEST_DIALECTS ?? 'sqlite')
  .split(',')
  .map((d) => d.trim())
  .filter((d): d is DialectName => d === 'sqlite' || d === 'postgres');

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** Creates an empty database of the given dialect. */
export async function createTestDatabase(dialect: DialectName): Promise<TestDatabase> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'backchat-test-'));
    return { url: `sqlite:${join(dir, 'backchat.db')}`, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const name = `backchat_test_${Date.now()}_${randomBytes(4).toString('hex')}`;
  await withAdmin((client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => withAdmin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}

async function withAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * A new, migrated database of `dialect` for the tests of the calling `describe`: created before
 * them, closed and dropped after them. `db()` is its Kysely instance once the tests run.
 */
export function useMigratedDatabase(dialect: DialectName): { db: () => DatabaseHandle['db'] } {
  let database: TestDatabase;
  let handle: DatabaseHandle;
  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    handle = openDatabase(database.url);
    await migrateToLatest(handle.db);
  });
  afterAll(async () => {
    await handle.close();
    await database.drop();
  });
  return { db: () => handle.db };
}
