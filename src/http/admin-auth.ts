/**
 * The admin API (webhook log, replay, stats) takes `Authorization: Bearer <ADMIN_TOKEN>`.
 * Operator accounts with an admin role will be accepted here too once they exist.
 */
import type { onRequestAsyncHookHandler } from 'fastify';
import { AppError } from '../errors.js';
import { bearerToken, createTokenMatcher } from '../security/token-matcher.js';

export function requireAdmin(adminToken: string | null): onRequestAsyncHookHandler {
  const match = createTokenMatcher(adminToken ? [{ id: 'admin-token', value: adminToken }] : []);
  return async (request) => {
    if (!adminToken) throw new AppError('forbidden', 403, 'The admin API is disabled: set ADMIN_TOKEN to use it');
    if (!match(bearerToken(request.headers.authorization))) {
      throw new AppError('unauthorized', 401, 'Send the admin token as Authorization: Bearer <token>');
    }
  };
}
