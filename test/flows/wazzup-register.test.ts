/**
 * `backchat wazzup register` as a real process, against a local fake of the Wazzup24 API that
 * test-posts a real, listening backchat.
 */
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeWazzupApi, type FakeWazzupApi } from '../helpers/fake-wazzup-api.js';
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
  });

  it('explains a refused API key', async () => {
    const result = await cli(['wazzup', 'register', '--url', `${webhookUrl}?token=${TOKEN}`, '--api-key', 'wrong-key'], env());
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/HTTP 401/);
    expect(result.stderr).toMatch(/API key was refused/);
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
