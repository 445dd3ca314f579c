import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizePhone } from './phone.js';

describe('normalizePhone', () => {
  it.each([
    ['+7 777 123 45 67', '+77771234567'],
    ['77771234567', '+77771234567'],
    ['+7 (777) 123-45-67', '+77771234567'],
    ['0077771234567', '+77771234567'],
    ['79001234567', '+79001234567'],
    ['+44 20 7946 0958', '+442079460958'],
    ['+1 (415) 555-2671', '+14155552671'],
  ])('reads %s as %s', (raw, e164) => {
    expect(normalizePhone(raw)).toBe(e164);
  });

  it.each(['', 'nobody', '+', '12', 'call me maybe', '+7 777 123 45 67 ext. 5', '1'.repeat(41)])('refuses %j', (raw) => {
    expect(normalizePhone(raw)).toBeNull();
  });

  it('gives the same key for any formatting of the same number', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(' ', '-', '(', ')', '.'), { minLength: 11, maxLength: 11 }), (separators) => {
        const digits = '77771234567';
        const formatted = '+' + [...digits].map((d, i) => d + separators[i]).join('');
        expect(normalizePhone(formatted)).toBe('+77771234567');
      }),
    );
  });

  it('never throws, and returns E.164 or null, for any string', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (raw) => {
        const result = normalizePhone(raw);
        expect(result === null || /^\+[1-9]\d{6,14}$/.test(result)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});
