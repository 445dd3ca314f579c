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
