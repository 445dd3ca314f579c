/**
 * Who is calling the operator and admin APIs: `Authorization: Bearer <token>`, where the token is
 * a user's session or API token, or the ADMIN_TOKEN from the environment (the bootstrap admin
 * credential, accepted on admin routes only). 401 without a valid token, 403 for a wrong role.
 */
import type { FastifyRequest, onRequestAsyncHookHandler } from 'fastify';
import { resolveToken } from '../domain/users/users.service.js';
import type { Role, User } from '../domain/users/users.types.js';
import { AppError } from '../errors.js';
import { bearerToken, createTokenMatcher } from '../security/token-matcher.js';
import type { Executor } from '../storage/executor.js';

export type Principal = { kind: 'user'; user: User; tokenId: string } | { kind: 'admin-token' };

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on protected routes. */
    principal: Principal | null;
  }
}

export interface OperatorAuth {
  /** Resolves a presented token (header or, for browsers' WebSockets, query) to a principal. */
  identify(token: string | undefined): Promise<Principal | null>;
  /** onRequest hook: any signed-in user (`operator`), or admins only (`admin`, ADMIN_TOKEN too). */
  require(role: Role): onRequestAsyncHookHandler;
}

export function createOperatorAuth(deps: { db: Executor; adminToken: string | null; now: () => number }): OperatorAuth {
  const matchAdminToken = createTokenMatcher(deps.adminToken ? [{ id: 'admin-token', value: deps.adminToken }] : []);

  const identify: OperatorAuth['identify'] = async (token) => {
    if (!token) return null;
    if (matchAdminToken(token)) return { kind: 'admin-token' };
    const resolved = await resolveToken(deps.db, token, deps.now());
    return resolved ? { kind: 'user', user: resolved.user, tokenId: resolved.token.id } : null;
  };

  return {
    identify,
    require(role) {
      return async (request: FastifyRequest) => {
        const principal = await identify(bearerToken(request.headers.authorization));
        if (!principal) throw new AppError('unauthorized', 401, 'Sign in: send Authorization: Bearer <token>');
        const allowed =
          principal.kind === 'admin-token' ? role === 'admin' : role === 'operator' || principal.user.role === 'admin';
        if (!allowed) {
          throw new AppError('forbidden', 403, principal.kind === 'admin-token' ? 'ADMIN_TOKEN is for admin routes; sign in as a user' : 'This needs the admin role');
        }
        request.principal = principal;
      };
    },
  };
}

/** The signed-in user of a request on an operator route (its hook guarantees one). */
export function currentUser(request: FastifyRequest): User {
  if (request.principal?.kind !== 'user') throw new AppError('forbidden', 403, 'This needs a user token');
  return request.principal.user;
}
