/**
 * `backchat migrate` and start-up migrations, as real processes: a failed migration must exit
 * non-zero, never start serving on a broken schema.
 */
import { spawnSync } from 'node:child_process';
import pg from 'pg';
import BetterSqlite3 from 'better-sqlite3';
import { describe, expect, it, vi } from 'vitest';
import { createTestDatabase, testDialects, type TestDatabase } from '../helpers/test-database.js';
import { createTestApp } from '../helpers/test-app.js';
import { curePoison, poisonMessages } from '../helpers/poison.js';

// Each test starts several `backchat` processes (each loads tsx and the sources: 1–3 s on this
// machine, more when it is busy): the default 30 s per test is too tight a margin.
vi.setConfig({ testTimeout: 120_000 });

const root = new URL('../..', import.meta.url).pathname;

function run(entry: string, args: string[], databaseUrl: string) {
  return spawnSync(process.execPath, ['--import', 'tsx', entry, ...args], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: databaseUrl, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent' },
    encoding: 'utf8',
    timeout: 30_000,
  });
}

/** Creates a table that the first migration also creates, so that it fails. */
async function sabotage(database: TestDatabase): Promise<void> {
  if (database.url.startsWith('sqlite:')) {
    const db = new BetterSqlite3(database.url.slice('sqlite:'.length));
    db.exec('CREATE TABLE contacts (x TEXT)');
    db.close();
    return;
  }
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  await client.query('CREATE TABLE contacts (x TEXT)');
  await client.end();
}

describe.each(testDialects)('backchat migrate on %s', (dialect) => {
  it('applies the migrations once, then reports nothing to do', async () => {
    const database = await createTestDatabase(dialect);
    try {
      const first = run('src/cli/backchat.ts', ['migrate'], database.url);
      expect(first.stderr).toBe('');
      expect(first.status).toBe(0);
      expect(first.stdout).toContain('Applied: 0001-initial');
      const second = run('src/cli/backchat.ts', ['migrate'], database.url);
      expect(second.status).toBe(0);
      expect(second.stdout).toContain('Nothing to migrate');
    } finally {
      await database.drop();
    }
  });

  it('exits non-zero when a migration fails, from the CLI and at start-up', async () => {
    const database = await createTestDatabase(dialect);
    try {
      await sabotage(database);
      const cli = run('src/cli/backchat.ts', ['migrate'], database.url);
      expect(cli.status).toBe(1);
      expect(cli.stderr).toMatch(/Migration "0001-initial" failed/);
      const server = run('src/main.ts', [], database.url);
      expect(server.status).toBe(1);
      expect(server.stderr).toMatch(/failed to start.*0001-initial/s);
    } finally {
      await database.drop();
    }
  });

  // A store that cannot be reached is no bug: one line, as `migrate` gives, and no stack.
  it('says in one line, without a stack or the password, when the store cannot be opened', () => {
    const unreachable = dialect === 'postgres' ? 'postgres://someone:sekrit@127.0.0.1:1/nowhere' : 'sqlite:/etc/hostname/backchat.db';
    for (const args of [['migrate'], ['users', 'list'], ['events', 'list']]) {
      const result = run('src/cli/backchat.ts', args, unreachable);
      expect(result.status, args.join(' ')).toBe(1);
      // A SQLite file that is not there is not created by any command but `migrate`.
      const missing = dialect === 'sqlite' && args[0] !== 'migrate';
      expect(result.stderr, args.join(' ')).toMatch(missing ? /^There is no database at \/etc\/hostname\/backchat\.db \(DATABASE_URL\)/ : /^Could not (open|migrate) the database: .+\n$/);
      expect(result.stderr).not.toContain('sekrit');
    }
  });

  // A newer CLI's `events list` migrated production under instances that then could no longer
  // restart; run from another directory, `users create` made a new empty store and said it had
  // created the user (a review's find). Only `migrate` changes the schema.
  it('changes no schema but with migrate: another command refuses a store not migrated, and usage is said before opening one', async () => {
    const database = await createTestDatabase(dialect);
    try {
      for (const args of [['events', 'list'], ['users', 'list']]) {
        const refused = run('src/cli/backchat.ts', args, database.url);
        expect([refused.status, refused.stderr], args.join(' ')).toEqual([1, expect.stringMatching(/^(The database is not migrated \(0001-initial, .+ pending\)|There is no database at .+): .*first\.\n$/)]);
      }
      expect(run('src/cli/backchat.ts', ['users'], database.url).status).toBe(1);
      expect(run('src/cli/backchat.ts', ['migrate'], database.url).stdout).toContain('Applied: 0001-initial');
      expect(run('src/cli/backchat.ts', ['users', 'list'], database.url)).toMatchObject({ status: 0, stderr: '' });
    } finally {
      await database.drop();
    }
  });

  it('refuses an invalid configuration with every problem listed', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: root,
      env: { ...process.env, PORT: 'x', LOG_LEVEL: 'loud', DATABASE_URL: 'mysql://nope' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/PORT/);
    expect(result.stderr).toMatch(/LOG_LEVEL/);
    expect(result.stderr).toMatch(/DATABASE_URL/);
  });
});

describe.each(testDialects)('backchat events on %s', (dialect) => {
  it('lists, replays and purges the webhook log from the command line', async () => {
    const t = await createTestApp(dialect);
    const message = (id: string) => ({ event: 'message', data: { id, chatId: 'cli_chat', text: 'hi', type: 'text', from: '+7 777 123 45 67', timestamp: 1640995200 } });
    const events = (...args: string[]) => run('src/cli/backchat.ts', ['events', ...args], t.databaseUrl);
    try {
      expect((await t.postWebhook(message('cli_ok'))).statusCode).toBe(200);
      expect((await t.postWebhook('{broken')).statusCode).toBe(400);
      await poisonMessages(t.deps.database.db, dialect);
      expect((await t.postWebhook(message('poison_cli'))).statusCode).toBe(500);

      const list = events('list');
      expect(list.status).toBe(0);
      const lines = list.stdout.trim().split('\n');
      expect(lines).toHaveLength(3);
      expect(lines[0]).toMatch(/500\s+failed\s+message\s+poison_cli/);
      expect(lines[2]).toMatch(/200\s+accepted\s+message\s+cli_ok/);

      const invalid = JSON.parse(events('list', '--outcome', 'invalid', '--json').stdout);
      expect(invalid).toHaveLength(1);
      expect(invalid[0]).toMatchObject({ outcome: 'invalid', httpStatus: 400 });

      const stillBroken = events('replay', '--failed');
      expect(stillBroken.status).toBe(1);
      expect(stillBroken.stdout).toMatch(/failed \(poisoned message/);

      await curePoison(t.deps.database.db, dialect);
      const failedId = JSON.parse(events('list', '--outcome', 'failed', '--json').stdout)[0].id as string;
      const acceptedId = JSON.parse(events('list', '--outcome', 'accepted', '--json').stdout)[0].id as string;
      // Every id named is replayed (the accepted one again: a duplicate, which changes nothing).
      const replay = events('replay', failedId, acceptedId);
      expect(replay.stderr).toBe('');
      expect(replay.status).toBe(0);
      expect(replay.stdout).toMatch(new RegExp(`^${failedId} replayed as \\S+: accepted$`, 'm'));
      expect(replay.stdout).toMatch(new RegExp(`^${acceptedId} replayed as \\S+: duplicate$`, 'm'));
      expect(replay.stdout).toMatch(/^2 replayed, 0 still failing$/m);
      expect(events('replay', '--failed', failedId).stderr).toMatch(/not both/);
      expect(await t.deps.database.db.selectFrom('messages').select('id').where('external_id', '=', 'poison_cli').execute()).toHaveLength(1);

      const purge = events('purge');
      expect(purge.status).toBe(0);
      expect(purge.stdout).toMatch(/Deleted 0 entries older than 30 days/);

      expect(events('explode').status).toBe(1);
      expect(events('list', '--no-such-flag').status).toBe(1);
      expect(events('replay', 'no-such-id').stderr).toMatch(/^no-such-id not replayed: no webhook event has this id$/m);
      // An entry that kept no body: one line and exit 1, as the API's 409, not a stack trace; and
      // the ids around it are replayed all the same.
      const invalidId = invalid[0].id as string;
      const mixed = events('replay', acceptedId, invalidId, 'no-such-id', acceptedId);
      expect(mixed.status).toBe(1);
      expect(mixed.stderr.trim().split('\n')).toEqual([
        `${invalidId} not replayed: This webhook event has no stored body to replay (accepted events keep theirs for WEBHOOK_LOG_BODY_RETENTION_DAYS, failed and partial ones until they expire)`,
        'no-such-id not replayed: no webhook event has this id',
        'Some replays did not succeed.',
      ]);
      expect(mixed.stdout.match(new RegExp(`^${acceptedId} replayed as \\S+: duplicate$`, 'gm'))).toHaveLength(2);
      expect(mixed.stdout).toMatch(/^2 replayed, 0 still failing, 2 not replayed$/m);
    } finally {
      await t.close();
    }
  });
});

describe.each(testDialects)('backchat users and tokens on %s', (dialect) => {
  it('creates an admin from the command line, lists users, and prints a working API token once', async () => {
    const t = await createTestApp(dialect);
    const cliRun = (args: string[], extraEnv: Record<string, string> = {}, input?: string) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/backchat.ts', ...args], {
        cwd: root,
        env: { ...process.env, DATABASE_URL: t.databaseUrl, ...extraEnv },
        encoding: 'utf8',
        timeout: 30_000,
        ...(input !== undefined && { input }),
      });
    try {
      const created = cliRun(['users', 'create', '--email', 'Boss@Example.com', '--name', 'Boss', '--role', 'admin'], { BACKCHAT_PASSWORD: 'correct horse battery' });
      expect(created.stderr).toBe('');
      expect(created.status).toBe(0);
      expect(created.stdout).toMatch(/Created admin boss@example\.com/);
      // Without BACKCHAT_PASSWORD and without a terminal, the password is read from stdin.
      const piped = cliRun(['users', 'create', '--email', 'op@example.com', '--name', 'Op'], {}, 'another good password\n');
      expect(piped.status).toBe(0);
      const short = cliRun(['users', 'create', '--email', 'x@example.com', '--name', 'X'], { BACKCHAT_PASSWORD: 'short' });
      expect(short.status).toBe(1);
      expect(short.stderr).toMatch(/at least 10 characters/);
      // The API's limits hold here too: an admin whose password login refuses could never sign in.
      const long = cliRun(['users', 'create', '--email', 'long@example.com', '--name', 'Long', '--role', 'admin'], { BACKCHAT_PASSWORD: 'p'.repeat(1100) });
      expect([long.status, long.stderr]).toEqual([1, 'The password must be at most 1024 characters.\n']);
      const malformed = cliRun(['users', 'create', '--email', 'a b@example.com', '--name', 'n'.repeat(300), '--no-password']);
      expect(malformed.status).toBe(1);
      expect(malformed.stderr).toBe('The email must be an address such as name@example.com.\nThe name must be at most 200 characters.\n');
      const duplicate = cliRun(['users', 'create', '--email', 'boss@example.com', '--name', 'Again'], { BACKCHAT_PASSWORD: 'correct horse battery' });
      expect(duplicate.status).toBe(1);
      expect(duplicate.stderr).toMatch(/exists/);

      const list = cliRun(['users', 'list']);
      expect(list.stdout).toMatch(/boss@example\.com\s+admin/);
      expect(list.stdout).toMatch(/op@example\.com\s+operator/);

      const login = await t.app.inject({ method: 'POST', url: '/api/auth/login', payload: { email: 'op@example.com', password: 'another good password' } });
      expect(login.statusCode).toBe(200);

      const token = cliRun(['tokens', 'create', '--email', 'boss@example.com', '--name', 'crm-sync']);
      expect(token.status).toBe(0);
      const value = token.stdout.trim();
      expect(value).toMatch(/^bc_[A-Za-z0-9_-]{43}$/);
      expect(token.stderr).toMatch(/shown once/);
      const me = await t.app.inject({ method: 'GET', url: '/api/me', headers: { authorization: `Bearer ${value}` } });
      expect(me.json()).toMatchObject({ email: 'boss@example.com', role: 'admin' });
      const stored = await t.deps.database.db.selectFrom('auth_tokens').select('token_hash').execute();
      expect(JSON.stringify(stored)).not.toContain(value);
    } finally {
      await t.close();
    }
  });
});
