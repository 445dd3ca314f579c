import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runCli } from './main.js';

async function cli(argv: string[]) {
  const out = new PassThrough();
  const err = new PassThrough();
  const code = await runCli(argv, { out, err });
  return { code, out: out.read()?.toString() ?? '', err: err.read()?.toString() ?? '' };
}

describe('runCli', () => {
  // Before --help was looked for, `migrate --help` migrated the database DATABASE_URL names.
  it.each([
    [['migrate', '--help'], 'Usage: backchat <command>'],
    [['events', '--help'], 'backchat events list'],
    [['events', 'replay', '-h'], 'backchat events list'],
    [['tokens', 'create', '--help'], 'backchat users create'],
    [['wazzup', '--help'], 'backchat wazzup register'],
  ])('prints the usage of %j and exits 0, running nothing', async (argv, usage) => {
    const result = await cli(argv);
    expect(result).toMatchObject({ code: 0, err: '' });
    expect(result.out).toContain(usage);
  });

  // `events list failed` listed everything and `events purge --limit 5` purged by the retention:
  // what was asked was ignored (a review's find). Said before any store is opened.
  it.each([
    [['events', 'list', 'failed'], 'Unexpected argument "failed"'],
    [['events', 'purge', '--since', '2026-01-01', '--limit', '5'], 'events purge does not take --since, --limit'],
    [['events', 'list', '--failed'], 'events list does not take --failed'],
    [['events', 'replay', 'some-id', '--since', '2026-01-01'], 'events replay ID does not take --since'],
    [['events', 'list', '--limit', '5000'], '--limit must be a whole number from 1 to 1000'],
  ])('refuses %j', async (argv, message) => {
    const result = await cli(argv);
    expect(result).toMatchObject({ code: 1, out: '' });
    expect(result.err).toContain(message);
  });

  it('refuses an unknown command, help or not', async () => {
    const result = await cli(['migrat', '--help']);
    expect(result).toMatchObject({ code: 1, out: '' });
    expect(result.err).toContain('Unknown command "migrat"');
  });
});
