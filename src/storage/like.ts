/**
 * LIKE patterns built from user text, with LIKE's own wildcards escaped (SQLite has no default
 * escape character, so the statement must name one: use `likeEscaped`).
 */
import { sql, type RawBuilder } from 'kysely';

const escape = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

/** Matches values containing `text`, case-insensitively for ASCII (the value side must be lower()ed). */
export const containsPattern = (text: string) => `%${escape(text.toLowerCase())}%`;

/**
 * For the E.164 phone column: a search written like a phone number (`+7 (777) 123-45`), with five
 * digits or more, matches by its digits, since phones are stored without the spaces and signs
 * people type. (Shorter ones, such as `10.00`, are more likely a price or a time than a phone.)
 */
export const phoneContainsPattern = (text: string) => {
  const digits = text.replace(/[\s()+\-.]/g, '');
  return /^\d{5,}$/.test(digits) ? `%${digits}%` : containsPattern(text);
};

/** Matches values starting with `text`, case as given. */
export const prefixPattern = (text: string) => `${escape(text)}%`;

/** `<expression> like <pattern> escape '\'`, where `expression` is trusted SQL (a column, lower(column)). */
export function likeEscaped(expression: string, pattern: string): RawBuilder<boolean> {
  return sql<boolean>`${sql.raw(expression)} like ${pattern} escape '\\'`;
}
