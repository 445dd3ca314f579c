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

/** Cuts text between user-perceived characters: an emoji of several code points (👩‍💻, 🇰🇿) stays whole or goes. */
const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** `text` cut to at most `maxLength` UTF-16 units, never through a character (a surrogate pair, an emoji sequence, a letter and its accents). */
export function truncatedText(text: string, maxLength: number): string {
  if (text.length <= maxLength) return text;
  let end = 0;
  // Whether a character ends at some point depends on what comes before it and on the one code
  // point (at most two units) after it, so a slice that long says it: segmenting all of a long
  // text costs a third of a second per megabyte.
  for (const { index, segment } of graphemes.segment(text.slice(0, maxLength + 2))) {
    if (index + segment.length > maxLength) break;
    end = index + segment.length;
  }
  // A first character longer than the limit (a letter under hundreds of accents) is cut between
  // code points instead, rather than leaving nothing of the name.
  if (end === 0) end = /[\ud800-\udbff]/.test(text[maxLength - 1]!) ? maxLength - 1 : maxLength;
  return text.slice(0, end);
}
