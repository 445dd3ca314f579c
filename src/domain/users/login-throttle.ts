/**
 * Slows password guessing: after too many failed logins from one address or for one account
 * within a window, further attempts are refused (429) until the window passes. Counted in the
 * database, so that several instances on one PostgreSQL share one count per account and address.
 *
 * An attempt is counted before its password is checked, and taken back when the password was
 * right: a check made before counting would let a burst of parallel guesses all pass it. While
 * the count is over the limit only because of attempts still being checked (a burst of right
 * passwords from one office), an attempt is refused for a second, not for the window.
 */
import type { Executor } from '../../storage/executor.js';
import { clientAddress } from '../client-address.js';
import { clearLoginFailures, countLoginAttempt, deleteEndedLoginFailures, endLoginAttempt, type LoginFailures } from './login-failures.repository.js';

/** What an attempt is counted against. */
export interface LoginKeys {
  account: string;
  address: string;
}

/** The windows an admitted attempt was counted in, to end it in the same ones. */
export interface CountedIn {
  address: number;
  account: number;
}

/** Whether an attempt may go on to have its password checked. */
export type Admission =
  /** Counted, in progress until `failed` or `succeeded` ends it. */
  | { admitted: true; countedIn: CountedIn }
  /**
   * Refused, and counted against nothing: retry after that many seconds. `inProgress`: refused
   * only because of attempts still being checked, which may yet prove good.
   */
  | { admitted: false; retryAfterSeconds: number; inProgress: boolean };

export interface LoginThrottle {
  /**
   * Counts an attempt against its address, then its account. When either is then over the limit
   * the attempt is refused and not counted at all (a refused attempt checks no password, so it
   * is no failure, and must not lock the address for the others behind it).
   */
  admit(keys: LoginKeys, now: number): Promise<Admission>;
  /** The password was wrong (or could not be checked): the attempt stays counted, no longer in progress. */
  failed(keys: LoginKeys, countedIn: CountedIn): Promise<void>;
  /** The password was right: the account's failures are forgotten, and the attempt is taken back from the address. */
  succeeded(keys: LoginKeys, countedIn: CountedIn): Promise<void>;
}

/** The keys of an attempt: the account, and the client's address (an IPv6 client's /64: client-address.ts). */
export function loginKeys(normalizedEmail: string, clientIp: string): LoginKeys {
  return { account: `account:${normalizedEmail}`, address: `address:${clientAddress(clientIp)}` };
}

/** How long to wait when the count is over the limit only because of attempts being checked (a password check takes well under a second). */
const IN_PROGRESS_RETRY_SECONDS = 1;
/** Longer than any login takes (a request is cut off at 30 s): an attempt in progress longer was never ended. */
const MAX_ATTEMPT_MS = 60_000;

export function createLoginThrottle(db: Executor, options: { maxFailures: number; windowMs: number }): LoginThrottle {
  // Never more than one window, even when the instance that opened it has a clock ahead of ours.
  const secondsLeft = (windowStartedAt: number, now: number) =>
    Math.max(1, Math.min(Math.ceil(options.windowMs / 1000), Math.ceil((windowStartedAt + options.windowMs - now) / 1000)));
  /** Why `counted` refuses an attempt, if it does. */
  const refusal = (counted: LoginFailures, now: number): Refused | undefined => {
    if (counted.failures <= options.maxFailures) return undefined;
    // Even were every attempt in progress good, the next one would be over the limit again.
    const decided = counted.failures - counted.inProgress;
    return decided >= options.maxFailures ? new Refused(secondsLeft(counted.windowStartedAt, now), false) : new Refused(IN_PROGRESS_RETRY_SECONDS, true);
  };
  return {
    async admit(keys, now) {
      // One transaction, the address first: every attempt (and every take-back) locks its rows
      // in the same order, so that instances never deadlock on them.
      try {
        return await db.transaction().execute(async (trx) => {
          const address = await countLoginAttempt(trx, keys.address, now, now - options.windowMs, MAX_ATTEMPT_MS);
          const account = await countLoginAttempt(trx, keys.account, now, now - options.windowMs, MAX_ATTEMPT_MS);
          const refusals = [refusal(address, now), refusal(account, now)].filter((refused) => refused !== undefined);
          // A refusal for the window outweighs one until attempts in progress are decided.
          if (refusals.length > 0) throw refusals.find((refused) => !refused.inProgress) ?? refusals[0]!;
          return { admitted: true, countedIn: { address: address.windowStartedAt, account: account.windowStartedAt } } as const;
        });
      } catch (error) {
        if (error instanceof Refused) return { admitted: false, retryAfterSeconds: error.retryAfterSeconds, inProgress: error.inProgress };
        throw error;
      }
    },
    failed(keys, countedIn) {
      return db.transaction().execute(async (trx) => {
        await endLoginAttempt(trx, keys.address, countedIn.address, 'failed');
        await endLoginAttempt(trx, keys.account, countedIn.account, 'failed');
      });
    },
    succeeded(keys, countedIn) {
      return db.transaction().execute(async (trx) => {
        await endLoginAttempt(trx, keys.address, countedIn.address, 'taken back');
        await clearLoginFailures(trx, keys.account);
      });
    },
  };
}

/** Thrown inside the counting transaction to roll a refused attempt's counts back. */
class Refused extends Error {
  constructor(
    readonly retryAfterSeconds: number,
    readonly inProgress: boolean,
  ) {
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
