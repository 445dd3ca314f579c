/**
 * Constant-time matching of presented tokens against configured ones. Both sides are hashed first
 * so that the comparison takes the same time whatever the lengths, and every configured token is
 * compared so that timing does not tell which one matched.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** Returns the id of the configured token that `presented` equals, or null. */
export type TokenMatcher = (presented: string | undefined | null) => string | null;

export function createTokenMatcher(tokens: readonly { id: string; value: string }[]): TokenMatcher {
  const digests = tokens.map((token) => ({ id: token.id, digest: sha256(token.value) }));
  return (presented) => {
    if (presented === undefined || presented === null || presented === '') return null;
    const digest = sha256(presented);
    let matched: string | null = null;
    for (const token of digests) if (timingSafeEqual(token.digest, digest)) matched ??= token.id;
    return matched;
  };
}

/** The token of an `Authorization: Bearer <token>` header, if that is what it holds. */
export function bearerToken(authorization: string | undefined): string | undefined {
  return authorization?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
