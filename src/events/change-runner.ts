/**
 * How every change that announces domain events is committed: the change and its events go into
 * the outbox in one group-committed transaction, and the events are published on the bus only
 * after that transaction is on disk, so that nobody ever hears of a change a rollback removed.
 */
import type { DomainEvent } from '../domain/domain-events.js';
import type { Executor } from '../storage/executor.js';
import type { GroupCommitter } from '../storage/group-commit.js';
import type { Database } from '../storage/schema.js';
import type { EventBus } from './in-process-bus.js';
import { appendToOutboxAtCommit } from './outbox.js';

/** A unit of work that says what it changed and which events announce it. */
export type Change<T> = (trx: Executor) => Promise<{ result: T; events: DomainEvent[] }>;

/** Commits `change` (with its events) and publishes them; resolves to the change's result. */
export type CommitChange = <T>(change: Change<T>) => Promise<T>;

export function createChangeRunner(deps: {
  committer: GroupCommitter<Database>;
  bus: EventBus;
  now: () => number;
}): CommitChange {
  return async (change) => {
    const { result, published } = await deps.committer.run(async (trx) => {
      const { result, events } = await change(trx);
      // Settles when the batch's events are written, after this unit: not awaited here.
      return { result, published: appendToOutboxAtCommit(trx, events, deps.now()) };
    });
    for (const event of await published) deps.bus.publish(event);
    return result;
  };
}
