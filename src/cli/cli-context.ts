/** What every CLI command gets: where to write, and the configuration (or the reason it is invalid). */
import { ConfigError, loadConfig, type Config } from '../config.js';

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
 * cannot be created is the operator's to fix, not a bug: it ends the command with one line, where
 * an uncaught error would print a stack.
 */
export async function openingStore<T>(open: () => T | Promise<T>): Promise<T> {
  try {
    return await open();
  } catch (error) {
    if (error instanceof CliError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new CliError(message.startsWith('Could not') ? message : `Could not open the database: ${message}`);
  }
}
