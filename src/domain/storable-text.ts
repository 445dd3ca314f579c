/**
 * Text both stores keep alike: none holding U+0000, which PostgreSQL's text refuses, or a lone
 * surrogate (half of a UTF-16 pair, as a truncated emoji leaves), which PostgreSQL stores as
 * U+FFFD and SQLite as bytes that are no text. The webhook replaces them; the rest of the API
 * refuses them.
 */

/** JSON carries either only escaped (`\u0000`, `\ud83d`): JSON text without such an escape holds neither, and needs no walk. */
export function mayHoldUnstorableText(json: string | Buffer): boolean {
  return json.includes('\\u0000') || json.includes('\\ud') || json.includes('\\uD');
}

/** What keeps `text` from being stored alike, or null. */
export function unstorablePart(text: string): 'nul' | 'lone surrogate' | null {
  if (text.includes('\u0000')) return 'nul';
  return text.isWellFormed() ? null : 'lone surrogate';
}

/** `text` with U+0000 and lone surrogates replaced by U+FFFD. */
export function storableText(text: string): string {
  return text.replaceAll('\u0000', '\ufffd').toWellFormed();
}

/** `text` cut to at most `maxLength` UTF-16 units, never through the middle of a surrogate pair. */
export function truncatedText(text: string, maxLength: number): string {
  if (text.length <= maxLength) return text;
  const cut = text.slice(0, maxLength);
  // A pair's first half left at the end would be a lone surrogate, which neither store keeps alike.
  return /[\ud800-\udbff]$/.test(cut) ? cut.slice(0, -1) : cut;
}
