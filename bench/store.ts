/**
 * A throwaway store for one benchmark run: a fresh SQLite file under ./data/ (on the real disk,
 * because fsync cost is what synchronous=FULL pays for; /tmp may be tmpfs) or a freshly created,
 * uniquely named PostgreSQL database. Both are removed afterwards.
 */
import { removeSqliteFiles } from './floor-lifecycle.js';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';

export interface StoredCounts {
  messages: number;
  /** External ids of the stored messages. */
  messageIds: Set<string>;
  statuses: number;
  contacts: number;
  chats: number;
  webhookEvents: number;
}

/** Where backchat keeps its data during the run. */
export type StoreSpec =
  | { kind: 'sqlite' }
  /** No disk at all: shows what durability costs. Nothing can be checked afterwards. */
  | { kind: 'sqlite-memory' }
  /** `adminUrl` names a server and a database to connect to while creating the run's own. */
  | { kind: 'postgres'; adminUrl: string };

export interface BenchStore {
  readonly dialect: 'sqlite' | 'postgres';
  /** DATABASE_URL for backchat. */
  readonly url: string;
  /** Human-readable location, for the report. */
  readonly description: string;
  /** PostgreSQL database name: its backends show it in their command line. */
  readonly databaseName?: string;
  /** Reads what the run left behind; call after the server has stopped. Undefined: nothing left. */
  read(): Promise<StoredCounts | undefined>;
  /** Deletes the file or drops the database. */
  remove(): Promise<void>;
}

const QUERIES = {
  messageIds: 'select external_id from messages',
  statuses: 'select count(*) as n from message_statuses',
  contacts: 'select count(*) as n from contacts',
  chats: 'select count(*) as n from chats',
  webhookEvents: 'select count(*) as n from webhook_events',
};

export async function createStore(root: string, tag: string, spec: StoreSpec): Promise<BenchStore> {
  switch (spec.kind) {
    case 'sqlite':
      return createSqliteStore(root, tag);
    case 'sqlite-memory':
      return {
        dialect: 'sqlite',
        url: 'sqlite::memory:',
        description: 'SQLite in memory (no disk, no durability: for comparison only)',
        read: async () => undefined,
        remove: async () => undefined,
      };
    case 'postgres':
      return createPostgresStore(spec.adminUrl, tag);
  }
}

function createSqliteStore(root: string, tag: string): BenchStore {
  const relative = `./data/bench-${tag}.db`;
  const file = join(root, relative);
  return {
    dialect: 'sqlite',
    url: `sqlite:${relative}`,
    description: `SQLite file ${relative} (WAL, synchronous=FULL)`,
    async read() {
      const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
      try {
        const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
        const ids = db.prepare(QUERIES.messageIds).pluck().all() as string[];
        return {
          messages: ids.length,
          messageIds: new Set(ids),
          statuses: count(QUERIES.statuses),
          contacts: count(QUERIES.contacts),
          chats: count(QUERIES.chats),
          webhookEvents: count(QUERIES.webhookEvents),
        };
      } finally {
        db.close();
      }
    },
    async remove() {
      removeSqliteFiles(file);
    },
  };
}

async function createPostgresStore(adminUrl: string, tag: string): Promise<BenchStore> {
  // Lower case and [a-z0-9_] only, so the name needs no quoting anywhere.
  const name = `backchat_bench_${tag}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  const admin = async <T>(fn: (client: pg.Client) => Promise<T>): Promise<T> => {
    const client = new pg.Client({ connectionString: adminUrl });
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end();
    }
  };
  await admin((client) => client.query(`create database ${name}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const redacted = new URL(url);
  redacted.password = redacted.password ? '***' : '';
  return {
    dialect: 'postgres',
    url: url.toString(),
    databaseName: name,
    description: `PostgreSQL database ${redacted.toString()}`,
    async read() {
      const client = new pg.Client({ connectionString: url.toString() });
      await client.connect();
      try {
        const count = async (sql: string) => Number((await client.query<{ n: string }>(sql)).rows[0]!.n);
        const ids = (await client.query<{ external_id: string }>(QUERIES.messageIds)).rows.map((r) => r.external_id);
        return {
          messages: ids.length,
          messageIds: new Set(ids),
          statuses: await count(QUERIES.statuses),
          contacts: await count(QUERIES.contacts),
          chats: await count(QUERIES.chats),
          webhookEvents: await count(QUERIES.webhookEvents),
        };
      } finally {
        await client.end();
      }
    },
    async remove() {
      // FORCE (PostgreSQL 13+) ends any connection a killed server left behind.
      await admin((client) => client.query(`drop database if exists ${name} with (force)`));
    },
  };
}
