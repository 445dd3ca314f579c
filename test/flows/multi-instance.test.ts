/**
 * Several backchat processes on one PostgreSQL: a webhook taken by instance A reaches an operator
 * connected to instance B, through LISTEN/NOTIFY and the event outbox, with no other server.
 * Runs only where the suite runs on PostgreSQL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type ServerProcess } from '../helpers/server-process.js';
import { createTestDatabase, testDialects, type TestDatabase } from '../helpers/test-database.js';
import { openSocket, type TestSocket } from '../helpers/ws-client.js';

const ADMIN = 'admin-token-0123456789abcdef0123456789ab';
const MAX_FAILURES = 4;

describe.runIf(testDialects.includes('postgres'))('two instances on one PostgreSQL', () => {
  let database: TestDatabase;
  let a: ServerProcess;
  let b: ServerProcess;
  let token: string;
  const sockets: TestSocket[] = [];

  beforeAll(async () => {
    database = await createTestDatabase('postgres');
    // The throttle test sends each login from an address of its own (X-Forwarded-For, believed
    // from loopback), so that only the account's count can refuse it.
    const env = { ADMIN_TOKEN: ADMIN, LOGIN_MAX_FAILURES: String(MAX_FAILURES), TRUST_PROXY: '127.0.0.1' };
    a = await startServer({ databaseUrl: database.url, env });
    b = await startServer({ databaseUrl: database.url, env });
    const created = await fetch(`${a.baseUrl}/api/users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'two@example.com', name: 'Two', role: 'operator', password: 'correct horse battery' }),
    });
    expect(created.status).toBe(201);
    // Signed in on B: the token lives in the shared database, so A accepts it too.
    const login = await fetch(`${b.baseUrl}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'two@example.com', password: 'correct horse battery' }),
    });
    token = ((await login.json()) as { token: string }).token;
  }, 60_000);

  afterAll(async () => {
    for (const socket of sockets) await socket.close();
    await a?.stop('SIGTERM');
    await b?.stop('SIGTERM');
    await database?.drop();
  });

  const socketOn = async (server: ServerProcess, query = '') => {
    const socket = await openSocket(`${server.baseUrl.replace('http', 'ws')}/api/ws?token=${token}${query}`);
    sockets.push(socket);
    await socket.waitFor((f) => f.type === 'ready');
    return socket;
  };
  const post = (server: ServerProcess, id: string, chatId = 'multi_chat') =>
    fetch(server.webhookUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ event: 'message', data: { id, chatId, text: `from ${id}`, type: 'text', from: '+7 777 400 00 01', timestamp: 1640995200 } }),
    });

  it('fans a webhook taken by A out to an operator on B, and the other way round', async () => {
    const onB = await socketOn(b);
    const onA = await socketOn(a);
    expect((await post(a, 'multi_1')).status).toBe(200);
    const viaB = await onB.waitFor((f) => f.type === 'message.created' && f.data?.externalId === 'multi_1');
    const viaA = await onA.waitFor((f) => f.type === 'message.created' && f.data?.externalId === 'multi_1');
    expect(viaB.seq).toBe(viaA.seq);
    expect((await post(b, 'multi_2')).status).toBe(200);
    await onA.waitFor((f) => f.type === 'message.created' && f.data?.externalId === 'multi_2');
  });

  it('delivers events from both instances to everyone in one increasing order, none lost', async () => {
    const onA = await socketOn(a);
    const onB = await socketOn(b);
    const ids = Array.from({ length: 60 }, (_, i) => `multi_burst_${i}`);
    // Both instances take webhooks at the same time, for several chats.
    const responses = await Promise.all(ids.map((id, i) => post(i % 2 === 0 ? a : b, id, `multi_chat_${i % 5}`)));
    expect(responses.every((r) => r.status === 200)).toBe(true);
    for (const socket of [onA, onB]) {
      await socket.waitFor(() => ids.every((id) => socket.frames.some((f) => f.type === 'message.created' && f.data?.externalId === id)), 15_000);
      const seqs = socket.frames.filter((f) => f.type.includes('.')).map((f) => f.seq!);
      expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
      expect(new Set(seqs).size).toBe(seqs.length);
    }
    const seqsOf = (socket: TestSocket) => socket.frames.filter((f) => f.type.includes('.')).map((f) => f.seq);
    expect(seqsOf(onA)).toEqual(seqsOf(onB));
  });

  it('replays from the shared outbox when an operator reconnects to the other instance', async () => {
    const onA = await socketOn(a);
    await post(a, 'multi_before');
    const seen = await onA.waitFor((f) => f.type === 'chat.updated');
    await onA.close();
    await post(a, 'multi_missed');
    const onB = await socketOn(b, `&since=${seen.seq}`);
    expect(onB.frames.some((f) => f.type === 'message.created' && f.data?.externalId === 'multi_missed')).toBe(true);
  });

  it('shares one count of failed logins: failures on A and B together lock the account on both', async () => {
    let address = 0;
    const attempt = (server: ServerProcess, password: string) =>
      fetch(`${server.baseUrl}/api/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-forwarded-for': `203.0.113.${(address += 1)}` },
        body: JSON.stringify({ email: 'two@example.com', password }),
      });
    // Half on each instance, at once: none is lost to a race between the two.
    const failures = await Promise.all(Array.from({ length: MAX_FAILURES }, (_, i) => attempt(i % 2 === 0 ? a : b, `wrong ${i}`)));
    expect(failures.map((r) => r.status)).toEqual(Array(MAX_FAILURES).fill(401));
    for (const server of [a, b]) {
      const refused = await attempt(server, 'correct horse battery');
      expect(refused.status).toBe(429);
      expect(((await refused.json()) as { status: string }).status).toBe('error');
      expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    }
  });
});
