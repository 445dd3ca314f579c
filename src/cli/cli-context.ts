/** What every CLI command gets: where to write, and the configuration (or the reason it is invalid). */
import { existsSync } from 'node:fs';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { openDatabase } from '../storage/database.js';
import { MigrationError, pendingMigrations } from '../storage/migrations/index.js';

export interface CliIo {
  out: NodeJS.WritableStream;
  err: NodeJS.WritableStream;
}

/** Thrown by a command to stop with a message and exit code 1. */
export class CliError extends Error {}

export function cliConfig(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) throw new CliError(error.message);
    throw error;
  }
}

/**
 * Runs what opens the store (and migrates it). A database that is down, refuses the password or
 * cannot be created, or a migration that fails, is the operator's to fix: it ends the command
 * with one line, where an uncaught error would print a stack. A bug (a TypeError, say) keeps its
 * stack.
 */
export async function openingStore<T>(open: () => T | Promise<T>): Promise<T> {
  try {
    return await open();
  } catch (error) {
    if (error instanceof MigrationError) throw new CliError(error.message);
    if (error instanceof CliError || !(error instanceof Error) || PROGRAMMING_ERRORS.some((kind) => error instanceof kind)) throw error;
    throw new CliError(`Could not open the database: ${error.message}`);
  }
}

const PROGRAMMING_ERRORS = [TypeError, ReferenceError, RangeError, SyntaxError];

/**
 * Refuses to work on a store that is not there or not migrated. Only `migrate` changes the schema:
 * a newer CLI's `events list` migrated production under instances that could then no longer
 * restart, and a command run from another directory created an empty `./data/backchat.db` and
 * reported success into it (a review's find).
 */
export async function requireMigratedStore(config: Config): Promise<void> {
  const file = config.databaseUrl.startsWith('sqlite:') && config.databaseUrl !== 'sqlite::memory:' ? config.databaseUrl.slice('sqlite:'.length) : null;
  if (file !== null && !existsSync(file)) {
    throw new CliError(`There is no database at ${file} (DATABASE_URL): start backchat there, or run \`backchat migrate\`, first.`);
  }
  const database = await openingStore(() => openDatabase(config.databaseUrl));
  try {
    const pending = await openingStore(() => pendingMigrations(database.db));
    if (pending.length > 0) throw new CliError(`The database is not migrated (${pending.join(', ')} pending): run \`backchat migrate\` first.`);
  } finally {
    await database.close();
  }
}
