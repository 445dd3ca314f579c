import { describe, expect, it } from 'vitest';
import { truncatedText } from './storable-text.js';

describe('truncatedText', () => {
  it('keeps text within the limit as it is', () => {
    expect(truncatedText('Dana', 4)).toBe('Dana');
  });

  it('cuts plain text at the limit', () => {
    expect(truncatedText('Dana Bek', 4)).toBe('Dana');
  });

  it('never leaves half of a surrogate pair', () => {
    // '😀' is two UTF-16 units: a cut after 'a' + its first unit drops it whole.
    expect(truncatedText('a😀b', 2)).toBe('a');
    expect(truncatedText('a😀b', 3)).toBe('a😀');
  });

  it('never cuts an emoji sequence between its parts', () => {
    const coder = '👩‍💻'; // woman + zero-width joiner + laptop: five UTF-16 units
    expect(truncatedText(`ab${coder}`, 2 + 3)).toBe('ab');
    expect(truncatedText(`ab${coder}c`, 2 + coder.length)).toBe(`ab${coder}`);
    const flag = '🇰🇿'; // two regional indicators
    expect(truncatedText(`a${flag}`, 3)).toBe('a');
  });

  it('keeps a letter with its combining accent', () => {
    expect(truncatedText('ae\u0301', 2)).toBe('a');
    // The accent sits just past the limit, and text follows it.
    expect(truncatedText('abe\u0301xyz', 3)).toBe('ab');
  });

  it('cuts one character longer than the limit between code points rather than keep nothing', () => {
    const zalgo = `D${'\u0301'.repeat(300)}`;
    expect(truncatedText(zalgo, 255)).toBe(zalgo.slice(0, 255));
    // An astral combining mark (two UTF-16 units) across the limit is not cut in half.
    const astral = `D${'\u0301'.repeat(253)}\u{1D167}`;
    expect(truncatedText(astral, 255)).toBe(astral.slice(0, 254));
  });

  it('cuts a long text to its first characters', () => {
    const long = 'я'.repeat(1_000_000);
    expect(truncatedText(long, 255)).toBe('я'.repeat(255));
  });
});
