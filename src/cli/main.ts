/**
 * The `backchat` command. `backchat migrate` applies pending migrations and exits non-zero when
 * one fails.
 */
import { ConfigError, loadConfig } from '../config.js';
import { openDatabase } from '../storage/database.js';
import { migrateToLatest } from '../storage/migrations/index.js';

const USAGE = `Usage: backchat <command>

Commands:
  migrate    apply pending database migrations (DATABASE_URL)
`;

/** Runs one CLI invocation; returns the exit code. */
export async function runCli(argv: string[], out = process.stdout, err = process.stderr): Promise<number> {
  const [command] = argv;
  switch (command) {
    case 'migrate':
      return migrate(out, err);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      out.write(USAGE);
      return command === undefined ? 1 : 0;
    default:
      err.write(`Unknown command "${command}".\n\n${USAGE}`);
      return 1;
  }
}

async function migrate(out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      err.write(`${error.message}\n`);
      return 1;
    }
    throw error;
  }
  const database = openDatabase(config.databaseUrl);
  try {
    const result = await migrateToLatest(database.db);
    const applied = result.results?.filter((r) => r.status === 'Success').map((r) => r.migrationName) ?? [];
    out.write(applied.length ? `Applied: ${applied.join(', ')}\n` : 'Nothing to migrate: the schema is up to date.\n');
    return 0;
  } catch (error) {
    err.write(`${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  } finally {
    await database.close();
  }
}
