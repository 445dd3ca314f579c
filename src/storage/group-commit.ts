/**
 * Group commit: units of work submitted while a transaction is being written wait and are
 * committed together in the next one, so that one disk flush serves many requests. Each caller's
 * promise settles only when its own unit is committed (or has definitely failed).
 *
 * A unit of work must touch nothing but the transaction it is given: it may run twice, because
 * when a batch fails, the batch is rolled back and every unit is retried alone, so that one bad
 * event fails only its own request. Rows a unit adds with `insertAtCommit` are written after the
 * batch's last unit, before the commit.
 *
 * A batch whose transaction could not even begin on a connection that was lost (a pooled
 * PostgreSQL connection that died in a failover, say) is tried once more as a whole, on another
 * connection: nothing in it has run. A batch that could not begin otherwise (no connection to be
 * had in time), or began but failed in `onBegin` (the writers' lock not granted in time), fails
 * every unit at once: retrying would only make each wait as long again.
 */
import type { Kysely, Transaction } from 'kysely';
import { openInsertsAtCommit, writeInsertsAtCommit } from './insert-at-commit.js';

export type UnitOfWork<DB, T> = (trx: Transaction<DB>) => Promise<T>;

/** Statistics of one committed batch, for metrics. */
export interface BatchStats {
  readonly size: number;
  readonly durationMs: number;
  /** Units that failed: alone after a retry, or all of a batch that could not start. */
  readonly failedUnits: number;
}

export interface GroupCommitter<DB> {
  /** Runs `work` in a shared transaction; resolves after that transaction has committed. */
  run<T>(work: UnitOfWork<DB, T>): Promise<T>;
  /** Resolves when nothing is queued or being written. */
  drain(): Promise<void>;
}

interface Pending<DB> {
  work: UnitOfWork<DB, unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export interface GroupCommitOptions<DB> {
  /** Most units in one transaction; a long transaction delays every caller in it. */
  readonly maxBatchSize: number;
  /** Runs first in every transaction (PostgreSQL: the lock that orders writers across instances). */
  readonly onBegin?: (trx: Transaction<DB>) => Promise<void>;
  /** Runs last in every transaction, before its commit (PostgreSQL: one NOTIFY for the whole batch). */
  readonly onEnd?: (trx: Transaction<DB>) => Promise<void>;
  readonly onBatch?: (stats: BatchStats) => void;
  /** Whether a transaction that could not begin for this error may begin on another connection. */
  readonly lostConnection?: (error: unknown) => boolean;
}

/** Creates a committer over `db`; one batch is written at a time. */
export function createGroupCommitter<DB>(db: Kysely<DB>, options: GroupCommitOptions<DB>): GroupCommitter<DB> {
  const queue: Pending<DB>[] = [];
  let writing: Promise<void> | undefined;
  /** `reached` learns how far the transaction got, so that a failure can be told apart. */
  const transaction = <T>(work: (trx: Transaction<DB>) => Promise<T>, reached?: (stage: 'begun' | 'units') => void) =>
    db.transaction().execute(async (trx) => {
      reached?.('begun');
      openInsertsAtCommit(trx);
      await options.onBegin?.(trx);
      reached?.('units');
      const result = await work(trx);
      await writeInsertsAtCommit(trx);
      await options.onEnd?.(trx);
      return result;
    });

  const writeBatch = async (batch: Pending<DB>[]): Promise<void> => {
    const started = performance.now();
    let failedUnits = 0;
    const progress: { stage: 'not begun' | 'begun' | 'units' } = { stage: 'not begun' };
    const runAll = () =>
      transaction(
        async (trx) => {
          const out: unknown[] = [];
          for (const unit of batch) out.push(await unit.work(trx));
          return out;
        },
        (reached) => (progress.stage = reached),
      );
    try {
      let results: unknown[];
      try {
        results = await runAll();
      } catch (error) {
        if (progress.stage !== 'not begun' || !options.lostConnection?.(error)) throw error;
        results = await runAll();
      }
      batch.forEach((unit, i) => unit.resolve(results[i]));
    } catch (batchError) {
      if (batch.length === 1 || progress.stage !== 'units') {
        for (const unit of batch) unit.reject(batchError);
        failedUnits = batch.length;
      } else {
        // Find the culprit(s) by committing each unit on its own; the others still succeed.
        for (const unit of batch) {
          try {
            unit.resolve(await transaction(unit.work));
          } catch (error) {
            failedUnits += 1;
            unit.reject(error);
          }
        }
      }
    }
    try {
      options.onBatch?.({ size: batch.length, durationMs: performance.now() - started, failedUnits });
    } catch {
      // Statistics must never stop the writer.
    }
  };

  const writeAll = async (): Promise<void> => {
    try {
      // Yield once so that every request already read from the sockets joins the first batch.
      await new Promise<void>((resolve) => setImmediate(resolve));
      while (queue.length > 0) await writeBatch(queue.splice(0, options.maxBatchSize));
    } finally {
      // Whatever happened, the next run() starts a new writer instead of waiting on this one.
      writing = undefined;
    }
  };

  return {
    run<T>(work: UnitOfWork<DB, T>): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
        writing ??= writeAll();
      });
    },
    async drain() {
      while (writing) await writing;
    },
  };
}
