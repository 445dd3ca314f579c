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

/** Where a compiled parameter's value comes from on each run. */
type Slot<K> = { key: K } | { constant: unknown };

interface Compiled<R, K> {
  query: CompiledQuery<R>;
  slots: Slot<K>[];
}

/**
 * Compiles `build` once per adapter (dialect: SQL differs between SQLite and PostgreSQL). The
 * placeholder strings it put in the query (`placeholder(name)`) become slots keyed by `keyOf(name)`.
 */
function compileOnce<R, K>(
  build: (db: Executor) => Compilable<R>,
  keyOf: (name: string) => K,
  keepParsed: boolean,
): (db: Executor) => Compiled<R, K> {
  const compiled = new WeakMap<object, Compiled<R, K>>();
  return (db) => {
    const adapter = db.getExecutor().adapter;
    let entry = compiled.get(adapter);
    if (!entry) {
      const query = build(db).compile();
      const slots = query.parameters.map((value): Slot<K> =>
        typeof value === 'string' && value.startsWith(MARK) ? { key: keyOf(value.slice(MARK.length)) } : { constant: value },
      );
      entry = { query, slots };
      compiled.set(adapter, entry);
      if (keepParsed && !compiledOnceIds.has(query.sql)) compiledOnceIds.set(query.sql, compiledOnceIds.size + 1);
    }
    return entry;
  };
}

const placeholder = (name: string) => `${MARK}${name}`;

/**
 * The SQL of the single-row queries compiled here, numbered in the order first compiled. Not the
 * multi-row ones: a shape per row count (up to 256 per table) kept parsed on every connection
 * would cost the server far more memory than parsing them saves.
 */
const compiledOnceIds = new Map<string, number>();

/**
 * A number for SQL that was compiled once here and will run again and again with the same shape
 * (undefined for any other query): a driver that can keep a statement parsed on the server names
 * it after this.
 */
export function compiledOnceId(sql: string): number | undefined {
  return compiledOnceIds.get(sql);
}

/** Runs a compiled query with these parameters. */
function run<R>(db: Executor, query: CompiledQuery<R>, parameters: unknown[]): Promise<QueryResult<R>> {
  // Inside a transaction its connection is ours alone; a synchronous driver can then skip
  // Kysely's connection handling and promises, which cost more than a small statement takes.
  const runSynchronously = db.isTransaction ? synchronousRunners.get(db.getExecutor().adapter) : undefined;
  if (runSynchronously) {
    try {
      return Promise.resolve(runSynchronously(query.sql, parameters) as QueryResult<R>);
    } catch (error) {
      return Promise.reject(error);
    }
  }
  return db.executeQuery<R>({ ...query, parameters });
}

export interface PreparedQuery<P, R> {
  /** Runs with these values; the result rows are those the built query returns. */
  execute(db: Executor, params: P): Promise<QueryResult<R>>;
}

/**
 * `build` receives an object whose properties stand for the values given at each run; it must
 * build the same query shape whatever the values (no branching on them).
 */
export function prepareQuery<P extends object, R>(build: (db: Executor, params: P) => Compilable<R>): PreparedQuery<P, R> {
  const placeholders = new Proxy({}, { get: (_target, name) => placeholder(String(name)) }) as P;
  const compiled = compileOnce((db) => build(db, placeholders), (name) => name, true);
  return {
    execute(db, params) {
      const { query, slots } = compiled(db);
      const values = params as Record<string, unknown>;
      return run(
        db,
        query,
        slots.map((slot) => ('key' in slot ? values[slot.key] : slot.constant)),
      );
    },
  };
}

/**
 * A query over a list of rows (a multi-row INSERT), compiled once for each number of rows it is
 * run with. `build` receives placeholder rows with the given `columns`.
 */
export function prepareRowsQuery<Row extends object, R>(
  columns: readonly (keyof Row & string)[],
  build: (db: Executor, rows: Row[]) => Compilable<R>,
): { execute(db: Executor, rows: readonly Row[]): Promise<QueryResult<R>> } {
  const byCount = new Map<number, (db: Executor) => Compiled<R, [number, keyof Row]>>();
  return {
    execute(db, rows) {
      const count = rows.length;
      let compiled = byCount.get(count);
      if (!compiled) {
        const placeholderRows = Array.from(
          { length: count },
          (_, i) => Object.fromEntries(columns.map((column) => [column, placeholder(`${i}.${column}`)])) as Row,
        );
        compiled = compileOnce(
          (builder) => build(builder, placeholderRows),
          (name): [number, keyof Row] => {
            const dot = name.indexOf('.');
            return [Number(name.slice(0, dot)), name.slice(dot + 1) as keyof Row];
          },
          false,
        );
        byCount.set(count, compiled);
      }
      const { query, slots } = compiled(db);
      return run(
        db,
        query,
        slots.map((slot) => ('key' in slot ? rows[slot.key[0]]![slot.key[1]] : slot.constant)),
      );
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
