import { describe, expect, it } from 'vitest';
import { MigrationError } from '../storage/migrations/index.js';
import { CliError, openingStore } from './cli-context.js';

describe('openingStore', () => {
  it('ends the command with one line for a store that cannot be opened or migrated', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    await expect(openingStore(() => Promise.reject(refused))).rejects.toEqual(new CliError('Could not open the database: connect ECONNREFUSED 127.0.0.1:1'));
    const failed = new MigrationError('Migration "0007-x" failed: could not create unique index', undefined);
    await expect(openingStore(() => Promise.reject(failed))).rejects.toEqual(new CliError('Migration "0007-x" failed: could not create unique index'));
  });

  it('lets a bug through with its stack', async () => {
    const bug = new TypeError("Cannot read properties of undefined (reading 'db')");
    await expect(openingStore(() => Promise.reject(bug))).rejects.toBe(bug);
  });
});
