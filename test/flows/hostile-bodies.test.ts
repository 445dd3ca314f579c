/**
 * Property-based: whatever arrives, backchat answers 200 or a 4xx with the envelope, never a 5xx,
 * and a refused body leaves nothing half-stored.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/test-app.js';
import { testDialects } from '../helpers/test-database.js';

// PostgreSQL round trips are slower; fewer runs keep the suite quick while still exploring.
const runs = (dialect: string, sqliteRuns: number) => (dialect === 'sqlite' ? sqliteRuns : Math.ceil(sqliteRuns / 4));

describe.each(testDialects)('hostile bodies on %s', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect);
  });
  afterAll(async () => {
    await t.close();
  });

  const counts = async () => {
    const db = t.deps.database.db;
    const count = async (table: 'messages' | 'chats' | 'contacts' | 'message_statuses') =>
      Number((await db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);
    return { messages: await count('messages'), chats: await count('chats'), contacts: await count('contacts'), statuses: await count('message_statuses') };
  };

  const expectClientError = (response: { statusCode: number; json: () => unknown }) => {
    expect(response.statusCode).toBeLessThan(500);
    if (response.statusCode !== 200) {
      const body = response.json() as { status: string; message: string };
      expect(body.status).toBe('error');
      expect(typeof body.message).toBe('string');
    }
  };

  it('never answers random bytes with a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2048 }), async (bytes) => {
        const response = await t.app.inject({
          method: 'POST',
          url: '/api/webhooks/wazzup24',
          headers: { 'content-type': 'application/json' },
          payload: Buffer.from(bytes),
        });
        expectClientError(response);
      }),
      { numRuns: runs(dialect, 300) },
    );
  });

  it('never answers random JSON with a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 6 }), async (value) => {
        expectClientError(await t.postWebhook(JSON.stringify(value)));
      }),
      { numRuns: runs(dialect, 300) },
    );
  });

  it('never answers deep nesting with a 5xx', async () => {
    for (const depth of [33, 1000, 100_000]) {
      const nested = '['.repeat(depth) + ']'.repeat(depth);
      const response = await t.postWebhook(`{"event":"message","data":{"id":"deep","extra":${nested}}}`);
      expect(response.statusCode).toBe(400);
      expect(response.json().errors.body[0]).toMatch(/nest/);
    }
  });

  it('stores a corrupted event whole or not at all', async () => {
    const fieldNames = ['event', 'data', 'id', 'chatId', 'text', 'type', 'from', 'timestamp', 'contact', 'name', 'phone', 'file', 'url', 'messageId', 'status', 'avatar', 'size'];
    const corruption = fc.oneof(fc.constant(undefined), fc.jsonValue({ maxDepth: 2 }), fc.string({ maxLength: 20 }), fc.integer());
    let sequence = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('message', 'status', 'contact'),
        fc.array(fc.tuple(fc.constantFrom(...fieldNames), corruption), { minLength: 1, maxLength: 3 }),
        async (event, corruptions) => {
          sequence += 1;
          const id = `prop_${dialect}_${sequence}`;
          const data: Record<string, unknown> =
            event === 'message'
              ? { id, chatId: `prop_chat_${sequence}`, text: 'hi', type: 'text', from: '+7 777 123 45 67', timestamp: 1640995200, contact: { name: 'P', phone: '+7 777 123 45 67' } }
              : event === 'status'
                ? { messageId: id, status: 'delivered', timestamp: 1640995200 }
                : { phone: `+7 777 ${String(1000000 + sequence).slice(-7)}`, name: 'P', timestamp: 1640995200 };
          const body: Record<string, unknown> = { event, data };
          for (const [field, value] of corruptions) {
            const target = field === 'event' || field === 'data' ? body : data;
            if (value === undefined) delete target[field];
            else target[field] = value;
          }
          const before = await counts();
          const response = await t.postWebhook(body);
          expectClientError(response);
          const after = await counts();
          if (response.statusCode !== 200) {
            expect(after).toEqual(before);
          } else if (body.event === 'message') {
            // Accepted: the message, and with it its chat, exist.
            const stored = await t.deps.database.db.selectFrom('messages').select('chat_id').where('external_id', '=', String(data.id)).executeTakeFirst();
            expect(stored).toBeDefined();
          }
        },
      ),
      { numRuns: runs(dialect, 400) },
    );
  });
});
