/**
 * LIKE patterns built from user text, with LIKE's own wildcards escaped (SQLite has no default
 * escape character, so the statement must name one: use `likeEscaped`).
 */
import { sql, type RawBuilder } from 'kysely';

const escape = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

/** Matches values containing `text` (case-insensitively with `likeFolded`). */
export const containsPattern = (text: string) => `%${escape(text)}%`;

/**
 * For the E.164 phone column: the digits a phone-like search was reduced to (`phoneSearchDigits`,
 * since phones are stored without the spaces and signs people type), or else the text itself.
 */
export const phonePatterns = (text: string, digits: readonly string[]) =>
  digits.length > 0 ? digits.map((d) => `%${escape(d)}%`) : [containsPattern(text)];

/** Matches values starting with `text`, case as given. */
export const prefixPattern = (text: string) => `${escape(text)}%`;

/** `<expression> like <pattern> escape '\'`, where `expression` is trusted SQL (a column, lower(column)). */
export function likeEscaped(expression: string, pattern: string): RawBuilder<boolean> {
  return sql<boolean>`${sql.raw(expression)} like ${pattern} escape '\\'`;
}

/**
 * `lower(<expression>) like lower(<pattern>) escape '\'`: case-insensitive, with both sides folded
 * by the same function in the database (SQLite: ours, registered as JavaScript's toLowerCase;
 * PostgreSQL: its own). Folding the pattern in JavaScript instead missed names typed exactly as
 * stored on PostgreSQL, whose lower() folds "İ" and a final "Σ" differently.
 */
export function likeFolded(expression: string, pattern: string): RawBuilder<boolean> {
  return sql<boolean>`lower(${sql.raw(expression)}) like lower(${pattern}) escape '\\'`;
}
