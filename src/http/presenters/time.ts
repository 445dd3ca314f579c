/** API times are ISO-8601 UTC strings; stored times are epoch milliseconds. */
export const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
