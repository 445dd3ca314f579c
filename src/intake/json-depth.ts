/**
 * JSON.parse copes with deep nesting, but every recursive walk after it (validation, logging,
 * JSON.stringify when storing) overflows the stack. One pass over the bytes, before parsing,
 * refuses such bodies cheaply.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/** True when objects/arrays in `json` nest deeper than `maxDepth`; brackets inside strings do not count. */
export function nestsDeeperThan(json: Uint8Array, maxDepth: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const byte = json[i];
    if (inString) {
      if (byte === BACKSLASH) i++;
      else if (byte === QUOTE) inString = false;
    } else if (byte === QUOTE) {
      inString = true;
    } else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) {
      if (++depth > maxDepth) return true;
    } else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
      depth--;
    }
  }
  return false;
}

/** What a body refused by `nestsDeeperThan` is told, on the webhook and the rest of the API alike. */
export const tooDeepMessage = (maxDepth: number) => `The request body must not nest deeper than ${maxDepth} levels.`;
