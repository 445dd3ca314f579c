/** Admin API: accounts and their tokens. */
import type { FastifyInstance } from 'fastify';
import {
  allUsers,
  changeUser,
  createApiToken,
  createUser,
  EMAIL_PATTERN,
  getUser,
  MAX_EMAIL_LENGTH,
  MAX_NAME_LENGTH,
  MAX_PASSWORD_LENGTH,
  revokeAuthToken,
  tokensOf,
} from '../domain/users/users.service.js';
import { ROLES, type Role } from '../domain/users/users.types.js';
import { parseIsoTime } from '../domain/iso-time.js';
import { AppError } from '../errors.js';
import type { Executor } from '../storage/executor.js';
import type { OperatorAuth } from './operator-auth.js';
import { presentToken, presentUser } from './presenters/user.presenter.js';
import { authErrors, bearerSecurity, idParam } from './schemas.js';

const errors = { 400: { $ref: 'Error#' }, 404: { $ref: 'Error#' }, 409: { $ref: 'Error#' }, ...authErrors };

export async function usersRoutes(app: FastifyInstance, options: { db: Executor; auth: OperatorAuth; now: () => number }): Promise<void> {
  const { db, now } = options;
  app.addHook('onRequest', options.auth.require('admin'));

  const requireUser = async (id: string) => {
    const user = await getUser(db, id);
    if (!user) throw new AppError('not_found', 404, 'No user with this id');
    return user;
  };

  app.get(
    '/api/users',
    { schema: { tags: ['admin'], summary: 'List users', security: bearerSecurity, response: { 200: { type: 'object', properties: { data: { type: 'array', items: { $ref: 'User#' } }, nextCursor: { type: 'null' } } }, ...authErrors } } },
    async () => ({ data: (await allUsers(db)).map(presentUser), nextCursor: null }),
  );

  app.post(
    '/api/users',
    {
      schema: {
        tags: ['admin'],
        summary: 'Create a user',
        security: bearerSecurity,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['email', 'name', 'role'],
          properties: {
            email: { type: 'string', minLength: 3, maxLength: MAX_EMAIL_LENGTH, pattern: EMAIL_PATTERN },
            name: { type: 'string', minLength: 1, maxLength: MAX_NAME_LENGTH },
            role: { type: 'string', enum: [...ROLES] },
            password: { type: 'string', maxLength: MAX_PASSWORD_LENGTH },
          },
        },
        response: { 201: { $ref: 'User#' }, ...errors },
      },
    },
    async (request, reply) => {
      const body = request.body as { email: string; name: string; role: Role; password?: string };
      return reply.code(201).send(presentUser(await createUser(db, body, now())));
    },
  );

  app.patch(
    '/api/users/:id',
    {
      schema: {
        tags: ['admin'],
        summary: 'Change name, role or password, or disable a user',
        security: bearerSecurity,
        params: idParam,
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: {
            name: { type: 'string', minLength: 1, maxLength: MAX_NAME_LENGTH },
            role: { type: 'string', enum: [...ROLES] },
            password: { type: 'string', maxLength: MAX_PASSWORD_LENGTH },
            disabled: { type: 'boolean' },
          },
        },
        response: { 200: { $ref: 'User#' }, ...errors },
      },
    },
    async (request) => {
      const { id } = request.params as { id: string };
      await requireUser(id);
      return presentUser((await changeUser(db, id, request.body as Parameters<typeof changeUser>[2], now()))!);
    },
  );

  app.get(
    '/api/users/:id/tokens',
    { schema: { tags: ['admin'], summary: "A user's tokens (never the tokens themselves)", security: bearerSecurity, params: idParam, response: { 200: { type: 'object', properties: { data: { type: 'array', items: { $ref: 'Token#' } }, nextCursor: { type: 'null' } } }, ...errors } } },
    async (request) => {
      const { id } = request.params as { id: string };
      await requireUser(id);
      return { data: (await tokensOf(db, id)).map(presentToken), nextCursor: null };
    },
  );

  app.post(
    '/api/users/:id/tokens',
    {
      schema: {
        tags: ['admin'],
        summary: 'Create a named API token; the token is in this answer only',
        security: bearerSecurity,
        params: idParam,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name'],
          properties: { name: { type: 'string', minLength: 1, maxLength: MAX_NAME_LENGTH }, expiresAt: { type: 'string', format: 'date-time' } },
        },
        response: { 201: { type: 'object', properties: { token: { type: 'string' }, record: { $ref: 'Token#' } } }, ...errors },
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      const body = request.body as { name: string; expiresAt?: string };
      const expiresAt = body.expiresAt === undefined ? null : parseIsoTime(body.expiresAt);
      // The schema's date-time allows a leap second (23:59:60), which a date cannot hold:
      // unrefused, it would be stored as no expiry at all (SQLite) or fail the insert (PostgreSQL).
      if (Number.isNaN(expiresAt)) {
        throw new AppError('bad_request', 400, 'Invalid request data', {
          expiresAt: ['The expiresAt field must be a date-time such as 2030-01-01T00:00:00Z (without a leap second).'],
        });
      }
      const created = await createApiToken(db, id, { name: body.name, expiresAt }, now());
      return reply.code(201).send({ token: created.token, record: presentToken(created.record) });
    },
  );

  app.delete(
    '/api/tokens/:id',
    { schema: { tags: ['admin'], summary: 'Revoke a token', security: bearerSecurity, params: idParam, response: { 200: { $ref: 'Token#' }, ...errors } } },
    async (request) => {
      const token = await revokeAuthToken(db, (request.params as { id: string }).id, now());
      if (!token) throw new AppError('not_found', 404, 'No token with this id');
      return presentToken(token);
    },
  );
}
