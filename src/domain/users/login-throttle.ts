/**
 * Slows password guessing: after too many failed logins for one account or from one address
 * within a window, further attempts are refused (429) until the window passes. Counted in the
 * database, so that several instances on one PostgreSQL share one count per account and address.
 */
import type { Executor } from '../../storage/executor.js';
import { clearLoginFailures, countLoginFailure, deleteEndedLoginFailures, findLoginFailures } from './login-failures.repository.js';

export interface LoginThrottle {
  /** Seconds to wait when any of `keys` is locked, else 0. */
  retryAfter(keys: string[], now: number): Promise<number>;
  recordFailure(keys: string[], now: number): Promise<void>;
  recordSuccess(keys: string[]): Promise<void>;
}

export function createLoginThrottle(db: Executor, options: { maxFailures: number; windowMs: number }): LoginThrottle {
  return {
    async retryAfter(keys, now) {
      let wait = 0;
      for (const entry of await findLoginFailures(db, keys, now - options.windowMs)) {
        if (entry.failures >= options.maxFailures) wait = Math.max(wait, Math.ceil((entry.windowStartedAt + options.windowMs - now) / 1000));
      }
      return wait;
    },
    async recordFailure(keys, now) {
      await deleteEndedLoginFailures(db, now - options.windowMs);
      await countLoginFailure(db, keys, now, now - options.windowMs);
    },
    async recordSuccess(keys) {
      await clearLoginFailures(db, keys);
    },
  };
}
