/**
 * Makes the database refuse messages whose id starts with "poison", the way a real fault would
 * (a constraint, a bug in a trigger), and lifts it again: what a replay test needs.
 */
import { sql } from 'kysely';
import type { Executor } from '../../src/storage/executor.js';
import type { DialectName } from '../../src/storage/database.js';

export async function poisonMessages(db: Executor, dialect: DialectName): Promise<void> {
  if (dialect === 'sqlite') {
    await sql`CREATE TRIGGER poison BEFORE INSERT ON messages WHEN NEW.external_id LIKE 'poison%'
      BEGIN SELECT RAISE(ABORT, 'poisoned message'); END`.execute(db);
    return;
  }
  await sql`CREATE FUNCTION poison() RETURNS trigger AS $$
    BEGIN IF NEW.external_id LIKE 'poison%' THEN RAISE EXCEPTION 'poisoned message'; END IF; RETURN NEW; END
    $$ LANGUAGE plpgsql`.execute(db);
  await sql`CREATE TRIGGER poison BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION poison()`.execute(db);
}

export async function curePoison(db: Executor, dialect: DialectName): Promise<void> {
  if (dialect === 'sqlite') {
    await sql`DROP TRIGGER poison`.execute(db);
    return;
  }
  await sql`DROP TRIGGER poison ON messages`.execute(db);
  await sql`DROP FUNCTION poison()`.execute(db);
}
