/**
 * `backchat wazzup register` as a real process, against a local fake of the Wazzup24 API that
 * test-posts a real, listening backchat.
 */
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeWazzupApi, type FakeWazzupApi } from '../helpers/fake-wazzup-api.js';
import { findFreePort } from '../helpers/server-process.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

const root = new URL('../..', import.meta.url).pathname;
const API_KEY = 'wazzup-api-key-0123456789';
const TOKEN = 'url-token-0123456789abcdef0123456789abcd';

function cli(args: string[], env: Record<string, string>): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/backchat.ts', ...args], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', DATABASE_URL: 'sqlite::memory:', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += String(chunk)));
    child.stderr.on('data', (chunk) => (stderr += String(chunk)));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

describe('backchat wazzup register', () => {
  let backchat: TestApp;
  let wazzup: FakeWazzupApi;
  let webhookUrl: string;
  beforeAll(async () => {
    backchat = await createTestApp('sqlite', { env: { WEBHOOK_TOKENS: TOKEN } });
    await backchat.app.listen({ port: 0, host: '127.0.0.1' });
    webhookUrl = `http://127.0.0.1:${(backchat.app.server.address() as { port: number }).port}/api/webhooks/wazzup24`;
    wazzup = await startFakeWazzupApi({ apiKey: API_KEY });
  });
  afterAll(async () => {
    await wazzup.close();
    await backchat.close();
  });
  const env = () => ({ WAZZUP_API_URL: wazzup.url });

  it('registers the URL: Wazzup24 test-posts backchat, which answers 200', async () => {
    const result = await cli(['wazzup', 'register', '--url', `${webhookUrl}?token=${TOKEN}`, '--api-key', API_KEY], env());
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/Wazzup24 accepted the webhook URL/);
    // Read back from the API, which the documentation shows answering "true" and "false".
    expect(result.stdout).toContain(
      `Read back: webhooks go to ${webhookUrl}?token=…; on: messagesAndStatuses; off: contactsAndDealsCreation, channelsUpdates, templateStatus.`,
    );
    expect(result.stdout).not.toContain(TOKEN);
    expect(wazzup.patches.at(-1)).toEqual({
      webhooksUri: `${webhookUrl}?token=${TOKEN}`,
      subscriptions: { messagesAndStatuses: true, contactsAndDealsCreation: false, channelsUpdates: false, templateStatus: false },
    });
    expect(wazzup.current()?.webhooksUri).toBe(`${webhookUrl}?token=${TOKEN}`);
    const ping = await backchat.deps.database.db.selectFrom('webhook_events').selectAll().where('event', '=', 'test').executeTakeFirstOrThrow();
    expect(ping).toMatchObject({ outcome: 'accepted', auth_scheme: 'url-token', format: 'wazzup_v3' });
  });

  it('takes the API key from WAZZUP_API_KEY', async () => {
    const result = await cli(['wazzup', 'register', '--url', `${webhookUrl}?token=${TOKEN}`], { ...env(), WAZZUP_API_KEY: API_KEY });
    expect(result.status).toBe(0);
  });

  it('explains testPostNotPassed in plain words when backchat refuses the test request', async () => {
    const result = await cli(['wazzup', 'register', '--url', `${webhookUrl}?token=wrong-token`, '--api-key', API_KEY], env());
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/HTTP 400 testPostNotPassed/);
    expect(result.stderr).toMatch(/got 401 instead of 200/);
    expect(result.stderr).toMatch(/WEBHOOK_TOKENS/);
    expect(result.stderr).toContain(`${webhookUrl}?token=… and got 401`);
    expect(result.stderr).not.toContain('wrong-token');
  });

  // Text no URL parser takes was printed as it was: the token with it (a review's find).
  it('hides the token and a password in what it prints, also of a URL it refuses', async () => {
    const unparsable = await cli(['wazzup', 'register', '--url', `https://backchat.example:99999/api/webhooks/wazzup24?token=${TOKEN}`, '--api-key', API_KEY], env());
    expect(unparsable.status).toBe(1);
    expect(unparsable.stderr).toContain('https://backchat.example:99999/api/webhooks/wazzup24?token=…');
    const spaced = await cli(['wazzup', 'register', '--url', `https://someone:pa55@word@backchat.example/x y?token=${TOKEN}`, '--api-key', API_KEY], env());
    expect(spaced.stderr).toMatch(/is not an http\(s\) URL/);
    for (const output of [unparsable.stderr, unparsable.stdout, spaced.stderr, spaced.stdout]) {
      expect(output).not.toContain(TOKEN);
      expect(output).not.toMatch(/pa55|word@/);
    }
  });

  it('explains a refused API key', async () => {
    const result = await cli(['wazzup', 'register', '--url', `${webhookUrl}?token=${TOKEN}`, '--api-key', 'wrong-key'], env());
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/HTTP 401/);
    expect(result.stderr).toMatch(/API key was refused/);
  });

  it('takes a key pasted with its own "Bearer " (sent once, not as "Bearer Bearer …")', async () => {
    const result = await cli(['wazzup', 'register', '--url', `${webhookUrl}?token=${TOKEN}`, '--api-key', `Bearer ${API_KEY}`], env());
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('says why the API could not be reached, and refuses a key that cannot be sent without calling', async () => {
    const closed = `http://127.0.0.1:${await findFreePort()}`;
    const refused = await cli(['wazzup', 'register', '--url', `${webhookUrl}?token=${TOKEN}`, '--api-key', API_KEY], { WAZZUP_API_URL: closed });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain(`Could not reach Wazzup24 at ${closed}: fetch failed (ECONNREFUSED`);
    const calls = wazzup.patches.length;
    const cyrillic = await cli(['wazzup', 'register', '--url', `${webhookUrl}?token=${TOKEN}`, '--api-key', 'ключ'], env());
    expect(cyrillic.status).toBe(1);
    expect(cyrillic.stderr).toMatch(/characters an API key cannot have/);
    expect(wazzup.patches.length).toBe(calls);
  });

  describe('against an API that answers what the reference notes have seen live', () => {
    let stub: Server;
    let stubUrl: string;
    const registered = 'https://chat.example.com/hook';
    // As a live account answered GET /v3/webhooks: booleans, and the template switch renamed.
    const liveSettings = { status: 200, body: JSON.stringify({ webhooksUri: registered, subscriptions: { messagesAndStatuses: true, contactsAndDealsCreation: false, wabaTemplatesStatus: true } }) };
    let answer: { status: number; body: string } = { status: 200, body: '{"ok":true}' };
    let settingsAnswer = liveSettings;
    const paths: string[] = [];
    beforeAll(async () => {
      stub = createServer((request, response) => {
        paths.push(`${request.method} ${request.url}`);
        const { status, body } = request.method === 'GET' ? settingsAnswer : answer;
        request.resume();
        request.on('end', () => response.writeHead(status, { 'content-type': 'application/json' }).end(body));
      });
      await new Promise<void>((resolve) => stub.listen(0, '127.0.0.1', resolve));
      stubUrl = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      await new Promise((resolve) => stub.close(resolve));
    });
    const register = (apiUrl: string) => cli(['wazzup', 'register', '--url', registered, '--api-key', API_KEY], { WAZZUP_API_URL: apiUrl });

    it('keeps the path of WAZZUP_API_URL (a proxy in front of the API)', async () => {
      answer = { status: 200, body: '{"ok":true}' };
      settingsAnswer = liveSettings;
      expect((await register(`${stubUrl}/wazzup-proxy/`)).status).toBe(0);
      expect((await register(`${stubUrl}/wazzup-proxy`)).status).toBe(0);
      expect(paths.slice(-4)).toEqual(['PATCH /wazzup-proxy/v3/webhooks', 'GET /wazzup-proxy/v3/webhooks', 'PATCH /wazzup-proxy/v3/webhooks', 'GET /wazzup-proxy/v3/webhooks']);
    });

    it('reads the settings back: booleans and the live name of the template switch; a URL not kept is an error', async () => {
      answer = { status: 200, body: '{"ok":true}' };
      settingsAnswer = liveSettings;
      const live = await register(stubUrl);
      expect(live.status).toBe(0);
      expect(live.stdout).toContain(`Read back: webhooks go to ${registered}; on: messagesAndStatuses, templateStatus; off: contactsAndDealsCreation, channelsUpdates.`);

      settingsAnswer = { status: 200, body: JSON.stringify({ webhooksUri: 'https://n8n.example.com/webhook?secret=s3cr3t', subscriptions: { messagesAndStatuses: 'true' } }) };
      const taken = await register(stubUrl);
      expect(taken.status).toBe(1);
      expect(taken.stderr).toContain('Wazzup24 accepted the URL but now reports https://n8n.example.com/webhook?secret=…');

      settingsAnswer = { status: 200, body: JSON.stringify({ webhooksUri: registered, subscriptions: { messagesAndStatuses: 'false' } }) };
      const off = await register(stubUrl);
      expect(off.status).toBe(0);
      expect(off.stderr).toMatch(/messagesAndStatuses off: no messages will arrive/);

      // The URL was accepted; only the check could not be made.
      settingsAnswer = { status: 500, body: '' };
      const unread = await register(stubUrl);
      expect(unread.status).toBe(0);
      expect(unread.stderr).toContain('Could not read the settings back (HTTP 500): check them in Wazzup24.');
    });

    it('explains an error code written in UPPER_SNAKE, and an error body that is null', async () => {
      answer = { status: 400, body: JSON.stringify({ error: 'TEST_POST_NOT_PASSED', description: 'URI does not return 200 OK on test request.', data: { status: 404 } }) };
      const upper = await register(stubUrl);
      expect(upper.status).toBe(1);
      expect(upper.stderr).toMatch(/got 404 instead of 200/);
      answer = { status: 500, body: 'null' };
      const empty = await register(stubUrl);
      expect(empty.status).toBe(1);
      expect(empty.stderr).toMatch(/^Wazzup24 answered HTTP 500\./);
    });
  });

  it('refuses a URL Wazzup24 would refuse, without calling it', async () => {
    const calls = wazzup.patches.length;
    const long = await cli(['wazzup', 'register', '--url', `https://example.com/${'x'.repeat(200)}`, '--api-key', API_KEY], env());
    expect(long.status).toBe(1);
    expect(long.stderr).toMatch(/at most 200/);
    const notUrl = await cli(['wazzup', 'register', '--url', 'ftp://example.com', '--api-key', API_KEY], env());
    expect(notUrl.status).toBe(1);
    expect(wazzup.patches.length).toBe(calls);
    const noKey = await cli(['wazzup', 'register', '--url', webhookUrl], env());
    expect(noKey.stderr).toMatch(/WAZZUP_API_KEY/);
  });
});
