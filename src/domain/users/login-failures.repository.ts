import type { Executor } from '../../storage/executor.js';

/** Login attempts of one key (an account or an address) not proven good, within its window. */
export interface LoginFailures {
  key: string;
  failures: number;
  /** Of `failures`, the attempts whose password is being checked now. */
  inProgress: number;
  windowStartedAt: number;
}

/**
 * Counts one attempt for `key`, in progress until `now + maxAttemptMs`, in one statement, so that
 * instances counting the same key at once both count; returns the count after it. A window that
 * started at or before `windowStartedAfter` has ended and starts again at `now` with this attempt;
 * attempts still in progress past their time were never ended (their process died), and are
 * forgotten.
 */
export async function countLoginAttempt(db: Executor, key: string, now: number, windowStartedAfter: number, maxAttemptMs: number): Promise<LoginFailures> {
  const row = await db
    .insertInto('login_failures')
    .values({ key, failures: 1, in_progress: 1, in_progress_until: now + maxAttemptMs, window_started_at: now })
    .onConflict((oc) =>
      oc.column('key').doUpdateSet((eb) => {
        const ended = eb('login_failures.window_started_at', '<=', windowStartedAfter);
        const stale = eb('login_failures.in_progress_until', '<=', now);
        // Every SET reads the row as it was before this update.
        return {
          failures: eb.case().when(ended).then(1).else(eb('login_failures.failures', '+', 1)).end(),
          in_progress: eb.case().when(eb.or([ended, stale])).then(1).else(eb('login_failures.in_progress', '+', 1)).end(),
          in_progress_until: now + maxAttemptMs,
          window_started_at: eb.case().when(ended).then(now).else(eb.ref('login_failures.window_started_at')).end(),
        };
      }),
    )
    .returning(['key', 'failures', 'in_progress', 'window_started_at'])
    .executeTakeFirstOrThrow();
  return { key: row.key, failures: row.failures, inProgress: row.in_progress, windowStartedAt: row.window_started_at };
}

/**
 * Ends one attempt of `key` in progress: a failure stays counted; an attempt that turned out good
 * (`taken back`) is uncounted too. Only in the window it was counted in: taken from a newer
 * window, it would hand out an extra try there.
 */
export async function endLoginAttempt(db: Executor, key: string, windowStartedAt: number, outcome: 'failed' | 'taken back'): Promise<void> {
  await db
    .updateTable('login_failures')
    .set((eb) => ({
      in_progress: eb.case().when('in_progress', '>', 0).then(eb('in_progress', '-', 1)).else(0).end(),
      ...(outcome === 'taken back' && { failures: eb.case().when('failures', '>', 0).then(eb('failures', '-', 1)).else(0).end() }),
    }))
    .where('key', '=', key)
    .where('window_started_at', '=', windowStartedAt)
    .execute();
}

/** Forgets every counted attempt of `key`. */
export async function clearLoginFailures(db: Executor, key: string): Promise<void> {
  await db.deleteFrom('login_failures').where('key', '=', key).execute();
}

/** Deletes the counts of keys starting with `prefix` whose window started at or before the given time; returns how many. */
export async function deleteEndedLoginFailures(db: Executor, prefix: 'account:' | 'address:', windowStartedAtOrBefore: number): Promise<number> {
  const result = await db
    .deleteFrom('login_failures')
    .where('window_started_at', '<=', windowStartedAtOrBefore)
    .where('key', 'like', `${prefix}%`)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
