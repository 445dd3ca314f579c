import { openDatabase } from '../storage/database.js';
import { migrateToLatest } from '../storage/migrations/index.js';
import { cliConfig, openingStore, type CliIo } from './cli-context.js';

/** `backchat migrate`: applies pending migrations; a failure exits non-zero. */
export async function migrateCommand(io: CliIo): Promise<void> {
  const database = await openingStore(() => openDatabase(cliConfig().databaseUrl));
  try {
    const result = await openingStore(() => migrateToLatest(database.db));
    const applied = result.results?.filter((r) => r.status === 'Success').map((r) => r.migrationName) ?? [];
    io.out.write(applied.length ? `Applied: ${applied.join(', ')}\n` : 'Nothing to migrate: the schema is up to date.\n');
  } finally {
    await database.close();
  }
}
