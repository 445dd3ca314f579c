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
    expect(parseIsoTime('yesterday')).toBeNaN();
    expect(parseIsoTime('2025-05-06T25:00:00')).toBeNaN();
  });
});
