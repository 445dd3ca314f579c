/**
 * The operator API end to end, on each dialect: authentication and roles on every route, login
 * and its throttle, sessions and API tokens, the users admin API, chats (filters, search, keyset
 * pagination while webhooks keep arriving, unread counts, assignment), messages, contacts and
 * the OpenAPI document. Real app, real database, real HTTP via inject().
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DomainEvent } from '../../src/domain/domain-events.js';
import {
  ADMIN_TOKEN,
  CHAT_FIELDS,
  CONTACT_FIELDS,
  ISO,
  MESSAGE_FIELDS,
  TOKEN_FIELDS,
  USER_FIELDS,
  V3_CHANNEL,
  chatIdOf,
  createUser,
  createUserAndLogin,
  deliver,
  expectError,
  login,
  ok,
  request,
  seedMessage,
  v3Message,
  type ApiUser,
  type Json,
  type Method,
} from '../helpers/operators.js';
import { createInboxService } from '../../src/domain/inbox/inbox.service.js';
import { changeUser } from '../../src/domain/users/users.service.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';
import { testDialects } from '../helpers/test-database.js';

const METRICS_TOKEN = 'metrics-token-0123456789abcdef0123456789';
const SIGN_IN = 'Sign in: send Authorization: Bearer <token>';
const ADMIN_TOKEN_REFUSED = 'ADMIN_TOKEN is for admin routes; sign in as a user';
const NEEDS_ADMIN = 'This needs the admin role';
const WRONG_CREDENTIALS = { status: 'error', message: 'Wrong email or password' };
/** Ids that no row has: one shaped like ours (UUIDv7), one not. */
const UNKNOWN_IDS = ['01900000-0000-7000-8000-000000000000', 'no-such-id'];

const WEBHOOK_EVENT_FIELDS = [
  'authKey',
  'authScheme',
  'clientIp',
  'durationMs',
  'error',
  'event',
  'format',
  'hasBody',
  'httpStatus',
  'id',
  'ipAllowed',
  'outcome',
  'receivedAt',
  'replayOf',
  'replayOutcome',
  'replayedAt',
  'sizeBytes',
  'subject',
  'userAgent',
];

const sortedKeys = (value: object) => Object.keys(value).sort();
const ids = (page: { data: { id: string }[] }) => page.data.map((item) => item.id);

/** Every route behind a token; `id` says which fixture fills `:id`. */
type IdKind = 'chat' | 'message' | 'contact' | 'user' | 'token' | 'event';
interface ProtectedRoute {
  route: string;
  role: 'operator' | 'admin';
  id?: IdKind;
  body?: unknown;
}
const PROTECTED_ROUTES: ProtectedRoute[] = [
  { route: 'GET /api/me', role: 'operator' },
  { route: 'POST /api/auth/logout', role: 'operator' },
  { route: 'GET /api/chats', role: 'operator' },
  { route: 'GET /api/chats/:id', role: 'operator', id: 'chat' },
  { route: 'PATCH /api/chats/:id', role: 'operator', id: 'chat', body: { status: 'closed' } },
  { route: 'POST /api/chats/:id/read', role: 'operator', id: 'chat', body: {} },
  { route: 'GET /api/chats/:id/messages', role: 'operator', id: 'chat' },
  { route: 'GET /api/messages/:id/revisions', role: 'operator', id: 'message' },
  { route: 'GET /api/contacts', role: 'operator' },
  { route: 'GET /api/contacts/:id', role: 'operator', id: 'contact' },
  { route: 'GET /api/users', role: 'admin' },
  { route: 'POST /api/users', role: 'admin', body: { email: 'matrix@example.com', name: 'Matrix', role: 'admin', password: 'matrix-password-1' } },
  { route: 'PATCH /api/users/:id', role: 'admin', id: 'user', body: { role: 'admin', name: 'Escalated' } },
  { route: 'GET /api/users/:id/tokens', role: 'admin', id: 'user' },
  { route: 'POST /api/users/:id/tokens', role: 'admin', id: 'user', body: { name: 'matrix token' } },
  { route: 'DELETE /api/tokens/:id', role: 'admin', id: 'token' },
  { route: 'GET /api/webhook-events', role: 'admin' },
  { route: 'GET /api/webhook-events/:id', role: 'admin', id: 'event' },
  { route: 'POST /api/webhook-events/:id/replay', role: 'admin', id: 'event' },
  { route: 'POST /api/webhook-events/replay', role: 'admin', body: {} },
  { route: 'GET /api/stats/webhooks', role: 'admin' },
];

/** The API's routes as src/ registers them (HEAD twins and the docs' own routes aside). */
const EXPECTED_ROUTES = [
  'GET /api/webhooks/wazzup24',
  'POST /api/webhooks/wazzup24',
  'GET /api/health',
  'GET /api/ready',
  'GET /metrics',
  'POST /api/auth/login',
  ...PROTECTED_ROUTES.map((r) => r.route),
];

/** The operations of an OpenAPI document as "METHOD /path/:param". */
function documentedRoutes(spec: Json): string[] {
  return Object.entries(spec.paths as Record<string, Record<string, unknown>>).flatMap(([path, operations]) =>
    Object.keys(operations).map((method) => `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
  );
}

/**
 * Every route Fastify has, read from printRoutes' tree as "METHOD /full/path", without HEAD
 * twins and the docs' own routes (/api/docs/*, /api/openapi.json).
 */
function registeredRoutes(tree: string): string[] {
  const routes: string[] = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^([│ ]*)[├└]── (.+?)(?: \(([^)]+)\))?$/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4;
    stack.length = depth;
    stack.push(match[2]!);
    for (const method of match[3]?.split(',').map((m) => m.trim()) ?? []) routes.push(`${method} ${stack.join('')}`);
  }
  expect(routes.length, 'printRoutes could be read').toBeGreaterThan(10);
  return routes.filter((route) => !route.startsWith('HEAD ') && !/ \/api\/docs(\/|$)/.test(route) && route !== 'GET /api/openapi.json');
}

describe.each(testDialects)('operator API on %s', (dialect) => {
  // ---------------------------------------------------------------------------------------------
  // One app for authentication, users, tokens, chat responses, unread counts and assignment.
  // ---------------------------------------------------------------------------------------------
  describe('with one shared app', () => {
    let t: TestApp;
    let operator: { user: ApiUser; token: string; password: string };
    let admin: { user: ApiUser; token: string; password: string };
    const fixture = {} as Record<IdKind, string>;
    const firstItem = v3Message({ chatId: '77010000001', text: 'Where is my order?', name: 'Daria Petrova' });
    let apiToken: string;

    beforeAll(async () => {
      t = await createTestApp(dialect, { env: { ADMIN_TOKEN, METRICS_TOKEN } });
      operator = await createUserAndLogin(t, { name: 'Olga Operator', role: 'operator' });
      admin = await createUserAndLogin(t, { name: 'Adam Admin', role: 'admin' });
      await deliver(t, { messages: [firstItem] });
      fixture.chat = await chatIdOf(t, '77010000001');
      const chat = ok(await request(t, 'GET', `/api/chats/${fixture.chat}`, { token: operator.token }));
      fixture.contact = chat.contact.id;
      fixture.message = chat.lastMessage.id;
      // The user and token the matrix aims at: a bystander, so that nothing it does could matter.
      const bystander = await createUser(t, { name: 'Bystander' });
      fixture.user = bystander.user.id;
      const created = ok(await request(t, 'POST', `/api/users/${bystander.user.id}/tokens`, { token: ADMIN_TOKEN, body: { name: 'bystander' } }), 201);
      fixture.token = created.record.id;
      apiToken = created.token;
      fixture.event = ok(await request(t, 'GET', '/api/webhook-events', { token: ADMIN_TOKEN })).data[0].id;
    });
    afterAll(async () => {
      await t.close();
    });

    const call = (entry: ProtectedRoute, token: string | undefined, id?: string, headers?: Record<string, string>) => {
      const [method, path] = entry.route.split(' ') as [Method, string];
      const url = entry.id ? path.replace(':id', id ?? fixture[entry.id]) : path;
      return request(t, method, url, { token, ...(entry.body !== undefined && { body: entry.body }), ...(headers && { headers }) });
    };
    const eventsSince = (start: number, chatId: string) =>
      t.published.slice(start).filter((e): e is Extract<DomainEvent, { type: 'chat.updated' }> => e.type === 'chat.updated' && e.payload.chat.id === chatId);

    describe('authentication and roles on every protected route', () => {
      it.each(PROTECTED_ROUTES)('$route: 401 without a token or with a garbage one', async (entry) => {
        expectError(await call(entry, undefined), 401, SIGN_IN);
        for (const garbage of ['garbage', 'bc_garbage', `bc_${'A'.repeat(43)}`, `${ADMIN_TOKEN}x`, apiToken.slice(0, -1)]) {
          expectError(await call(entry, garbage), 401, SIGN_IN);
        }
        // Not a bearer header at all, even with a valid token in it.
        expectError(await call(entry, undefined, undefined, { authorization: `Basic ${Buffer.from(`x:${ADMIN_TOKEN}`).toString('base64')}` }), 401, SIGN_IN);
        expectError(await call(entry, undefined, undefined, { authorization: ADMIN_TOKEN }), 401, SIGN_IN);
        expectError(await call(entry, undefined, undefined, { authorization: 'Bearer' }), 401, SIGN_IN);
      });

      it.each(PROTECTED_ROUTES)('$route: 403 for the wrong role', async (entry) => {
        if (entry.role === 'operator') {
          expectError(await call(entry, ADMIN_TOKEN), 403, ADMIN_TOKEN_REFUSED);
        } else {
          expectError(await call(entry, operator.token), 403, NEEDS_ADMIN);
        }
      });

      it('did nothing for the refused requests', async () => {
        const users = ok(await request(t, 'GET', '/api/users', { token: ADMIN_TOKEN })).data as ApiUser[];
        expect(users.map((u) => u.email)).not.toContain('matrix@example.com');
        expect(users.find((u) => u.id === fixture.user)).toMatchObject({ name: 'Bystander', role: 'operator' });
        expect((await request(t, 'GET', '/api/me', { token: apiToken })).statusCode).toBe(200);
        const tokens = ok(await request(t, 'GET', `/api/users/${fixture.user}/tokens`, { token: ADMIN_TOKEN })).data;
        expect(tokens).toHaveLength(1);
        expect(ok(await request(t, 'GET', `/api/chats/${fixture.chat}`, { token: operator.token })).status).toBe('open');
        // The operator's session survived every refusal, and so did the admin's.
        expect((await request(t, 'GET', '/api/me', { token: operator.token })).statusCode).toBe(200);
        expect((await request(t, 'GET', '/api/me', { token: admin.token })).statusCode).toBe(200);
      });

      it.each(PROTECTED_ROUTES.filter((r) => r.id))('$route: 404 for an unknown id', async (entry) => {
        for (const unknown of UNKNOWN_IDS) {
          const response = await call(entry, admin.token, unknown);
          expectError(response, 404);
        }
      });

      it('lets an admin user (not only ADMIN_TOKEN) use both operator and admin routes', async () => {
        expect((await request(t, 'GET', '/api/chats', { token: admin.token })).statusCode).toBe(200);
        expect((await request(t, 'GET', '/api/users', { token: admin.token })).statusCode).toBe(200);
        expect((await request(t, 'GET', '/api/webhook-events', { token: admin.token })).statusCode).toBe(200);
      });

      it('reads the role at every request: a promotion and a demotion take effect at once', async () => {
        const someone = await createUserAndLogin(t);
        expectError(await request(t, 'GET', '/api/users', { token: someone.token }), 403, NEEDS_ADMIN);
        ok(await request(t, 'PATCH', `/api/users/${someone.user.id}`, { token: ADMIN_TOKEN, body: { role: 'admin' } }));
        expect((await request(t, 'GET', '/api/users', { token: someone.token })).statusCode).toBe(200);
        ok(await request(t, 'PATCH', `/api/users/${someone.user.id}`, { token: admin.token, body: { role: 'operator' } }));
        expectError(await request(t, 'GET', '/api/users', { token: someone.token }), 403, NEEDS_ADMIN);
      });
    });

    describe('admin routes: happy paths', () => {
      it('webhook log routes answer an admin user', async () => {
        const list = ok(await request(t, 'GET', '/api/webhook-events', { token: admin.token }));
        expect(sortedKeys(list)).toEqual(['data', 'nextCursor']);
        expect(list.data.length).toBeGreaterThan(0);
        for (const entry of list.data) expect(sortedKeys(entry)).toEqual(WEBHOOK_EVENT_FIELDS);
        const one = ok(await request(t, 'GET', `/api/webhook-events/${fixture.event}`, { token: admin.token }));
        expect(sortedKeys(one)).toEqual([...WEBHOOK_EVENT_FIELDS, 'body'].sort());
        expect(one).toMatchObject({ id: fixture.event, outcome: 'accepted', hasBody: true, body: expect.stringContaining(firstItem.messageId) });
        const replay = ok(await request(t, 'POST', `/api/webhook-events/${fixture.event}/replay`, { token: admin.token }));
        expect(sortedKeys(replay)).toEqual(WEBHOOK_EVENT_FIELDS);
        expect(replay).toMatchObject({ replayOf: fixture.event });
        expect(ok(await request(t, 'POST', '/api/webhook-events/replay', { token: admin.token, body: {} }))).toEqual({ replayed: 0, results: [] });
        const stats = ok(await request(t, 'GET', '/api/stats/webhooks', { token: admin.token }));
        expect(sortedKeys(stats)).toEqual(['byOutcome', 'errorRatio', 'from', 'lastReceivedAt', 'latencyMs', 'to', 'total']);
        expect(stats).toMatchObject({ total: expect.any(Number), from: expect.stringMatching(ISO), to: expect.stringMatching(ISO) });
        // The replay of a stored message changed nothing: still one message in the chat.
        const messages = ok(await request(t, 'GET', `/api/chats/${fixture.chat}/messages`, { token: operator.token }));
        expect(messages.data).toHaveLength(1);
      });
    });

    describe('login, sessions and tokens', () => {
      it('signs in (email in any case, padded) and answers the token, its expiry and the user', async () => {
        const { user, password } = await createUser(t, { email: 'Login.Case@Example.com', name: 'Lena' });
        expect(user.email).toBe('login.case@example.com');
        const before = Date.now();
        const response = await request(t, 'POST', '/api/auth/login', { body: { email: '  LOGIN.case@EXAMPLE.COM ', password } });
        const body = ok(response);
        expect(sortedKeys(body)).toEqual(['expiresAt', 'token', 'user']);
        expect(body.token).toMatch(/^bc_[A-Za-z0-9_-]{43}$/);
        expect(body.expiresAt).toMatch(ISO);
        // SESSION_TTL_HOURS defaults to a week.
        const ttl = Date.parse(body.expiresAt) - before;
        expect(ttl).toBeGreaterThanOrEqual(168 * 3_600_000 - 1_000);
        expect(ttl).toBeLessThanOrEqual(168 * 3_600_000 + 60_000);
        expect(body.user).toEqual(user);
        expect(sortedKeys(body.user)).toEqual(USER_FIELDS);
        const me = ok(await request(t, 'GET', '/api/me', { token: body.token }));
        expect(me).toEqual(user);
        // Each login is a session of its own.
        const second = await login(t, user.email, password!);
        expect(second.token).not.toBe(body.token);
      });

      it('answers a wrong password and an unknown email with the same 401', async () => {
        const wrong = await request(t, 'POST', '/api/auth/login', { body: { email: operator.user.email, password: 'not the password' }, remoteAddress: '10.9.0.1' });
        const unknown = await request(t, 'POST', '/api/auth/login', { body: { email: 'nobody@example.com', password: operator.password }, remoteAddress: '10.9.0.2' });
        expect(wrong.statusCode).toBe(401);
        expect(unknown.statusCode).toBe(401);
        expect(wrong.json()).toEqual(WRONG_CREDENTIALS);
        expect(unknown.json()).toEqual(WRONG_CREDENTIALS);
        expect(wrong.headers['retry-after']).toBeUndefined();
      });

      it('refuses a user created without a password', async () => {
        const { user } = await createUser(t, { password: null });
        const response = await request(t, 'POST', '/api/auth/login', { body: { email: user.email, password: 'anything at all' }, remoteAddress: '10.9.0.3' });
        expect(response.statusCode).toBe(401);
        expect(response.json()).toEqual(WRONG_CREDENTIALS);
      });

      it('validates the login body', async () => {
        expectError(await request(t, 'POST', '/api/auth/login', { body: { email: operator.user.email } }), 400, 'Invalid request data');
        expectError(await request(t, 'POST', '/api/auth/login', { body: { email: 42, password: 'x' } }), 400, 'Invalid request data');
        expectError(await request(t, 'POST', '/api/auth/login', { body: '{"email":' }), 400);
      });

      it('refuses a disabled user: no login, no session, no API token; enabling lets it sign in again', async () => {
        const someone = await createUserAndLogin(t);
        const api = ok(await request(t, 'POST', `/api/users/${someone.user.id}/tokens`, { token: ADMIN_TOKEN, body: { name: 'script' } }), 201);
        const disabled = ok(await request(t, 'PATCH', `/api/users/${someone.user.id}`, { token: ADMIN_TOKEN, body: { disabled: true } }));
        expect(disabled).toMatchObject({ id: someone.user.id, disabled: true });
        const refused = await request(t, 'POST', '/api/auth/login', { body: { email: someone.user.email, password: someone.password }, remoteAddress: '10.9.0.4' });
        expect(refused.statusCode).toBe(401);
        expect(refused.json()).toEqual(WRONG_CREDENTIALS);
        expectError(await request(t, 'GET', '/api/me', { token: someone.token }), 401, SIGN_IN);
        expectError(await request(t, 'GET', '/api/chats', { token: api.token }), 401, SIGN_IN);
        // A token made while it is disabled would bring the account back with a credential.
        expectError(await request(t, 'POST', `/api/users/${someone.user.id}/tokens`, { token: ADMIN_TOKEN, body: { name: 'later' } }), 409);

        ok(await request(t, 'PATCH', `/api/users/${someone.user.id}`, { token: ADMIN_TOKEN, body: { disabled: false } }));
        const again = await login(t, someone.user.email, someone.password);
        expect(ok(await request(t, 'GET', '/api/me', { token: again.token }))).toMatchObject({ id: someone.user.id, disabled: false });
      });

      it('never leaves a token made while the user is being disabled alive for its return', async () => {
        for (let round = 0; round < 40; round += 1) {
          const { user } = await createUser(t);
          const [made] = await Promise.all([
            request(t, 'POST', `/api/users/${user.id}/tokens`, { token: ADMIN_TOKEN, body: { name: 'racing' } }),
            request(t, 'PATCH', `/api/users/${user.id}`, { token: ADMIN_TOKEN, body: { disabled: true } }),
          ]);
          expect([201, 409], made.body).toContain(made.statusCode);
          ok(await request(t, 'PATCH', `/api/users/${user.id}`, { token: ADMIN_TOKEN, body: { disabled: false } }));
          if (made.statusCode === 201) expectError(await request(t, 'GET', '/api/me', { token: made.json().token as string }), 401, SIGN_IN);
        }
      });

      // A compromised account is disabled: its sessions must not come back when it is enabled again.
      it('ends the sessions of a disabled user for good (re-enabling must not revive them)', async () => {
        const someone = await createUserAndLogin(t);
        ok(await request(t, 'PATCH', `/api/users/${someone.user.id}`, { token: ADMIN_TOKEN, body: { disabled: true } }));
        ok(await request(t, 'PATCH', `/api/users/${someone.user.id}`, { token: ADMIN_TOKEN, body: { disabled: false } }));
        expectError(await request(t, 'GET', '/api/me', { token: someone.token }), 401, SIGN_IN);
        const tokens = ok(await request(t, 'GET', `/api/users/${someone.user.id}/tokens`, { token: ADMIN_TOKEN })).data;
        expect(tokens.filter((token: Json) => token.kind === 'session' && token.revokedAt === null)).toEqual([]);
      });

      it('ends the sessions of a user whose password changes, and keeps its API tokens', async () => {
        const someone = await createUserAndLogin(t);
        const api = ok(await request(t, 'POST', `/api/users/${someone.user.id}/tokens`, { token: ADMIN_TOKEN, body: { name: 'script' } }), 201);
        ok(await request(t, 'PATCH', `/api/users/${someone.user.id}`, { token: ADMIN_TOKEN, body: { password: 'a brand new password' } }));
        expectError(await request(t, 'GET', '/api/me', { token: someone.token }), 401, SIGN_IN);
        expect((await request(t, 'GET', '/api/me', { token: api.token })).statusCode).toBe(200);
        const again = await login(t, someone.user.email, 'a brand new password');
        expect((await request(t, 'GET', '/api/me', { token: again.token })).statusCode).toBe(200);
      });

      it('refuses an API token that would already be expired', async () => {
        const past = new Date(Date.now() - 60_000).toISOString();
        const error = expectError(await request(t, 'POST', `/api/users/${operator.user.id}/tokens`, { token: ADMIN_TOKEN, body: { name: 'late', expiresAt: past } }), 400, 'Invalid request data');
        expect(Object.keys(error.errors ?? {})).toEqual(['expiresAt']);
      });

      it('refuses a name of nothing but spaces for a user and a token, stored as "" before', async () => {
        const blank = { name: ['The name must not be blank.'] };
        const created = await request(t, 'POST', '/api/users', { token: ADMIN_TOKEN, body: { email: 'blank@example.com', name: '   ', role: 'operator' } });
        expect(expectError(created, 400, 'Invalid request data').errors).toEqual(blank);
        const renamed = await request(t, 'PATCH', `/api/users/${operator.user.id}`, { token: ADMIN_TOKEN, body: { name: ' \t ' } });
        expect(expectError(renamed, 400, 'Invalid request data').errors).toEqual(blank);
        const token = await request(t, 'POST', `/api/users/${operator.user.id}/tokens`, { token: ADMIN_TOKEN, body: { name: '  ' } });
        expect(expectError(token, 400, 'Invalid request data').errors).toEqual(blank);
        // Limits count characters, as the schemas do: 150 emoji are a name of 150, not 300.
        const emoji = await request(t, 'POST', '/api/users', { token: ADMIN_TOKEN, body: { email: 'emoji@example.com', name: '🙂'.repeat(150), role: 'operator' } });
        expect(emoji.statusCode, emoji.body).toBe(201);
      });

      it('refuses an expiry at a leap second, which would otherwise be stored as no expiry', async () => {
        const error = expectError(
          await request(t, 'POST', `/api/users/${operator.user.id}/tokens`, { token: ADMIN_TOKEN, body: { name: 'leap', expiresAt: '2099-12-31T23:59:60Z' } }),
          400,
          'Invalid request data',
        );
        expect(Object.keys(error.errors ?? {})).toEqual(['expiresAt']);
        expect(error.errors).toEqual({ expiresAt: ['The expiresAt field must be a date-time such as 2030-01-01T00:00:00Z (without a leap second).'] });
        // Read as the webhooks' times are: an offset without minutes is one.
        const offset = await request(t, 'POST', `/api/users/${operator.user.id}/tokens`, { token: ADMIN_TOKEN, body: { name: 'offset', expiresAt: '2099-01-01T05:00:00+05' } });
        expect(ok(offset, 201).record.expiresAt).toBe('2099-01-01T00:00:00.000Z');
      });

      it('logout revokes the calling token only', async () => {
        const { user, password } = await createUser(t);
        const first = await login(t, user.email, password!);
        const second = await login(t, user.email, password!);
        const response = await request(t, 'POST', '/api/auth/logout', { token: first.token });
        expect(response.statusCode).toBe(204);
        expect(response.body).toBe('');
        expectError(await request(t, 'GET', '/api/me', { token: first.token }), 401, SIGN_IN);
        expectError(await request(t, 'POST', '/api/auth/logout', { token: first.token }), 401, SIGN_IN);
        expect(ok(await request(t, 'GET', '/api/me', { token: second.token })).id).toBe(user.id);
        const tokens = ok(await request(t, 'GET', `/api/users/${user.id}/tokens`, { token: ADMIN_TOKEN })).data;
        expect(tokens).toHaveLength(2);
        expect(tokens.filter((token: Json) => token.revokedAt !== null)).toHaveLength(1);
        for (const token of tokens) expect(token).toMatchObject({ kind: 'session', name: null, userId: user.id });
      });

      it('API tokens: shown once, work on operator routes, listed without the secret, stop after revocation', async () => {
        const { user } = await createUser(t, { name: 'Integration' });
        const expiresAt = new Date(Date.now() + 30 * 86_400_000).toISOString();
        const created = ok(await request(t, 'POST', `/api/users/${user.id}/tokens`, { token: admin.token, body: { name: ' CRM sync ', expiresAt } }), 201);
        expect(sortedKeys(created)).toEqual(['record', 'token']);
        expect(created.token).toMatch(/^bc_[A-Za-z0-9_-]{43}$/);
        expect(sortedKeys(created.record)).toEqual(TOKEN_FIELDS);
        expect(created.record).toEqual({
          id: expect.any(String),
          userId: user.id,
          kind: 'api',
          name: 'CRM sync',
          createdAt: expect.stringMatching(ISO),
          expiresAt,
          revokedAt: null,
          lastUsedAt: null,
        });
        // A token without expiry, too.
        const forever = ok(await request(t, 'POST', `/api/users/${user.id}/tokens`, { token: ADMIN_TOKEN, body: { name: 'forever' } }), 201);
        expect(forever.record.expiresAt).toBeNull();

        expect(ok(await request(t, 'GET', '/api/me', { token: created.token })).id).toBe(user.id);
        expect((await request(t, 'GET', '/api/chats', { token: created.token })).statusCode).toBe(200);
        // An operator's API token is no admin credential.
        expectError(await request(t, 'GET', '/api/users', { token: created.token }), 403, NEEDS_ADMIN);

        const listed = await request(t, 'GET', `/api/users/${user.id}/tokens`, { token: ADMIN_TOKEN });
        expect(listed.body).not.toContain(created.token);
        expect(listed.body).not.toContain(forever.token);
        const list = ok(listed);
        expect(sortedKeys(list)).toEqual(['data', 'nextCursor']);
        expect(list.nextCursor).toBeNull();
        const record = list.data.find((token: Json) => token.id === created.record.id);
        expect(sortedKeys(record)).toEqual(TOKEN_FIELDS);
        expect(record).toMatchObject({ kind: 'api', name: 'CRM sync', revokedAt: null, lastUsedAt: expect.stringMatching(ISO) });

        const revoked = ok(await request(t, 'DELETE', `/api/tokens/${created.record.id}`, { token: admin.token }));
        expect(sortedKeys(revoked)).toEqual(TOKEN_FIELDS);
        expect(revoked).toMatchObject({ id: created.record.id, revokedAt: expect.stringMatching(ISO) });
        expectError(await request(t, 'GET', '/api/me', { token: created.token }), 401, SIGN_IN);
        // Revoking again changes nothing (the first revocation time stays).
        expect(ok(await request(t, 'DELETE', `/api/tokens/${created.record.id}`, { token: ADMIN_TOKEN })).revokedAt).toBe(revoked.revokedAt);
        // The other token still works.
        expect((await request(t, 'GET', '/api/me', { token: forever.token })).statusCode).toBe(200);
      });

      it('validates token creation', async () => {
        expectError(await request(t, 'POST', `/api/users/${operator.user.id}/tokens`, { token: ADMIN_TOKEN, body: {} }), 400, 'Invalid request data');
        expectError(await request(t, 'POST', `/api/users/${operator.user.id}/tokens`, { token: ADMIN_TOKEN, body: { name: 'x', expiresAt: 'tomorrow' } }), 400, 'Invalid request data');
      });

      it('never shows a token or a password in an answer other than the one creating it', async () => {
        const password = 'a-very-secret-password-77';
        const created = await createUser(t, { password, name: 'Secretive' });
        const session = await login(t, created.user.email, password);
        const api = ok(await request(t, 'POST', `/api/users/${created.user.id}/tokens`, { token: ADMIN_TOKEN, body: { name: 'secret' } }), 201);
        const answers = [
          await request(t, 'GET', '/api/users', { token: ADMIN_TOKEN }),
          await request(t, 'GET', `/api/users/${created.user.id}/tokens`, { token: ADMIN_TOKEN }),
          await request(t, 'GET', '/api/me', { token: session.token }),
          await request(t, 'GET', '/api/me', { token: api.token }),
          await request(t, 'GET', '/api/chats', { token: session.token }),
          // A new password ends the user's sessions (checked below), so this comes last.
          await request(t, 'PATCH', `/api/users/${created.user.id}`, { token: ADMIN_TOKEN, body: { password: 'another-secret-password' } }),
          await request(t, 'POST', '/api/users', { token: ADMIN_TOKEN, body: { email: 'pw@example.com', name: 'Pw', role: 'operator', password } }),
        ];
        for (const answer of answers) {
          expect(answer.statusCode, answer.body).toBeLessThan(300);
          for (const secret of [session.token, api.token, password, 'another-secret-password', ADMIN_TOKEN]) expect(answer.body).not.toContain(secret);
          expect(answer.body.toLowerCase()).not.toMatch(/password|hash|\$argon2/);
        }
        // A new password ends the sessions; API tokens for integrations stay.
        expect((await request(t, 'GET', '/api/me', { token: session.token })).statusCode).toBe(401);
        expect((await request(t, 'GET', '/api/me', { token: api.token })).statusCode).toBe(200);
      });
    });

    describe('users admin API', () => {
      it('creates a user with exactly the documented fields; 409 for a taken email in any case', async () => {
        const response = await request(t, 'POST', '/api/users', {
          token: ADMIN_TOKEN,
          body: { email: 'New.Person@Example.COM', name: '  Nora Person ', role: 'operator', password: 'long-enough-1' },
        });
        const user = ok(response, 201);
        expect(sortedKeys(user)).toEqual(USER_FIELDS);
        expect(user).toEqual({
          id: expect.any(String),
          email: 'new.person@example.com',
          name: 'Nora Person',
          role: 'operator',
          disabled: false,
          createdAt: expect.stringMatching(ISO),
          updatedAt: expect.stringMatching(ISO),
        });
        expect(await login(t, 'new.person@example.com', 'long-enough-1')).toMatchObject({ user });
        const duplicate = await request(t, 'POST', '/api/users', { token: admin.token, body: { email: 'NEW.PERSON@example.com', name: 'Again', role: 'admin' } });
        expect(duplicate.statusCode).toBe(409);
        expect(duplicate.json()).toEqual({ status: 'error', message: 'A user with this email exists' });
      });

      it('validates a new user', async () => {
        const post = (body: unknown) => request(t, 'POST', '/api/users', { token: ADMIN_TOKEN, body });
        expectError(await post({ email: 'no-at-sign', name: 'X', role: 'operator' }), 400, 'Invalid request data');
        expectError(await post({ email: 'x@example.com', name: 'X', role: 'superuser' }), 400, 'Invalid request data');
        expectError(await post({ email: 'x@example.com', name: '', role: 'operator' }), 400, 'Invalid request data');
        expectError(await post({ name: 'X', role: 'operator' }), 400, 'Invalid request data');
        const short = expectError(await post({ email: 'x@example.com', name: 'X', role: 'operator', password: 'short' }), 400, 'Invalid request data');
        expect(short.errors).toEqual({ password: ['The password must be at least 10 characters.'] });
        // None of them was created.
        const users = ok(await request(t, 'GET', '/api/users', { token: ADMIN_TOKEN })).data as ApiUser[];
        expect(users.map((u) => u.email)).not.toContain('x@example.com');
      });

      it('lists users by email with exactly the documented fields', async () => {
        const list = ok(await request(t, 'GET', '/api/users', { token: admin.token }));
        expect(sortedKeys(list)).toEqual(['data', 'nextCursor']);
        expect(list.nextCursor).toBeNull();
        const users = list.data as ApiUser[];
        expect(users.map((u) => u.email)).toEqual(users.map((u) => u.email).sort());
        for (const user of users) expect(sortedKeys(user)).toEqual(USER_FIELDS);
        expect(users.find((u) => u.id === operator.user.id)).toEqual(operator.user);
      });

      it('changes name, role and password; a new password replaces the old one', async () => {
        const { user, password } = await createUser(t, { name: 'Changeable' });
        const renamed = ok(await request(t, 'PATCH', `/api/users/${user.id}`, { token: ADMIN_TOKEN, body: { name: ' Changed ', role: 'admin' } }));
        expect(sortedKeys(renamed)).toEqual(USER_FIELDS);
        expect(renamed).toMatchObject({ id: user.id, email: user.email, name: 'Changed', role: 'admin', disabled: false, createdAt: user.createdAt });
        ok(await request(t, 'PATCH', `/api/users/${user.id}`, { token: ADMIN_TOKEN, body: { password: 'a brand new password' } }));
        const old = await request(t, 'POST', '/api/auth/login', { body: { email: user.email, password }, remoteAddress: '10.9.0.5' });
        expect(old.statusCode).toBe(401);
        expect((await login(t, user.email, 'a brand new password')).user).toMatchObject({ id: user.id, name: 'Changed', role: 'admin' });
      });

      it('validates user changes', async () => {
        const patch = (body: unknown) => request(t, 'PATCH', `/api/users/${fixture.user}`, { token: ADMIN_TOKEN, body });
        expectError(await patch({}), 400, 'Invalid request data');
        expectError(await patch({ role: 'root' }), 400, 'Invalid request data');
        expectError(await patch({ disabled: 'yes' }), 400, 'Invalid request data');
        expect(expectError(await patch({ password: 'short' }), 400).errors).toEqual({ password: ['The password must be at least 10 characters.'] });
      });
    });

    describe('chats, messages and contacts: responses', () => {
      it('GET /api/me answers the signed-in user', async () => {
        const me = ok(await request(t, 'GET', '/api/me', { token: operator.token }));
        expect(sortedKeys(me)).toEqual(USER_FIELDS);
        expect(me).toEqual(operator.user);
        expect(me).toMatchObject({ name: 'Olga Operator', role: 'operator', disabled: false });
      });

      it('GET /api/chats/:id answers the chat with its contact and last message, exactly', async () => {
        const chat = ok(await request(t, 'GET', `/api/chats/${fixture.chat}`, { token: operator.token }));
        expect(sortedKeys(chat)).toEqual(CHAT_FIELDS);
        expect(sortedKeys(chat.contact)).toEqual(CONTACT_FIELDS);
        expect(sortedKeys(chat.lastMessage)).toEqual(MESSAGE_FIELDS);
        expect(chat).toEqual({
          id: fixture.chat,
          channelId: V3_CHANNEL,
          chatType: 'whatsapp',
          externalId: '77010000001',
          status: 'open',
          assigneeId: null,
          unreadCount: 1,
          lastActivityAt: expect.stringMatching(ISO),
          createdAt: expect.stringMatching(ISO),
          updatedAt: expect.stringMatching(ISO),
          contact: {
            id: fixture.contact,
            name: 'Daria Petrova',
            phone: '+77010000001',
            username: null,
            avatarUrl: null,
            createdAt: expect.stringMatching(ISO),
            updatedAt: expect.stringMatching(ISO),
          },
          lastMessage: expect.objectContaining({
            id: expect.any(String),
            chatId: fixture.chat,
            externalId: firstItem.messageId,
            direction: 'in',
            type: 'text',
            text: 'Where is my order?',
            file: null,
            author: null,
            quotedMessageId: null,
            failedAt: null,
            error: null,
            sentAt: firstItem.dateTime,
            createdAt: expect.stringMatching(ISO),
            editedAt: null,
            deletedAt: null,
          }),
        });
        // The sender's raw payload never reaches operators.
        expect(JSON.stringify(chat)).not.toContain('"raw"');
      });

      it('GET /api/chats lists the same chat view', async () => {
        const page = ok(await request(t, 'GET', '/api/chats', { token: operator.token }));
        expect(sortedKeys(page)).toEqual(['data', 'nextCursor']);
        const listed = page.data.find((c: Json) => c.id === fixture.chat);
        expect(listed).toEqual(ok(await request(t, 'GET', `/api/chats/${fixture.chat}`, { token: operator.token })));
      });

      it('GET /api/chats/:id/messages answers messages newest first, exactly, with an outgoing author', async () => {
        const chatId = '77010000009';
        const a = v3Message({ chatId, text: 'first', dateTime: '2025-05-06T10:00:00.000Z' });
        const b = v3Message({ chatId, text: 'reply', isEcho: true, dateTime: '2025-05-06T10:01:00.000Z' });
        // Same second as b: the tie is broken by id (b was stored first, so c comes first).
        const c = v3Message({ chatId, text: 'same time', dateTime: '2025-05-06T10:01:00.000Z' });
        // Late: older than everything, stored last.
        const late = v3Message({ chatId, text: 'late', dateTime: '2025-05-06T09:00:00.000Z' });
        await deliver(t, { messages: [a] });
        await deliver(t, { messages: [b] });
        await deliver(t, { messages: [c] });
        await deliver(t, { messages: [late] });
        const id = await chatIdOf(t, chatId);
        const page = ok(await request(t, 'GET', `/api/chats/${id}/messages`, { token: operator.token }));
        expect(sortedKeys(page)).toEqual(['data', 'nextCursor']);
        expect(page.nextCursor).toBeNull();
        expect(page.data.map((m: Json) => m.text)).toEqual(['same time', 'reply', 'first', 'late']);
        for (const message of page.data) expect(sortedKeys(message)).toEqual(MESSAGE_FIELDS);
        expect(page.data[1]).toMatchObject({ direction: 'out', author: { id: 'u-7', name: 'Operator Olga' }, externalId: b.messageId, chatId: id });
        expect(page.data[0]).toMatchObject({ direction: 'in', author: null, sentAt: '2025-05-06T10:01:00.000Z' });
        // The late message is not the chat's last message, the newest one is.
        expect(ok(await request(t, 'GET', `/api/chats/${id}`, { token: operator.token })).lastMessage.id).toBe(page.data[0].id);
        const paged = ok(await request(t, 'GET', `/api/chats/${id}/messages?limit=3`, { token: operator.token }));
        expect(paged.data.map((m: Json) => m.text)).toEqual(['same time', 'reply', 'first']);
        expect(typeof paged.nextCursor).toBe('string');
        const rest = ok(await request(t, 'GET', `/api/chats/${id}/messages?limit=3&cursor=${paged.nextCursor}`, { token: operator.token }));
        expect(rest).toMatchObject({ data: [expect.objectContaining({ text: 'late' })], nextCursor: null });
      });

      it("GET /api/messages/:id/revisions answers a message's edits and deletion, oldest first, exactly", async () => {
        const chatId = '77010000010';
        const original = v3Message({ chatId, text: 'first words', dateTime: '2025-05-07T10:00:00.000Z' });
        const edit = (text: string, oldText: string, dateTime: string) => ({ ...original, text, dateTime, isEdited: true, oldInfo: { oldText } });
        await deliver(t, { messages: [original] });
        // Out of order, as a sender may deliver them: the deletion first, then the later edit.
        await deliver(t, { messages: [{ ...original, text: null, dateTime: '2025-05-07T10:03:00.000Z', isDeleted: true, oldInfo: { oldText: 'third words' } }] });
        await deliver(t, { messages: [edit('third words', 'second words', '2025-05-07T10:02:00.000Z')] });
        await deliver(t, { messages: [edit('second words', 'first words', '2025-05-07T10:01:00.000Z')] });
        // Sent again: one revision all the same.
        await deliver(t, { messages: [edit('second words', 'first words', '2025-05-07T10:01:00.000Z')] });
        // An operator's own message, edited: the revision names them.
        const reply = v3Message({ chatId, text: 'See you at 5', isEcho: true, dateTime: '2025-05-07T10:04:00.000Z' });
        await deliver(t, { messages: [reply] });
        // Edited twice within one second: the same time, kept in the order received.
        await deliver(t, { messages: [{ ...reply, text: 'See you at 6', dateTime: '2025-05-07T10:05:00.000Z', isEdited: true, oldInfo: { oldText: 'See you at 5' } }] });
        await deliver(t, { messages: [{ ...reply, text: 'See you at 7', dateTime: '2025-05-07T10:05:00.000Z', isEdited: true, oldInfo: { oldText: 'See you at 6' } }] });

        const messages = ok(await request(t, 'GET', `/api/chats/${await chatIdOf(t, chatId)}/messages`, { token: operator.token })).data as Json[];
        const [replyId, originalId] = [reply, original].map((m) => messages.find((message) => message.externalId === m.messageId)!.id as string);
        // The message says that it has a history: the text the deletion removed, and the last edit
        // made before it, although both edits came after it.
        expect(messages.find((m) => m.id === originalId)).toMatchObject({ text: 'third words', deletedAt: '2025-05-07T10:03:00.000Z', editedAt: '2025-05-07T10:02:00.000Z' });

        const page = ok(await request(t, 'GET', `/api/messages/${originalId}/revisions`, { token: operator.token }));
        expect(sortedKeys(page)).toEqual(['data', 'nextCursor']);
        expect(page.nextCursor).toBeNull();
        for (const revision of page.data) {
          expect(sortedKeys(revision)).toEqual(['author', 'id', 'kind', 'newText', 'occurredAt', 'oldText', 'receivedAt']);
          expect(revision.receivedAt).toMatch(ISO);
        }
        expect(page.data.map((r: Json) => [r.kind, r.oldText, r.newText, r.occurredAt, r.author])).toEqual([
          ['edited', 'first words', 'second words', '2025-05-07T10:01:00.000Z', null],
          ['edited', 'second words', 'third words', '2025-05-07T10:02:00.000Z', null],
          ['deleted', 'third words', null, '2025-05-07T10:03:00.000Z', null],
        ]);
        const first = ok(await request(t, 'GET', `/api/messages/${originalId}/revisions?limit=2`, { token: operator.token }));
        expect(first.data).toEqual(page.data.slice(0, 2));
        const rest = ok(await request(t, 'GET', `/api/messages/${originalId}/revisions?limit=2&cursor=${first.nextCursor}`, { token: operator.token }));
        expect(rest).toEqual({ data: page.data.slice(2), nextCursor: null });

        const replyRevisions = ok(await request(t, 'GET', `/api/messages/${replyId}/revisions`, { token: operator.token }));
        const operatorOlga = { id: 'u-7', name: 'Operator Olga' };
        expect(replyRevisions.data).toEqual([
          expect.objectContaining({ kind: 'edited', oldText: 'See you at 5', newText: 'See you at 6', author: operatorOlga }),
          expect.objectContaining({ kind: 'edited', oldText: 'See you at 6', newText: 'See you at 7', author: operatorOlga }),
        ]);
        const tiedFirst = ok(await request(t, 'GET', `/api/messages/${replyId}/revisions?limit=1`, { token: operator.token }));
        const tiedRest = ok(await request(t, 'GET', `/api/messages/${replyId}/revisions?limit=1&cursor=${tiedFirst.nextCursor}`, { token: operator.token }));
        expect([...tiedFirst.data, ...tiedRest.data]).toEqual(replyRevisions.data);
        expect(ok(await request(t, 'GET', `/api/messages/${fixture.message}/revisions`, { token: operator.token }))).toEqual({ data: [], nextCursor: null });
        for (const unknown of [...UNKNOWN_IDS, chatId]) {
          expectError(await request(t, 'GET', `/api/messages/${unknown}/revisions`, { token: operator.token }), 404, 'No message with this id');
        }
      });

      it('GET /api/contacts lists and searches contacts; GET /api/contacts/:id answers one with its chats', async () => {
        // The same customer through another channel (seed format): one contact, two chats.
        await deliver(t, seedMessage({ chatId: 'seed-daria', phone: '+7 701 000 00 01', name: 'Daria Petrova', text: 'me again' }));
        const page = ok(await request(t, 'GET', '/api/contacts?q=PETROVA', { token: operator.token }));
        expect(sortedKeys(page)).toEqual(['data', 'nextCursor']);
        expect(page).toEqual({ data: [expect.objectContaining({ id: fixture.contact, name: 'Daria Petrova', phone: '+77010000001' })], nextCursor: null });
        expect(sortedKeys(page.data[0])).toEqual(CONTACT_FIELDS);
        expect(ids(ok(await request(t, 'GET', '/api/contacts?q=7010000001', { token: operator.token })))).toEqual([fixture.contact]);
        expect(ids(ok(await request(t, 'GET', `/api/contacts?q=${encodeURIComponent('+7 (701) 000-00-01')}`, { token: operator.token })))).toEqual([fixture.contact]);
        expect(ok(await request(t, 'GET', '/api/contacts?q=nobody-has-this', { token: operator.token })).data).toEqual([]);

        const contact = ok(await request(t, 'GET', `/api/contacts/${fixture.contact}`, { token: operator.token }));
        expect(sortedKeys(contact)).toEqual([...CONTACT_FIELDS, 'chats'].sort());
        expect(contact).toMatchObject({ id: fixture.contact, name: 'Daria Petrova', phone: '+77010000001' });
        expect(contact.chats).toHaveLength(2);
        for (const chat of contact.chats) {
          expect(sortedKeys(chat)).toEqual(CHAT_FIELDS);
          expect(chat.contact.id).toBe(fixture.contact);
        }
        // Newest activity first: the seed chat was written to last.
        expect(contact.chats.map((c: Json) => c.externalId)).toEqual(['seed-daria', '77010000001']);
      });

      it('pages through contacts newest first without repeats', async () => {
        const all = ok(await request(t, 'GET', '/api/contacts?limit=200', { token: operator.token })).data.map((c: Json) => c.id);
        expect(all.length).toBeGreaterThanOrEqual(2);
        expect([...all].sort().reverse()).toEqual(all);
        const seen: string[] = [];
        let cursor: string | null = null;
        do {
          const url: string = `/api/contacts?limit=1${cursor ? `&cursor=${cursor}` : ''}`;
          const page = ok(await request(t, 'GET', url, { token: operator.token }));
          expect(page.data.length).toBeLessThanOrEqual(1);
          seen.push(...ids(page));
          cursor = page.nextCursor;
        } while (cursor);
        expect(seen).toEqual(all);
      });

      it('refuses cursors it did not give out and limits out of range', async () => {
        for (const url of [
          '/api/chats?cursor=garbage',
          `/api/chats?cursor=${Buffer.from('["x","y"]').toString('base64url')}`,
          `/api/chats/${fixture.chat}/messages?cursor=${Buffer.from('[1]').toString('base64url')}`,
          `/api/messages/${fixture.message}/revisions?cursor=${Buffer.from('["x","y"]').toString('base64url')}`,
          `/api/contacts?cursor=${Buffer.from('[1]').toString('base64url')}`,
        ]) {
          const body = expectError(await request(t, 'GET', url, { token: operator.token }), 400, 'Invalid request data');
          expect(body.errors).toEqual({ cursor: ['The cursor is not one this API gave out.'] });
        }
        for (const limit of ['0', '201', 'ten']) {
          expectError(await request(t, 'GET', `/api/chats?limit=${limit}`, { token: operator.token }), 400, 'Invalid request data');
        }
        // The webhook log's cursor is an entry's id: anything else had answered the first page.
        for (const cursor of ['zzz', fixture.event.toUpperCase(), `${fixture.event}x`]) {
          const body = expectError(await request(t, 'GET', `/api/webhook-events?cursor=${cursor}`, { token: ADMIN_TOKEN }), 400, 'Invalid request data');
          expect(Object.keys(body.errors ?? {})).toEqual(['cursor']);
        }
        expect(ok(await request(t, 'GET', `/api/webhook-events?cursor=${fixture.event}`, { token: ADMIN_TOKEN })).data).toBeInstanceOf(Array);
      });
    });

    describe('unread counts', () => {
      const CHAT = '77010000002';
      let chatId: string;
      const unread = async () => ok(await request(t, 'GET', `/api/chats/${chatId}`, { token: operator.token })).unreadCount as number;
      const messageIds = async () => {
        const page = ok(await request(t, 'GET', `/api/chats/${chatId}/messages`, { token: operator.token }));
        return new Map<string, string>(page.data.map((m: Json) => [m.externalId, m.id]));
      };
      /** Marks read (optionally up to a message); checks the answer and the one chat.updated event. */
      const read = async (expected: number, body?: unknown) => {
        const start = t.published.length;
        const chat = ok(await request(t, 'POST', `/api/chats/${chatId}/read`, { token: operator.token, ...(body !== undefined && { body }) }));
        expect(sortedKeys(chat)).toEqual(CHAT_FIELDS);
        expect(chat.unreadCount).toBe(expected);
        const events = eventsSince(start, chatId);
        expect(events).toHaveLength(1);
        expect(events[0]!.payload.chat.unreadCount).toBe(expected);
        expect(events[0]!.payload.contact?.id).toBe(chat.contact.id);
        expect(events[0]!.payload.lastMessage?.id).toBe(chat.lastMessage.id);
        expect(await unread()).toBe(expected);
      };
      const incoming = (text: string) => v3Message({ chatId: CHAT, text });
      const echo = (text: string) => v3Message({ chatId: CHAT, text, isEcho: true });

      it('counts incoming messages, and reading everything brings it to 0', async () => {
        await deliver(t, { messages: [incoming('m1')] });
        chatId = await chatIdOf(t, CHAT);
        expect(await unread()).toBe(1);
        await deliver(t, { messages: [incoming('m2')] });
        expect(await unread()).toBe(2);
        await read(0);
        await deliver(t, { messages: [incoming('m3')] });
        expect(await unread()).toBe(1);
        // An empty body is the same as none.
        await read(0, {});
        await deliver(t, { messages: [incoming('m3b')] });
        expect(await unread()).toBe(1);
        // So is no body at all under a JSON content type, as many HTTP clients send it.
        await read(0, '');
      });

      it('refuses an empty JSON body where a body is needed, by the route schema', async () => {
        const error = expectError(await request(t, 'POST', '/api/users', { token: ADMIN_TOKEN, body: '' }), 400, 'Invalid request data');
        expect(Object.keys(error.errors ?? {})).toEqual(['body']);
      });

      it('reading up to the newest message brings it to 0', async () => {
        const newest = ok(await request(t, 'GET', `/api/chats/${chatId}`, { token: operator.token })).lastMessage.id;
        await read(0, { upToMessageId: newest });
      });

      it('reading up to an older message leaves the later incoming ones unread, and never counts outgoing ones', async () => {
        const m4 = incoming('m4');
        const e1 = echo('e1');
        const m5 = incoming('m5');
        const m6 = incoming('m6');
        await deliver(t, { messages: [m4] });
        await deliver(t, { messages: [e1] });
        await deliver(t, { messages: [m5] });
        expect(await unread()).toBe(2);
        await deliver(t, { messages: [echo('e2')] });
        expect(await unread()).toBe(2);
        await deliver(t, { messages: [m6] });
        expect(await unread()).toBe(3);
        const byExternal = await messageIds();
        await read(2, { upToMessageId: byExternal.get(m4.messageId) });
        // Up to an outgoing message: the incoming ones after it.
        await read(2, { upToMessageId: byExternal.get(e1.messageId) });
        await read(1, { upToMessageId: byExternal.get(m5.messageId) });
        // Backwards is allowed: reading up to an older message again counts again.
        const older = byExternal.get(m4.messageId)!;
        await read(2, { upToMessageId: older });
        await read(0);
        // Only outgoing messages since: nothing unread.
        await deliver(t, { messages: [echo('e3')] });
        expect(await unread()).toBe(0);
      });

      it('shows the count in the list and filters on it', async () => {
        await deliver(t, { messages: [incoming('m7')] });
        const list = ok(await request(t, 'GET', '/api/chats?unread=true&limit=200', { token: operator.token }));
        expect(list.data.find((c: Json) => c.id === chatId)).toMatchObject({ unreadCount: 1 });
        await read(0);
        expect(ids(ok(await request(t, 'GET', '/api/chats?unread=true&limit=200', { token: operator.token })))).not.toContain(chatId);
      });

      it('refuses a message of another chat or an unknown one, and changes nothing', async () => {
        await deliver(t, { messages: [incoming('m8')] });
        const other = ok(await request(t, 'GET', `/api/chats/${fixture.chat}`, { token: operator.token })).lastMessage.id;
        const start = t.published.length;
        for (const upToMessageId of [other, UNKNOWN_IDS[0], 'nope']) {
          const body = expectError(await request(t, 'POST', `/api/chats/${chatId}/read`, { token: operator.token, body: { upToMessageId } }), 400, 'Invalid request data');
          expect(body.errors).toEqual({ upToMessageId: ['The message must belong to this chat.'] });
        }
        expect(eventsSince(start, chatId)).toEqual([]);
        expect(await unread()).toBe(1);
        expectError(await request(t, 'POST', `/api/chats/${chatId}/read`, { token: operator.token, body: { upToMessageId: 42 } }), 400);
      });
    });

    describe('assigning, unassigning and closing', () => {
      const CHAT = '77010000003';
      let chatId: string;
      const patch = (body: unknown, token = operator.token) => request(t, 'PATCH', `/api/chats/${chatId}`, { token, body });
      const current = async () => ok(await request(t, 'GET', `/api/chats/${chatId}`, { token: operator.token }));
      /** Applies a change, checks the answer, the stored chat and the one chat.updated event. */
      const change = async (body: Record<string, unknown>, expected: { status: string; assigneeId: string | null }) => {
        const start = t.published.length;
        const chat = ok(await patch(body));
        expect(sortedKeys(chat)).toEqual(CHAT_FIELDS);
        expect(chat).toMatchObject(expected);
        const events = eventsSince(start, chatId);
        expect(events).toHaveLength(1);
        expect(events[0]!.payload.chat).toMatchObject(expected);
        expect(await current()).toEqual(chat);
        return chat;
      };
      const refused = async (body: unknown) => {
        const before = await current();
        const start = t.published.length;
        const error = expectError(await patch(body), 400, 'Invalid request data');
        expect(eventsSince(start, chatId)).toEqual([]);
        expect(await current()).toEqual(before);
        return error;
      };

      beforeAll(async () => {
        await deliver(t, { messages: [v3Message({ chatId: CHAT, text: 'assign me' })] });
        chatId = await chatIdOf(t, CHAT);
      });

      it('reopens a closed chat when the customer writes again, but not for an outgoing message', async () => {
        await change({ status: 'closed' }, { status: 'closed', assigneeId: null });
        await deliver(t, { messages: [v3Message({ chatId: CHAT, text: 'an operator on the phone', isEcho: true })] });
        expect((await current()).status).toBe('closed');
        await deliver(t, { messages: [v3Message({ chatId: CHAT, text: 'me again' })] });
        expect((await current()).status).toBe('open');
      });

      it('assigns, reassigns, unassigns, closes and reopens, publishing chat.updated each time', async () => {
        const before = await current();
        const assigned = await change({ assigneeId: operator.user.id }, { status: 'open', assigneeId: operator.user.id });
        // Assignment is no activity: the chat keeps its place in the list and its unread count.
        expect(assigned).toMatchObject({ lastActivityAt: before.lastActivityAt, unreadCount: before.unreadCount, createdAt: before.createdAt });
        await change({ assigneeId: admin.user.id }, { status: 'open', assigneeId: admin.user.id });
        await change({ assigneeId: null }, { status: 'open', assigneeId: null });
        await change({ status: 'closed' }, { status: 'closed', assigneeId: null });
        await change({ status: 'open', assigneeId: operator.user.id }, { status: 'open', assigneeId: operator.user.id });
        await change({ status: 'closed' }, { status: 'closed', assigneeId: operator.user.id });
        expect(ids(ok(await request(t, 'GET', '/api/chats?assignee=me&status=closed', { token: operator.token })))).toContain(chatId);
      });

      it('answers 400 with errors.assigneeId for an unknown or disabled user', async () => {
        for (const assigneeId of [...UNKNOWN_IDS, operator.token]) {
          expect((await refused({ assigneeId })).errors).toEqual({ assigneeId: ['The assignee must be an active user.'] });
        }
        const leaver = await createUser(t, { name: 'Leaver' });
        ok(await request(t, 'PATCH', `/api/users/${leaver.user.id}`, { token: ADMIN_TOKEN, body: { disabled: true } }));
        expect((await refused({ assigneeId: leaver.user.id })).errors).toEqual({ assigneeId: ['The assignee must be an active user.'] });
        // Together with a valid status: nothing of it is applied.
        expect((await refused({ status: 'open', assigneeId: leaver.user.id })).errors).toHaveProperty('assigneeId');
      });

      it('refuses an assignee disabled while the change waited for its transaction', async () => {
        const leaver = await createUser(t, { name: 'Late leaver' });
        const before = await current();
        const db = t.deps.database.db;
        const inbox = createInboxService({
          db,
          now: t.deps.now,
          phoneCountry: null,
          // The admin's disabling commits after the check made before queueing, before the change's transaction.
          commitChange: async (change) => {
            await changeUser(db, leaver.user.id, { disabled: true }, t.deps.now());
            return t.deps.commitChange(change);
          },
        });
        await expect(inbox.updateChat(chatId, { assigneeId: leaver.user.id })).rejects.toMatchObject({
          httpStatus: 400,
          errors: { assigneeId: ['The assignee must be an active user.'] },
        });
        expect(await current()).toEqual(before);
      });

      it('answers 400 for an invalid status, an empty change or an unknown field', async () => {
        const invalid = await refused({ status: 'archived' });
        expect(Object.keys(invalid.errors ?? {}).some((key) => key.endsWith('status'))).toBe(true);
        await refused({ status: null });
        await refused({});
        await refused({ assigneeId: 42 });
      });

      // Fastify's default Ajv options include removeAdditional: true, so `additionalProperties: false`
      // strips unknown fields instead of refusing them, and minProperties: 1 is checked before that:
      // a typo ({"asigneeId": …}) answers 200, changes nothing and still publishes chat.updated.
      it('refuses a change made only of unknown fields instead of answering 200', async () => {
        await refused({ asigneeId: operator.user.id });
        await refused({ priority: 'high' });
        // The same on the admin API: a typo in {"disabled": true} answers 200 and disables nobody.
        const typo = await request(t, 'PATCH', `/api/users/${fixture.user}`, { token: ADMIN_TOKEN, body: { disable: true } });
        expect(ok((await request(t, 'GET', '/api/users', { token: ADMIN_TOKEN }))).data.find((u: ApiUser) => u.id === fixture.user).disabled).toBe(false);
        expectError(typo, 400, 'Invalid request data');
      });

      // Fastify's Ajv coerced body types too: null became false (an account re-enabled by a client
      // sending nulls for "unchanged"), ["closed"] became "closed".
      it('refuses a field of the wrong type instead of converting it', async () => {
        await refused({ status: ['closed'] });
        const leaver = await createUser(t, { name: 'Disabled for good' });
        ok(await request(t, 'PATCH', `/api/users/${leaver.user.id}`, { token: ADMIN_TOKEN, body: { disabled: true } }));
        for (const body of [{ disabled: null }, { disabled: 'false' }, { disabled: 0 }, { name: ['x y'] }]) {
          const error = expectError(await request(t, 'PATCH', `/api/users/${leaver.user.id}`, { token: ADMIN_TOKEN, body }), 400, 'Invalid request data');
          expect(Object.keys(error.errors ?? {})).toEqual(Object.keys(body));
        }
        const users = ok(await request(t, 'GET', '/api/users', { token: ADMIN_TOKEN })).data as ApiUser[];
        expect(users.find((u) => u.id === leaver.user.id)).toMatchObject({ disabled: true, name: 'Disabled for good' });
        // Query strings arrive as text, and are still read as the numbers and flags they stand for.
        expect(ok(await request(t, 'GET', '/api/chats?limit=1&unread=false', { token: operator.token })).data.length).toBeLessThanOrEqual(1);
      });

      // inbox.service.ts updateChat validates the assignee only when `changes.assigneeId` is truthy,
      // so "" skips the check and is stored as the assignee.
      it('answers 400 with errors.assigneeId for an empty assignee id', async () => {
        const error = await refused({ assigneeId: '' });
        expect(Object.keys(error.errors ?? {})).toEqual(['assigneeId']);
      });
    });

    // Searches read every message of the chats they look at, and nothing bounded how many ran at
    // once: one operator looping 48 held webhooks 40 s on SQLite (a review's find).
    it('refuses an operator more than two searches at once (429, Retry-After), and lists without one', async () => {
      // Searches held until released, so that they are surely in flight together.
      const inbox = t.deps.inbox;
      const listChats = inbox.listChats;
      let release = () => undefined as void;
      const released = new Promise<void>((resolve) => (release = resolve));
      inbox.listChats = async (query) => {
        if (query.q) await released;
        return listChats.call(inbox, query);
      };
      try {
        let answered = 0;
        const searches = Array.from({ length: 4 }, (_, i) => request(t, 'GET', `/api/chats?q=anything-${i}`, { token: operator.token }).finally(() => (answered += 1)));
        // Two run (held), the other two are refused at once.
        await expect.poll(() => answered).toBe(2);
        const lists = await Promise.all(Array.from({ length: 4 }, () => request(t, 'GET', '/api/chats', { token: operator.token })));
        expect(lists.map((answer) => answer.statusCode)).toEqual(Array(4).fill(200));
        release();
        const answers = await Promise.all(searches);
        expect(answers.map((answer) => answer.statusCode).sort()).toEqual([200, 200, 429, 429]);
        const refused = answers.find((answer) => answer.statusCode === 429)!;
        expectError(refused, 429, 'Too many searches at once; try again in 2 s');
        expect(refused.headers['retry-after']).toBe('2');
      } finally {
        release();
        inbox.listChats = listChats;
      }
    });

    // error-envelope.ts validationErrors keys schema errors by `body.<field>` / `querystring.<field>`
    // (and a missing field as plain `body`), while the domain's errors on the same routes use the bare
    // field (`password`, `assigneeId`, `upToMessageId`, `cursor`): a client cannot map both to its form.
    it('names invalid fields the same way in schema and domain errors (errors.status, errors.email)', async () => {
      const status = expectError(await request(t, 'PATCH', `/api/chats/${fixture.chat}`, { token: operator.token, body: { status: 'archived' } }), 400);
      expect(Object.keys(status.errors ?? {})).toEqual(['status']);
      const missing = expectError(await request(t, 'POST', '/api/users', { token: ADMIN_TOKEN, body: { name: 'No Email', role: 'operator' } }), 400);
      expect(Object.keys(missing.errors ?? {})).toEqual(['email']);
      const query = expectError(await request(t, 'GET', '/api/chats?status=archived', { token: operator.token }), 400);
      expect(Object.keys(query.errors ?? {})).toEqual(['status']);
      // An unknown field is named too, in a query and in a body.
      const unknownQuery = expectError(await request(t, 'GET', '/api/chats?stauts=open', { token: operator.token }), 400);
      expect(unknownQuery.errors).toEqual({ stauts: ['must NOT have additional properties'] });
      const unknownBody = expectError(await request(t, 'PATCH', `/api/chats/${fixture.chat}`, { token: operator.token, body: { asigneeId: null } }), 400);
      expect(Object.keys(unknownBody.errors ?? {})).toEqual(['asigneeId']);
    });

    describe('OpenAPI', () => {
      it('documents every API route of src/', async () => {
        const spec = ok(await request(t, 'GET', '/api/openapi.json'));
        expect(spec.openapi).toMatch(/^3\./);
        const documented = documentedRoutes(spec);
        const registered = registeredRoutes(t.app.printRoutes({ commonPrefix: false }));
        for (const route of EXPECTED_ROUTES) {
          // The hard-coded list is what src/ registers…
          expect(registered, `${route} is registered`).toContain(route);
          // …and each is in the document.
          expect(documented, `${route} is documented`).toContain(route);
        }
        // Nothing is documented that does not exist.
        for (const route of documented) expect(registered, `${route} exists`).toContain(route);
      });

      // @fastify/websocket forces schema.hide on `websocket: true` routes, so GET /api/ws (which
      // src/realtime/ws.routes.ts gives tags and a summary) never reaches the document.
      it('documents every route the app registers (GET /api/ws too), and only those', async () => {
        const documented = documentedRoutes(ok(await request(t, 'GET', '/api/openapi.json')));
        const registered = registeredRoutes(t.app.printRoutes({ commonPrefix: false }));
        expect(registered).toContain('GET /api/ws');
        expect([...documented].sort()).toEqual([...new Set(registered)].sort());
      });

      it('marks every protected route as needing a bearer token', async () => {
        const spec = ok(await request(t, 'GET', '/api/openapi.json'));
        for (const { route } of PROTECTED_ROUTES) {
          const [method, path] = route.split(' ') as [string, string];
          const operation = spec.paths[path.replace(/:(\w+)/g, '{$1}')][method.toLowerCase()];
          expect(operation.security, route).toEqual([{ bearer: [] }]);
        }
        expect(spec.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
        expect(spec.paths['/api/auth/login'].post.security).toBeUndefined();
      });

      // What a client generated from the document must expect: the refusals the routes give.
      it('documents the refusals the routes give, and which bodies may be left out', async () => {
        const spec = ok(await request(t, 'GET', '/api/openapi.json'));
        const codes = (path: string, method: string) => Object.keys(spec.paths[path][method].responses).sort();
        for (const { route } of PROTECTED_ROUTES) {
          const [method, path] = route.split(' ') as [string, string];
          expect(codes(path.replace(/:(\w+)/g, '{$1}'), method.toLowerCase()), route).toEqual(expect.arrayContaining(['401', '403']));
        }
        expectError(await request(t, 'GET', '/api/chats?limit=0', { token: operator.token }), 400);
        for (const path of ['/api/chats', '/api/chats/{id}', '/api/chats/{id}/messages', '/api/messages/{id}/revisions', '/api/contacts', '/api/contacts/{id}']) {
          expect(codes(path, 'get'), path).toContain('400');
        }
        expect(codes('/api/webhook-events', 'get')).toEqual(['200', '400', '401', '403']);
        expect(codes('/api/webhook-events/{id}', 'get')).toEqual(['200', '401', '403', '404']);
        expect(codes('/api/webhook-events/{id}/replay', 'post')).toEqual(['200', '401', '403', '404', '409']);
        expect(codes('/api/stats/webhooks', 'get')).toEqual(['200', '400', '401', '403']);
        expectError(await request(t, 'GET', '/api/stats/webhooks?windw=1h', { token: ADMIN_TOKEN }), 400, 'Invalid request data');
        expect(codes('/api/ws', 'get')).toEqual(['400', '401', '403', '426']);
        expect(codes('/metrics', 'get')).toEqual(['200', '401']);
        expect(spec.paths['/api/chats/{id}/read'].post.requestBody.required).toBe(false);
        expect(spec.paths['/api/webhook-events/replay'].post.requestBody.required).toBe(false);
        expect(spec.paths['/api/users'].post.requestBody.required).toBe(true);
        expect(JSON.stringify(spec)).not.toContain('x-backchat');
      });

      it('serves the docs page as HTML', async () => {
        const response = await request(t, 'GET', '/api/docs');
        expect(response.statusCode).toBe(200);
        expect(response.headers['content-type']).toMatch(/text\/html/);
        expect(response.body).toMatch(/swagger/i);
      });
    });
  });

  // ---------------------------------------------------------------------------------------------
  // A clock the tests move: throttling windows and session expiry.
  // ---------------------------------------------------------------------------------------------
  describe('login throttling and expiry, with a moving clock', () => {
    let t: TestApp;
    let clock = Date.parse('2026-01-05T09:00:00.000Z');
    beforeAll(async () => {
      t = await createTestApp(dialect, {
        env: { ADMIN_TOKEN, LOGIN_MAX_FAILURES: '3', LOGIN_WINDOW_MINUTES: '1', SESSION_TTL_HOURS: '1' },
        now: () => clock,
      });
    });
    afterAll(async () => {
      await t.close();
    });
    const attempt = (email: string, password: string, remoteAddress: string) =>
      request(t, 'POST', '/api/auth/login', { body: { email, password }, remoteAddress });
    const expectThrottled = (response: Awaited<ReturnType<typeof attempt>>, seconds: number) => {
      expectError(response, 429, `Too many failed logins; try again in ${seconds} s`);
      expect(response.headers['retry-after']).toBe(String(seconds));
    };

    it('locks an account after LOGIN_MAX_FAILURES failures, whatever the address, until the window passes', async () => {
      const { user, password } = await createUser(t);
      for (const address of ['10.1.0.1', '10.1.0.2', '10.1.0.3']) expect((await attempt(user.email, 'wrong password', address)).statusCode).toBe(401);
      // Even the right password, from a fresh address, and with the email in another case.
      expectThrottled(await attempt(user.email.toUpperCase(), password!, '10.1.0.4'), 60);
      // Another account from that address is not locked.
      const other = await createUser(t);
      expect((await attempt(other.user.email, other.password!, '10.1.0.4')).statusCode).toBe(200);
      clock += 30_000;
      expectThrottled(await attempt(user.email, password!, '10.1.0.5'), 30);
      clock += 30_000;
      expect((await attempt(user.email, password!, '10.1.0.5')).statusCode).toBe(200);
    });

    it('locks an address after LOGIN_MAX_FAILURES failures, whatever the account', async () => {
      const { user, password } = await createUser(t);
      for (const email of ['a@example.com', 'b@example.com', 'c@example.com']) expect((await attempt(email, 'guess', '10.2.0.1')).statusCode).toBe(401);
      expectThrottled(await attempt(user.email, password!, '10.2.0.1'), 60);
      expect((await attempt(user.email, password!, '10.2.0.2')).statusCode).toBe(200);
      clock += 60_000;
      expect((await attempt(user.email, password!, '10.2.0.1')).statusCode).toBe(200);
    });

    it('forgets an account\'s failures after a successful login', async () => {
      const { user, password } = await createUser(t);
      expect((await attempt(user.email, 'wrong 1', '10.3.0.1')).statusCode).toBe(401);
      expect((await attempt(user.email, 'wrong 2', '10.3.0.2')).statusCode).toBe(401);
      expect((await attempt(user.email, password!, '10.3.0.3')).statusCode).toBe(200);
      expect((await attempt(user.email, 'wrong 3', '10.3.0.4')).statusCode).toBe(401);
      expect((await attempt(user.email, 'wrong 4', '10.3.0.5')).statusCode).toBe(401);
      expect((await attempt(user.email, password!, '10.3.0.6')).statusCode).toBe(200);
    });

    it('lets through no more than LOGIN_MAX_FAILURES of a burst of parallel wrong passwords', async () => {
      const { user } = await createUser(t);
      const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => attempt(user.email, `guess ${i}`, `10.5.0.${i + 1}`)));
      expect(answers.filter((r) => r.statusCode === 401)).toHaveLength(3);
      expect(answers.filter((r) => r.statusCode === 429)).toHaveLength(7);
      // The three were wrong: the account is locked for the window now.
      expectThrottled(await attempt(user.email, 'guess 11', '10.5.0.11'), 60);
    });

    // Right passwords in a burst from one address were refused for the whole window, although
    // the count fell back as soon as they were checked (a review's find).
    it('asks a burst of right passwords from one address to wait a second, not the window', async () => {
      const users = await Promise.all(Array.from({ length: 6 }, () => createUser(t)));
      const answers = await Promise.all(users.map(({ user, password }) => attempt(user.email, password!, '10.5.1.1')));
      // Every attempt is counted before the first password check ends (argon2 takes tens of ms).
      expect(answers.filter((r) => r.statusCode === 200)).toHaveLength(3);
      for (const [i, answer] of answers.entries()) {
        if (answer.statusCode === 200) continue;
        expectError(answer, 429, 'Too many logins at once; try again in 1 s');
        expect(answer.headers['retry-after']).toBe('1');
        expect((await attempt(users[i]!.user.email, users[i]!.password!, '10.5.1.1')).statusCode).toBe(200);
      }
    });

    it('counts an IPv6 /64 as one address', async () => {
      const { user, password } = await createUser(t);
      for (const suffix of ['1', '2', '3']) expect((await attempt('nobody@example.com', 'guess', `2001:db8:5:6::${suffix}`)).statusCode).toBe(401);
      expectThrottled(await attempt(user.email, password!, '2001:db8:5:6:ffff::9'), 60);
      expect((await attempt(user.email, password!, '2001:db8:5:7::1')).statusCode).toBe(200);
    });

    it('refuses a session once it expires (SESSION_TTL_HOURS=1)', async () => {
      const { user, password } = await createUser(t);
      const start = clock;
      const session = await login(t, user.email, password!, '10.4.0.1');
      expect(session.expiresAt).toBe(new Date(start + 3_600_000).toISOString());
      clock = start + 3_600_000 - 1;
      expect((await request(t, 'GET', '/api/me', { token: session.token })).statusCode).toBe(200);
      clock = start + 3_600_000;
      expectError(await request(t, 'GET', '/api/me', { token: session.token }), 401, SIGN_IN);
      expectError(await request(t, 'GET', '/api/chats', { token: session.token }), 401, SIGN_IN);
      // A new login works.
      const again = await login(t, user.email, password!, '10.4.0.1');
      expect((await request(t, 'GET', '/api/me', { token: again.token })).statusCode).toBe(200);
    });

    it('refuses an API token after its expiresAt', async () => {
      const { user } = await createUser(t);
      const expiresAt = new Date(clock + 10 * 60_000).toISOString();
      const created = ok(await request(t, 'POST', `/api/users/${user.id}/tokens`, { token: ADMIN_TOKEN, body: { name: 'short-lived', expiresAt } }), 201);
      expect(created.record.expiresAt).toBe(expiresAt);
      expect((await request(t, 'GET', '/api/me', { token: created.token })).statusCode).toBe(200);
      clock += 10 * 60_000;
      expectError(await request(t, 'GET', '/api/me', { token: created.token }), 401, SIGN_IN);
    });
  });

  // ---------------------------------------------------------------------------------------------
  // The chat list's filters and search over a known set of chats.
  // ---------------------------------------------------------------------------------------------
  describe('chat list filters and search', () => {
    let t: TestApp;
    let op1: { user: ApiUser; token: string };
    let op2: { user: ApiUser; token: string };
    const chat: Record<string, string> = {};
    const CHATS = [
      { key: 'anna', name: 'Anna Karenina', phone: '+7 701 111 11 11', text: 'Where is ORDER 1001?' },
      { key: 'boris', name: 'Boris Godunov', phone: '+7 702 222 22 22', text: 'Please send the invoice' },
      { key: 'clara', name: 'Clara Wieck', phone: '+7 703 333 33 33', text: 'Thanks, all good' },
      { key: 'dmitry', name: 'Дмитрий Орлов', phone: '+7 704 444 44 44', text: 'Привет, нужна помощь' },
      { key: 'eve', name: 'Eve', phone: '+7 705 555 55 55', text: 'Is it 50% off_today?' },
      { key: 'frank', name: 'Frank', phone: '+7 706 666 66 66', text: 'hello' },
    ];

    beforeAll(async () => {
      t = await createTestApp(dialect, { env: { ADMIN_TOKEN } });
      op1 = await createUserAndLogin(t, { name: 'Op One' });
      op2 = await createUserAndLogin(t, { name: 'Op Two' });
      for (const c of CHATS) {
        await deliver(t, seedMessage({ chatId: `f-${c.key}`, name: c.name, phone: c.phone, text: c.text }));
        chat[c.key] = await chatIdOf(t, `f-${c.key}`);
      }
      // Frank writes again, last: a second message, and the newest activity.
      await deliver(t, seedMessage({ chatId: 'f-frank', name: 'Frank', phone: '+7 706 666 66 66', text: 'I want to return order 1001 too' }));
      const set = async (key: string, body: Record<string, unknown>) => ok(await request(t, 'PATCH', `/api/chats/${chat[key]}`, { token: op1.token, body }));
      await set('anna', { assigneeId: op1.user.id });
      await set('boris', { assigneeId: op2.user.id });
      await set('clara', { assigneeId: op1.user.id, status: 'closed' });
      await set('eve', { status: 'closed' });
      await set('frank', { assigneeId: op1.user.id });
      for (const key of ['boris', 'eve']) ok(await request(t, 'POST', `/api/chats/${chat[key]}/read`, { token: op2.token }));
    });
    afterAll(async () => {
      await t.close();
    });

    const list = async (query: string, token = op1.token) => {
      const page = ok(await request(t, 'GET', `/api/chats${query ? `?${query}` : ''}`, { token }));
      expect(page.nextCursor).toBeNull();
      return page.data.map((c: Json) => Object.entries(chat).find(([, id]) => id === c.id)![0]);
    };
    const q = (text: string) => `q=${encodeURIComponent(text)}`;

    it('lists every chat, newest activity first', async () => {
      expect(await list('')).toEqual(['frank', 'eve', 'dmitry', 'clara', 'boris', 'anna']);
      const page = ok(await request(t, 'GET', '/api/chats', { token: op1.token }));
      const frank = page.data[0];
      expect(frank).toMatchObject({ status: 'open', assigneeId: op1.user.id, unreadCount: 2, contact: { name: 'Frank', phone: '+77066666666' } });
      expect(frank.lastMessage.text).toBe('I want to return order 1001 too');
      expect(page.data.map((c: Json) => c.unreadCount)).toEqual([2, 0, 1, 1, 0, 1]);
    });

    it('filters by status', async () => {
      expect(await list('status=open')).toEqual(['frank', 'dmitry', 'boris', 'anna']);
      expect(await list('status=closed')).toEqual(['eve', 'clara']);
      expectError(await request(t, 'GET', '/api/chats?status=archived', { token: op1.token }), 400, 'Invalid request data');
    });

    it('filters by assignee: me, none, or a user id', async () => {
      expect(await list('assignee=me')).toEqual(['frank', 'clara', 'anna']);
      expect(await list('assignee=me', op2.token)).toEqual(['boris']);
      expect(await list('assignee=none')).toEqual(['eve', 'dmitry']);
      expect(await list(`assignee=${op2.user.id}`)).toEqual(['boris']);
      expect(await list(`assignee=${op1.user.id}`, op2.token)).toEqual(['frank', 'clara', 'anna']);
      expect(await list(`assignee=${UNKNOWN_IDS[0]}`)).toEqual([]);
    });

    it('filters unread chats', async () => {
      expect(await list('unread=true')).toEqual(['frank', 'dmitry', 'clara', 'anna']);
      expect(await list('unread=false')).toEqual(['eve', 'boris']);
      expectError(await request(t, 'GET', '/api/chats?unread=maybe', { token: op1.token }), 400, 'Invalid request data');
    });

    it('searches contact names, case-insensitively', async () => {
      expect(await list(q('anna'))).toEqual(['anna']);
      expect(await list(q('ANNA'))).toEqual(['anna']);
      expect(await list(q('kArEnInA'))).toEqual(['anna']);
      expect(await list(q('na Kar'))).toEqual(['anna']);
      expect(await list(q('nobody like this'))).toEqual([]);
    });

    it('searches phone numbers', async () => {
      expect(await list(q('7022222'))).toEqual(['boris']);
      expect(await list(q('+7702'))).toEqual(['boris']);
      expect(await list(q('66666'))).toEqual(['frank']);
      // Written the way people type them: matched by the digits.
      expect(await list(q('+7 (702) 222-22'))).toEqual(['boris']);
      expect(await list(q('702 222 22 22'))).toEqual(['boris']);
      // Fewer than five digits is text, not a phone: a price is not looked for among the digits.
      expect(await list(q('66.66'))).toEqual([]);
    });

    it('searches message text, case-insensitively, in every message of a chat (not only the last)', async () => {
      expect(await list(q('INVOICE'))).toEqual(['boris']);
      expect(await list(q('Invoice'))).toEqual(['boris']);
      expect(await list(q('order 1001'))).toEqual(['frank', 'anna']);
      expect(await list(q('ORDER 1001?'))).toEqual(['anna']);
    });

    it('treats LIKE wildcards in the search as plain characters', async () => {
      expect(await list(q('%'))).toEqual(['eve']);
      expect(await list(q('50%'))).toEqual(['eve']);
      expect(await list(q('_'))).toEqual(['eve']);
      expect(await list(q('off_today'))).toEqual(['eve']);
      expect(await list(q('off%today'))).toEqual([]);
      expect(await list(q('\\'))).toEqual([]);
    });

    it('combines filters', async () => {
      expect(await list('status=open&assignee=me&unread=true')).toEqual(['frank', 'anna']);
      expect(await list(`status=open&assignee=me&unread=true&${q('order')}`)).toEqual(['frank', 'anna']);
      expect(await list(`status=open&assignee=me&${q('karenina')}`)).toEqual(['anna']);
      expect(await list('status=closed&assignee=me')).toEqual(['clara']);
      expect(await list('status=closed&unread=true')).toEqual(['clara']);
      expect(await list('status=closed&assignee=none&unread=true')).toEqual([]);
      expect(await list(`assignee=none&${q('50%')}`)).toEqual(['eve']);
      expect(await list(`assignee=me&${q('invoice')}`)).toEqual([]);
    });

    it('pages through a filtered list', async () => {
      const first = ok(await request(t, 'GET', '/api/chats?assignee=me&limit=2', { token: op1.token }));
      expect(ids(first)).toEqual([chat.frank, chat.clara]);
      expect(typeof first.nextCursor).toBe('string');
      const second = ok(await request(t, 'GET', `/api/chats?assignee=me&limit=2&cursor=${first.nextCursor}`, { token: op1.token }));
      expect(second).toMatchObject({ data: [expect.objectContaining({ id: chat.anna })], nextCursor: null });
    });

    it('searches contacts by name, phone and case', async () => {
      const names = async (query: string) => ok(await request(t, 'GET', `/api/contacts?${query}`, { token: op1.token })).data.map((c: Json) => c.name);
      expect(await names(q('BORIS'))).toEqual(['Boris Godunov']);
      expect(await names(q('7033333'))).toEqual(['Clara Wieck']);
      expect(await names('limit=200')).toHaveLength(6);
    });

    // storage/like.ts lower-cases the pattern in JavaScript (Unicode), but SQLite's lower() and
    // LIKE fold ASCII only: on SQLite a name or text with any non-ASCII capital is never found,
    // not even when typed exactly as stored. PostgreSQL finds it.
    it('finds Cyrillic names and text typed exactly as stored (and in lower case)', async () => {
      expect(await list(q('Дмитрий'))).toEqual(['dmitry']);
      expect(await list(q('Привет'))).toEqual(['dmitry']);
      expect(await list(q('дмитрий'))).toEqual(['dmitry']);
      expect(await list(q('привет'))).toEqual(['dmitry']);
    });
  });

  // ---------------------------------------------------------------------------------------------
  // Keyset pagination while webhooks keep arriving.
  // ---------------------------------------------------------------------------------------------
  describe('pagination while webhooks arrive', () => {
    let t: TestApp;
    let token: string;
    let clock = Date.parse('2026-02-01T12:00:00.000Z');
    let fresh = 0;
    beforeAll(async () => {
      t = await createTestApp(dialect, { env: { ADMIN_TOKEN }, now: () => clock });
      token = (await createUserAndLogin(t)).token;
    });
    afterAll(async () => {
      await t.close();
    });

    /** Follows nextCursor to the end, running `between` alongside and after every page request. */
    async function pageThrough(url: string, between: () => Promise<void>) {
      const pages: Json[][] = [];
      let cursor: string | null = null;
      do {
        const pageUrl: string = `${url}${cursor ? `&cursor=${cursor}` : ''}`;
        const [response] = await Promise.all([request(t, 'GET', pageUrl, { token }), between()]);
        const page: { data: Json[]; nextCursor: string | null } = ok(response);
        expect(page.data.length).toBeLessThanOrEqual(7);
        pages.push(page.data);
        cursor = page.nextCursor;
        await between();
        expect(pages.length).toBeLessThan(50);
      } while (cursor);
      return pages;
    }

    it('pages through chats while new chats arrive: every chat that existed before appears exactly once', async () => {
      // 30 chats, five per millisecond: ties on last activity are broken by id.
      for (let i = 0; i < 30; i += 1) {
        if (i % 5 === 0) clock += 1;
        await deliver(t, seedMessage({ chatId: `page-chat-${i}`, phone: `+7 707 000 00 ${String(i).padStart(2, '0')}`, name: `Customer ${i}` }));
      }
      const before = ids(ok(await request(t, 'GET', '/api/chats?limit=200', { token })));
      expect(before).toHaveLength(30);

      const pages = await pageThrough('/api/chats?limit=7', async () => {
        fresh += 1;
        // Every other new chat comes in the same millisecond as the newest ones so far.
        if (fresh % 2 === 0) clock += 1;
        await deliver(t, seedMessage({ chatId: `new-chat-${fresh}`, phone: `+7 708 000 ${String(fresh).padStart(4, '0')}`, name: `Newcomer ${fresh}` }));
      });
      expect(pages.length).toBeGreaterThanOrEqual(5);
      const seen = pages.flat();
      const seenIds = seen.map((c) => c.id as string);
      expect(new Set(seenIds).size).toBe(seenIds.length);
      for (const id of before) expect(seenIds.filter((s) => s === id), id).toHaveLength(1);
      // Strictly newest first across pages: the keyset never goes back.
      for (let i = 1; i < seen.length; i += 1) {
        const [a, b] = [seen[i - 1], seen[i]];
        const order = Date.parse(a.lastActivityAt) - Date.parse(b.lastActivityAt) || (a.id > b.id ? 1 : -1);
        expect(order, `${a.id} before ${b.id}`).toBeGreaterThan(0);
      }
      // The new chats did arrive meanwhile.
      expect(ids(ok(await request(t, 'GET', '/api/chats?limit=200', { token })))).toHaveLength(30 + fresh);
    });

    it('pages through chats: a chat that gets a message meanwhile moves to the top, out of that pass, and is announced', async () => {
      for (let i = 0; i < 10; i += 1) {
        clock += 1;
        await deliver(t, seedMessage({ chatId: `moving-${i}`, phone: `+7 709 000 00 ${String(i).padStart(2, '0')}` }));
      }
      const moving = await chatIdOf(t, 'moving-0');
      const before = ids(ok(await request(t, 'GET', '/api/chats?limit=200', { token })));
      expect(before.indexOf(moving)).toBe(9);
      const start = t.published.length;

      let calls = 0;
      const pages = await pageThrough('/api/chats?limit=4', async () => {
        // The second call runs once the first page has been answered (the first, alongside it).
        calls += 1;
        if (calls !== 2) return;
        clock += 1;
        await deliver(t, seedMessage({ chatId: 'moving-0', phone: '+7 709 000 00 00' }));
      });
      const seenIds = pages.flat().map((c) => c.id as string);
      // Every other chat exactly once; the one that moved, above the pages already read, not at all.
      expect(seenIds.filter((id) => id !== moving).sort()).toEqual(before.filter((id) => id !== moving).sort());
      expect(seenIds).not.toContain(moving);
      // How a client learns of it: the push, and the first page on a reload.
      expect(t.published.slice(start).some((e) => e.type === 'chat.updated' && e.payload.chat.id === moving)).toBe(true);
      expect(ids(ok(await request(t, 'GET', '/api/chats?limit=1', { token })))).toEqual([moving]);
    });

    it('pages through a chat\'s messages: every message that existed before appears exactly once', async () => {
      const base = Math.floor(Date.parse('2025-06-01T00:00:00.000Z') / 1000);
      // 30 messages, three per second: ties on sentAt are broken by id.
      for (let i = 0; i < 30; i += 1) {
        await deliver(t, seedMessage({ chatId: 'paged-messages', id: `paged-${i}`, timestamp: base + Math.floor(i / 3), text: `message ${i}` }));
      }
      const chatId = await chatIdOf(t, 'paged-messages');
      const url = `/api/chats/${chatId}/messages?limit=7`;
      const before = ids(ok(await request(t, 'GET', `/api/chats/${chatId}/messages?limit=200`, { token })));
      expect(before).toHaveLength(30);

      let arrived = 0;
      const pages = await pageThrough(`${url}`, async () => {
        arrived += 1;
        // Newer messages, and now and then one in the same second as older ones or a late one.
        const timestamp = arrived % 3 === 0 ? base + 2 : arrived % 5 === 0 ? base - 100 : base + 100 + arrived;
        await deliver(t, seedMessage({ chatId: 'paged-messages', id: `arrived-${arrived}`, timestamp, text: `arrived ${arrived}` }));
      });
      const seen = pages.flat();
      const seenIds = seen.map((m) => m.id as string);
      expect(new Set(seenIds).size).toBe(seenIds.length);
      for (const id of before) expect(seenIds.filter((s) => s === id), id).toHaveLength(1);
      for (let i = 1; i < seen.length; i += 1) {
        const [a, b] = [seen[i - 1], seen[i]];
        const order = Date.parse(a.sentAt) - Date.parse(b.sentAt) || (a.id > b.id ? 1 : -1);
        expect(order, `${a.id} before ${b.id}`).toBeGreaterThan(0);
      }
      expect(ids(ok(await request(t, 'GET', `/api/chats/${chatId}/messages?limit=200`, { token })))).toHaveLength(30 + arrived);
    });
  });
});
