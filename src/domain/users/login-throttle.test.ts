import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, testDialects, type TestDatabase } from '../../../test/helpers/test-database.js';
import { openDatabase, type DatabaseHandle } from '../../storage/database.js';
import { migrateToLatest } from '../../storage/migrations/index.js';
import { createLoginThrottle, loginKeys, purgeEndedLoginFailures } from './login-throttle.js';

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
  let database: TestDatabase;
  let handle: DatabaseHandle;
  beforeAll(async () => {
    database = await createTestDatabase(dialect);
    handle = openDatabase(database.url);
    await migrateToLatest(handle.db);
  });
  afterAll(async () => {
    await handle.close();
    await database.drop();
  });
  const throttle = () => createLoginThrottle(handle.db, { maxFailures: 3, windowMs: WINDOW_MS });

  it('admits no more than the limit of a burst of parallel attempts', async () => {
    const keys = loginKeys('burst@example.com', '10.7.0.1');
    const waits = await Promise.all(Array.from({ length: 10 }, () => throttle().admit(keys, T)));
    expect(waits.filter((wait) => wait === 0)).toHaveLength(3);
    expect(waits.filter((wait) => wait === 60)).toHaveLength(7);
  });

  it('takes a good attempt back from the address and forgets the account', async () => {
    const keys = loginKeys('good@example.com', '10.7.0.2');
    for (let i = 0; i < 3; i += 1) expect(await throttle().admit(keys, T)).toBe(0);
    await throttle().succeeded(keys);
    // The account starts again; the address holds two failures and the new attempt.
    expect(await throttle().admit(keys, T)).toBe(0);
    expect(await throttle().admit(loginKeys('other@example.com', '10.7.0.2'), T)).toBe(60);
  });

  it('never asks to wait longer than the window, even when the window was opened by a clock ahead', async () => {
    const keys = loginKeys('skew@example.com', '10.7.0.3');
    for (let i = 0; i < 3; i += 1) await throttle().admit(keys, T + 5 * 60_000);
    expect(await throttle().admit(keys, T)).toBe(60);
  });

  it('starts a window again once it has ended, and purges ended windows', async () => {
    const keys = loginKeys('again@example.com', '10.7.0.4');
    for (let i = 0; i < 4; i += 1) await throttle().admit(keys, T);
    expect(await throttle().admit(keys, T + WINDOW_MS - 1)).toBe(1);
    expect(await throttle().admit(keys, T + WINDOW_MS)).toBe(0);
    const remaining = async () => (await handle.db.selectFrom('login_failures').select('key').orderBy('key').execute()).map((row) => row.key);
    expect(await remaining()).toContain('address:10.7.0.4');
    // Every window above started at T, except the one that just started again and those opened
    // by the clock five minutes ahead.
    expect(await purgeEndedLoginFailures(handle.db, T + WINDOW_MS, WINDOW_MS)).toBe(4);
    expect(await remaining()).toEqual(['account:again@example.com', 'account:skew@example.com', 'address:10.7.0.3', 'address:10.7.0.4']);
  });
});
