/**
 * Slows password guessing: after too many failed logins from one address or for one account
 * within a window, further attempts are refused (429) until the window passes. Counted in the
 * database, so that several instances on one PostgreSQL share one count per account and address.
 *
 * An attempt is counted before its password is checked, and taken back when the password was
 * right: a check made before counting would let a burst of parallel guesses all pass it.
 */
import type { Executor } from '../../storage/executor.js';
import { clientAddress } from '../client-address.js';
import { clearLoginFailures, countLoginAttempt, deleteEndedLoginFailures, uncountLoginAttempt } from './login-failures.repository.js';

/** What an attempt is counted against. */
export interface LoginKeys {
  account: string;
  address: string;
}

/** Whether an attempt may go on to have its password checked. */
export type Admission =
  /** Counted; `addressWindowStartedAt` says which window of the address it was counted in. */
  | { admitted: true; addressWindowStartedAt: number }
  /** Refused, and counted against nothing: retry after that many seconds. */
  | { admitted: false; retryAfterSeconds: number };

export interface LoginThrottle {
  /**
   * Counts an attempt against its address, then its account. When either is then over the limit
   * the attempt is refused and not counted at all (a refused attempt checks no password, so it
   * is no failure, and must not lock the address for the others behind it).
   */
  admit(keys: LoginKeys, now: number): Promise<Admission>;
  /** The password was right: the account's failures are forgotten, and the attempt is taken back from the address. */
  succeeded(keys: LoginKeys, addressWindowStartedAt: number): Promise<void>;
}

/** The keys of an attempt: the account, and the client's address (an IPv6 client's /64: client-address.ts). */
export function loginKeys(normalizedEmail: string, clientIp: string): LoginKeys {
  return { account: `account:${normalizedEmail}`, address: `address:${clientAddress(clientIp)}` };
}

export function createLoginThrottle(db: Executor, options: { maxFailures: number; windowMs: number }): LoginThrottle {
  // Never more than one window, even when the instance that opened it has a clock ahead of ours.
  const secondsLeft = (windowStartedAt: number, now: number) =>
    Math.max(1, Math.min(Math.ceil(options.windowMs / 1000), Math.ceil((windowStartedAt + options.windowMs - now) / 1000)));
  return {
    async admit(keys, now) {
      // One transaction, the address first: every attempt (and every take-back) locks its rows
      // in the same order, so that instances never deadlock on them.
      try {
        return await db.transaction().execute(async (trx) => {
          const address = await countLoginAttempt(trx, keys.address, now, now - options.windowMs);
          const account = await countLoginAttempt(trx, keys.account, now, now - options.windowMs);
          for (const counted of [address, account]) {
            if (counted.failures > options.maxFailures) throw new Refused(secondsLeft(counted.windowStartedAt, now));
          }
          return { admitted: true, addressWindowStartedAt: address.windowStartedAt } as const;
        });
      } catch (error) {
        if (error instanceof Refused) return { admitted: false, retryAfterSeconds: error.retryAfterSeconds };
        throw error;
      }
    },
    succeeded(keys, addressWindowStartedAt) {
      return db.transaction().execute(async (trx) => {
        await uncountLoginAttempt(trx, keys.address, addressWindowStartedAt);
        await clearLoginFailures(trx, keys.account);
      });
    },
  };
}

/** Thrown inside the counting transaction to roll a refused attempt's counts back. */
class Refused extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super('login attempt refused');
  }
}

/**
 * Deletes counts whose window has ended (run now and then: until then they only take room, since
 * a count whose window has ended starts again at the next attempt); returns how many. Addresses
 * first, then accounts, each in a statement of its own: the order in which logins lock them, so
 * that a purge and a login never wait for each other in a circle.
 */
export async function purgeEndedLoginFailures(db: Executor, now: number, windowMs: number): Promise<number> {
  const addresses = await deleteEndedLoginFailures(db, 'address:', now - windowMs);
  return addresses + (await deleteEndedLoginFailures(db, 'account:', now - windowMs));
}
