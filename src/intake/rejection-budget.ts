/**
 * How many refused requests (400, 401, 403, 413, 415, …) each client may have recorded in the webhook
 * log per minute, and all clients together (ten times as many). Recording costs a row kept for
 * WEBHOOK_LOG_RETENTION_DAYS; without a budget, one client sending junk as fast as it can would
 * write megabytes a second for a month. What goes over is still answered, logged to the log file
 * and counted in metrics. A client is its address, or its /64 for IPv6, where one host can
 * hold a whole /64.
 */
import { clientAddress } from '../domain/client-address.js';

export interface RejectionBudget {
  /**
   * Whether a refusal from `address` may be recorded now; `firstOverBudget`: the first one past
   * this client's budget, or past the total, this minute (worth one warning).
   */
  take(address: string | null, now: number): { record: boolean; firstOverBudget: boolean };
}

const MINUTE_MS = 60_000;
/**
 * Addresses remembered at most; past it their counts start again (a flood of addresses is the
 * metrics' to see), but not the total: else every 10,000 addresses would earn another total.
 */
const MAX_ADDRESSES = 10_000;

export function createRejectionBudget(perMinute: number): RejectionBudget {
  const totalPerMinute = perMinute * 10;
  let minute = -1;
  let total = 0;
  let totalWarned = false;
  const counts = new Map<string, number>();
  return {
    take(address, now) {
      const current = Math.floor(now / MINUTE_MS);
      if (current !== minute) {
        minute = current;
        total = 0;
        totalWarned = false;
        counts.clear();
      } else if (counts.size >= MAX_ADDRESSES) {
        counts.clear();
      }
      const key = address === null ? '' : clientAddress(address);
      const count = (counts.get(key) ?? 0) + 1;
      counts.set(key, count);
      if (count > perMinute) return { record: false, firstOverBudget: count === perMinute + 1 };
      if (total >= totalPerMinute) {
        const first = !totalWarned;
        totalWarned = true;
        return { record: false, firstOverBudget: first };
      }
      total += 1;
      return { record: true, firstOverBudget: false };
    },
  };
}
