/**
 * Sign in and out. A login answers a session token (shown once, stored only as a hash) and the
 * user; failed logins are throttled per account and per address.
 */
import type { FastifyInstance } from 'fastify';
import { login, getUser, MAX_EMAIL_LENGTH, MAX_PASSWORD_LENGTH, revokeAuthToken, normalizeEmail } from '../domain/users/users.service.js';
import { loginKeys, type LoginThrottle } from '../domain/users/login-throttle.js';
import { AppError } from '../errors.js';
import type { Executor } from '../storage/executor.js';
import { currentUser, type OperatorAuth } from './operator-auth.js';
import { presentUser } from './presenters/user.presenter.js';
import { authErrors, bearerSecurity } from './schemas.js';

export interface AuthRoutesOptions {
  db: Executor;
  auth: OperatorAuth;
  throttle: LoginThrottle;
  sessionTtlMs: number;
  now: () => number;
}

export async function authRoutes(app: FastifyInstance, options: AuthRoutesOptions): Promise<void> {
  const { db, auth, throttle, now } = options;

  app.post(
    '/api/auth/login',
    {
      schema: {
        tags: ['auth'],
        summary: 'Sign in with email and password',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['email', 'password'],
          properties: { email: { type: 'string', minLength: 3, maxLength: MAX_EMAIL_LENGTH }, password: { type: 'string', minLength: 1, maxLength: MAX_PASSWORD_LENGTH } },
        },
        response: {
          200: {
            type: 'object',
            properties: { token: { type: 'string' }, expiresAt: { type: 'string', format: 'date-time' }, user: { $ref: 'User#' } },
          },
          400: { $ref: 'Error#' },
          401: { $ref: 'Error#' },
          429: { $ref: 'Error#' },
        },
      },
    },
    async (request, reply) => {
      const { email, password } = request.body as { email: string; password: string };
      const keys = loginKeys(normalizeEmail(email), request.ip);
      const admission = await throttle.admit(keys, now());
      if (!admission.admitted) {
        reply.header('retry-after', String(admission.retryAfterSeconds));
        const why = admission.inProgress ? 'Too many logins at once' : 'Too many failed logins';
        throw new AppError('too_many_requests', 429, `${why}; try again in ${admission.retryAfterSeconds} s`);
      }
      let session: Awaited<ReturnType<typeof login>> = undefined;
      try {
        session = await login(db, { email, password }, now(), options.sessionTtlMs);
      } finally {
        // A wrong password, or one that could not be checked, stays counted. An attempt that
        // cannot be ended stays in progress for a minute at most, during which a refusal asks to
        // wait a second rather than the window: logged, not answered with a 500.
        const ending = session ? throttle.succeeded(keys, admission.countedIn) : throttle.failed(keys, admission.countedIn);
        await ending.catch((error: unknown) => request.log.warn({ err: error }, 'login throttle: a login attempt was not ended'));
      }
      if (!session) throw new AppError('unauthorized', 401, 'Wrong email or password');
      return { token: session.token, expiresAt: new Date(session.expiresAt).toISOString(), user: presentUser(session.user) };
    },
  );

  app.post(
    '/api/auth/logout',
    {
      onRequest: auth.require('operator'),
      schema: { tags: ['auth'], summary: 'Revoke the token of this request', security: bearerSecurity, response: { 204: { type: 'null' }, ...authErrors } },
    },
    async (request, reply) => {
      if (request.principal?.kind === 'user') await revokeAuthToken(db, request.principal.tokenId, now());
      return reply.code(204).send();
    },
  );

  app.get(
    '/api/me',
    {
      onRequest: auth.require('operator'),
      schema: { tags: ['auth'], summary: 'The signed-in user', security: bearerSecurity, response: { 200: { $ref: 'User#' }, ...authErrors } },
    },
    async (request) => presentUser((await getUser(db, currentUser(request).id))!),
  );
}
