/**
 * ISO-8601 times as senders and operators write them. JavaScript reads a date-time without a time
 * zone as the server's local time, which would shift every such time by the host's offset (five
 * hours on a server in Almaty). Wazzup24 documents `dateTime` without a zone and means UTC, as its
 * examples show (`…Z`): a date-time without a zone is read as UTC here, wherever backchat runs.
 */

/** Epoch ms of an ISO-8601 date or date-time (no zone: UTC); NaN when it is not one. */
export function parseIsoTime(text: string): number {
  const zoneless = /T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/i.test(text);
  return Date.parse(zoneless ? `${text}Z` : text);
}
