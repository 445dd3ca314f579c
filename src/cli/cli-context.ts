/** What every CLI command gets: where to write, and the configuration (or the reason it is invalid). */
import { ConfigError, loadConfig, type Config } from '../config.js';
import { MigrationError } from '../storage/migrations/index.js';

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
