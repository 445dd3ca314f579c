export const ROLES = ['admin', 'operator'] as const;
export type Role = (typeof ROLES)[number];

/** A person who answers chats (operator) or also manages backchat (admin). */
export interface User {
  id: string;
  email: string;
  name: string;
  role: Role;
  disabledAt: number | null;
  createdAt: number;
  updatedAt: number;
}

export type TokenKind = 'session' | 'api';

/** A token as stored: never the token itself, only what it is and whether it still holds. */
export interface AuthToken {
  id: string;
  userId: string;
  kind: TokenKind;
  name: string | null;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
  lastUsedAt: number | null;
}
