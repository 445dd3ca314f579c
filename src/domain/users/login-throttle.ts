/**
 * Slows password guessing: after too many failed logins from one address or for one account
 * within a window, further attempts are refused (429) until the window passes. Counted in the
 * database, so that several instances on one PostgreSQL share one count per account and address.
 *
 * An attempt is counted before its password is checked, and taken back when the password was
 * right: a check made before counting would let a burst of parallel guesses all pass it.
 */
import ipaddr from 'ipaddr.js';
import type { Executor } from '../../storage/executor.js';
import { clearLoginFailures, countLoginAttempt, deleteEndedLoginFailures, uncountLoginAttempt } from './login-failures.repository.js';

/** What an attempt is counted against. */
export interface LoginKeys {
  account: string;
  address: string;
}

export interface LoginThrottle {
  /**
   * Counts an attempt against its address, then its account; returns the seconds to wait when
   * either is over the limit (the attempt is refused and its password not checked), else 0.
   */
  admit(keys: LoginKeys, now: number): Promise<number>;
  /** The password was right: the account's failures are forgotten, and the attempt is taken back from the address. */
  succeeded(keys: LoginKeys): Promise<void>;
}

/**
 * The keys of an attempt. An IPv6 client usually holds a whole /64, so its /64 counts as one
 * address; an IPv4 address mapped into IPv6 counts as the IPv4 address.
 */
export function loginKeys(normalizedEmail: string, clientIp: string): LoginKeys {
  let address = clientIp;
  if (ipaddr.isValid(clientIp)) {
    const parsed = ipaddr.process(clientIp);
    address = parsed.kind() === 'ipv6' ? `${(parsed as ipaddr.IPv6).parts.slice(0, 4).map((part) => part.toString(16)).join(':')}::/64` : parsed.toString();
  }
  return { account: `account:${normalizedEmail}`, address: `address:${address}` };
}

export function createLoginThrottle(db: Executor, options: { maxFailures: number; windowMs: number }): LoginThrottle {
  // Never more than one window, even when the instance that opened it has a clock ahead of ours.
  const secondsLeft = (windowStartedAt: number, now: number) =>
    Math.max(1, Math.min(Math.ceil(options.windowMs / 1000), Math.ceil((windowStartedAt + options.windowMs - now) / 1000)));
  return {
    admit(keys, now) {
      // One transaction, the address first: every attempt locks its rows in the same order (no
      // deadlock between instances), and an address over its limit adds no account counts.
      return db.transaction().execute(async (trx) => {
        for (const key of [keys.address, keys.account]) {
          const counted = await countLoginAttempt(trx, key, now, now - options.windowMs);
          if (counted.failures > options.maxFailures) return secondsLeft(counted.windowStartedAt, now);
        }
        return 0;
      });
    },
    succeeded(keys) {
      return db.transaction().execute(async (trx) => {
        await uncountLoginAttempt(trx, keys.address);
        await clearLoginFailures(trx, keys.account);
      });
    },
  };
}

/**
 * Deletes counts whose window has ended (run now and then: until then they only take room, since
 * a count whose window has ended starts again at the next attempt); returns how many.
 */
export function purgeEndedLoginFailures(db: Executor, now: number, windowMs: number): Promise<number> {
  return deleteEndedLoginFailures(db, now - windowMs);
}
