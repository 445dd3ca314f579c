import type { AuthToken, User } from '../../domain/users/users.types.js';
import { iso } from './time.js';

export function presentUser(user: User) {
  return {
    id: user.id,
    email: user.email,
    name: user.name,
    role: user.role,
    disabled: user.disabledAt !== null,
    createdAt: iso(user.createdAt),
    updatedAt: iso(user.updatedAt),
  };
}

/** A token's record; the token itself is shown once, when it is created, and never again. */
export function presentToken(token: AuthToken) {
  return {
    id: token.id,
    userId: token.userId,
    kind: token.kind,
    name: token.name,
    createdAt: iso(token.createdAt),
    expiresAt: iso(token.expiresAt),
    revokedAt: iso(token.revokedAt),
    lastUsedAt: iso(token.lastUsedAt),
  };
}
