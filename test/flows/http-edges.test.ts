/**
 * Bad input at the edges of the HTTP API, on each dialect: cursors, time bounds and NUL
 * characters that PostgreSQL would refuse with a 500, malformed URLs that Fastify refuses before
 * routing, and a wrong method on a route with a path parameter. Every answer uses the envelope.
 */
import { connect, type AddressInfo, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, chatIdOf, createUserAndLogin, deliver, expectError, ok, request, seedMessage, v3Message, type Method } from '../helpers/operators.js';
import { capturingLogger, createTestApp, type TestApp } from '../helpers/test-app.js';
import { testDialects } from '../helpers/test-database.js';

const cursorOf = (json: string) => Buffer.from(json).toString('base64url');
const NUL_MESSAGE = (field: string) => [`The ${field} field must not contain the NUL character.`];

describe.each(testDialects)('HTTP edges on %s', (dialect) => {
  let t: TestApp;
  let token: string;
  let chatId: string;
  beforeAll(async () => {
    t = await createTestApp(dialect, { env: { ADMIN_TOKEN } });
    token = (await createUserAndLogin(t)).token;
    await deliver(t, seedMessage({ chatId: 'edges-chat' }));
    chatId = await chatIdOf(t, 'edges-chat');
  });
  afterAll(async () => {
    await t.close();
  });

  it('refuses cursors whose numbers are not safe integers or whose strings hold NUL with 400', async () => {
    for (const position of ['[1.5,"x"]', '[1e20,"x"]', '[1e400,"x"]', '[-1e400,"x"]', '[9007199254740993,"x"]']) {
      for (const path of ['/api/chats', `/api/chats/${chatId}/messages`]) {
        const response = await request(t, 'GET', `${path}?cursor=${cursorOf(position)}`, { token });
        const body = expectError(response, 400, 'Invalid request data');
        expect(body.errors, `${path} ${position}`).toEqual({ cursor: ['The cursor is not one this API gave out.'] });
      }
    }
    for (const [path, position] of [
      ['/api/chats', '[1,"\\u0000"]'],
      [`/api/chats/${chatId}/messages`, '[1,"a\\u0000"]'],
      ['/api/contacts', '["\\u0000"]'],
    ]) {
      const response = await request(t, 'GET', `${path}?cursor=${cursorOf(position!)}`, { token });
      expect(expectError(response, 400).errors, `${path} ${position}`).toEqual({ cursor: ['The cursor is not one this API gave out.'] });
    }
    // A cursor the API gave out still works, negative times included.
    ok(await request(t, 'GET', `/api/chats?cursor=${cursorOf('[-5,"x"]')}`, { token }));
  });

  it('refuses webhook-log time bounds outside the range of dates with 400', async () => {
    const list = await request(t, 'GET', '/api/webhook-events?from=99999999999999999999', { token: ADMIN_TOKEN });
    expect(expectError(list, 400, 'Invalid request data').errors).toEqual({ from: ['The from field must be an ISO-8601 date.'] });
    const tooLate = await request(t, 'GET', '/api/webhook-events?to=8640000000000001', { token: ADMIN_TOKEN });
    expect(expectError(tooLate, 400).errors).toEqual({ to: ['The to field must be an ISO-8601 date.'] });
    const replay = await request(t, 'POST', '/api/webhook-events/replay', { token: ADMIN_TOKEN, body: { to: '99999999999999999999' } });
    expect(expectError(replay, 400, 'Invalid request data').errors).toEqual({ to: ['The to field must be an ISO-8601 date.'] });
    // The largest date there is still works.
    ok(await request(t, 'GET', '/api/webhook-events?from=8640000000000000', { token: ADMIN_TOKEN }));
  });

  it('refuses NUL characters in paths, queries and bodies with 400, naming the field', async () => {
    const cases: { method: Method; url: string; token?: string; body?: unknown; field: string }[] = [
      { method: 'GET', url: '/api/chats/%00abc', token, field: 'id' },
      { method: 'GET', url: '/api/contacts/%00abc', token, field: 'id' },
      { method: 'GET', url: '/api/webhook-events/%00abc', token: ADMIN_TOKEN, field: 'id' },
      { method: 'GET', url: '/api/chats?q=%00', token, field: 'q' },
      { method: 'GET', url: '/api/contacts?q=a%00', token, field: 'q' },
      { method: 'GET', url: '/api/webhook-events?q=%00', token: ADMIN_TOKEN, field: 'q' },
      { method: 'GET', url: '/api/chats?assignee=%00', token, field: 'assignee' },
      { method: 'PATCH', url: `/api/chats/${chatId}`, token, body: { assigneeId: '\u0000' }, field: 'assigneeId' },
      { method: 'POST', url: '/api/auth/login', body: { email: 'a\u0000@b', password: 'x' }, field: 'email' },
      { method: 'POST', url: '/api/users', token: ADMIN_TOKEN, body: { email: 'nul\u0000@example.com', name: 'N', role: 'operator' }, field: 'email' },
    ];
    for (const entry of cases) {
      const response = await request(t, entry.method, entry.url, { token: entry.token, ...(entry.body !== undefined && { body: entry.body }) });
      const body = expectError(response, 400, 'Invalid request data');
      expect(body.errors, `${entry.method} ${entry.url}`).toEqual({ [entry.field]: NUL_MESSAGE(entry.field) });
    }
    // Nested members are named by their dotted path.
    const nested = await request(t, 'POST', `/api/chats/${chatId}/read`, { token, body: { upToMessageId: 'x', extra: [{ a: '\u0000' }] } });
    expect(expectError(nested, 400).errors).toEqual({ 'extra.0.a': NUL_MESSAGE('extra.0.a') });
    const key = await request(t, 'POST', '/api/auth/login', { body: { email: 'a@b', password: 'x', 'p\u0000': 1 } });
    expect(expectError(key, 400).errors).toEqual({ 'p\\u0000': NUL_MESSAGE('p\\u0000') });
  });

  // PostgreSQL stored a lone surrogate as U+FFFD, SQLite as bytes that are no text: a user's name
  // read back differently by store. (Whole pairs, emoji, are welcome.)
  it('refuses lone surrogates in API bodies with 400, naming the field', async () => {
    const half = (field: string) => [`The ${field} field must not contain half of a surrogate pair (a character cut in two).`];
    const created = await request(t, 'POST', '/api/users', { token: ADMIN_TOKEN, body: { email: 'half@example.com', name: 'Olga \ud83d', role: 'operator' } });
    expect(expectError(created, 400, 'Invalid request data').errors).toEqual({ name: half('name') });
    const key = await request(t, 'POST', '/api/auth/login', { body: { email: 'a@b', password: 'x', 'p\udc00': 1 } });
    expect(expectError(key, 400).errors).toEqual({ 'p\\udc00': half('p\\udc00') });
    const emoji = await request(t, 'POST', '/api/users', { token: ADMIN_TOKEN, body: { email: 'emoji@example.com', name: 'Olga \ud83d\ude00', role: 'operator', password: 'emoji-password-1' } });
    expect(emoji.statusCode, emoji.body).toBe(201);
    expect(emoji.json().name).toBe('Olga 😀');
  });

  // Anyone can post to the login or to an unknown path: what it costs to parse stays small, and
  // nothing a body holds can overflow the stack (a body 8,000 levels deep was a 500).
  it('refuses API bodies that nest too deep (400) or are too large (413), before any walk', async () => {
    const deep = '['.repeat(8000) + ']'.repeat(8000);
    for (const url of ['/api/auth/login', '/no-such-route']) {
      const response = await t.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: deep });
      expect(expectError(response, 400, 'Invalid request data').errors, url).toEqual({ body: ['The request body must not nest deeper than 32 levels.'] });
    }
    const large = JSON.stringify({ email: 'a@b', password: 'x'.repeat(70 * 1024) });
    const response = await t.app.inject({ method: 'POST', url: '/api/auth/login', headers: { 'content-type': 'application/json' }, payload: large });
    expectError(response, 413);
  });

  it('stores a webhook whose strings carry U+0000 as U+FFFD, seed and v3 alike (never a 500)', async () => {
    const seed = seedMessage({ chatId: 'nul-seed', text: 'a\u0000b' });
    expect((await t.postWebhook(seed)).statusCode).toBe(200);
    const item = v3Message({ chatId: '77019990000', text: 'c\u0000d' });
    const bad = v3Message({ chatId: '77019990001', text: 'e\u0000f' });
    const v3 = await t.postWebhook({ messages: [item, { ...bad, type: undefined }] });
    expect(v3.statusCode, v3.body).toBe(200);
    const texts = await t.deps.database.db.selectFrom('messages').select('text').where('external_id', 'in', [seed.data.id, item.messageId]).orderBy('text').execute();
    expect(texts.map((row) => row.text)).toEqual(['a\ufffdb', 'c\ufffdd']);
  });

  // Nothing decompresses bodies: a gzipped one used to be refused as broken JSON (400), and an
  // encoded body that happened to parse was taken as sent (a review's find).
  it('refuses request bodies with a Content-Encoding other than identity with 415, webhooks too, and records the webhook', async () => {
    const gzipped = gzipSync(JSON.stringify({ status: 'closed' }));
    const message = 'Content-Encoding gzip is not supported: send the body uncompressed';
    for (const payload of [gzipped, Buffer.from('{}')]) {
      const response = await t.app.inject({
        method: 'PATCH',
        url: `/api/chats/${chatId}`,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-encoding': 'GZIP ' },
        payload,
      });
      expectError(response, 415, message);
      expect(response.headers['accept-encoding']).toBe('identity');
    }
    const body = seedMessage({ chatId: 'edges-gzip', id: 'edges-gzip-1' });
    const webhook = await t.app.inject({
      method: 'POST',
      url: '/api/webhooks/wazzup24',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
      payload: gzipSync(JSON.stringify(body)),
    });
    expectError(webhook, 415, message);
    // The header is the client's text: named only when it looks like codings.
    const odd = await t.app.inject({ method: 'PATCH', url: `/api/chats/${chatId}`, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-encoding': `x${'y'.repeat(15_000)}` }, payload: '{}' });
    expectError(odd, 415, 'This Content-Encoding is not supported: send the body uncompressed');
    const logged = ok(await request(t, 'GET', '/api/webhook-events?outcome=rejected&limit=1', { token: ADMIN_TOKEN })).data[0];
    expect(logged).toMatchObject({ httpStatus: 415, error: { message } });
    // identity is no encoding at all; a request without a body has nothing to decode.
    ok(await request(t, 'POST', '/api/webhooks/wazzup24', { body, headers: { 'content-encoding': 'identity' } }));
    ok(await request(t, 'GET', '/api/chats', { token, headers: { 'content-encoding': 'gzip' } }));
  });

  // Field errors were collected on a plain object: `errors.constructor` was Object's, and pushing
  // to it was a 500 in Fastify's own body, on the public login too (a review's find).
  it('answers fields named like what every object inherits with 400, naming them', async () => {
    const login = await request(t, 'POST', '/api/auth/login', { body: { email: 'a@b.c', password: 'x', toString: 1 } });
    expect(expectError(login, 400, 'Invalid request data').errors).toEqual({ toString: ['must NOT have additional properties'] });
    for (const name of ['constructor', 'hasOwnProperty', '__proto__']) {
      const listed = await request(t, 'GET', `/api/webhook-events?${name}=1`, { token: ADMIN_TOKEN });
      expect(expectError(listed, 400, 'Invalid request data').errors, name).toEqual({ [name]: ['must NOT have additional properties'] });
    }
    const nul = await request(t, 'GET', '/api/health?constructor=%00');
    expect(expectError(nul, 400).errors).toEqual({ constructor: ['The constructor field must not contain the NUL character.'] });
  });

  it('answers requests node:http cannot parse in the envelope, and closes the connection', async () => {
    // inject() passes node:http's parser by: this needs a socket.
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = t.app.server.address() as AddressInfo;
    const exchange = (raw: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => socket.write(raw));
        let answer = '';
        socket.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk));
        socket.on('close', () => resolve(answer)).on('error', reject);
      });
    const cases: [string, string, string][] = [
      ['POST /api/webhooks/wazzup24 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n', '400 Bad Request', 'The request is not valid HTTP'],
      ['GET /api/health HTTP/1.1\r\nHost: x\r\nBroken header line\r\n\r\n', '400 Bad Request', 'The request is not valid HTTP'],
      [`GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, '431 Request Header Fields Too Large', 'The request headers are too large'],
    ];
    for (const [raw, statusLine, message] of cases) {
      const answer = await exchange(raw);
      expect(answer.startsWith(`HTTP/1.1 ${statusLine}\r\n`), answer).toBe(true);
      expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toEqual({ status: 'error', message });
    }
  });

  // Read after the hang-up, the address was gone: such requests were recorded without one, and
  // all shared one refusal budget (a review's find).
  it('records a webhook whose client hung up mid-body with its address and why', async () => {
    if (!t.app.server.listening) await t.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = t.app.server.address() as AddressInfo;
    const socket = connect(port, '127.0.0.1', () => {
      socket.write('POST /api/webhooks/wazzup24 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"event"');
      setTimeout(() => socket.destroy(), 100);
    });
    const db = t.deps.database.db;
    const aborted = () =>
      db.selectFrom('webhook_events').selectAll().where('error', 'like', '%before its body arrived%').executeTakeFirst();
    for (let waited = 0; !(await aborted()) && waited < 5_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await aborted()).toMatchObject({ outcome: 'rejected', http_status: 400, client_ip: '127.0.0.1' });
  });

  it('answers malformed percent-encoding and over-long path segments with the envelope', async () => {
    for (const [method, url] of [
      ['GET', '/api/chats/%ff'],
      ['GET', '/api/chats/%'],
      ['POST', '/api/webhooks/wazzup24%ff'],
    ] as const) {
      const response = await request(t, method, url, { token });
      expect(response.json(), url).toEqual({ status: 'error', message: 'The URL is not valid: it has a malformed percent-encoding' });
      expect(response.statusCode).toBe(400);
    }
    const long = await request(t, 'GET', `/api/chats/${'a'.repeat(101)}`, { token });
    expect(long.statusCode).toBe(414);
    expect(long.json()).toEqual({ status: 'error', message: 'A segment of the URL is too long' });
  });

  it('answers 405 with Allow for a wrong method on a route with a path parameter, 404 for unknown paths', async () => {
    const cases: [string, string, string][] = [
      ['PUT', `/api/chats/${chatId}`, 'GET, HEAD, PATCH'],
      ['DELETE', '/api/users/x', 'PATCH'],
      ['PUT', '/api/chats', 'GET, HEAD'],
      ['DELETE', `/api/chats/${chatId}/messages`, 'GET, HEAD'],
      ['GET', '/api/webhook-events/x/replay', 'POST'],
      ['GET', '/api/tokens/x', 'DELETE'],
      // As the router matches: an empty path parameter, and a plugin's '/' route at its prefix plus '/'.
      ['PUT', '/api/users/', 'PATCH'],
      ['PUT', '/api/chats//messages', 'GET, HEAD'],
      ['POST', '/api/docs/', 'GET, HEAD'],
    ];
    for (const [method, url, allow] of cases) {
      const response = await t.app.inject({ method: method as 'GET', url, headers: { authorization: `Bearer ${token}` } });
      expect(response.statusCode, `${method} ${url}`).toBe(405);
      expect(response.headers.allow, `${method} ${url}`).toBe(allow);
      expect(response.json()).toEqual({ status: 'error', message: `Method ${method} is not allowed here` });
    }
    for (const url of ['/api/nothing', `/api/chats/${chatId}/nothing`, '/api/chats/a/b/c']) {
      const response = await t.app.inject({ method: 'PUT', url });
      expect(response.statusCode, url).toBe(404);
      expect(response.json().status).toBe('error');
    }
    // A wildcard needs its segment: no route has this path, whatever the method.
    expect((await t.app.inject({ method: 'GET', url: '/api/docs/static' })).statusCode).toBe(404);
  });
});

describe('a webhook body that arrives too slowly', () => {
  // node:http answers it 408 itself (through the clientErrorHandler) and cuts the body off; the
  // request then ends as a hang-up would. Its log line said 400 and "hungUp" (reviews' finds).
  it('is logged and recorded as the 408 its client was sent, not as a client that hung up', async () => {
    const { logger, lines } = capturingLogger();
    const t = await createTestApp('sqlite', { logger });
    let client: Socket | undefined;
    try {
      await t.app.listen({ port: 0, host: '127.0.0.1' });
      let serverSide: Socket | undefined;
      t.app.server.once('connection', (socket: Socket) => (serverSide = socket));
      client = connect((t.app.server.address() as AddressInfo).port, '127.0.0.1');
      let answer = '';
      client.on('data', (chunk) => (answer += String(chunk)));
      client.on('error', () => undefined);
      client.write('POST /api/webhooks/wazzup24 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{"event":');
      await expect.poll(() => serverSide !== undefined).toBe(true);
      // The head is read and the body awaited.
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(lines.some((line) => line.includes('request completed'))).toBe(false);
      // What node:http does once requestTimeout has passed.
      t.app.server.emit('clientError', Object.assign(new Error('Request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }), serverSide);
      await expect.poll(() => lines.some((line) => line.includes('request completed'))).toBe(true);
      expect(answer).toMatch(/^HTTP\/1\.1 408 /);
      const line = JSON.parse(lines.find((l) => l.includes('request completed'))!) as Record<string, unknown>;
      expect(line).toMatchObject({ statusCode: 408, outcome: 'rejected', error: { message: 'The request took too long to arrive' } });
      expect(line.hungUp).toBeUndefined();
    } finally {
      client?.destroy();
      await t.close();
    }
  });
});
