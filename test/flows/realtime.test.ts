/**
 * Real-time push to operators over a real WebSocket: authentication, one event per domain change
 * carrying the REST representation, replay on reconnect, heartbeats, and nothing published for a
 * change that was rolled back.
 */
import { randomBytes } from 'node:crypto';
import { connect as connectTcp } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { latestOutboxSeq, purgeOutbox } from '../../src/events/outbox.js';
import { curePoison, poisonMessages } from '../helpers/poison.js';
import { capturingLogger, createTestApp, type TestApp } from '../helpers/test-app.js';
import { openDatabase } from '../../src/storage/database.js';
import { startServer } from '../helpers/server-process.js';
import { createTestDatabase, testDialects } from '../helpers/test-database.js';
import { openSocket, type Frame, type TestSocket } from '../helpers/ws-client.js';

const ADMIN = 'admin-token-0123456789abcdef0123456789ab';

let sequence = 0;
const message = (overrides: Record<string, unknown> = {}) => {
  sequence += 1;
  return {
    event: 'message',
    data: { id: `rt_${sequence}`, chatId: 'rt_chat', text: `hello ${sequence}`, type: 'text', from: '+7 777 300 00 01', timestamp: 1640995200 + sequence, contact: { name: 'Rita', phone: '+7 777 300 00 01' }, ...overrides },
  };
};

/** Creates an operator through the admin API of the server at `baseUrl` and signs it in. */
async function operatorToken(baseUrl: string, email: string): Promise<string> {
  const json = { 'content-type': 'application/json' };
  const created = await fetch(`${baseUrl}/api/users`, {
    method: 'POST',
    headers: { ...json, authorization: `Bearer ${ADMIN}` },
    body: JSON.stringify({ email, name: 'Op', role: 'operator', password: 'correct horse battery' }),
  });
  expect(created.status).toBe(201);
  const login = await fetch(`${baseUrl}/api/auth/login`, { method: 'POST', headers: json, body: JSON.stringify({ email, password: 'correct horse battery' }) });
  return ((await login.json()) as { token: string }).token;
}

describe.each(testDialects)('real-time push on %s', (dialect) => {
  let t: TestApp;
  let token: string;
  let baseUrl: string;
  let wsUrl: string;
  const sockets: TestSocket[] = [];
  /** Sequence numbers of the event frames (`ready` carries one too, and is no event). */
  const eventSeqs = (socket: TestSocket) => socket.frames.filter((f) => f.type.includes('.')).map((f) => f.seq!);
  const connect = async (query = '') => {
    const socket = await openSocket(`${wsUrl}?token=${token}${query}`);
    sockets.push(socket);
    await socket.waitFor((f) => f.type === 'ready');
    return socket;
  };
  const get = (url: string) => t.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });

  beforeAll(async () => {
    t = await createTestApp(dialect, { env: { ADMIN_TOKEN: ADMIN, REALTIME_HEARTBEAT_SECONDS: '1' } });
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    baseUrl = `http://127.0.0.1:${(t.app.server.address() as { port: number }).port}`;
    token = await operatorToken(baseUrl, `rt-${dialect}@example.com`);
    wsUrl = `${baseUrl.replace('http', 'ws')}/api/ws`;
  });
  afterAll(async () => {
    for (const socket of sockets) await socket.close();
    await t.close();
  });

  it('refuses a connection without a valid user token', async () => {
    await expect(openSocket(wsUrl)).rejects.toThrow('HTTP 401');
    await expect(openSocket(`${wsUrl}?token=bc_nope`)).rejects.toThrow('HTTP 401');
    await expect(openSocket(`${wsUrl}?token=${ADMIN}`)).rejects.toThrow('HTTP 403');
    // A repeated ?token= is no token (it was a 500), and a list where one value goes is a 400.
    await expect(openSocket(`${wsUrl}?token=${token}&token=${token}`)).rejects.toThrow('HTTP 401');
    await expect(openSocket(`${wsUrl}?token=${token}&token=${token}`, { headers: { authorization: `Bearer ${token}` } })).rejects.toThrow('HTTP 400');
    await expect(openSocket(`${wsUrl}?tokn=${token}`, { headers: { authorization: `Bearer ${token}` } })).rejects.toThrow('HTTP 400');
    const viaHeader = await openSocket(wsUrl, { headers: { authorization: `Bearer ${token}` } });
    sockets.push(viaHeader);
    await viaHeader.waitFor((f) => f.type === 'ready');
  });

  it('pushes a message with its contact and chat, in the REST representation', async () => {
    const socket = await connect();
    const m = message();
    await t.postWebhook(m);
    const created = await socket.waitFor((f) => f.type === 'message.created');
    const chatUpdated = await socket.waitFor((f) => f.type === 'chat.updated');
    await socket.waitFor((f) => f.type === 'contact.updated');
    expect(created.data).toMatchObject({ externalId: m.data.id, text: m.data.text, direction: 'in' });
    const chatId = created.data!.chatId as string;
    // The frame carries exactly what GET /api/chats/:id answers, so a client never refetches.
    expect(chatUpdated.data).toEqual((await get(`/api/chats/${chatId}`)).json());
    const page = (await get(`/api/chats/${chatId}/messages?limit=1`)).json();
    expect(created.data).toEqual(page.data[0]);
    const seqs = eventSeqs(socket);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  });

  it("shows the chat's own contact and an echo's status in chat.updated, as REST does", async () => {
    const socket = await connect();
    // A group chat: a second member writes. The chat stays linked to its first contact.
    await t.postWebhook(message({ id: 'rt_group_1', chatId: 'rt_group', from: '+7 777 300 00 11', contact: { name: 'Alice', phone: '+7 777 300 00 11' } }));
    await t.postWebhook(message({ id: 'rt_group_2', chatId: 'rt_group', from: '+7 777 300 00 12', contact: { name: 'Bob', phone: '+7 777 300 00 12' } }));
    const group = await socket.waitFor((f) => f.type === 'chat.updated' && (f.data?.lastMessage as { externalId?: string } | null)?.externalId === 'rt_group_2');
    expect(group.data).toEqual((await get(`/api/chats/${group.data!.id as string}`)).json());
    expect(group.data).toMatchObject({ contact: { name: 'Alice' } });
    // A v3 echo carries its status, applied in the same commit: the frame shows it, not null.
    const echoId = '00000000-0000-4000-8000-0000000e0001';
    await t.postWebhook({
      messages: [{ messageId: echoId, channelId: 'rt-channel', chatType: 'whatsapp', chatId: '77773000013', dateTime: '2025-05-06T14:00:00.000Z', type: 'text', isEcho: true, text: 'we replied', status: 'sent' }],
    });
    const echo = await socket.waitFor((f) => f.type === 'chat.updated' && (f.data?.lastMessage as { externalId?: string } | null)?.externalId === echoId);
    expect(echo.data).toEqual((await get(`/api/chats/${echo.data!.id as string}`)).json());
    expect(echo.data).toMatchObject({ lastMessage: { status: 'sent' } });
  });

  it('pushes status changes, edits, contact updates, assignments and reads', async () => {
    const socket = await connect();
    const m = message();
    await t.postWebhook(m);
    const created = await socket.waitFor((f) => f.type === 'message.created' && f.data?.externalId === m.data.id);
    const chatId = created.data!.chatId as string;

    await t.postWebhook({ event: 'status', data: { messageId: m.data.id, status: 'read', timestamp: 1640999999 } });
    expect((await socket.waitFor((f) => f.type === 'message.status_changed')).data).toMatchObject({ externalId: m.data.id, status: 'read' });

    await t.postWebhook({ event: 'contact', data: { phone: '+7 777 300 00 01', name: 'Rita R.', timestamp: 1641999999 } });
    expect((await socket.waitFor((f) => f.type === 'contact.updated' && f.data?.name === 'Rita R.')).data).toMatchObject({ phone: '+77773000001' });

    const v3 = { messageId: 'rt-v3-1', channelId: 'ch', chatType: 'whatsapp', chatId: '77773000002', dateTime: '2025-01-01T00:00:00Z', type: 'text', text: 'before', status: 'inbound' };
    await t.postWebhook({ messages: [v3] });
    await t.postWebhook({ messages: [{ ...v3, text: 'after', isEdited: true, oldInfo: { oldText: 'before' } }] });
    expect((await socket.waitFor((f) => f.type === 'message.updated')).data).toMatchObject({ externalId: 'rt-v3-1', text: 'after', editedAt: expect.any(String) });

    const me = (await get('/api/me')).json();
    await t.app.inject({ method: 'PATCH', url: `/api/chats/${chatId}`, headers: { authorization: `Bearer ${token}` }, payload: { assigneeId: me.id } });
    expect((await socket.waitFor((f) => f.type === 'chat.updated' && f.data?.assigneeId === me.id)).data).toMatchObject({ id: chatId });
    await t.app.inject({ method: 'POST', url: `/api/chats/${chatId}/read`, headers: { authorization: `Bearer ${token}` } });
    await socket.waitFor((f) => f.type === 'chat.updated' && f.data?.id === chatId && f.data?.unreadCount === 0);
  });

  it('keeps a client that reads up through bursts of large events, live and on a replay of several pages', async () => {
    // The server runs in a process of its own, so that the client reads while the server works.
    const database = await createTestDatabase(dialect);
    const server = await startServer({ databaseUrl: database.url, env: { ADMIN_TOKEN: ADMIN, WEBHOOK_BODY_LIMIT: String(16 * 1024 * 1024) } });
    const opened: TestSocket[] = [];
    try {
      const ownToken = await operatorToken(server.baseUrl, `rt-burst-${dialect}@example.com`);
      const open = async (query = '') => {
        const socket = await openSocket(`${server.baseUrl.replace('http', 'ws')}/api/ws?token=${ownToken}${query}`);
        opened.push(socket);
        await socket.waitFor((f) => f.type === 'ready');
        return socket;
      };
      const createdIn = (socket: TestSocket, ids: Set<string>) => socket.frames.filter((f) => f.type === 'message.created' && ids.has(f.data?.externalId as string)).length;
      const live = await open();
      // Each burst is one v3 body of 150 messages of 60 KB: one commit, whose 300 events (18 MB)
      // go out in one go, however fast the client reads. It has read everything before each.
      const allIds = new Set<string>();
      for (const burst of [1, 2]) {
        const messages = Array.from({ length: 150 }, (_, i) => ({
          messageId: `rt-burst-${burst}-${i}`,
          channelId: 'ch',
          chatType: 'whatsapp',
          chatId: '77773000009',
          dateTime: new Date(Date.UTC(2025, 0, burst, 0, 0, i)).toISOString(),
          type: 'text',
          text: 'ж'.repeat(30_000),
          status: 'inbound',
        }));
        const answer = await fetch(server.webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ messages }) });
        expect(answer.status).toBe(200);
        const ids = new Set(messages.map((m) => m.messageId));
        for (const id of ids) allIds.add(id);
        await live.waitFor(() => createdIn(live, ids) === ids.size, 30_000);
      }
      expect(live.socket.readyState).toBe(live.socket.OPEN);

      // A replay sends one page (500 events) at a time, each at once, the next once this is read.
      const replayed = await open('&since=0');
      expect(createdIn(replayed, allIds)).toBe(allIds.size);
      expect(replayed.socket.readyState).toBe(replayed.socket.OPEN);
      const seqs = eventSeqs(replayed);
      expect(seqs.length).toBeGreaterThan(500);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(seqs.length);

      // A purge that runs while a replay waits for the client to read a page takes events the
      // next page would have sent: the client is told to reload instead of silently missing them.
      const paused = await openSocket(`${server.baseUrl.replace('http', 'ws')}/api/ws?token=${ownToken}&since=0`);
      opened.push(paused);
      paused.socket.pause();
      await new Promise((resolve) => setTimeout(resolve, 500));
      const store = openDatabase(database.url);
      try {
        expect(await purgeOutbox(store.db, Date.now() + 60_000)).toBeGreaterThan(0);
      } finally {
        await store.close();
      }
      paused.socket.resume();
      const ready = await paused.waitFor((f) => f.type === 'ready', 30_000);
      const resync = paused.frames.findIndex((f) => f.type === 'resync_required');
      expect(resync).toBeGreaterThan(-1);
      expect(paused.frames.slice(resync + 1)).toEqual([ready]);
    } finally {
      for (const socket of opened) await socket.close();
      await server.stop('SIGTERM');
      await database.drop();
    }
  }, 90_000);

  // Each such socket left open for good would cost a file descriptor: about a thousand and the
  // server accepts no connection at all.
  it('closes the socket of an upgrade request answered by any route but /api/ws', async () => {
    const { port } = new URL(baseUrl);
    // The last fails in the router itself (a malformed %-escape: 400), before any route.
    for (const path of ['/api/health', '/no-such-route', '/api/ws', '/api/%zz']) {
      const socket = connectTcp(Number(port), '127.0.0.1');
      const closed = new Promise<string>((resolve) => {
        let head = '';
        socket.on('data', (chunk) => (head += String(chunk)));
        socket.once('close', () => resolve(head.split('\r\n', 1)[0]!));
      });
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n`);
      const timeout = new Promise<string>((resolve) => setTimeout(() => resolve('still open after 3 s'), 3_000));
      expect(await Promise.race([closed, timeout]), path).toMatch(/^HTTP\/1\.1 (200|400|401|404)/);
      socket.destroy();
    }
  });

  it('shuts down promptly, exit 0, when a connected client never answers the close frame', async () => {
    const database = await createTestDatabase(dialect);
    const server = await startServer({ databaseUrl: database.url, env: { ADMIN_TOKEN: ADMIN } });
    try {
      const ownToken = await operatorToken(server.baseUrl, `rt-mute-${dialect}@example.com`);
      // A bare TCP client that completes the upgrade and then reads nothing and answers nothing:
      // a laptop gone to sleep. (A ws client would answer the close frame by itself.)
      const { port } = new URL(server.baseUrl);
      const mute = connectTcp(Number(port), '127.0.0.1');
      await new Promise<void>((resolve, reject) => {
        mute.once('error', reject);
        mute.write(
          `GET /api/ws?token=${ownToken} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
        );
        mute.once('data', (head) => (String(head).startsWith('HTTP/1.1 101') ? resolve() : reject(new Error(String(head)))));
      });
      mute.pause();
      const started = Date.now();
      const exit = await server.stop('SIGTERM');
      expect(exit, server.output()).toEqual({ code: 0, signal: null });
      expect(Date.now() - started).toBeLessThan(10_000);
      mute.destroy();
    } finally {
      await server.stop('SIGKILL');
      await database.drop();
    }
  }, 60_000);

  it('replays what a client missed when it reconnects with its last sequence number, then goes live', async () => {
    const first = await connect();
    await t.postWebhook(message());
    const seen = await first.waitFor((f) => f.type === 'chat.updated');
    await first.close();

    const missed = [message(), message(), message()];
    for (const m of missed) await t.postWebhook(m);

    const again = await openSocket(`${wsUrl}?token=${token}&since=${seen.seq}`);
    sockets.push(again);
    const ready = await again.waitFor((f) => f.type === 'ready');
    const replayed = again.frames.filter((f) => f.type === 'message.created').map((f) => f.data!.externalId);
    expect(replayed).toEqual(missed.map((m) => m.data.id));
    const seqs = eventSeqs(again);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs[0]).toBe(seen.seq! + 1);
    expect(ready.seq).toBe(seqs.at(-1));

    const live = message();
    await t.postWebhook(live);
    await again.waitFor((f) => f.type === 'message.created' && f.data?.externalId === live.data.id);
  });

  it('asks for a resync when what was missed is past the replay window', async () => {
    await t.postWebhook(message());
    const db = t.deps.database.db;
    const newest = await latestOutboxSeq(db);
    // Two events per statement: every event but the newest goes, over several statements.
    const kept = await db.selectFrom('domain_events').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(await purgeOutbox(db, Date.now() + 1000, { rows: 2 })).toBe(Number(kept.n) - 1);
    expect((await db.selectFrom('domain_events').select('seq').execute()).map((row) => Number(row.seq))).toEqual([newest]);
    await t.postWebhook(message());
    const socket = await openSocket(`${wsUrl}?token=${token}&since=1`);
    sockets.push(socket);
    const frame: Frame = await socket.waitFor((f) => f.type === 'resync_required');
    expect(frame.seq).toBeGreaterThan(1);
  });

  it('replays after a purge when the hole next to the oldest kept event is one no event ever filled', async () => {
    const db = t.deps.database.db;
    await t.postWebhook(message());
    const seen = await latestOutboxSeq(db);
    // A hole, as a rolled-back transaction leaves on PostgreSQL: numbers taken, no event kept.
    await t.postWebhook(message());
    await db.deleteFrom('domain_events').where('seq', '>', seen).execute();
    const after = message();
    await t.postWebhook(after);
    // Everything the client has seen is purged; nothing it has not seen is.
    await db.updateTable('domain_events').set({ created_at: 0 }).where('seq', '<=', seen).execute();
    expect(await purgeOutbox(db, 1)).toBeGreaterThan(0);

    const socket = await connect(`&since=${seen}`);
    expect(socket.frames.some((f) => f.type === 'resync_required')).toBe(false);
    expect(socket.frames.filter((f) => f.type === 'message.created').map((f) => f.data!.externalId)).toEqual([after.data.id]);
  });

  it('publishes nothing for a change that was rolled back', async () => {
    const socket = await connect();
    await poisonMessages(t.deps.database.db, dialect);
    try {
      const poisoned = message({ id: 'poison_rt' });
      expect((await t.postWebhook(poisoned)).statusCode).toBe(500);
    } finally {
      await curePoison(t.deps.database.db, dialect);
    }
    const after = message();
    await t.postWebhook(after);
    await socket.waitFor((f) => f.type === 'message.created' && f.data?.externalId === after.data.id);
    expect(socket.frames.some((f) => f.data?.externalId === 'poison_rt')).toBe(false);
  });

  it('delivers events committed by another writer (the CLI, another process) that never told this bus', async () => {
    const socket = await connect();
    const chat = (await get('/api/chats?limit=1')).json().data[0];
    // Written straight to the outbox, as another process (the CLI replaying webhooks) would.
    const contact = { ...chat.contact, id: 'foreign-writer', createdAt: 0, updatedAt: 0 };
    await t.deps.database.db
      .insertInto('domain_events')
      .values({ type: 'contact.updated', payload: JSON.stringify({ contact }), created_at: Date.now() })
      .execute();
    const frame = await socket.waitFor((f) => f.type === 'contact.updated' && f.data?.id === 'foreign-writer', 5000);
    expect(frame.seq).toBeGreaterThan(0);
  });

  it('answers a sequence number it never gave out with resync_required', async () => {
    const socket = await openSocket(`${wsUrl}?token=${token}&since=999999999`);
    sockets.push(socket);
    await socket.waitFor((f) => f.type === 'resync_required');
  });

  it('refuses a user more than 20 connections at once (429), and takes one again once another closes', async () => {
    const busy = await operatorToken(baseUrl, `rt-busy-${dialect}@example.com`);
    const open = async () => {
      const socket = await openSocket(`${wsUrl}?token=${busy}`);
      sockets.push(socket);
      await socket.waitFor((f) => f.type === 'ready');
      return socket;
    };
    const held: TestSocket[] = [];
    for (let i = 0; i < 20; i += 1) held.push(await open());
    await expect(openSocket(`${wsUrl}?token=${busy}`)).rejects.toThrow('HTTP 429');
    // Another user is not held back by this one.
    await connect();
    await held[0]!.close();
    await expect.poll(async () => open().then(() => true, () => false), { timeout: 5_000 }).toBe(true);
  });

  it('logs a client breaking the protocol as a warning, without a stack, and closes it with the code that says why', async () => {
    const { logger, lines } = capturingLogger();
    const own = await createTestApp(dialect, { env: { ADMIN_TOKEN: ADMIN }, logger });
    try {
      await own.app.listen({ port: 0, host: '127.0.0.1' });
      const ownBase = `http://127.0.0.1:${(own.app.server.address() as { port: number }).port}`;
      const ownToken = await operatorToken(ownBase, `rt-rude-${dialect}@example.com`);
      const rude = await openSocket(`${ownBase.replace('http', 'ws')}/api/ws?token=${ownToken}`);
      await rude.waitFor((f) => f.type === 'ready');
      rude.socket.send('x'.repeat(70 * 1024));
      expect(await rude.closed).toBe(1009);
      await expect.poll(() => lines.some((line) => line.includes('broke the protocol'))).toBe(true);
      const logged = lines.map((line) => JSON.parse(line) as { level: number; msg: string; stack?: string; err?: unknown });
      expect(logged.find((line) => line.msg.includes('broke the protocol'))).toMatchObject({ level: 40 });
      expect(logged.filter((line) => line.level >= 50)).toEqual([]);
      // Who held the feed and how long: an upgrade gets no request log line of its own.
      await expect.poll(() => lines.some((line) => line.includes('real-time connection closed'))).toBe(true);
      const all = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(all.find((line) => line.msg === 'real-time connection opened')).toMatchObject({ level: 30, userId: expect.any(String), tokenId: expect.any(String), since: null });
      // Terminated by the server (the protocol broken), so it sees no close code: 1006.
      expect(all.find((line) => line.msg === 'real-time connection closed')).toMatchObject({ code: 1006, durationMs: expect.any(Number) });
      expect(lines.join('\n')).not.toContain(ownToken);
    } finally {
      await own.close();
    }
  });

  it('closes the connection of a session that ends: logout, revoked token', async () => {
    const other = await operatorToken(baseUrl, `rt-logout-${dialect}@example.com`);
    const socket = await openSocket(`${wsUrl}?token=${other}`);
    sockets.push(socket);
    await socket.waitFor((f) => f.type === 'ready');
    await t.app.inject({ method: 'POST', url: '/api/auth/logout', headers: { authorization: `Bearer ${other}` } });
    // Checked at the next heartbeat (1 s here).
    expect(await socket.closed).toBe(4001);
  });

  it('closes a connection that stops answering heartbeats', async () => {
    const silent = await openSocket(`${wsUrl}?token=${token}`, { autoPong: false });
    sockets.push(silent);
    const started = Date.now();
    await silent.closed;
    expect(Date.now() - started).toBeLessThan(5000);
    // A healthy client stays connected meanwhile.
    const healthy = await connect();
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(healthy.socket.readyState).toBe(healthy.socket.OPEN);
  });
});
