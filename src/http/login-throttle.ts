/**
 * Slows password guessing: after too many failed logins for one account or from one address
 * within a window, further attempts are refused (429) until the window passes. Kept in memory:
 * each instance counts its own attempts, so N instances allow up to N times the limit.
 */
export interface LoginThrottle {
  /** Seconds to wait when `keys` are locked, else 0. */
  retryAfter(keys: string[], now: number): number;
  recordFailure(keys: string[], now: number): void;
  recordSuccess(keys: string[]): void;
}

export function createLoginThrottle(options: { maxFailures: number; windowMs: number }): LoginThrottle {
  const failures = new Map<string, { count: number; windowStart: number }>();
  const live = (key: string, now: number) => {
    const entry = failures.get(key);
    if (entry && now - entry.windowStart >= options.windowMs) {
      failures.delete(key);
      return undefined;
    }
    return entry;
  };
  return {
    retryAfter(keys, now) {
      let wait = 0;
      for (const key of keys) {
        const entry = live(key, now);
        if (entry && entry.count >= options.maxFailures) wait = Math.max(wait, Math.ceil((entry.windowStart + options.windowMs - now) / 1000));
      }
      return wait;
    },
    recordFailure(keys, now) {
      // Bounded memory under a flood of distinct keys: forget everything rather than grow forever.
      if (failures.size > 100_000) failures.clear();
      for (const key of keys) {
        const entry = live(key, now);
        if (entry) entry.count += 1;
        else failures.set(key, { count: 1, windowStart: now });
      }
    },
    recordSuccess(keys) {
      for (const key of keys) failures.delete(key);
    },
  };
}
