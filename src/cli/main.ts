/**
 * The `backchat` command: one file per command, dispatched here. A command signals failure by
 * throwing CliError, or lets the domain's AppError (a 4xx on the API) through; either is one line
 * on stderr and exit code 1. Anything else is a bug, and keeps its stack.
 */
import { AppError } from '../errors.js';
import { CliError, type CliIo } from './cli-context.js';
import { eventsCommand, EVENTS_USAGE } from './events.command.js';
import { migrateCommand } from './migrate.command.js';
import { usersCommand, USERS_USAGE } from './users.command.js';
import { wazzupCommand, WAZZUP_USAGE } from './wazzup.command.js';

const USAGE = `Usage: backchat <command>

Commands:
  migrate    apply pending database migrations (DATABASE_URL)
  events     list, replay and purge the webhook log
  wazzup     point a Wazzup24 account at backchat
  users      create and list operator accounts
  tokens     create API tokens for integrations

${EVENTS_USAGE}
${WAZZUP_USAGE}
${USERS_USAGE}`;

const COMMANDS = new Set(['migrate', 'events', 'wazzup', 'users', 'tokens']);

/** Runs one CLI invocation; returns the exit code. */
export async function runCli(argv: string[], io: CliIo = { out: process.stdout, err: process.stderr }): Promise<number> {
  const [command, ...rest] = argv;
  // Asked before anything runs: `migrate --help` must not migrate. (An unknown command is an
  // error below, help or not.)
  if (COMMANDS.has(command ?? '') && (rest.includes('--help') || rest.includes('-h'))) {
    io.out.write(usageOf(command));
    return 0;
  }
  try {
    switch (command) {
      case 'migrate':
        await migrateCommand(io);
        return 0;
      case 'events':
        await eventsCommand(rest, io);
        return 0;
      case 'wazzup':
        await wazzupCommand(rest, io);
        return 0;
      case 'users':
      case 'tokens':
        await usersCommand(command, rest, io);
        return 0;
      case 'help':
      case '--help':
      case '-h':
        io.out.write(USAGE);
        return 0;
      default:
        io.err.write(command === undefined ? USAGE : `Unknown command "${command}".\n\n${USAGE}`);
        return 1;
    }
  } catch (error) {
    const usageError = (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') ?? false;
    if (error instanceof CliError || usageError) {
      io.err.write(`${(error as Error).message.trimEnd()}\n`);
      return 1;
    }
    if (error instanceof AppError) {
      io.err.write(`${error.errors ? Object.values(error.errors).flat().join('\n') : error.message}\n`);
      return 1;
    }
    throw error;
  }
}

function usageOf(command: string | undefined): string {
  switch (command) {
    case 'events':
      return EVENTS_USAGE;
    case 'wazzup':
      return WAZZUP_USAGE;
    case 'users':
    case 'tokens':
      return USERS_USAGE;
    default:
      return USAGE;
  }
}
