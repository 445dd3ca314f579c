import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
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
});
