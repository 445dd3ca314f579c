/** Opaque pagination cursors: the keyset position, base64url-encoded JSON. */
import { AppError } from '../errors.js';

export function encodeCursor(position: unknown[]): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

/** Decodes a cursor made by encodeCursor with `arity` parts of the given types; 400 otherwise. */
export function decodeCursor<T extends unknown[]>(cursor: string, types: string[]): T {
  try {
    const position = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    if (Array.isArray(position) && position.length === types.length && position.every((part, i) => typeof part === types[i])) {
      return position as T;
    }
  } catch {
    // Reported below.
  }
  throw new AppError('bad_request', 400, 'Invalid request data', { cursor: ['The cursor is not one this API gave out.'] });
}
