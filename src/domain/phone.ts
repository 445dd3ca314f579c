/**
 * Phone numbers are keys: the same customer writes "+7 777 123 45 67" in one event and
 * "77771234567" in the next, and both must find the same contact. libphonenumber-js does the
 * parsing; we only decide what to do with numbers written without a country.
 */
import { AsYouType, isSupportedCountry, parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/min';

/** An ISO 3166-1 alpha-2 code libphonenumber knows (`KZ`, `RU`): where numbers written the local way are from. */
export type PhoneCountry = CountryCode;

export function isPhoneCountry(code: string): code is PhoneCountry {
  return isSupportedCountry(code);
}

const cache = new Map<string, string | null>();
const CACHE_LIMIT = 50_000;

/**
 * Returns the E.164 form of `raw`, or null when it cannot be a phone number. A number written
 * without "+" is read as international digits, because that is how Wazzup24 writes them
 * ("79001234567"); "00" is the international prefix.
 *
 * With a `localCountry`, a number without "+" or "00" that is a valid number of that country
 * written the local way is read as one ("8 495 123 45 67" in Russia is Moscow, although
 * +84 951… would be a possible number in Vietnam), and so is one that is valid only there
 * ("612 345 678" in Spain); otherwise as international digits; failing both, as a possible local
 * number. So "79001234567" stays +7 900… in Kazakhstan too.
 */
export function normalizePhone(raw: string, localCountry: PhoneCountry | null = null): string | null {
  const key = localCountry === null ? raw : `${localCountry} ${raw}`;
  const cached = cache.get(key);
  if (cached !== undefined) return cached;
  const result = parse(raw, localCountry);
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(key, result);
  return result;
}

function parse(raw: string, localCountry: PhoneCountry | null): string | null {
  const trimmed = raw.trim();
  if (!/^[+\d\s().-]{4,40}$/.test(trimmed)) return null;
  const digits = trimmed.replace(/\D/g, '');
  const withPlus = trimmed.startsWith('+');
  const with00 = !withPlus && digits.startsWith('00');
  const local = localCountry === null || withPlus || with00 ? undefined : parsePhoneNumberFromString(trimmed, localCountry);
  const international = parsePhoneNumberFromString(`+${with00 ? digits.slice(2) : digits}`);
  // A valid local number is read as one when it was written the local way (libphonenumber took a
  // trunk prefix off: "8", "0") or cannot be a valid international one (Spain and Italy write no
  // prefix). Else international digits that happen to make a valid local number too (Norway's
  // 47 406… in Kazakhstan, any number for a business in Germany) would be read as local.
  const writtenLocally = local !== undefined && local.nationalNumber !== digits && !digits.startsWith(local.countryCallingCode);
  if (local?.isValid() && (writtenLocally || !international?.isValid())) return local.number;
  if (international?.isPossible()) return international.number;
  return local?.isPossible() ? local.number : null;
}

/**
 * The digit strings a search typed like a phone number ("+7 (777) 123-45", five digits or more)
 * finds stored phones by, since they are stored without the spaces and signs people type: its
 * digits, and with a `localCountry` also the number without its local prefix ("8 777 123" in
 * Kazakhstan → "777123"), which is how it appears inside the E.164 form. Empty when the text is
 * not phone-like: shorter ones, such as "10.00", are more likely a price or a time.
 */
export function phoneSearchDigits(text: string, localCountry: PhoneCountry | null): string[] {
  const digits = text.replace(/[\s()+\-.]/g, '');
  if (!/^\d{5,}$/.test(digits)) return [];
  if (localCountry === null || text.trim().startsWith('+')) return [digits];
  const typed = new AsYouType(localCountry);
  typed.input(text);
  const national = typed.getNumber()?.nationalNumber ?? '';
  return national.length >= 5 && national !== digits ? [digits, national] : [digits];
}
