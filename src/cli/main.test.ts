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

  it('refuses an unknown command, help or not', async () => {
    const result = await cli(['migrat', '--help']);
    expect(result).toMatchObject({ code: 1, out: '' });
    expect(result.err).toContain('Unknown command "migrat"');
  });
});
