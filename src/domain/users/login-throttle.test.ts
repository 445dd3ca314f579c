import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { testDialects, useMigratedDatabase } from '../../../test/helpers/test-database.js';
import { createLoginThrottle, loginKeys, purgeEndedLoginFailures, type LoginKeys } from './login-throttle.js';

describe('loginKeys', () => {
  it('counts an IPv6 /64 as one address, and an IPv4-mapped address as the IPv4 one', () => {
    expect(loginKeys('a@example.com', '2001:db8:1:2:aaaa::1')).toEqual({ account: 'account:a@example.com', address: 'address:2001:db8:1:2::/64' });
    expect(loginKeys('a@example.com', '2001:db8:1:2:ffff:ffff:ffff:ffff').address).toBe('address:2001:db8:1:2::/64');
    expect(loginKeys('a@example.com', '2001:db8:1:3::1').address).toBe('address:2001:db8:1:3::/64');
    expect(loginKeys('a@example.com', '::ffff:10.6.0.1').address).toBe('address:10.6.0.1');
    expect(loginKeys('a@example.com', '10.6.0.1').address).toBe('address:10.6.0.1');
  });
});

describe.each(testDialects)('login throttle (%s)', (dialect) => {
  const WINDOW_MS = 60_000;
  const T = Date.parse('2026-01-05T09:00:00.000Z');
  const { db } = useMigratedDatabase(dialect);
  const throttle = () => createLoginThrottle(db(), { maxFailures: 3, windowMs: WINDOW_MS });
  /** Seconds to wait: 0 when admitted (the attempt then stays in progress). */
  const wait = async (keys: LoginKeys, now: number) => {
    const admission = await throttle().admit(keys, now);
    return admission.admitted ? 0 : admission.retryAfterSeconds;
  };
  /** An attempt with a wrong password: seconds to wait, 0 when it was admitted and then failed. */
  const fail = async (keys: LoginKeys, now: number) => {
    const admission = await throttle().admit(keys, now);
    if (!admission.admitted) return admission.retryAfterSeconds;
    await throttle().failed(keys, admission.countedIn);
    return 0;
  };
  const count = async (key: string) =>
    (await db().selectFrom('login_failures').select('failures').where('key', '=', key).executeTakeFirst())?.failures ?? 0;

  it('admits no more than the limit of a burst of parallel attempts, and refuses the rest until they are decided', async () => {
    const keys = loginKeys('burst@example.com', '10.7.0.1');
    const admissions = await Promise.all(Array.from({ length: 10 }, () => throttle().admit(keys, T)));
    const admitted = admissions.filter((admission) => admission.admitted);
    expect(admitted).toHaveLength(3);
    // Over the limit only while three are being checked, which may yet prove good: a second.
    expect(admissions.filter((admission) => !admission.admitted && admission.retryAfterSeconds === 1 && admission.inProgress)).toHaveLength(7);
    // All three wrong: the window is used up.
    for (const admission of admitted) await throttle().failed(keys, admission.countedIn);
    expect(await throttle().admit(keys, T)).toEqual({ admitted: false, retryAfterSeconds: 60, inProgress: false });
  });

  // An office behind one address, everyone signing in at nine: every password right, none was
  // refused for the whole window (a review's find: 429 with Retry-After 900 for right passwords).
  it('admits again as soon as attempts in progress prove good', async () => {
    const keys = (i: number) => loginKeys(`clerk${i}@example.com`, '10.7.2.1');
    const admissions = await Promise.all(Array.from({ length: 5 }, (_, i) => throttle().admit(keys(i), T)));
    const refused = admissions.flatMap((admission, i) => (admission.admitted ? [] : [i]));
    expect(refused).toHaveLength(2);
    for (const [i, admission] of admissions.entries()) if (admission.admitted) await throttle().succeeded(keys(i), admission.countedIn);
    for (const i of refused) expect(await wait(keys(i), T)).toBe(0);
    expect(await count('address:10.7.2.1')).toBe(2);
  });

  // Its process died during the check: without a time limit, every refusal of the window said
  // "try again in 1 s" (a review's find).
  it('forgets an attempt never ended once no login could still be running', async () => {
    const WINDOW = 15 * 60_000;
    const long = createLoginThrottle(db(), { maxFailures: 3, windowMs: WINDOW });
    const keys = loginKeys('crashed@example.com', '10.7.3.1');
    expect((await long.admit(keys, T)).admitted).toBe(true);
    for (let i = 0; i < 2; i += 1) {
      const admission = await long.admit(keys, T);
      if (!admission.admitted) throw new Error('expected to be admitted');
      await long.failed(keys, admission.countedIn);
    }
    // Two failed, one never ended: refused for a second while that one may still be running.
    expect(await long.admit(keys, T + 30_000)).toEqual({ admitted: false, retryAfterSeconds: 1, inProgress: true });
    // A minute on, it cannot be: three attempts not proven good, refused for the window.
    expect(await long.admit(keys, T + 70_000)).toEqual({ admitted: false, retryAfterSeconds: (WINDOW - 70_000) / 1000, inProgress: false });
  });

  it('counts a refused attempt against nothing, so a locked account does not lock its address for others', async () => {
    for (let i = 0; i < 3; i += 1) expect(await fail(loginKeys('victim@example.com', '10.7.1.1'), T)).toBe(0);
    // Its owner, behind an office NAT, tries again and again: refused, and nothing counted.
    for (let i = 0; i < 5; i += 1) expect(await wait(loginKeys('victim@example.com', '10.7.1.2'), T)).toBe(60);
    expect(await count('address:10.7.1.2')).toBe(0);
    expect(await count('account:victim@example.com')).toBe(3);
    expect(await wait(loginKeys('colleague@example.com', '10.7.1.2'), T)).toBe(0);
  });

  it('takes a good attempt back from the address and forgets the account', async () => {
    const keys = loginKeys('good@example.com', '10.7.0.2');
    for (let i = 0; i < 2; i += 1) await fail(keys, T);
    const last = await throttle().admit(keys, T);
    if (!last.admitted) throw new Error('expected to be admitted');
    await throttle().succeeded(keys, last.countedIn);
    expect(await count('account:good@example.com')).toBe(0);
    expect(await count('address:10.7.0.2')).toBe(2);
  });

  it('takes an attempt back only from the window it was counted in', async () => {
    const keys = loginKeys('boundary@example.com', '10.7.0.5');
    const early = await throttle().admit(keys, T);
    if (!early.admitted) throw new Error('expected to be admitted');
    // The window ends and a new one starts before the good login is taken back.
    expect(await wait(loginKeys('guess@example.com', '10.7.0.5'), T + WINDOW_MS)).toBe(0);
    await throttle().succeeded(keys, early.countedIn);
    expect(await count('address:10.7.0.5')).toBe(1);
  });

  it('never asks to wait longer than the window, even when the window was opened by a clock ahead', async () => {
    const keys = loginKeys('skew@example.com', '10.7.0.3');
    for (let i = 0; i < 3; i += 1) await fail(keys, T + 5 * 60_000);
    expect(await wait(keys, T)).toBe(60);
  });

  it('starts a window again once it has ended, and purges ended windows', async () => {
    await db().deleteFrom('login_failures').execute();
    const keys = loginKeys('again@example.com', '10.7.0.4');
    for (let i = 0; i < 3; i += 1) await fail(keys, T);
    expect(await wait(keys, T + WINDOW_MS - 1000)).toBe(1);
    expect(await wait(keys, T + WINDOW_MS - 2000)).toBe(2);
    expect(await wait(keys, T + WINDOW_MS)).toBe(0);
    await wait(loginKeys('old@example.com', '10.7.0.6'), T);
    const remaining = async () => (await db().selectFrom('login_failures').select('key').orderBy('key').execute()).map((row) => row.key);
    expect(await remaining()).toEqual(['account:again@example.com', 'account:old@example.com', 'address:10.7.0.4', 'address:10.7.0.6']);
    expect(await purgeEndedLoginFailures(db(), T + WINDOW_MS, WINDOW_MS)).toBe(2);
    expect(await remaining()).toEqual(['account:again@example.com', 'address:10.7.0.4']);
  });

  // A purge that deleted accounts and addresses in one statement took their row locks in index
  // order while logins hold an address and wait for an account: PostgreSQL found a deadlock and
  // aborted one side (a review's probe; this is it, smaller).
  it.runIf(dialect === 'postgres')('purges while logins run without deadlocking with them', async () => {
    const N = 50_000;
    // Ended windows, accounts' earlier than addresses', so that a purge by time reaches accounts first.
    await sql`insert into login_failures (key, failures, window_started_at)
      select 'account:u' || g || '@x', 5, ${T - 10 * WINDOW_MS} + g::bigint from generate_series(1, ${N}) g`.execute(db());
    await sql`insert into login_failures (key, failures, window_started_at)
      select 'address:10.' || (g / 65536) || '.' || ((g / 256) % 256) || '.' || (g % 256), 5, ${T - 5 * WINDOW_MS} + g::bigint
      from generate_series(1, ${N}) g`.execute(db());
    await sql`analyze login_failures`.execute(db());
    const errors: string[] = [];
    let purging = true;
    const logins = Array.from({ length: 8 }, async (_, worker) => {
      for (let g = 1 + worker; purging && g <= N; g += 8 * 97) {
        const keys = { address: `address:10.${Math.floor(g / 65536)}.${Math.floor(g / 256) % 256}.${g % 256}`, account: `account:u${N - g + 1}@x` };
        await throttle()
          .admit(keys, T)
          .catch((error: Error) => errors.push(`login: ${error.message}`));
      }
    });
    await purgeEndedLoginFailures(db(), T, WINDOW_MS).catch((error: Error) => errors.push(`purge: ${error.message}`));
    purging = false;
    await Promise.all(logins);
    expect(errors).toEqual([]);
  }, 60_000);
});
