/**
 * Large deletions and updates a bounded number of rows at a time. On SQLite a statement runs on
 * the event loop: deleting 300,000 expired rows in one went 0.8 s without serving a request. In
 * chunks, each its own short statement, the webhooks' transactions take turns with them.
 */

/** Rows per statement: a few milliseconds of SQLite's time. */
export const CHUNK_ROWS = 2000;

/** Resolves after the event loop has served what was waiting (I/O, timers): between two statements of a long job. */
export const turnOfEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** How a chunked job runs: rows per statement (CHUNK_ROWS), and a signal that stops it between chunks (a shutdown). */
export interface ChunkOptions {
  rows?: number;
  signal?: AbortSignal;
}

/**
 * Runs `step` (which affects at most `rows` rows and says how many it did) until it affects
 * fewer or `signal` aborts, yielding to the event loop between runs; resolves to the total.
 */
export async function inChunks(step: (chunkRows: number) => Promise<number>, { rows = CHUNK_ROWS, signal }: ChunkOptions = {}): Promise<number> {
  let total = 0;
  for (;;) {
    const affected = await step(rows);
    total += affected;
    if (affected < rows) return total;
    await turnOfEventLoop();
    if (signal?.aborted) return total;
  }
}
