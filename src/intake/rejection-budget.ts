/**
 * How many refused requests (401, 403, 413, 415) each client address may have recorded in the
 * webhook log per minute. Recording costs a row kept for WEBHOOK_LOG_RETENTION_DAYS; without a
 * budget, one client sending junk as fast as it can would write megabytes a second for a month.
 * What goes over the budget is still answered, logged to the log file and counted in metrics.
 */
export interface RejectionBudget {
  /** Whether a refusal from `address` may be recorded now; `firstOverBudget`: its first one past the budget this minute. */
  take(address: string | null, now: number): { record: boolean; firstOverBudget: boolean };
}

const MINUTE_MS = 60_000;
/** Addresses remembered at most; past it the counts start again (a flood of addresses is the metrics' to see). */
const MAX_ADDRESSES = 10_000;

export function createRejectionBudget(perMinute: number): RejectionBudget {
  let minute = -1;
  const counts = new Map<string, number>();
  return {
    take(address, now) {
      const current = Math.floor(now / MINUTE_MS);
      if (current !== minute || counts.size >= MAX_ADDRESSES) {
        minute = current;
        counts.clear();
      }
      const key = address ?? '';
      const count = (counts.get(key) ?? 0) + 1;
      counts.set(key, count);
      return { record: count <= perMinute, firstOverBudget: count === perMinute + 1 };
    },
  };
}
