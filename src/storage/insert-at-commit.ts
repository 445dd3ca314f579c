/**
 * Rows that the units of one group-committed transaction insert into the same table (each
 * request's webhook-log entry, its outbox events) are written together just before the
 * transaction commits: a few multi-row statements per batch instead of one statement per unit.
 * On PostgreSQL every statement is a round trip, and round trips in turn are what bound its
 * throughput; on SQLite it saves the fixed cost of each statement.
 *
 * Rows are written in the order they were added, so that numbers a table assigns (the outbox's
 * sequence) follow the order of the units. Nothing in the transaction sees them before the end,
 * so only rows that no later unit reads belong here.
 */
import type { Executor } from './executor.js';

/** How one table's rows are written: returns one result per row, in the rows' order. */
export interface RowsWriter<Row, Result> {
  write(trx: Executor, rows: Row[]): Promise<Result[]>;
}

interface Waiting {
  rows: unknown[];
  settlers: { resolve: (result: unknown) => void; reject: (error: unknown) => void }[];
}

/** The transactions the group committer has opened, with the rows waiting in each. */
const openTransactions = new WeakMap<object, Map<RowsWriter<unknown, unknown>, Waiting>>();

/** Most rows in one statement: one statement per 256 rows, and one for the rest. */
const MAX_ROWS_PER_STATEMENT = 256;

/** The group committer calls this when a transaction begins (it is generic over the schema). */
export function openInsertsAtCommit(trx: object): void {
  openTransactions.set(trx, new Map());
}

/**
 * Adds `row` to the rows `writer` writes when `trx` is about to commit; resolves to its result
 * then. Do not await it inside the transaction's own unit of work: it settles only after every
 * unit of the batch has run. A promise derived from it and handed out of the unit (by `then`,
 * `Promise.all`, an async function) needs a rejection handler of its own: when the transaction
 * fails, nobody may be left to await it.
 */
export function insertAtCommit<Row, Result>(trx: Executor, writer: RowsWriter<Row, Result>, row: Row): Promise<Result> {
  const waitingByWriter = openTransactions.get(trx);
  if (!waitingByWriter) throw new Error('insertAtCommit needs a transaction opened by the group committer');
  let waiting = waitingByWriter.get(writer as RowsWriter<unknown, unknown>);
  if (!waiting) {
    waiting = { rows: [], settlers: [] };
    waitingByWriter.set(writer as RowsWriter<unknown, unknown>, waiting);
  }
  const { rows, settlers } = waiting;
  const result = new Promise<Result>((resolve, reject) => {
    rows.push(row);
    settlers.push({ resolve: resolve as (result: unknown) => void, reject });
  });
  // When the transaction fails, the group committer runs its units again in new transactions and
  // answers from those; nobody waits for this promise any more.
  result.catch(() => undefined);
  return result;
}

/** The group committer calls this after the last unit of `trx` and before it commits. */
export async function writeInsertsAtCommit(trx: object): Promise<void> {
  const waitingByWriter = openTransactions.get(trx);
  openTransactions.delete(trx);
  if (!waitingByWriter) return;
  try {
    for (const [writer, { rows, settlers }] of waitingByWriter) {
      for (let written = 0; written < rows.length; written += MAX_ROWS_PER_STATEMENT) {
        const chunk = rows.slice(written, written + MAX_ROWS_PER_STATEMENT);
        // Rows were only added through insertAtCommit, which takes the application's Executor.
        const results = await writer.write(trx as Executor, chunk);
        if (results.length !== chunk.length) throw new Error(`A rows writer returned ${results.length} results for ${chunk.length} rows`);
        results.forEach((result, i) => settlers[written + i]!.resolve(result));
      }
    }
  } catch (error) {
    // Every waiting unit learns of it (the transaction fails); settled ones ignore it.
    for (const { settlers } of waitingByWriter.values()) for (const settler of settlers) settler.reject(error);
    throw error;
  }
}
