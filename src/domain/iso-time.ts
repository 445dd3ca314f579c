/**
 * ISO-8601 times as senders and operators write them. JavaScript reads a date-time without a time
 * zone as the server's local time, which would shift every such time by the host's offset (five
 * hours on a server in Almaty). Wazzup24 documents `dateTime` without a zone and means UTC, as its
 * examples show (`…Z`): a date-time without a zone is read as UTC here, wherever backchat runs.
 *
 * Date.parse is not used on what senders write: it also takes "1" (the year 2001), "May 6 2025"
 * and "2025-02-30" (March 2), and reads "2025-05-06 14:16" in local time.
 */

const ISO_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?([Zz]|([+-])(\d{2})(?::?(\d{2}))?)?)?$/;

/**
 * Epoch ms of an ISO-8601 date (`2025-05-06`, UTC midnight) or date-time, with `T` or a space
 * between date and time, and a zone as `Z`, `+05:00`, `+0500` or `+05` (none: UTC); NaN for
 * anything else, an impossible date or time included.
 */
export function parseIsoTime(text: string): number {
  const match = ISO_TIME.exec(text);
  if (!match) return NaN;
  const [, year, month, day, hour = '0', minute = '0', second = '0', fraction = '', , sign, offsetHours, offsetMinutes = '0'] = match;
  const [y, mo, d, h, mi, s] = [year, month, day, hour, minute, second].map(Number) as [number, number, number, number, number, number];
  const time = new Date(0);
  time.setUTCFullYear(y, mo - 1, d);
  if (time.getUTCMonth() !== mo - 1 || time.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) return NaN;
  if (Number(offsetHours ?? 0) > 23 || Number(offsetMinutes) > 59) return NaN;
  time.setUTCHours(h, mi, s, Number(fraction.padEnd(3, '0').slice(0, 3)));
  const offset = sign === undefined ? 0 : (sign === '-' ? -1 : 1) * (Number(offsetHours) * 60 + Number(offsetMinutes));
  return time.getTime() - offset * 60_000;
}
