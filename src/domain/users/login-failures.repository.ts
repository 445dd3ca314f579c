import type { Executor } from '../../storage/executor.js';

/** Failed logins of one key (an account or an address) within its current window. */
export interface LoginFailures {
  key: string;
  failures: number;
  windowStartedAt: number;
}

/** The keys' counts whose window started after `windowStartedAfter` (the ones still running). */
export async function findLoginFailures(db: Executor, keys: string[], windowStartedAfter: number): Promise<LoginFailures[]> {
  const rows = await db
    .selectFrom('login_failures')
    .selectAll()
    .where('key', 'in', keys)
    .where('window_started_at', '>', windowStartedAfter)
    .execute();
  return rows.map((row) => ({ key: row.key, failures: Number(row.failures), windowStartedAt: Number(row.window_started_at) }));
}

/**
 * Counts one failure for each key, in one statement, so that instances failing the same key at
 * once both count: a window that started at or before `windowStartedAfter` has ended and starts
 * again at `now` with this failure.
 */
export async function countLoginFailure(db: Executor, keys: string[], now: number, windowStartedAfter: number): Promise<void> {
  await db
    .insertInto('login_failures')
    .values(keys.map((key) => ({ key, failures: 1, window_started_at: now })))
    .onConflict((oc) =>
      oc.column('key').doUpdateSet((eb) => {
        const ended = eb('login_failures.window_started_at', '<=', windowStartedAfter);
        // Both read the row as it was before this update (SQL evaluates every SET on the old row).
        return {
          failures: eb.case().when(ended).then(1).else(eb('login_failures.failures', '+', 1)).end(),
          window_started_at: eb.case().when(ended).then(now).else(eb.ref('login_failures.window_started_at')).end(),
        };
      }),
    )
    .execute();
}

/** Forgets the keys' failures. */
export async function clearLoginFailures(db: Executor, keys: string[]): Promise<void> {
  await db.deleteFrom('login_failures').where('key', 'in', keys).execute();
}

/** Deletes counts whose window has ended, so that a flood of distinct keys does not pile up. */
export async function deleteEndedLoginFailures(db: Executor, windowStartedAtOrBefore: number): Promise<void> {
  await db.deleteFrom('login_failures').where('window_started_at', '<=', windowStartedAtOrBefore).execute();
}
