/**
 * Text searches (`q` on chats and contacts) read every message of the chats they look at: on
 * SQLite each window of one holds the event loop tens of milliseconds, and on PostgreSQL each
 * holds a read connection. Nothing bounded how many ran at once: one operator looping 48 in
 * parallel held webhooks for 40 s on SQLite, and took every read connection on PostgreSQL (a
 * review's find). A few run at a time, a few more wait, and each user has only a couple of them
 * in flight; the rest are refused (429) and retried.
 */
import type { FastifyReply } from 'fastify';
import pLimit from 'p-limit';
import { AppError } from '../errors.js';

/** Searches that run at once on this instance. */
export const SEARCHES_AT_ONCE = 2;
/** Searches that may wait for their turn on this instance. */
const SEARCHES_WAITING = 20;
/** Searches one user may have running or waiting: a script in a loop cannot fill the queue for everyone. */
export const SEARCHES_PER_USER = 2;
const RETRY_AFTER_SECONDS = 2;

/** Runs `search` for `user` in its turn, or refuses it (429, with Retry-After on `reply`). */
export type SearchGate = <T>(user: string, reply: FastifyReply, search: () => Promise<T>) => Promise<T>;

export function createSearchGate(): SearchGate {
  const running = pLimit(SEARCHES_AT_ONCE);
  const inFlight = new Map<string, number>();
  return async (user, reply, search) => {
    const mine = inFlight.get(user) ?? 0;
    if (mine >= SEARCHES_PER_USER || running.pendingCount >= SEARCHES_WAITING) {
      reply.header('retry-after', String(RETRY_AFTER_SECONDS));
      throw new AppError('too_many_requests', 429, `Too many searches at once; try again in ${RETRY_AFTER_SECONDS} s`);
    }
    inFlight.set(user, mine + 1);
    try {
      return await running(search);
    } finally {
      const left = inFlight.get(user)! - 1;
      if (left === 0) inFlight.delete(user);
      else inFlight.set(user, left);
    }
  };
}
