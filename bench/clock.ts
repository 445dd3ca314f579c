/**
 * A clock shared by the bench process and the WebSocket listener process: CLOCK_MONOTONIC (what
 * process.hrtime reads) is one clock for the whole machine, so a time taken in one process can be
 * subtracted from a time taken in another. Milliseconds, sub-microsecond resolution.
 */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Sampling interval of the event-loop delay monitors (ms). */
export const LOOP_DELAY_RESOLUTION_MS = 10;

/**
 * The p-th percentile of how late an event loop ran (ms), from a monitorEventLoopDelay histogram
 * sampling every LOOP_DELAY_RESOLUTION_MS: the histogram holds whole timer intervals, so the
 * interval itself is taken off.
 */
export function loopDelayMs(histogram: { count: number; percentile(p: number): number }, p: number): number {
  if (histogram.count === 0) return Number.NaN;
  return Math.max(0, histogram.percentile(p) / 1e6 - LOOP_DELAY_RESOLUTION_MS);
}
