import { openDatabase } from '../storage/database.js';
import { migrateToLatest } from '../storage/migrations/index.js';
import { cliConfig, CliError, type CliIo } from './cli-context.js';

/** `backchat migrate`: applies pending migrations; a failure exits non-zero. */
export async function migrateCommand(io: CliIo): Promise<void> {
  const database = openDatabase(cliConfig().databaseUrl);
  try {
    const result = await migrateToLatest(database.db);
    const applied = result.results?.filter((r) => r.status === 'Success').map((r) => r.migrationName) ?? [];
    io.out.write(applied.length ? `Applied: ${applied.join(', ')}\n` : 'Nothing to migrate: the schema is up to date.\n');
  } catch (error) {
    throw new CliError(error instanceof Error ? error.message : String(error));
  } finally {
    await database.close();
  }
}
