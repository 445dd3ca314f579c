import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/** What a repository function runs on: the database or a transaction (a Transaction is a Kysely). */
export type Executor = Kysely<Database>;
