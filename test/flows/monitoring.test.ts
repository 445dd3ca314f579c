/**
 * Metrics, health, readiness and the admin API over the webhook log (list, filter, replay after a
 * fault is fixed, purge, stats), on each dialect.
 */
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bodiesDroppedBefore, insertWebhookLogEntry, markBodiesDroppedBefore } from '../../src/domain/webhook-log/webhook-log.repository.js';
import { purgeExpiredWebhookLog } from '../../src/domain/webhook-log/webhook-log.service.js';
import type { WebhookLogEntry } from '../../src/domain/webhook-log/webhook-log.types.js';
import { newId } from '../../src/storage/ids.js';
import { openDatabase } from '../../src/storage/database.js';
import { migrateToLatest } from '../../src/storage/migrations/index.js';
import { curePoison, poisonMessages } from '../helpers/poison.js';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { openDependencies } from '../../src/dependencies.js';
import { capturingLogger, createTestApp, silentLogger, type TestApp } from '../helpers/test-app.js';
import { findFreePort, startServer } from '../helpers/server-process.js';
import { createTestDatabase, testDialects } from '../helpers/test-database.js';
import { WRITERS_LOCK_KEY } from '../../src/storage/dialects/postgres.js';

const ADMIN = 'admin-token-0123456789abcdef0123456789ab';
const METRICS = 'metrics-token-0123456789abcdef0123456789';
const admin = { authorization: `Bearer ${ADMIN}` };

let sequence = 0;
const message = (id?: string) => {
  sequence += 1;
  return {
    event: 'message',
    data: { id: id ?? `mon_${sequence}`, chatId: `mon_chat_${sequence % 3}`, text: 'hi', type: 'text', from: '+7 777 123 45 67', timestamp: 1640995200 },
  };
};

/** The value of one series in Prometheus text format, or undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe.each(testDialects)('monitoring on %s', (dialect) => {
  describe('metrics and health', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await createTestApp(dialect, { env: { METRICS_TOKEN: METRICS, ADMIN_TOKEN: ADMIN } });
    });
    afterAll(async () => {
      await t.close();
    });
    const metrics = async () => {
      const response = await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${METRICS}` } });
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toMatch(/text\/plain/);
      return response.body;
    };

    it('starts every series at zero, before any traffic', async () => {
      const text = await metrics();
      expect(sample(text, 'webhook_requests_total{event="message",outcome="accepted"}')).toBe(0);
      expect(sample(text, 'webhook_requests_total{event="status",outcome="failed"}')).toBe(0);
      expect(sample(text, 'webhook_requests_total{event="none",outcome="rejected"}')).toBe(0);
      expect(sample(text, 'webhook_request_duration_seconds_count{outcome="accepted"}')).toBe(0);
      // A v3 test ping or a recorded-only event is processed too: its series must not appear only later.
      for (const event of ['message', 'batch', 'test', 'other', 'none']) {
        expect(sample(text, `webhook_processing_duration_seconds_count{event="${event}"}`)).toBe(0);
      }
      // No webhook yet: the process start, so that a restart alone does not look like silence.
      expect(Math.abs(sample(text, 'webhook_last_received_timestamp_seconds')! - Date.now() / 1000)).toBeLessThan(120);
      expect(sample(text, 'webhook_silence_alert_threshold_seconds')).toBe(1800);
      expect(sample(text, 'domain_events_published_total{type="message.created"}')).toBe(0);
      expect(text).toContain('process_cpu_user_seconds_total');
      expect(text).toContain('nodejs_eventloop_lag_seconds');
    });

    it('reports health with no webhook yet, and the configuration warnings to admins only', async () => {
      const response = await t.app.inject({ method: 'GET', url: '/api/health', headers: admin });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toMatchObject({ status: 'ok', lastWebhookAt: null, warnings: [expect.stringMatching(/webhook endpoint is open/)] });
      for (const headers of [{}, { authorization: 'Bearer not-a-token' }]) {
        const anonymous = await t.app.inject({ method: 'GET', url: '/api/health', headers });
        expect(anonymous.statusCode).toBe(200);
        expect(anonymous.json()).toEqual({ status: 'ok', message: 'backchat is running', lastWebhookAt: null });
      }
    });

    it('counts a known sequence of requests', async () => {
      const first = message();
      await t.postWebhook(first);
      await t.postWebhook(message());
      await t.postWebhook(first);
      await t.postWebhook({ event: 'status', data: { messageId: first.data.id, status: 'read', timestamp: 1640995300 } });
      await t.postWebhook({ event: 'nonsense', data: {} });
      await t.postWebhook(message(), { 'content-type': 'text/plain' });
      const text = await metrics();
      expect(sample(text, 'webhook_requests_total{event="message",outcome="accepted"}')).toBe(2);
      expect(sample(text, 'webhook_requests_total{event="message",outcome="duplicate"}')).toBe(1);
      expect(sample(text, 'webhook_requests_total{event="status",outcome="accepted"}')).toBe(1);
      // A client's event name never becomes a label.
      expect(sample(text, 'webhook_requests_total{event="none",outcome="invalid"}')).toBe(1);
      expect(text).not.toContain('nonsense');
      expect(sample(text, 'webhook_requests_total{event="none",outcome="rejected"}')).toBe(1);
      expect(sample(text, 'webhook_request_duration_seconds_count{outcome="accepted"}')).toBe(3);
      expect(sample(text, 'webhook_processing_duration_seconds_count{event="message"}')).toBe(3);
      expect(sample(text, 'webhook_request_size_bytes_count')).toBe(6);
      expect(sample(text, 'domain_events_published_total{type="message.created"}')).toBe(2);
      expect(sample(text, 'domain_events_published_total{type="message.status_changed"}')).toBe(1);
      expect(sample(text, 'store_commit_batch_size_count')).toBeGreaterThanOrEqual(4);
      const last = sample(text, 'webhook_last_received_timestamp_seconds')!;
      expect(Math.abs(last - Date.now() / 1000)).toBeLessThan(60);
    });

    it('shows the last accepted webhook in health', async () => {
      const body = (await t.app.inject({ method: 'GET', url: '/api/health' })).json();
      expect(Date.now() - Date.parse(body.lastWebhookAt)).toBeLessThan(60_000);
    });

    it('keeps /metrics behind its token', async () => {
      expect((await t.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
      expect((await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer wrong' } })).statusCode).toBe(401);
    });

    it('is ready while the database answers', async () => {
      const response = await t.app.inject({ method: 'GET', url: '/api/ready' });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({ status: 'ok', message: 'Ready' });
    });
  });

  it('does not serve /metrics without a token or a port of its own', async () => {
    const t = await createTestApp(dialect);
    try {
      expect((await t.app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(404);
    } finally {
      await t.close();
    }
  });

  // Fastify runs onResponse only for an answer it wrote: a webhook slower than its sender's
  // patience, exactly what the alerts on slowness and errors are for, went uncounted and unlogged
  // (a review's find).
  // PostgreSQL only: on SQLite a write waiting for the lock holds up the whole event loop, so the
  // server learns of the hang-up only after it has written its answer, which then counts as answered.
  it.runIf(dialect === 'postgres')('counts and logs a webhook whose client hung up before its answer', async () => {
    const testDb = await createTestDatabase(dialect);
    const server = await startServer({ databaseUrl: testDb.url, env: { METRICS_TOKEN: METRICS, LOG_LEVEL: 'info' } });
    const release = await holdWriters(testDb.url);
    try {
      const { port } = new URL(server.baseUrl);
      // Two on one connection, the second pipelined behind the first: its answer never gets the socket.
      const post = (id: string) => {
        const body = JSON.stringify(message(id));
        return `POST /api/webhooks/wazzup24 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
      };
      const socket = connect(Number(port), '127.0.0.1', () => {
        socket.write(post('mon_hung_up') + post('mon_hung_up_pipelined'));
        setTimeout(() => socket.destroy(), 300);
      });
      await new Promise((resolve) => setTimeout(resolve, 800));
      await release();
      const completed = (subject: string) =>
        server
          .output()
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as Record<string, unknown>)
          .filter((l) => l.msg === 'request completed' && l.subject === subject);
      for (let waited = 0; completed('mon_hung_up_pipelined').length === 0 && waited < 10_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
      for (const subject of ['mon_hung_up', 'mon_hung_up_pipelined']) {
        expect(completed(subject), server.output()).toEqual([expect.objectContaining({ hungUp: true, statusCode: 200, outcome: 'accepted', ip: '127.0.0.1' })]);
      }
      expect(completed('mon_hung_up')[0]!.durationMs as number).toBeGreaterThan(300);
      const text = await (await fetch(`${server.baseUrl}/metrics`, { headers: { authorization: `Bearer ${METRICS}` } })).text();
      expect(sample(text, 'webhook_requests_total{event="message",outcome="accepted"}')).toBe(2);
      expect(sample(text, 'webhook_request_duration_seconds_count{outcome="accepted"}')).toBe(2);
    } finally {
      await release();
      await server.stop('SIGTERM');
      await testDb.drop();
    }
  });

  // A PostgreSQL that accepts connections but stops answering held webhooks and /api/ready for good,
  // and nothing counted them: only the silence alert fired, 35 minutes later (a review's find).
  it.runIf(dialect === 'postgres')('shows webhooks stuck on a database that stopped answering, and fails readiness in time', async () => {
    const testDb = await createTestDatabase(dialect);
    const stall = await stallableProxy(new URL(testDb.url));
    const url = new URL(testDb.url);
    url.host = `127.0.0.1:${stall.port}`;
    const config = loadConfig({ DATABASE_URL: url.toString(), METRICS_TOKEN: METRICS });
    const deps = await openDependencies(config, silentLogger);
    const app = await buildApp(config, deps);
    const scrape = async () => (await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${METRICS}` } })).body;
    try {
      expect(sample(await scrape(), 'webhook_requests_in_flight')).toBe(0);
      expect(sample(await scrape(), 'webhook_oldest_in_flight_seconds')).toBe(0);
      stall.pause();
      const webhook = app.inject({ method: 'POST', url: '/api/webhooks/wazzup24', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(message('mon_stuck')) });
      const started = Date.now();
      const ready = await app.inject({ method: 'GET', url: '/api/ready' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json()).toEqual({ status: 'error', message: 'Not ready: database did not answer within 2 s', code: 503 });
      expect(Date.now() - started).toBeLessThan(4_000);
      // Probes that come while the first one's query still waits share it, and take no more of
      // the writers' connections (each took one, until the webhooks had none left).
      const connectionsBefore = stall.connections();
      for (let probe = 0; probe < 3; probe += 1) expect((await app.inject({ method: 'GET', url: '/api/ready' })).statusCode).toBe(503);
      expect(stall.connections()).toBe(connectionsBefore);
      const text = await scrape();
      expect(sample(text, 'webhook_requests_in_flight')).toBe(1);
      expect(sample(text, 'webhook_oldest_in_flight_seconds')).toBeGreaterThan(1.5);
      stall.resume();
      expect((await webhook).statusCode).toBe(200);
      expect(sample(await scrape(), 'webhook_requests_in_flight')).toBe(0);
    } finally {
      stall.resume();
      await app.close();
      await deps.close();
      stall.close();
      await testDb.drop();
    }
  });

  /** A TCP proxy to the database that can stop passing bytes on, as a server that hangs would. */
  async function stallableProxy(target: URL) {
    const pairs: Socket[][] = [];
    let paused = false;
    const server = createServer((client) => {
      const upstream = connect(Number(target.port || 5432), target.hostname);
      client.pipe(upstream);
      upstream.pipe(client);
      const close = () => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', close).on('close', close);
      upstream.on('error', close).on('close', close);
      pairs.push([client, upstream]);
      if (paused) for (const socket of [client, upstream]) socket.pause();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      port: (server.address() as AddressInfo).port,
      /** How many connections were made through it. */
      connections: () => pairs.length,
      pause() {
        paused = true;
        for (const socket of pairs.flat()) socket.pause();
      },
      resume() {
        paused = false;
        for (const socket of pairs.flat()) socket.resume();
      },
      close() {
        server.close();
        for (const socket of pairs.flat()) socket.destroy();
      },
    };
  }

  /** Holds the writers' lock from another session; resolves to its release (idempotent). */
  async function holdWriters(url: string): Promise<() => Promise<void>> {
    const other = new pg.Client({ connectionString: url });
    await other.connect();
    await other.query('select pg_advisory_lock($1)', [WRITERS_LOCK_KEY]);
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      await other.end();
    };
  }

  // Ten reads held behind a lock (an ALTER TABLE, a psql session) took every pooled connection,
  // and webhooks failed for want of one (a review's find).
  // Readiness then answered 503 too, dropping from a load balancer an instance whose webhooks went through.
  it.runIf(dialect === 'postgres')('writes webhooks and stays ready while reads hold every connection of their pool', async () => {
    const t = await createTestApp(dialect);
    let release = () => undefined as void;
    const released = new Promise<void>((resolve) => (release = resolve));
    // Every connection reads may have, each held until released, as by a read waiting on a lock.
    let holding = 0;
    const held = Array.from({ length: 10 }, () =>
      t.deps.database.db.connection().execute(async (connection) => {
        await sql`select 1`.execute(connection);
        holding += 1;
        await released;
      }),
    );
    try {
      await expect.poll(() => holding).toBe(10);
      const webhook = await t.postWebhook(message('beside_the_reads'));
      expect(webhook.statusCode).toBe(200);
      const ready = await t.app.inject({ method: 'GET', url: '/api/ready' });
      expect(ready.json()).toEqual({ status: 'ok', message: 'Ready' });
    } finally {
      release();
      await Promise.all(held);
      await t.close();
    }
  });

  it('is not ready while shutting down, nor when the database is gone (but still alive)', async () => {
    const { logger, lines } = capturingLogger();
    const t = await createTestApp(dialect, { logger });
    try {
      t.lifecycle.beginShutdown();
      const ready = await t.app.inject({ method: 'GET', url: '/api/ready' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json()).toEqual({ status: 'error', message: 'Not ready: shutting down', code: 503 });
      expect((await t.app.inject({ method: 'GET', url: '/api/health' })).statusCode).toBe(200);
      expect((await t.app.inject({ method: 'GET', url: '/api/health?probe=1' })).statusCode).toBe(200);
      expect((await t.app.inject({ method: 'GET', url: '/api/ready?probe=1' })).json()).toEqual({ status: 'error', message: 'Not ready: shutting down', code: 503 });
      const webhook = await t.postWebhook(message(), { 'user-agent': 'during-shutdown' });
      expect(webhook.statusCode).toBe(503);
      expect(webhook.json()).toMatchObject({ status: 'error', message: 'Service is shutting down' });
      // Refused, but recorded like every other request.
      const logged = await t.deps.database.db.selectFrom('webhook_events').selectAll().where('user_agent', '=', 'during-shutdown').executeTakeFirstOrThrow();
      expect(logged).toMatchObject({ outcome: 'rejected', http_status: 503 });
      expect(JSON.parse(logged.error!)).toEqual({ message: 'Service is shutting down' });
      // Planned, not a fault: the request's line at info, no error with a stack trace.
      const levels = lines.map((line) => JSON.parse(line) as { level: number; msg: string; statusCode?: number });
      expect(levels.filter((line) => line.level >= 50)).toEqual([]);
      expect(levels.filter((line) => line.msg === 'request completed').map((line) => line.statusCode)).toEqual([503, 200, 200, 503, 503]);
      // Every answer was written: none is marked as one whose client hung up.
      expect(levels.filter((line) => 'hungUp' in line)).toEqual([]);
    } finally {
      await t.close();
    }
    const t2 = await createTestApp(dialect);
    try {
      await t2.deps.database.close();
      const response = await t2.app.inject({ method: 'GET', url: '/api/ready' });
      expect(response.statusCode).toBe(503);
      expect(response.json()).toEqual({ status: 'error', message: 'Not ready: database unreachable', code: 503 });
      // Still alive, even asked with a token that would need the database to check.
      const health = await t2.app.inject({ method: 'GET', url: '/api/health', headers: { authorization: 'Bearer bc_some-session-token' } });
      expect(health.statusCode).toBe(200);
      expect(health.json()).toEqual({ status: 'ok', message: 'backchat is running', lastWebhookAt: null });
    } finally {
      await t2.app.close();
      await t2.close().catch(() => undefined);
    }
  });

  it('stays alive when every database connection is taken, even asked with a token it cannot check', async () => {
    const t = await createTestApp(dialect);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    // More transactions than the pool has connections (PostgreSQL: 10; SQLite: one, the rest queue).
    const holders = Array.from({ length: 11 }, () => t.deps.database.db.transaction().execute(() => released));
    try {
      const health = t.app.inject({ method: 'GET', url: '/api/health', headers: { authorization: 'Bearer bc_some-session-token' } });
      const answer = await Promise.race([health, new Promise<'stalled'>((resolve) => setTimeout(resolve, 5_000, 'stalled'))]);
      expect(answer).not.toBe('stalled');
      if (answer === 'stalled') return;
      expect(answer.statusCode).toBe(200);
      expect(answer.json()).toEqual({ status: 'ok', message: 'backchat is running', lastWebhookAt: null });
    } finally {
      release();
      await Promise.all(holders);
      await t.close();
    }
  });

  describe('webhook log API', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await createTestApp(dialect, { env: { ADMIN_TOKEN: ADMIN } });
    });
    afterAll(async () => {
      await t.close();
    });
    const get = (url: string, headers: Record<string, string> = admin) => t.app.inject({ method: 'GET', url, headers });
    const post = (url: string, payload?: unknown) =>
      t.app.inject({ method: 'POST', url, headers: admin, ...(payload !== undefined && { payload: payload as object }) });

    it('needs the admin token', async () => {
      expect((await get('/api/webhook-events', {})).statusCode).toBe(401);
      expect((await get('/api/webhook-events', { authorization: 'Bearer nope' })).json()).toMatchObject({ status: 'error' });
      // Without ADMIN_TOKEN configured, that token is just an unknown one.
      const closed = await createTestApp(dialect);
      try {
        const response = await closed.app.inject({ method: 'GET', url: '/api/webhook-events', headers: admin });
        expect(response.statusCode).toBe(401);
      } finally {
        await closed.close();
      }
    });

    it('lists newest first, pages with a cursor, and filters', async () => {
      const ids = ['list_a', 'list_b', 'list_c'];
      for (const id of ids) await t.postWebhook(message(id));
      await t.postWebhook(message('list_a'));
      await t.postWebhook('{broken');

      const page1 = (await get('/api/webhook-events?limit=2')).json();
      expect(page1.data).toHaveLength(2);
      expect(page1.data[0]).toMatchObject({ outcome: 'invalid', httpStatus: 400, hasBody: false });
      expect(page1.data[1]).toMatchObject({ outcome: 'duplicate', subject: 'list_a' });
      expect(page1.data[0].body).toBeUndefined();
      const page2 = (await get(`/api/webhook-events?limit=2&cursor=${page1.nextCursor}`)).json();
      expect(page2.data.map((e: { subject: string }) => e.subject)).toEqual(['list_c', 'list_b']);

      const accepted = (await get('/api/webhook-events?outcome=accepted&event=message&limit=200')).json();
      expect(accepted.data.every((e: { outcome: string }) => e.outcome === 'accepted')).toBe(true);
      expect(accepted.nextCursor).toBeNull();

      const search = (await get('/api/webhook-events?q=list_a')).json();
      expect(search.data.map((e: { outcome: string }) => e.outcome)).toEqual(['duplicate', 'accepted']);
      // LIKE wildcards in the search are literal.
      expect((await get('/api/webhook-events?q=list%25')).json().data).toEqual([]);

      const future = new Date(Date.now() + 60_000).toISOString();
      expect((await get(`/api/webhook-events?from=${future}`)).json().data).toEqual([]);
      expect((await get(`/api/webhook-events?to=${future}&q=list_b`)).json().data).toHaveLength(1);

      const bad = await get('/api/webhook-events?from=yesterday&outcome=maybe');
      expect(bad.statusCode).toBe(400);
      expect(bad.json().status).toBe('error');
    });

    it('shows one event with its body, and 404 for an unknown id', async () => {
      const list = (await get('/api/webhook-events?q=list_b')).json();
      const one = (await get(`/api/webhook-events/${list.data[0].id}`)).json();
      expect(JSON.parse(one.body)).toMatchObject({ data: { id: 'list_b' } });
      const missing = await get(`/api/webhook-events/${newId()}`);
      expect(missing.statusCode).toBe(404);
      expect(missing.json()).toMatchObject({ status: 'error' });
    });

    it('replays a failed event once its cause is fixed, idempotently, and records it', async () => {
      await poisonMessages(t.deps.database.db, dialect);
      const failed = await t.postWebhook(message('poison_1'));
      expect(failed.statusCode).toBe(500);
      const original = (await get('/api/webhook-events?q=poison_1')).json().data[0];
      expect(original).toMatchObject({ outcome: 'failed', httpStatus: 500, hasBody: true });

      // Still broken: the replay fails and says so.
      const stillFailing = (await post(`/api/webhook-events/${original.id}/replay`)).json();
      expect(stillFailing).toMatchObject({ outcome: 'failed', replayOf: original.id });

      await curePoison(t.deps.database.db, dialect);
      const replay = await post(`/api/webhook-events/${original.id}/replay`);
      expect(replay.statusCode).toBe(200);
      expect(replay.json()).toMatchObject({ outcome: 'accepted', replayOf: original.id });
      const stored = await t.deps.database.db.selectFrom('messages').select('external_id').where('external_id', '=', 'poison_1').execute();
      expect(stored).toHaveLength(1);
      expect((await get(`/api/webhook-events/${original.id}`)).json()).toMatchObject({ replayOutcome: 'accepted', replayedAt: expect.any(String) });

      const again = (await post(`/api/webhook-events/${original.id}/replay`)).json();
      expect(again.outcome).toBe('duplicate');
      expect(await t.deps.database.db.selectFrom('messages').select('id').where('external_id', '=', 'poison_1').execute()).toHaveLength(1);
    });

    it('replays a body without its own time as of when it first arrived, so it cannot overwrite what came since', async () => {
      const v3 = (messageId: string, dateTime?: string) => ({
        messages: [{ messageId, channelId: 'c0ffee00-0000-4000-8000-00000000000a', chatType: 'whatsapp', chatId: '77015550101', type: 'text', isEcho: false, text: messageId, status: 'inbound', dateTime }],
      });
      await poisonMessages(t.deps.database.db, dialect);
      expect((await t.postWebhook(v3('poison_undated'))).statusCode).toBe(500);
      const original = (await get('/api/webhook-events?q=poison_undated')).json().data[0];
      await new Promise((resolve) => setTimeout(resolve, 20));
      // Replayed while still broken: the failed replay's own entry is dated by that replay.
      const failedReplay = (await post(`/api/webhook-events/${original.id}/replay`)).json();
      expect(failedReplay).toMatchObject({ outcome: 'failed', replayOf: original.id });
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect((await t.postWebhook(v3('after_undated', new Date().toISOString()))).statusCode).toBe(200);
      await curePoison(t.deps.database.db, dialect);

      // Replaying that replay still dates the message by the original request.
      expect((await post(`/api/webhook-events/${failedReplay.id}/replay`)).json()).toMatchObject({ outcome: 'accepted', replayOf: failedReplay.id });
      const db = t.deps.database.db;
      const replayed = await db.selectFrom('messages').select(['id', 'sent_at', 'chat_id']).where('external_id', '=', 'poison_undated').executeTakeFirstOrThrow();
      expect(new Date(Number(replayed.sent_at)).toISOString()).toBe(original.receivedAt);
      const after = await db.selectFrom('messages').select('id').where('external_id', '=', 'after_undated').executeTakeFirstOrThrow();
      const chat = await db.selectFrom('chats').select('last_message_id').where('id', '=', replayed.chat_id).executeTakeFirstOrThrow();
      expect(chat.last_message_id).toBe(after.id);
    });

    // Seed timestamps are whole seconds: two updates of one second are two of the same time. Live,
    // the later arrival wins; a replay of the earlier one had won again, undoing the later.
    it('replays a contact update without undoing a later one of the same time', async () => {
      const contact = (name: string) => ({ event: 'contact', data: { phone: '+77771112233', name, timestamp: 1795870000 } });
      expect((await t.postWebhook(contact('Old'))).statusCode).toBe(200);
      const first = (await get('/api/webhook-events?q=%2B77771112233')).json().data[0];
      expect((await t.postWebhook(contact('New'))).statusCode).toBe(200);
      const name = async () => (await t.deps.database.db.selectFrom('contacts').select('name').where('phone', '=', '+77771112233').executeTakeFirstOrThrow()).name;
      expect(await name()).toBe('New');
      expect((await post(`/api/webhook-events/${first.id}/replay`)).statusCode).toBe(200);
      expect(await name()).toBe('New');
      // The update held, replayed, is a repeat, as a replayed message is.
      const entries: { id: string; replayOf: string | null }[] = (await get('/api/webhook-events?q=%2B77771112233')).json().data;
      const latest = entries.find((entry) => entry.replayOf === null)!;
      expect(latest.id).not.toBe(first.id);
      expect((await post(`/api/webhook-events/${latest.id}/replay`)).json()).toMatchObject({ outcome: 'duplicate', replayOf: latest.id });
      expect(await name()).toBe('New');
    });

    // Within one replayed body the last of two updates of one time still wins, as it did live.
    it('replays a batch with two updates of one contact at one time as it was applied live', async () => {
      const item = (messageId: string, name: string) => ({
        messageId, channelId: 'c0ffee00-0000-4000-8000-00000000000b', chatType: 'whatsapp', chatId: '77015550202', type: 'text', isEcho: false, text: 'hi', status: 'inbound', dateTime: '2025-05-06T10:00:00.000Z', contact: { name },
      });
      const name = async () => (await t.deps.database.db.selectFrom('contacts').select('name').where('phone', '=', '+77015550202').executeTakeFirst())?.name;
      await poisonMessages(t.deps.database.db, dialect);
      expect((await t.postWebhook({ messages: [item('poison_tie_1', 'First'), item('poison_tie_2', 'Second')] })).statusCode).toBe(500);
      await curePoison(t.deps.database.db, dialect);
      expect(await name()).toBeUndefined();
      const original = (await get('/api/webhook-events?q=poison_tie_1')).json().data[0];
      expect((await post(`/api/webhook-events/${original.id}/replay`)).json().outcome).toBe('accepted');
      expect(await name()).toBe('Second');
    });

    it('will not replay an event that kept no body', async () => {
      const invalid = (await get('/api/webhook-events?outcome=invalid')).json().data[0];
      const response = await post(`/api/webhook-events/${invalid.id}/replay`);
      expect(response.statusCode).toBe(409);
      expect((await post(`/api/webhook-events/${newId()}/replay`)).statusCode).toBe(404);
    });

    it('replays every failed event in a time range', async () => {
      const since = new Date().toISOString();
      await poisonMessages(t.deps.database.db, dialect);
      expect((await t.postWebhook(message('poison_2'))).statusCode).toBe(500);
      expect((await t.postWebhook(message('poison_3'))).statusCode).toBe(500);
      await curePoison(t.deps.database.db, dialect);
      const response = await post('/api/webhook-events/replay', { from: since });
      expect(response.statusCode).toBe(200);
      const body = response.json();
      expect(body.replayed).toBe(2);
      expect(body.results.map((r: { outcome: string }) => r.outcome)).toEqual(['accepted', 'accepted']);
    });

    it('aggregates stats over a window', async () => {
      const stats = (await get('/api/stats/webhooks?window=1h')).json();
      // The tests above left at least three failures (replays, which stats leave out, aside).
      const failed = await t.deps.database.db
        .selectFrom('webhook_events')
        .select('id')
        .where('outcome', '=', 'failed')
        .where('received_at', '>=', Date.now() - 3_600_000)
        .where('replay_of', 'is', null)
        .execute();
      expect(failed.length).toBeGreaterThanOrEqual(3);
      expect(stats.byOutcome.accepted).toBeGreaterThanOrEqual(3);
      expect(stats.byOutcome.failed).toBe(failed.length);
      expect(stats.byOutcome.invalid).toBe(1);
      expect(stats.total).toBe(Object.values(stats.byOutcome as Record<string, number>).reduce((a, b) => a + b, 0));
      expect(stats.errorRatio).toBeCloseTo(failed.length / (stats.byOutcome.accepted + stats.byOutcome.duplicate + failed.length), 5);
      expect(stats.latencyMs.p50).toBeGreaterThanOrEqual(0);
      expect(stats.latencyMs.p95).toBeGreaterThanOrEqual(stats.latencyMs.p50);
      expect(Date.parse(stats.lastReceivedAt)).toBeGreaterThan(Date.now() - 60_000);
      expect((await get('/api/stats/webhooks?window=forever')).statusCode).toBe(400);
    });

    const day = 86_400_000;
    const now = Date.now();
    const old = (outcome: WebhookLogEntry['outcome'], ageDays: number): WebhookLogEntry => ({
        id: newId(),
        receivedAt: now - ageDays * day,
        clientIp: null,
        userAgent: null,
        sizeBytes: 2,
        format: 'seed',
        event: 'message',
        subject: `purge_${outcome}_${ageDays}`,
        outcome,
        httpStatus: outcome === 'failed' ? 500 : 200,
        durationMs: 1,
        error: null,
        rawBody: '{}',
        authScheme: null,
        authKey: null,
        ipAllowed: null,
        replayOf: null,
        replayedAt: null,
        replayOutcome: null,
      });

    it('purges old rows and drops old accepted bodies before failed ones', async () => {
      const five = (outcome: WebhookLogEntry['outcome'], ageDays: number) => Array.from({ length: 5 }, () => old(outcome, ageDays));
      // A duplicate keeps no body, nor does the purge give it one.
      const rows = [...five('accepted', 40), ...five('accepted', 10), old('accepted', 20), { ...old('duplicate', 8), rawBody: null }, old('failed', 10), old('accepted', 1)];
      for (const row of rows) await insertWebhookLogEntry(t.deps.database.db, row);
      // Two rows per statement: the last chunk of each step is a short one.
      const result = await purgeExpiredWebhookLog(t.deps.database.db, { retentionDays: 30, bodyRetentionDays: 7 }, now, { rows: 2 });
      expect(result).toEqual({ deleted: 5, bodiesDropped: 6 });
      const left = await t.deps.database.db.selectFrom('webhook_events').select(['subject', 'raw_body']).where('subject', 'like', 'purge_%').orderBy('subject').execute();
      expect(left).toEqual([
        { subject: 'purge_accepted_1', raw_body: '{}' },
        ...Array(5).fill({ subject: 'purge_accepted_10', raw_body: null }),
        { subject: 'purge_accepted_20', raw_body: null },
        { subject: 'purge_duplicate_8', raw_body: null },
        { subject: 'purge_failed_10', raw_body: '{}' },
      ]);
    });

    // Emptied entries stay until they expire (30 days against 7): a purge that read them to skip
    // them read them all, every hour (a review's find). It starts where the last one stopped.
    it('drops bodies from where the last purge stopped, and moves that mark only once it is through', async () => {
      const db = t.deps.database.db;
      const policy = { retentionDays: 30, bodyRetentionDays: 7 };
      await purgeExpiredWebhookLog(db, policy, now, { rows: 2 });
      // An hour short of what it dropped, for entries committed late.
      const hour = 3_600_000;
      expect(await bodiesDroppedBefore(db)).toBe(now - 7 * day - hour);
      // Older than the mark, as no entry arriving after that purge can be: the next one does not go back for it.
      const behind = old('accepted', 9);
      // Older than the body retention by the next purge's clock, a day on.
      const due = old('accepted', 6.5);
      for (const row of [behind, due]) await insertWebhookLogEntry(db, row);
      await purgeExpiredWebhookLog(db, policy, now + day, { rows: 2 });
      const bodies = async () =>
        Object.fromEntries((await db.selectFrom('webhook_events').select(['id', 'raw_body']).where('id', 'in', [behind.id, due.id]).execute()).map((r) => [r.id, r.raw_body]));
      expect(await bodies()).toEqual({ [behind.id]: '{}', [due.id]: null });
      expect(await bodiesDroppedBefore(db)).toBe(now + day - 7 * day - hour);
      // One committed late, just under the retention at the last purge, still goes at the next.
      const late = { ...old('accepted', 0), receivedAt: now + day - 7 * day - 60_000 };
      await insertWebhookLogEntry(db, late);
      await purgeExpiredWebhookLog(db, policy, now + day + hour, { rows: 2 });
      expect((await db.selectFrom('webhook_events').select('raw_body').where('id', '=', late.id).executeTakeFirstOrThrow()).raw_body).toBeNull();
      // A purge stopped halfway (a shutdown) leaves the mark where it was, to start there again.
      await db.updateTable('webhook_events').set({ raw_body: '{}' }).where('id', '=', due.id).execute();
      await markBodiesDroppedBefore(db, 0);
      await db.updateTable('webhook_log_purge').set({ bodies_dropped_before: now - 9 * day - 1 }).execute();
      const stop = new AbortController();
      stop.abort();
      await purgeExpiredWebhookLog(db, policy, now + 2 * day, { rows: 1, signal: stop.signal });
      expect(await bodiesDroppedBefore(db)).toBe(now - 9 * day - 1);
    });

    // A replay of a replay dates what it re-applies by the original's arrival: purged, the original
    // left it to be dated by the replay's own, newer than what had arrived since (a review's find).
    it('keeps an expired original while a replay of it is kept, and purges both once the replay expires too', async () => {
      const entry = (subject: string, ageDays: number, replayOf: string | null): WebhookLogEntry => ({ ...old('failed', ageDays), subject, replayOf });
      const original = entry('chain_original', 40, null);
      const replay = entry('chain_replay', 10, original.id);
      const lone = entry('chain_lone', 40, null);
      const expiredOriginal = entry('chain_expired_original', 50, null);
      const expiredReplay = entry('chain_expired_replay', 35, expiredOriginal.id);
      for (const row of [original, replay, lone, expiredOriginal, expiredReplay]) await insertWebhookLogEntry(t.deps.database.db, row);
      const left = async () =>
        (await t.deps.database.db.selectFrom('webhook_events').select('subject').where('subject', 'like', 'chain_%').orderBy('subject').execute()).map((row) => row.subject);
      const purge = () => purgeExpiredWebhookLog(t.deps.database.db, { retentionDays: 30, bodyRetentionDays: 7 }, now, { rows: 2 });
      await purge();
      expect(await left()).toEqual(['chain_original', 'chain_replay']);
      // Once the replay expires, it goes first, then its original (by a later chunk or purge).
      await t.deps.database.db.updateTable('webhook_events').set({ received_at: now - 31 * day }).where('id', '=', replay.id).execute();
      // One purge takes the whole expired chain, the replay first, then its original.
      expect(await purge()).toMatchObject({ deleted: 2 });
      expect(await left()).toEqual([]);
    });
  });

  describe('bulk replay', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await createTestApp(dialect, { env: { ADMIN_TOKEN: ADMIN } });
    });
    afterAll(async () => {
      await t.close();
    });
    const replayAll = async () => {
      const response = await t.app.inject({ method: 'POST', url: '/api/webhook-events/replay', headers: admin, payload: {} });
      expect(response.statusCode).toBe(200);
      return response.json() as { replayed: number; results: { id: string; replayId: string; outcome: string }[] };
    };

    it('replays each original failure once per call, never a replay, and no longer once a replay succeeded', async () => {
      await poisonMessages(t.deps.database.db, dialect);
      expect((await t.postWebhook(message('poison_bulk'))).statusCode).toBe(500);
      const original = (await t.app.inject({ method: 'GET', url: '/api/webhook-events?outcome=failed', headers: admin })).json().data[0];

      // Still broken: the original again each time (its failed replays are not replayed themselves).
      for (let call = 0; call < 3; call += 1) {
        const body = await replayAll();
        expect(body.results).toEqual([{ id: original.id, replayId: expect.any(String), outcome: 'failed' }]);
      }

      await curePoison(t.deps.database.db, dialect);
      expect((await replayAll()).results).toEqual([{ id: original.id, replayId: expect.any(String), outcome: 'accepted' }]);
      // Done: nothing left to replay, and the message is stored once.
      expect(await replayAll()).toEqual({ replayed: 0, results: [] });
      expect(await t.deps.database.db.selectFrom('messages').select('id').where('external_id', '=', 'poison_bulk').execute()).toHaveLength(1);
    });
  });
});

describe('metrics on a port of their own (a real process)', () => {
  it('serves /metrics on METRICS_PORT without a token, and not on the public port', async () => {
    const database = await createTestDatabase('sqlite');
    const metricsPort = await findFreePort();
    const server = await startServer({
      databaseUrl: database.url,
      env: { METRICS_PORT: String(metricsPort), METRICS_HOST: '127.0.0.1', ADMIN_TOKEN: ADMIN },
    });
    try {
      await fetch(server.webhookUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(message()),
      });
      const scraped = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(scraped.status).toBe(200);
      const text = await scraped.text();
      expect(sample(text, 'webhook_requests_total{event="message",outcome="accepted"}')).toBe(1);
      expect((await fetch(`${server.baseUrl}/metrics`)).status).toBe(404);
      const health = (await (await fetch(`${server.baseUrl}/api/health`, { headers: admin })).json()) as { warnings: string[] };
      expect(health.warnings.join(' ')).not.toMatch(/Metrics are not served/);
    } finally {
      await server.stop('SIGTERM');
      await database.drop();
    }
  });
});

describe('a purge under way at shutdown (a real process)', () => {
  // Closing the store under a running purge logged "purge failed" at error level on every deploy
  // that met a long purge (a review's find).
  it('stops the purge between two chunks on SIGTERM, exits 0 and logs no error; the next purge takes the rest', async () => {
    const database = await createTestDatabase('sqlite');
    const store = openDatabase(database.url);
    try {
      await migrateToLatest(store.db);
      // Expired entries enough for a purge of a few hundred chunks.
      await sql`
        insert into webhook_events (id, received_at, size_bytes, outcome, http_status, duration_ms)
        with recursive n(i) as (select 1 union all select i + 1 from n where i < 600000)
        select printf('expired-%08d', i), 1, 2, 'accepted', 200, 1 from n`.execute(store.db);
      const left = async () => Number((await store.db.selectFrom('webhook_events').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

      const server = await startServer({ databaseUrl: database.url });
      const exit = await server.stop('SIGTERM');
      expect(exit, server.output()).toEqual({ code: 0, signal: null });
      expect(server.output()).not.toMatch(/purge failed|"level":50/);
      // Cut short: the purge was under way when the signal came.
      expect(await left()).toBeGreaterThan(0);

      const next = await startServer({ databaseUrl: database.url, env: { LOG_LEVEL: 'info' } });
      await expect.poll(left, { timeout: 60_000, interval: 200 }).toBe(0);
      await next.stop('SIGTERM');
    } finally {
      await store.close();
      await database.drop();
    }
  }, 120_000);
});
