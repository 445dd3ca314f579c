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
 * Where JavaScript's toLowerCase (SQLite's lower() here) and PostgreSQL's lower() differ: a final
 * sigma ("ς" in JavaScript, "σ" in PostgreSQL) and the dot JavaScript leaves on a lower-cased "İ"
 * (U+0307). `translate(…, FOLD_FROM, FOLD_TO)` turns a final sigma into "σ" and drops that dot.
 */
const FOLD_FROM = 'ς\u0307';
const FOLD_TO = 'σ';

/**
 * `<expression> like <pattern>`, case-insensitively: both sides folded by the same functions in
 * the database (SQLite: ours; PostgreSQL: its own), so that both stores find the same rows.
 * Folding the pattern in JavaScript instead missed names typed exactly as stored on PostgreSQL.
 */
export function likeFolded(expression: string, pattern: string): RawBuilder<boolean> {
  const fold = (value: RawBuilder<unknown>) => sql`translate(lower(${value}), ${FOLD_FROM}, ${FOLD_TO})`;
  return sql<boolean>`${fold(sql.raw(expression))} like ${fold(sql`${pattern}`)} escape '\\'`;
}
