import { afterEach, describe, expect, it } from 'vitest';
import { parseIsoTime } from './iso-time.js';

describe('parseIsoTime', () => {
  const zone = process.env.TZ;
  afterEach(() => {
    if (zone === undefined) delete process.env.TZ;
    else process.env.TZ = zone;
  });

  it('reads a date-time without a zone as UTC, whatever the server time zone (UTC+5 here)', () => {
    process.env.TZ = 'Asia/Almaty';
    expect(new Date(2025, 4, 6).getTimezoneOffset()).toBe(-300); // the zone did change
    expect(parseIsoTime('2025-05-06T14:16:00.002')).toBe(Date.UTC(2025, 4, 6, 14, 16, 0, 2));
    expect(parseIsoTime('2025-05-06T14:16:00')).toBe(Date.UTC(2025, 4, 6, 14, 16, 0));
    expect(parseIsoTime('2025-05-06T14:16')).toBe(Date.UTC(2025, 4, 6, 14, 16));
    expect(parseIsoTime('2025-05-06')).toBe(Date.UTC(2025, 4, 6));
  });

  it('keeps a zone that is written, and refuses what is not a date', () => {
    expect(parseIsoTime('2025-05-06T14:16:00.002Z')).toBe(Date.UTC(2025, 4, 6, 14, 16, 0, 2));
    expect(parseIsoTime('2025-05-06T19:16:00+05:00')).toBe(Date.UTC(2025, 4, 6, 14, 16));
    expect(parseIsoTime('2025-05-06T14:16:00-0300')).toBe(Date.UTC(2025, 4, 6, 17, 16));
    expect(parseIsoTime('2025-05-06T19:16:00+05')).toBe(Date.UTC(2025, 4, 6, 14, 16));
    expect(parseIsoTime('2025-05-06T14:16:00.123456Z')).toBe(Date.UTC(2025, 4, 6, 14, 16, 0, 123));
    expect(parseIsoTime('yesterday')).toBeNaN();
    expect(parseIsoTime('2025-05-06T25:00:00')).toBeNaN();
  });

  // Date.parse takes all of these, some as a time in the server's zone.
  it('reads a space for the T as UTC too, and refuses what only Date.parse would take', () => {
    process.env.TZ = 'Asia/Almaty';
    expect(parseIsoTime('2025-05-06 14:16:00')).toBe(Date.UTC(2025, 4, 6, 14, 16));
    expect(parseIsoTime('2025-05-06 14:16:00Z')).toBe(Date.UTC(2025, 4, 6, 14, 16));
    for (const loose of ['1', '2025', 'May 6 2025', 'yesterday 1', '2025-02-30T00:00:00Z', '2025-05-06T14:60', '2025-05-06T14:16:00+25:00', ' 2025-05-06', '2025-05-06Z']) {
      expect(parseIsoTime(loose), loose).toBeNaN();
    }
    // Date.UTC would read the year 99 as 1999.
    expect(new Date(parseIsoTime('0099-01-01T00:00:00Z')).getUTCFullYear()).toBe(99);
  });
});
