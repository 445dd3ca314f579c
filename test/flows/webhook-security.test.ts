/**
 * Intake security over real HTTP (inject, with chosen peer addresses): signatures, tokens, the IP
 * allowlist behind a trusted proxy, and what the webhook log and the log lines keep.
 */
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOG_REDACTIONS } from '../../src/app.js';
import { capturingLogger, createTestApp, type TestApp } from '../helpers/test-app.js';
import { testDialects } from '../helpers/test-database.js';

const SECRET = 'current-secret-0123456789abcdef0123456789';
const PREVIOUS = 'previous-secret-0123456789abcdef012345678';
const TOKEN = 'crm-key-token-0123456789abcdef0123456789';
const sign = (body: string, secret = SECRET) => `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

let sequence = 0;
const messageBody = () => {
  sequence += 1;
  return JSON.stringify({
    event: 'message',
    data: { id: `sec_${sequence}`, chatId: 'sec_chat', text: 'hi', type: 'text', from: '+7 777 123 45 67', timestamp: 1640995200 },
  });
};

function post(t: TestApp, body: string, options: { headers?: Record<string, string>; url?: string; remoteAddress?: string } = {}) {
  return t.app.inject({
    method: 'POST',
    url: options.url ?? '/api/webhooks/wazzup24',
    headers: { 'content-type': 'application/json', ...options.headers },
    payload: body,
    ...(options.remoteAddress && { remoteAddress: options.remoteAddress }),
  });
}

describe.each(testDialects)('webhook security on %s', (dialect) => {
  describe('signatures and tokens', () => {
    let t: TestApp;
    const { logger, lines } = capturingLogger({ redact: LOG_REDACTIONS });
    beforeAll(async () => {
      t = await createTestApp(dialect, {
        env: { WEBHOOK_SECRETS: `${SECRET},${PREVIOUS}`, WEBHOOK_TOKENS: TOKEN },
        logger,
      });
    });
    afterAll(async () => {
      await t.close();
    });
    const lastLogRow = () => t.deps.database.db.selectFrom('webhook_events').selectAll().orderBy('id', 'desc').executeTakeFirstOrThrow();

    it('accepts a header signature and records which secret matched', async () => {
      const body = messageBody();
      const response = await post(t, body, { headers: { 'x-webhook-signature': sign(body) } });
      expect(response.statusCode).toBe(200);
      expect(await lastLogRow()).toMatchObject({ outcome: 'accepted', auth_scheme: 'signature-header', auth_key: 'secret-1' });
    });

    it('accepts the previous secret during a rotation', async () => {
      const body = messageBody();
      lines.length = 0;
      const response = await post(t, body, { headers: { 'x-hub-signature-256': sign(body, PREVIOUS) } });
      expect(response.statusCode).toBe(200);
      expect(await lastLogRow()).toMatchObject({ auth_key: 'secret-2' });
      // The log line says how the sender signed, as the webhook log does.
      const line = lines.map((l) => JSON.parse(l) as { msg: string }).find((l) => l.msg === 'request completed');
      expect(line).toMatchObject({ format: 'seed', authScheme: 'signature-header', authKey: 'secret-2', outcome: 'accepted' });
    });

    it('accepts the seed body signature as the last member', async () => {
      const body = messageBody();
      const response = await post(t, `${body.slice(0, -1)},"signature":"${sign(body)}"}`);
      expect(response.statusCode).toBe(200);
      expect(await lastLogRow()).toMatchObject({ auth_scheme: 'signature-field' });
    });

    it('refuses a tampered body with 401, keeps no body and stores nothing', async () => {
      const body = messageBody();
      const tampered = body.replace('"hi"', '"hj"');
      lines.length = 0;
      const response = await post(t, tampered, { headers: { 'x-webhook-signature': sign(body) } });
      expect(response.statusCode).toBe(401);
      expect(response.json()).toEqual({ status: 'error', message: 'The signature does not match.' });
      // The log line says why, as the webhook log does.
      const line = lines.map((l) => JSON.parse(l) as { msg: string; error?: unknown }).find((l) => l.msg === 'request completed');
      expect(line).toMatchObject({ statusCode: 401, outcome: 'rejected', error: { message: 'The signature does not match.' } });
      const row = await lastLogRow();
      expect(row).toMatchObject({ outcome: 'rejected', http_status: 401, raw_body: null });
      const id = JSON.parse(body).data.id as string;
      expect(await t.deps.database.db.selectFrom('messages').select('id').where('external_id', '=', id).executeTakeFirst()).toBeUndefined();
    });

    it('refuses a body signature that is not the last member, even with a good token', async () => {
      const body = messageBody();
      const reordered = `{"signature":"${sign(body)}",${body.slice(1)}`;
      const response = await post(t, reordered, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(response.statusCode).toBe(401);
      expect(response.json().message).toMatch(/last member/);
    });

    it('refuses an unsigned request without a token', async () => {
      const response = await post(t, messageBody());
      expect(response.statusCode).toBe(401);
      expect(response.json().status).toBe('error');
    });

    it('refuses junk with 401 before parsing it', async () => {
      const response = await post(t, '{not json at all', { headers: { 'x-webhook-signature': `sha256=${'0'.repeat(64)}` } });
      expect(response.statusCode).toBe(401);
    });

    it('accepts a bearer token and a URL token; the URL token never reaches a log line', async () => {
      expect((await post(t, messageBody(), { headers: { authorization: `Bearer ${TOKEN}` } })).statusCode).toBe(200);
      expect(await lastLogRow()).toMatchObject({ auth_scheme: 'bearer', auth_key: 'token-1' });
      lines.length = 0;
      expect((await post(t, messageBody(), { url: `/api/webhooks/wazzup24?token=${TOKEN}` })).statusCode).toBe(200);
      expect(await lastLogRow()).toMatchObject({ auth_scheme: 'url-token', auth_key: 'token-1' });
      expect((await post(t, messageBody(), { url: `/api/webhooks/wazzup24?token=${TOKEN}x` })).statusCode).toBe(401);
      expect(lines.length).toBeGreaterThanOrEqual(2);
      const logged = lines.join('\n');
      expect(logged).toContain('/api/webhooks/wazzup24');
      expect(logged).not.toContain(TOKEN);
      expect(logged).not.toContain('token=');
    });

    it('never logs the bearer token or the secret', async () => {
      lines.length = 0;
      await post(t, messageBody(), { headers: { authorization: `Bearer ${TOKEN}` } });
      await post(t, messageBody(), { headers: { authorization: `Bearer wrong-${TOKEN}` } });
      const logged = lines.join('\n');
      expect(logged).not.toContain(TOKEN);
      expect(logged).not.toContain(SECRET);
    });

    it('keeps the availability check open', async () => {
      const response = await t.app.inject({ method: 'GET', url: '/api/webhooks/wazzup24' });
      expect(response.statusCode).toBe(200);
    });

    it('never answers random bytes or forged signatures with a 5xx', async () => {
      await fc.assert(
        fc.asyncProperty(fc.uint8Array({ maxLength: 1024 }), fc.string({ maxLength: 80 }), async (bytes, signature) => {
          const response = await t.app.inject({
            method: 'POST',
            url: '/api/webhooks/wazzup24',
            headers: { 'content-type': 'application/json', 'x-webhook-signature': signature },
            payload: Buffer.from(bytes),
          });
          expect(response.statusCode).toBe(401);
        }),
        { numRuns: dialect === 'sqlite' ? 200 : 50 },
      );
    });
  });

  describe('signature required', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await createTestApp(dialect, { env: { WEBHOOK_SECRETS: SECRET, WEBHOOK_TOKENS: TOKEN, WEBHOOK_REQUIRE_SIGNATURE: 'true' } });
    });
    afterAll(async () => {
      await t.close();
    });

    it('refuses a good token without a signature, accepts a signed request', async () => {
      expect((await post(t, messageBody(), { headers: { authorization: `Bearer ${TOKEN}` } })).statusCode).toBe(401);
      const body = messageBody();
      expect((await post(t, body, { headers: { 'x-webhook-signature': sign(body) } })).statusCode).toBe(200);
    });
  });

  // One client sending junk as fast as it can must not fill the disk with a month of log rows.
  describe('refusals recorded per address and minute', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await createTestApp(dialect, { env: { WEBHOOK_TOKENS: TOKEN, WEBHOOK_LOG_REJECTIONS_PER_MINUTE: '5' } });
    });
    afterAll(async () => {
      await t.close();
    });

    it('records the first refusals of an address, answers and counts the rest, and records every other address and every accepted request', async () => {
      const rejected = () => t.deps.database.db.selectFrom('webhook_events').select(['client_ip']).where('outcome', '=', 'rejected').execute();
      for (let i = 0; i < 8; i += 1) expect((await post(t, messageBody(), { remoteAddress: '192.0.2.1' })).statusCode).toBe(401);
      expect((await post(t, messageBody(), { remoteAddress: '192.0.2.2' })).statusCode).toBe(401);
      // Invalid bodies (400) from an authenticated sender count the same.
      const invalid = () => post(t, JSON.stringify({ event: 'nope', data: {} }), { remoteAddress: '192.0.2.3', headers: { authorization: `Bearer ${TOKEN}` } });
      for (let i = 0; i < 8; i += 1) expect((await invalid()).statusCode).toBe(400);
      const invalidRows = await t.deps.database.db.selectFrom('webhook_events').select('id').where('outcome', '=', 'invalid').execute();
      expect(invalidRows.length).toBeGreaterThanOrEqual(5);
      expect(invalidRows.length).toBeLessThan(8);
      expect((await post(t, messageBody(), { remoteAddress: '192.0.2.1', headers: { authorization: `Bearer ${TOKEN}` } })).statusCode).toBe(200);
      const rows = (await rejected()).map((row) => row.client_ip);
      // Unless the minute turned in the middle, which gives the address a new budget.
      expect(rows.filter((ip) => ip === '192.0.2.1').length).toBeGreaterThanOrEqual(5);
      expect(rows.filter((ip) => ip === '192.0.2.1').length).toBeLessThan(8);
      expect(rows.filter((ip) => ip === '192.0.2.2')).toHaveLength(1);
      const metrics = await t.deps.metrics.registry.getSingleMetricAsString('webhook_requests_total');
      expect(metrics).toMatch(/webhook_requests_total\{event="none",outcome="rejected"\} 9/);
      expect(await t.deps.database.db.selectFrom('webhook_events').select('id').where('outcome', '=', 'accepted').execute()).toHaveLength(1);
    });
  });

  describe('IP allowlist', () => {
    const apps: TestApp[] = [];
    const make = async (env: Record<string, string>) => {
      const t = await createTestApp(dialect, { env });
      apps.push(t);
      return t;
    };
    afterAll(async () => {
      for (const t of apps) await t.close();
    });
    const allowlist = '203.0.113.0/24, 2001:db8::/32, 198.51.100.7';

    it('enforce: 403 outside, 200 inside, IPv4, IPv6 and IPv4-mapped IPv6', async () => {
      const t = await make({ WEBHOOK_IP_ALLOWLIST: allowlist });
      for (const address of ['203.0.113.5', '198.51.100.7', '2001:db8::5', '::ffff:203.0.113.9']) {
        expect((await post(t, messageBody(), { remoteAddress: address })).statusCode, address).toBe(200);
      }
      for (const address of ['198.51.100.8', '192.0.2.1', '2001:db9::1', '::ffff:198.51.100.8', '127.0.0.1']) {
        const response = await post(t, messageBody(), { remoteAddress: address });
        expect(response.statusCode, address).toBe(403);
        expect(response.json()).toEqual({ status: 'error', message: 'This address is not allowed to post webhooks' });
      }
      const row = await t.deps.database.db.selectFrom('webhook_events').selectAll().orderBy('id', 'desc').executeTakeFirstOrThrow();
      expect(row).toMatchObject({ outcome: 'rejected', http_status: 403, ip_allowed: 0, client_ip: '127.0.0.1', raw_body: null });
      // The availability check stays open to everyone.
      expect((await t.app.inject({ method: 'GET', url: '/api/webhooks/wazzup24', remoteAddress: '192.0.2.1' })).statusCode).toBe(200);
    });

    it('report: accepts and records the violation', async () => {
      const t = await make({ WEBHOOK_IP_ALLOWLIST: allowlist, WEBHOOK_IP_ALLOWLIST_MODE: 'report' });
      expect((await post(t, messageBody(), { remoteAddress: '192.0.2.1' })).statusCode).toBe(200);
      expect((await post(t, messageBody(), { remoteAddress: '203.0.113.1' })).statusCode).toBe(200);
      const rows = await t.deps.database.db.selectFrom('webhook_events').select(['client_ip', 'ip_allowed', 'outcome']).orderBy('id').execute();
      expect(rows).toEqual([
        { client_ip: '192.0.2.1', ip_allowed: 0, outcome: 'accepted' },
        { client_ip: '203.0.113.1', ip_allowed: 1, outcome: 'accepted' },
      ]);
    });

    it('off: ignores the list', async () => {
      const t = await make({ WEBHOOK_IP_ALLOWLIST: allowlist, WEBHOOK_IP_ALLOWLIST_MODE: 'off' });
      expect((await post(t, messageBody(), { remoteAddress: '192.0.2.1' })).statusCode).toBe(200);
    });

    it('never believes X-Forwarded-For from an untrusted peer', async () => {
      const t = await make({ WEBHOOK_IP_ALLOWLIST: allowlist, TRUST_PROXY: '10.0.0.1' });
      // An outside client claims an allowlisted address.
      const spoofed = await post(t, messageBody(), { remoteAddress: '192.0.2.66', headers: { 'x-forwarded-for': '203.0.113.5' } });
      expect(spoofed.statusCode).toBe(403);
      // Through the trusted proxy, the address the proxy saw counts.
      const proxied = await post(t, messageBody(), { remoteAddress: '10.0.0.1', headers: { 'x-forwarded-for': '203.0.113.5' } });
      expect(proxied.statusCode).toBe(200);
      // Through the proxy, a client that prepends an allowlisted address is still itself: the
      // rightmost untrusted hop is the client.
      const prepended = await post(t, messageBody(), { remoteAddress: '10.0.0.1', headers: { 'x-forwarded-for': '203.0.113.5, 192.0.2.66' } });
      expect(prepended.statusCode).toBe(403);
      const row = await t.deps.database.db.selectFrom('webhook_events').selectAll().orderBy('id', 'desc').executeTakeFirstOrThrow();
      expect(row.client_ip).toBe('192.0.2.66');
    });

    it('without TRUST_PROXY, X-Forwarded-For is ignored', async () => {
      const t = await make({ WEBHOOK_IP_ALLOWLIST: allowlist });
      const spoofed = await post(t, messageBody(), { remoteAddress: '192.0.2.66', headers: { 'x-forwarded-for': '203.0.113.5' } });
      expect(spoofed.statusCode).toBe(403);
    });
  });
});
