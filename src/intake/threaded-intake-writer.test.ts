import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { poisonMessages } from '../../test/helpers/poison.js';
import { createTestApp, type TestApp } from '../../test/helpers/test-app.js';
import { testDialects } from '../../test/helpers/test-database.js';
import type { WebhookRequest } from './intake.service.js';

function request(id: string): WebhookRequest {
  const body = Buffer.from(
    JSON.stringify({ event: 'message', data: { id, chatId: 'thread-chat', text: 'hi', type: 'text', from: '+7 777 123 45 67', timestamp: 1640995200 } }),
  );
  return { rawBody: body, sizeBytes: body.length, clientIp: '127.0.0.1', userAgent: 'test', receivedAt: Date.now(), elapsedMs: () => 0, headers: {}, queryToken: undefined, ipAllowed: null };
}

describe.skipIf(!testDialects.includes('sqlite'))('the SQLite intake writer thread', () => {
  let t: TestApp | undefined;
  afterEach(async () => {
    await t?.close();
  });

  it('commits while the event loop is busy, then publishes the events here', async () => {
    t = await createTestApp('sqlite');
    const file = t.databaseUrl.slice('sqlite:'.length);
    const reader = new BetterSqlite3(file, { readonly: true });
    const stored = () => reader.prepare("select count(*) as n from messages where external_id = 'busy-loop'").get() as { n: number };
    try {
      const received = t.deps.intake.receive(request('busy-loop'));
      // One turn of the event loop: the request leaves for the writer thread (a writer in this
      // thread would commit and publish right here).
      await new Promise((resolve) => setImmediate(resolve));
      // Keep this thread busy without yielding: only another thread can commit meanwhile, and the
      // events it committed cannot be published here yet.
      const until = Date.now() + 10_000;
      while (stored().n === 0 && Date.now() < until) {
        // spin
      }
      expect(stored().n).toBe(1);
      expect(t.published).toHaveLength(0);

      const result = await received;
      expect(result.entry.outcome).toBe('accepted');
      expect(t.published.map((event) => event.type)).toEqual(['contact.updated', 'message.created', 'chat.updated']);
    } finally {
      reader.close();
    }
  });

  it('answers a failed commit with its error and keeps writing', async () => {
    t = await createTestApp('sqlite');
    await poisonMessages(t.deps.database.db, 'sqlite');
    const failed = await t.deps.intake.receive(request('poison-thread'));
    expect(failed.entry.outcome).toBe('failed');
    expect(String((failed.failure as Error).message)).toMatch(/poisoned message/);
    expect((await t.deps.intake.receive(request('after-poison'))).entry.outcome).toBe('accepted');
  });

  it('is not used with SQLITE_WRITER_THREAD=false: nothing commits until the event loop turns', async () => {
    t = await createTestApp('sqlite', { env: { SQLITE_WRITER_THREAD: 'false' } });
    const received = t.deps.intake.receive(request('inline'));
    const reader = new BetterSqlite3(t.databaseUrl.slice('sqlite:'.length), { readonly: true });
    const until = Date.now() + 500;
    while (Date.now() < until) {
      // spin
    }
    expect(reader.prepare("select count(*) as n from messages where external_id = 'inline'").get()).toEqual({ n: 0 });
    reader.close();
    expect((await received).entry.outcome).toBe('accepted');
  });
});
