import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizePhone, phoneSearchDigits } from './phone.js';

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

describe('normalizePhone with a local country', () => {
  it.each([
    ['8 777 123 45 67', 'KZ', '+77771234567'],
    ['87771234567', 'KZ', '+77771234567'],
    ['8 (916) 123-45-67', 'RU', '+79161234567'],
    ['07700 900123', 'GB', '+447700900123'],
  ] as const)('reads %s, which cannot be international, as a local number of %s', (raw, country, e164) => {
    expect(normalizePhone(raw)).toBeNull();
    expect(normalizePhone(raw, country)).toBe(e164);
  });

  // Each is also a possible number of another country read as international digits: Vietnam
  // (+84), Bangladesh (+880), Taiwan (+886).
  it.each([
    ['8 495 123 45 67', '+74951234567'],
    ['8 800 555 35 35', '+78005553535'],
    ['8 (861) 123-45-67', '+78611234567'],
  ])('reads %s as a valid local number first', (raw, e164) => {
    expect(normalizePhone(raw, 'RU')).toBe(e164);
  });

  // Spain and Italy write no trunk prefix: these are possible international digits, but valid
  // numbers only as local ones.
  it.each([
    ['612 345 678', 'ES', '+34612345678'],
    ['312 345 6789', 'IT', '+393123456789'],
  ] as const)('reads %s, valid only as a local number, as one of %s', (raw, country, e164) => {
    expect(normalizePhone(raw, country)).toBe(e164);
  });

  it('reads international digits as such, although they also make a valid local number', () => {
    expect(normalizePhone('79001234567', 'KZ')).toBe('+79001234567');
    expect(normalizePhone('442079460958', 'RU')).toBe('+442079460958');
    // Norway and Denmark read as Kazakh numbers, a German mobile as a German landline.
    expect(normalizePhone('4740612345', 'KZ')).toBe('+4740612345');
    expect(normalizePhone('4534412345', 'RU')).toBe('+4534412345');
    expect(normalizePhone('4915123456789', 'DE')).toBe('+4915123456789');
    expect(normalizePhone('6581234567', 'US')).toBe('+6581234567');
  });

  // Neither reading is valid (a digit missing, or a range newer than libphonenumber's data): the
  // customer's message is kept under the possible local number rather than refused.
  it('reads a number valid neither way as a possible local number, as a last resort', () => {
    expect(normalizePhone('8 777 123 45 6', 'RU')).toBe('+78777123456');
    expect(normalizePhone('8 777 123 45 6')).toBeNull();
  });

  it('never reads a number written with "+" or "00" as local', () => {
    expect(normalizePhone('+8 777 123 45 67', 'KZ')).toBeNull();
    expect(normalizePhone('0087771234567', 'KZ')).toBeNull();
  });
});

describe('phoneSearchDigits', () => {
  it.each([
    ['+7 (777) 123-45', null, ['777712345']],
    ['8 777 123', null, ['8777123']],
    ['8 777 123', 'KZ', ['8777123', '777123']],
    ['8 (916) 123-45', 'RU', ['891612345', '91612345']],
    ['+7 777 123', 'KZ', ['7777123']],
    ['10.00', 'KZ', []],
    ['Aigerim', 'KZ', []],
  ] as const)('finds %j (local country %s) by %j', (text, country, digits) => {
    expect(phoneSearchDigits(text, country)).toEqual(digits);
  });
});
