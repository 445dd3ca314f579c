import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createTestDatabase, POSTGRES_ADMIN_URL, testDialects } from '../../test/helpers/test-database.js';
import { openDatabase } from './database.js';

describe.each(testDialects)('durability settings on %s', (dialect) => {
  it('opens the store with settings under which a commit is on disk, and has nothing to warn about', async () => {
    const database = await createTestDatabase(dialect);
    const handle = openDatabase(database.url);
    try {
      expect(await handle.settingWarnings()).toEqual([]);
      if (dialect === 'sqlite') {
        expect((await sql<{ synchronous: number }>`pragma synchronous`.execute(handle.db)).rows).toEqual([{ synchronous: 2 }]);
        expect((await sql<{ journal_mode: string }>`pragma journal_mode`.execute(handle.db)).rows).toEqual([{ journal_mode: 'wal' }]);
      }
    } finally {
      await handle.close();
      await database.drop();
    }
  });
});

describe('durability warnings', () => {
  it('warns that an in-memory SQLite store keeps nothing', async () => {
    const handle = openDatabase('sqlite::memory:');
    try {
      expect(await handle.settingWarnings()).toEqual([expect.stringMatching(/keeps nothing on disk/)]);
    } finally {
      await handle.close();
    }
  });

  it.runIf(testDialects.includes('postgres'))('warns when PostgreSQL acknowledges commits before they are on disk', async () => {
    const database = await createTestDatabase('postgres');
    const name = new URL(database.url).pathname.slice(1);
    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    await admin.query(`alter database ${name} set synchronous_commit = off`);
    await admin.end();
    // New sessions take the database's setting.
    const handle = openDatabase(database.url);
    try {
      expect(await handle.settingWarnings()).toEqual([expect.stringMatching(/synchronous_commit=off/)]);
    } finally {
      await handle.close();
      await database.drop();
    }
  });

  /** Opens a throwaway PostgreSQL database created with `options` (encoding and locale), and drops it after `use`. */
  const withPostgresDatabase = async (options: string, use: (handle: ReturnType<typeof openDatabase>) => Promise<void>) => {
    const name = `backchat_settings_${process.pid}_${Date.now()}`;
    const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
    await admin.connect();
    await admin.query(`create database ${name} template template0 ${options}`);
    const url = new URL(POSTGRES_ADMIN_URL);
    url.pathname = `/${name}`;
    const handle = openDatabase(url.toString());
    try {
      await use(handle);
    } finally {
      await handle.close();
      await admin.query(`drop database ${name}`);
      await admin.end();
    }
  };

  // lower() follows the database's LC_CTYPE: under C, "ДМИТРИЙ" stays as it is, and searches typed
  // in another case than stored find nothing (a review's find), where SQLite finds them.
  it.runIf(testDialects.includes('postgres'))('warns when the PostgreSQL database cannot fold case beyond ASCII', () =>
    withPostgresDatabase("encoding 'UTF8' lc_ctype 'C' lc_collate 'C'", async (handle) => {
      expect(await handle.settingWarnings()).toEqual([expect.stringMatching(/LC_CTYPE folds no letter beyond ASCII/)]);
    }),
  );

  // Asking a LATIN1 database how it folds "ДМИТРИЙ" failed the query, and with it the start.
  it.runIf(testDialects.includes('postgres'))('warns, and still opens, when the PostgreSQL database is not UTF-8', () =>
    withPostgresDatabase("encoding 'LATIN1' lc_ctype 'C' lc_collate 'C'", async (handle) => {
      expect(await handle.settingWarnings()).toEqual([expect.stringMatching(/encoding is LATIN1, not UTF8/)]);
    }),
  );
});

describe('closing a store', () => {
  // Kysely's destroy() skips a driver that never ran a query: SQLite's checkpointer thread stayed,
  // and a CLI command that failed before its first query never exited (a review's find).
  it('lets the process exit when a SQLite store is closed before any query', () => {
    const dir = mkdtempSync(join(tmpdir(), 'backchat-close-'));
    try {
      const script = join(dir, 'open-and-close.mts');
      const database = new URL('./database.ts', import.meta.url).pathname;
      writeFileSync(script, `import { openDatabase } from ${JSON.stringify(database)};\nawait openDatabase(${JSON.stringify(`sqlite:${join(dir, 'store.db')}`)}).close();\n`);
      const result = spawnSync(process.execPath, ['--import', 'tsx', script], { timeout: 20_000 });
      expect([result.status, String(result.stderr)]).toEqual([0, '']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
