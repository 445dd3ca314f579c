/** Opaque pagination cursors: the keyset position, base64url-encoded JSON. */
import { AppError } from '../errors.js';

export function encodeCursor(position: unknown[]): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

/**
 * Decodes a cursor made by encodeCursor with `arity` parts of the given types; 400 otherwise.
 * Numbers in cursors are times in epoch milliseconds, so only safe integers are accepted: a
 * fraction, 1e20 or 1e400 (Infinity) is nothing this API gave out, and PostgreSQL's bigint would
 * refuse it with an error instead of an empty page.
 */
export function decodeCursor<T extends unknown[]>(cursor: string, types: ('number' | 'string')[]): T {
  try {
    const position = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    if (Array.isArray(position) && position.length === types.length && position.every((part, i) => isPart(part, types[i]!))) {
      return position as T;
    }
  } catch {
    // Reported below.
  }
  throw new AppError('bad_request', 400, 'Invalid request data', { cursor: ['The cursor is not one this API gave out.'] });
}

function isPart(part: unknown, type: 'number' | 'string'): boolean {
  // Ids never hold U+0000, which PostgreSQL's text refuses.
  return type === 'number' ? Number.isSafeInteger(part) : typeof part === 'string' && !part.includes('\u0000');
}
