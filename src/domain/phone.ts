/**
 * Phone numbers are keys: the same customer writes "+7 777 123 45 67" in one event and
 * "77771234567" in the next, and both must find the same contact. libphonenumber-js does the
 * parsing; we only decide what to do with numbers written without a country.
 */
import { parsePhoneNumberFromString } from 'libphonenumber-js/min';

const cache = new Map<string, string | null>();
const CACHE_LIMIT = 50_000;

/**
 * Returns the E.164 form of `raw`, or null when it cannot be a phone number. A number written
 * without "+" is read as international digits, because that is how Wazzup24 writes them
 * ("79001234567"); "00" is the international prefix.
 */
export function normalizePhone(raw: string): string | null {
  const cached = cache.get(raw);
  if (cached !== undefined) return cached;
  const result = parse(raw);
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(raw, result);
  return result;
}

function parse(raw: string): string | null {
  const trimmed = raw.trim();
  if (!/^[+\d\s().-]{4,40}$/.test(trimmed)) return null;
  const digits = trimmed.replace(/\D/g, '');
  const international = trimmed.startsWith('+')
    ? `+${digits}`
    : digits.startsWith('00')
      ? `+${digits.slice(2)}`
      : `+${digits}`;
  const phone = parsePhoneNumberFromString(international);
  if (!phone || !phone.isPossible()) return null;
  return phone.number;
}
