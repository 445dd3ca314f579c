/**
 * Queries built and compiled once, run many times with new values. Kysely builds and compiles a
 * query on every call, which costs more than SQLite takes to run the small statements of the
 * intake; the intake's hot statements are therefore compiled on first use (per dialect) and then
 * only given new parameters. The SQL still comes from the Kysely builder, in the repositories.
 *
 * How: the builder is called once with placeholder strings for the values; compiling puts them
 * in the parameter list, where they are found again and replaced on every run.
 */
import type { Compilable, CompiledQuery, QueryResult } from 'kysely';
import type { Executor } from './executor.js';

const MARK = '\u0000backchat-param:';

type Slot = { name: string } | { constant: unknown };

export interface PreparedQuery<P, R> {
  /** Runs with these values; the result rows are those the built query returns. */
  execute(db: Executor, params: P): Promise<QueryResult<R>>;
}

/**
 * `build` receives an object whose properties stand for the values given at each run; it must
 * build the same query shape whatever the values (no branching on them).
 */
export function prepareQuery<P extends object, R>(build: (db: Executor, params: P) => Compilable<R>): PreparedQuery<P, R> {
  // One compilation per adapter (dialect): SQL differs between SQLite and PostgreSQL.
  const compiled = new WeakMap<object, { query: CompiledQuery<R>; slots: Slot[] }>();
  const placeholders = new Proxy({}, { get: (_target, name) => `${MARK}${String(name)}` }) as P;

  return {
    execute(db, params) {
      const adapter = db.getExecutor().adapter;
      let entry = compiled.get(adapter);
      if (!entry) {
        const query = build(db, placeholders).compile();
        const slots = query.parameters.map((value): Slot =>
          typeof value === 'string' && value.startsWith(MARK) ? { name: value.slice(MARK.length) } : { constant: value },
        );
        entry = { query, slots };
        compiled.set(adapter, entry);
      }
      const values = params as Record<string, unknown>;
      const parameters = entry.slots.map((slot) => ('name' in slot ? values[slot.name] : slot.constant));
      // Inside a transaction its connection is ours alone; a synchronous driver can then skip
      // Kysely's connection handling and promises, which cost more than a small statement takes.
      const runSynchronously = db.isTransaction ? synchronousRunners.get(adapter) : undefined;
      if (runSynchronously) {
        try {
          return Promise.resolve(runSynchronously(entry.query.sql, parameters) as QueryResult<R>);
        } catch (error) {
          return Promise.reject(error);
        }
      }
      return db.executeQuery<R>({ ...entry.query, parameters });
    },
  };
}

/** Runs SQL on the connection of the dialect that registered it, synchronously, as its driver would. */
export type SynchronousRunner = (sql: string, parameters: readonly unknown[]) => QueryResult<unknown>;

const synchronousRunners = new WeakMap<object, SynchronousRunner>();

/** For a dialect whose driver is synchronous (better-sqlite3): its adapter and how to run a query directly. */
export function registerSynchronousRunner(adapter: object, runner: SynchronousRunner): void {
  synchronousRunners.set(adapter, runner);
}

/** The placeholder object's values for `columns`, as a row for `.values()` (it has no keys of its own). */
export function row<T extends object, K extends keyof T>(params: T, columns: readonly K[]): Pick<T, K> {
  return Object.fromEntries(columns.map((column) => [column, params[column]])) as Pick<T, K>;
}
