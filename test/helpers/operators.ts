/**
 * Factories for operator API flow tests: users created through the admin API, sessions from a
 * real login, requests with a bearer token, and webhook bodies that make chats and messages.
 */
import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import type { TestApp } from './test-app.js';

/** The bootstrap admin credential the operator tests configure (ADMIN_TOKEN). */
export const ADMIN_TOKEN = 'admin-token-0123456789abcdef0123456789ab';
export const DEFAULT_PASSWORD = 'correct horse battery staple';

/** The exact fields of each API shape, sorted, as the presenters and schemas give them. */
export const USER_FIELDS = ['createdAt', 'disabled', 'email', 'id', 'name', 'role', 'updatedAt'];
export const TOKEN_FIELDS = ['createdAt', 'expiresAt', 'id', 'kind', 'lastUsedAt', 'name', 'revokedAt', 'userId'];
export const CONTACT_FIELDS = ['avatarUrl', 'createdAt', 'id', 'name', 'phone', 'updatedAt', 'username'];
export const MESSAGE_FIELDS = [
  'author',
  'chatId',
  'createdAt',
  'deletedAt',
  'direction',
  'editedAt',
  'error',
  'externalId',
  'failedAt',
  'file',
  'id',
  'quotedMessageId',
  'sender',
  'sentAt',
  'status',
  'statusAt',
  'text',
  'type',
];
export const CHAT_FIELDS = [
  'assigneeId',
  'channelId',
  'chatType',
  'contact',
  'createdAt',
  'externalId',
  'id',
  'lastActivityAt',
  'lastMessage',
  'status',
  'unreadCount',
  'updatedAt',
];

export const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

export interface ApiUser {
  id: string;
  email: string;
  name: string;
  role: 'admin' | 'operator';
  disabled: boolean;
  createdAt: string;
  updatedAt: string;
}

/** A parsed JSON answer, loosely typed: the tests check its shape themselves. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

export interface Call {
  token?: string | undefined;
  body?: unknown;
  headers?: Record<string, string>;
  remoteAddress?: string;
}

export type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

/** One API request; `token` becomes `Authorization: Bearer <token>`, an object body is sent as JSON. */
export function request(t: TestApp, method: Method, url: string, call: Call = {}): Promise<LightMyRequestResponse> {
  const headers: Record<string, string> = { ...call.headers };
  if (call.token !== undefined) headers.authorization = `Bearer ${call.token}`;
  if (call.body !== undefined) headers['content-type'] ??= 'application/json';
  return t.app.inject({
    method,
    url,
    headers,
    ...(call.body !== undefined && { payload: typeof call.body === 'string' ? call.body : JSON.stringify(call.body) }),
    ...(call.remoteAddress && { remoteAddress: call.remoteAddress }),
  });
}

/** Asserts the error envelope and returns the body. */
export function expectError(response: LightMyRequestResponse, status: number, message?: string | RegExp) {
  expect(response.statusCode, response.body).toBe(status);
  const body = response.json() as { status: string; message: string; errors?: Record<string, string[]> };
  expect(body.status).toBe('error');
  expect(typeof body.message).toBe('string');
  if (typeof message === 'string') expect(body.message).toBe(message);
  else if (message) expect(body.message).toMatch(message);
  return body;
}

/** Asserts a 2xx status and returns the parsed body. */
export function ok<T = Json>(response: LightMyRequestResponse, status = 200): T {
  expect(response.statusCode, response.body).toBe(status);
  return response.json() as T;
}

let userSequence = 0;

/** Creates a user through POST /api/users with ADMIN_TOKEN. */
export async function createUser(
  t: TestApp,
  input: { email?: string; name?: string; role?: 'admin' | 'operator'; password?: string | null } = {},
): Promise<{ user: ApiUser; password: string | null }> {
  userSequence += 1;
  const password = input.password === undefined ? DEFAULT_PASSWORD : input.password;
  const body = {
    email: input.email ?? `user${userSequence}.${Date.now()}@example.com`,
    name: input.name ?? `User ${userSequence}`,
    role: input.role ?? 'operator',
    ...(password !== null && { password }),
  };
  const user = ok<ApiUser>(await request(t, 'POST', '/api/users', { token: ADMIN_TOKEN, body }), 201);
  return { user, password };
}

/** Signs in and returns the session token with the login answer. */
export async function login(t: TestApp, email: string, password: string, remoteAddress?: string) {
  const response = await request(t, 'POST', '/api/auth/login', { body: { email, password }, ...(remoteAddress && { remoteAddress }) });
  return ok<{ token: string; expiresAt: string; user: ApiUser }>(response);
}

/** A new user (an operator unless asked otherwise) and a session token for it. */
export async function createUserAndLogin(
  t: TestApp,
  input: { email?: string; name?: string; role?: 'admin' | 'operator' } = {},
): Promise<{ user: ApiUser; token: string; password: string }> {
  const { user, password } = await createUser(t, input);
  const session = await login(t, user.email, password!);
  return { user, token: session.token, password: password! };
}

// ---- webhook bodies ----

export const V3_CHANNEL = 'b96a353b-9999-4cac-8413-ba99999f981';
let webhookSequence = 0;
const BASE_TIME = Date.UTC(2025, 4, 6, 12, 0, 0);

/** A seed-format incoming message. `timestamp` is in seconds. */
export function seedMessage(data: { chatId: string; text?: string; name?: string; phone?: string; timestamp?: number; id?: string }) {
  webhookSequence += 1;
  const phone = data.phone ?? '+7 777 123 45 67';
  return {
    event: 'message',
    data: {
      id: data.id ?? `op_seed_${webhookSequence}_${Date.now()}`,
      chatId: data.chatId,
      text: data.text ?? `hello ${webhookSequence}`,
      type: 'text',
      from: phone,
      timestamp: data.timestamp ?? Math.floor(BASE_TIME / 1000) + webhookSequence,
      contact: { name: data.name ?? 'Anna', phone },
    },
  };
}

/** A Wazzup24 v3 message item (WhatsApp: the chat id is the customer's phone); `isEcho` makes it outgoing. */
export function v3Message(overrides: { chatId: string; text?: string; isEcho?: boolean; dateTime?: string; name?: string; messageId?: string }) {
  webhookSequence += 1;
  const { isEcho = false, name = 'Dana', ...rest } = overrides;
  return {
    messageId: `00000000-0000-4000-8000-${String(webhookSequence).padStart(12, '0')}`,
    dateTime: new Date(BASE_TIME + webhookSequence * 1000).toISOString(),
    channelId: V3_CHANNEL,
    chatType: 'whatsapp',
    type: 'text',
    isEcho,
    contact: { name, avatarUri: null },
    text: `hello ${webhookSequence}`,
    status: isEcho ? 'sent' : 'inbound',
    ...(isEcho && { authorName: 'Operator Olga', authorId: 'u-7' }),
    ...rest,
  };
}

/** Posts a webhook and insists that it was accepted. */
export async function deliver(t: TestApp, body: unknown): Promise<void> {
  const response = await t.postWebhook(body);
  expect(response.statusCode, response.body).toBe(200);
}

/** The internal id of the chat with this external (sender's) chat id. */
export async function chatIdOf(t: TestApp, externalId: string): Promise<string> {
  const row = await t.deps.database.db.selectFrom('chats').select('id').where('external_id', '=', externalId).executeTakeFirstOrThrow();
  return row.id;
}
