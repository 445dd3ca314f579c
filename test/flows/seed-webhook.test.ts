/**
 * The seed's webhook contract end to end: real app, real database (each dialect), real HTTP via
 * inject(). Fixtures are the seed's examples verbatim.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capturingLogger, createTestApp, type TestApp } from '../helpers/test-app.js';
import { testDialects } from '../helpers/test-database.js';

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/seed/${name}.json`, import.meta.url), 'utf8');
const SUCCESS = { status: 'success', message: 'Webhook processed successfully' };

let sequence = 0;
/** A valid text message with fresh ids unless overridden. */
function message(overrides: Record<string, unknown> = {}, dataOverrides: Record<string, unknown> = {}) {
  sequence += 1;
  return {
    event: 'message',
    data: {
      id: `m_${sequence}`,
      chatId: `chat_${sequence}`,
      text: 'Hello',
      type: 'text',
      from: '+7 777 123 45 67',
      timestamp: 1640995200,
      contact: { name: 'Anna', phone: '+7 777 123 45 67' },
      ...dataOverrides,
    },
    ...overrides,
  };
}

describe.each(testDialects)('seed webhook on %s', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect);
  });
  afterAll(async () => {
    await t.close();
  });
  const db = () => t.deps.database.db;

  describe('availability check', () => {
    it('answers GET with the seed body', async () => {
      const response = await t.app.inject({ method: 'GET', url: '/api/webhooks/wazzup24' });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({ status: 'ok', message: 'Webhook endpoint is available' });
    });
  });

  describe('seed examples, verbatim', () => {
    it('the fixtures are the seed contract\'s own examples (test/fixtures/seed/seed-contract.md)', () => {
      const contract = readFileSync(new URL('../fixtures/seed/seed-contract.md', import.meta.url), 'utf8');
      // Its JSON blocks, and the body of its curl example (`-d '…'`).
      const examples = [...contract.matchAll(/```json\n([\s\S]*?)\n```/g), ...contract.matchAll(/-d '([\s\S]*?)'/g)].flatMap(([, text]) => {
        try {
          return [JSON.parse(text!) as unknown];
        } catch {
          return []; // the signature example's `"data": { ... }` is not JSON
        }
      });
      for (const name of ['message', 'new-message', 'file-message', 'status', 'contact', 'test-message']) {
        expect(examples, name).toContainEqual(JSON.parse(fixture(name)));
      }
    });

    it.each(['message', 'new-message', 'file-message', 'status', 'contact', 'test-message', 'signed-message'])(
      '%s is accepted with the seed success body',
      async (name) => {
        const response = await t.postWebhook(fixture(name));
        expect(response.statusCode).toBe(200);
        expect(response.json()).toEqual(SUCCESS);
      },
    );

    it('stored the messages, contact, chat, status and contact update as the seed describes', async () => {
      const anna = await db().selectFrom('contacts').selectAll().where('phone', '=', '+77771234567').executeTakeFirstOrThrow();
      expect(anna.phone_raw).toBe('+7 777 123 45 67');
      // The contact event (timestamp 1640995400) is newer than the messages: its name wins.
      expect(anna.name).toBe('Анна Смирнова (обновлено)');
      expect(anna.avatar_url).toBe('https://wazzup24.com/avatars/avatar.jpg');

      const chat = await db().selectFrom('chats').selectAll().where('external_id', '=', 'chat_789').executeTakeFirstOrThrow();
      expect(chat.contact_id).toBe(anna.id);

      const messages = await db().selectFrom('messages').selectAll().where('chat_id', '=', chat.id).orderBy('sent_at').execute();
      expect(messages.map((m) => m.external_id)).toEqual(['msg_123456', 'msg_123457']);
      expect(messages[0]).toMatchObject({
        status: 'delivered',
        status_at: 1640995300_000,
        direction: 'in',
        type: 'text',
        text: 'Здравствуйте! У меня вопрос по услугам.',
        sender: '+7 777 123 45 67',
      });
      expect(messages[1]).toMatchObject({
        type: 'file',
        text: 'Отправляю документ',
        file_url: 'https://wazzup24.com/files/document.pdf',
        file_name: 'document.pdf',
        file_size: 1024000,
        file_mime_type: 'application/pdf',
        sent_at: 1640995260_000,
      });
      expect(chat).toMatchObject({ last_message_id: messages[1]!.id, last_message_at: 1640995260_000, unread_count: 2 });
    });
  });

  describe('validation errors', () => {
    const invalid = async (payload: unknown, headers?: Record<string, string>) => {
      const response = await t.postWebhook(payload, headers);
      expect(response.statusCode).toBe(400);
      const body = response.json();
      expect(body.status).toBe('error');
      expect(body.message).toBe('Invalid webhook data');
      return body.errors as Record<string, string[]>;
    };

    it('reports a missing event and data together', async () => {
      const errors = await invalid({});
      expect(Object.keys(errors).sort()).toEqual(['data', 'event']);
      expect(errors.event![0]).toMatch(/event field is required/);
    });

    it('reports an unknown event under errors.event', async () => {
      const errors = await invalid({ event: 'typing', data: {} });
      expect(errors.event![0]).toMatch(/invalid/);
    });

    it('reports every problem of a message at once, by dotted path', async () => {
      const errors = await invalid({ event: 'message', data: { type: 'file', timestamp: 'yesterday', file: { size: -1 } } });
      expect(Object.keys(errors).sort()).toEqual(
        ['data.chatId', 'data.file.size', 'data.file.url', 'data.from', 'data.id', 'data.timestamp'].sort(),
      );
    });

    it('needs text for a text message', async () => {
      const errors = await invalid(message({}, { text: undefined }));
      expect(errors['data.text']).toEqual(['The data.text field is required.']);
    });

    it('needs file.url for file-like messages', async () => {
      for (const type of ['file', 'image', 'audio', 'video', 'document']) {
        const errors = await invalid(message({}, { type, file: { name: 'x.pdf' } }));
        expect(errors['data.file.url']).toEqual(['The data.file.url field is required.']);
      }
    });

    it('rejects a sender that is not a phone number', async () => {
      const errors = await invalid(message({}, { from: 'nobody', contact: { name: 'X', phone: 'call me' } }));
      expect(errors['data.contact.phone']).toEqual(['The data.contact.phone field must be a valid phone number.']);
    });

    it('needs messageId, a known status and a timestamp for a status', async () => {
      const errors = await invalid({ event: 'status', data: { status: 'teleported' } });
      expect(Object.keys(errors).sort()).toEqual(['data.messageId', 'data.status', 'data.timestamp']);
    });

    it('needs a phone for a contact', async () => {
      const errors = await invalid({ event: 'contact', data: { name: 'No phone' } });
      expect(errors['data.phone']).toEqual(['The data.phone field is required.']);
    });

    it.each([
      ['malformed JSON', '{"event": "message", "data": {'],
      ['an empty body', ''],
      ['a JSON array', '[{"event":"message"}]'],
      ['a JSON string', '"message"'],
      ['JSON null', 'null'],
      ['a __proto__ key', '{"event":"contact","data":{"phone":"+77771234567","__proto__":{"polluted":true}}}'],
      ['a constructor.prototype key', '{"event":"contact","data":{"constructor":{"prototype":{"polluted":true}}}}'],
    ])('answers %s with the same envelope', async (_name, payload) => {
      const errors = await invalid(payload);
      expect(errors.body).toHaveLength(1);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });
  });

  describe('transport errors', () => {
    it('answers a body over the limit with 413 and the envelope', async () => {
      const response = await t.postWebhook(message({}, { text: 'x'.repeat(300 * 1024) }));
      expect(response.statusCode).toBe(413);
      expect(response.json()).toEqual({ status: 'error', message: 'Request body is too large' });
    });

    it('records a refused body whose Content-Length no column can hold', async () => {
      const response = await t.app.inject({
        method: 'POST',
        url: '/api/webhooks/wazzup24',
        headers: { 'content-type': 'application/json', 'content-length': '5000000000', 'user-agent': 'huge-length' },
        payload: '{}',
      });
      expect(response.statusCode).toBe(413);
      const row = await db().selectFrom('webhook_events').selectAll().where('user_agent', '=', 'huge-length').executeTakeFirstOrThrow();
      expect(row).toMatchObject({ outcome: 'rejected', http_status: 413, size_bytes: 2_147_483_647 });
    });

    it('records a chunked body cut off past the limit as larger than the limit, not as empty', async () => {
      // inject() sends no chunks: a real socket does.
      const address = await t.app.listen({ port: 0, host: '127.0.0.1' });
      const status = await new Promise<number>((resolve, reject) => {
        const request = httpRequest(`${address}/api/webhooks/wazzup24`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'user-agent': 'chunked-huge' },
        });
        request.on('response', (response) => {
          response.resume();
          resolve(response.statusCode!);
        });
        request.on('error', reject);
        for (let i = 0; i < 40; i += 1) request.write('x'.repeat(10 * 1024));
        request.end();
      });
      expect(status).toBe(413);
      const row = await db().selectFrom('webhook_events').selectAll().where('user_agent', '=', 'chunked-huge').executeTakeFirstOrThrow();
      expect(row).toMatchObject({ outcome: 'rejected', http_status: 413, size_bytes: 262_144 + 1 });
    });

    it.each(['text/plain', 'application/x-www-form-urlencoded', 'application/vnd.api+json'])(
      'answers content type %s with 415',
      async (contentType) => {
        const response = await t.postWebhook(message(), { 'content-type': contentType });
        expect(response.statusCode).toBe(415);
        expect(response.json()).toEqual({ status: 'error', message: 'Unsupported media type: send application/json' });
      },
    );

    it.each(['application/json; charset=utf-8', 'application/json;charset=UTF-8', 'Application/JSON', 'application/json; charset-utf-8'])(
      'accepts content type %s',
      async (contentType) => {
        const response = await t.postWebhook(message(), { 'content-type': contentType });
        expect(response.statusCode).toBe(200);
      },
    );

    it('answers other /api errors with the envelope: 404 and 405', async () => {
      const notFound = await t.app.inject({ method: 'GET', url: '/api/nothing-here' });
      expect(notFound.statusCode).toBe(404);
      expect(notFound.json()).toMatchObject({ status: 'error' });
      const wrongMethod = await t.app.inject({ method: 'DELETE', url: '/api/webhooks/wazzup24' });
      expect(wrongMethod.statusCode).toBe(405);
      expect(wrongMethod.headers.allow).toContain('POST');
      expect(wrongMethod.json()).toMatchObject({ status: 'error' });
    });
  });

  describe('idempotency and ordering', () => {
    it('acknowledges a repeated message id and changes nothing', async () => {
      const first = message();
      expect((await t.postWebhook(first)).statusCode).toBe(200);
      const eventsBefore = t.published.length;
      const chatBefore = await db().selectFrom('chats').selectAll().where('external_id', '=', first.data.chatId).executeTakeFirstOrThrow();

      const again = await t.postWebhook({ ...first, data: { ...first.data, text: 'changed' } });
      expect(again.statusCode).toBe(200);
      expect(again.json()).toEqual(SUCCESS);

      const rows = await db().selectFrom('messages').selectAll().where('external_id', '=', first.data.id).execute();
      expect(rows).toHaveLength(1);
      expect(rows[0]!.text).toBe('Hello');
      const chatAfter = await db().selectFrom('chats').selectAll().where('id', '=', chatBefore.id).executeTakeFirstOrThrow();
      expect(chatAfter).toEqual(chatBefore);
      expect(t.published.length).toBe(eventsBefore);
      const log = await db().selectFrom('webhook_events').select(['outcome', 'raw_body']).where('subject', '=', first.data.id).orderBy('id').execute();
      expect(log.map((l) => l.outcome)).toEqual(['accepted', 'duplicate']);
      expect(log[1]!.raw_body).toBeNull();
    });

    it('moves statuses forward only: a late delivered never overwrites read', async () => {
      const m = message();
      await t.postWebhook(m);
      const status = (s: string, ts: number) => t.postWebhook({ event: 'status', data: { messageId: m.data.id, status: s, timestamp: ts } });
      expect((await status('read', 1640995400)).statusCode).toBe(200);
      expect((await status('delivered', 1640995300)).statusCode).toBe(200);
      expect((await status('sent', 1640995250)).statusCode).toBe(200);
      const row = await db().selectFrom('messages').selectAll().where('external_id', '=', m.data.id).executeTakeFirstOrThrow();
      expect(row).toMatchObject({ status: 'read', status_at: 1640995400_000 });
      const history = await db().selectFrom('message_statuses').select('status').where('message_external_id', '=', m.data.id).execute();
      expect(history.map((h) => h.status).sort()).toEqual(['delivered', 'read', 'sent']);
    });

    it('records a failure with its time without moving a delivered message back', async () => {
      const m = message();
      await t.postWebhook(m);
      await t.postWebhook({ event: 'status', data: { messageId: m.data.id, status: 'delivered', timestamp: 1640995300 } });
      await t.postWebhook({ event: 'status', data: { messageId: m.data.id, status: 'error', timestamp: 1640995350, error: { code: 'X' } } });
      const row = await db().selectFrom('messages').selectAll().where('external_id', '=', m.data.id).executeTakeFirstOrThrow();
      expect(row).toMatchObject({ status: 'delivered', failed_at: 1640995350_000 });
      expect(JSON.parse(row.error!)).toEqual({ code: 'X' });
    });

    it('keeps a status that arrives before its message and applies it on arrival', async () => {
      const m = message();
      const early = await t.postWebhook({ event: 'status', data: { messageId: m.data.id, status: 'read', timestamp: 1640995500 } });
      expect(early.statusCode).toBe(200);
      expect(await db().selectFrom('messages').select('id').where('external_id', '=', m.data.id).executeTakeFirst()).toBeUndefined();
      await t.postWebhook({ event: 'status', data: { messageId: m.data.id, status: 'delivered', timestamp: 1640995400 } });
      await t.postWebhook(m);
      const row = await db().selectFrom('messages').selectAll().where('external_id', '=', m.data.id).executeTakeFirstOrThrow();
      expect(row).toMatchObject({ status: 'read', status_at: 1640995500_000 });

      // The furthest status wins, not the latest by time: a delivered stamped after the read.
      const m2 = message();
      await t.postWebhook({ event: 'status', data: { messageId: m2.data.id, status: 'read', timestamp: 1640995500 } });
      await t.postWebhook({ event: 'status', data: { messageId: m2.data.id, status: 'delivered', timestamp: 1640995600 } });
      await t.postWebhook(m2);
      const row2 = await db().selectFrom('messages').selectAll().where('external_id', '=', m2.data.id).executeTakeFirstOrThrow();
      expect(row2).toMatchObject({ status: 'read', status_at: 1640995500_000 });
    });

    it('ignores contact updates older than what is stored', async () => {
      const phone = '+7 701 555 12 34';
      const contact = (name: string, timestamp: number) => t.postWebhook({ event: 'contact', data: { phone, name, timestamp } });
      await contact('Newest', 1640995600);
      await contact('Older', 1640995500);
      const row = await db().selectFrom('contacts').selectAll().where('phone', '=', '+77015551234').executeTakeFirstOrThrow();
      expect(row.name).toBe('Newest');
      // A message sent before the contact update does not rename the contact either.
      await t.postWebhook(message({}, { from: phone, contact: { name: 'From message', phone }, timestamp: 1640995000 }));
      const after = await db().selectFrom('contacts').selectAll().where('phone', '=', '+77015551234').executeTakeFirstOrThrow();
      expect(after.name).toBe('Newest');
    });

    it('lets a repeat of the same contact information still win over an older, different one', async () => {
      const phone = '+7 701 555 98 76';
      const contact = (name: string, timestamp: number) => t.postWebhook({ event: 'contact', data: { phone, name, timestamp } });
      await contact('Same', 1640995100);
      // Nothing changes but the time: an update from 1640995200 must now lose to this one.
      await contact('Same', 1640995300);
      await contact('Stale', 1640995200);
      const row = await db().selectFrom('contacts').selectAll().where('phone', '=', '+77015559876').executeTakeFirstOrThrow();
      expect(row).toMatchObject({ name: 'Same', info_updated_at: 1640995300_000 });
    });

    it('acknowledges a resent contact event as a duplicate and changes nothing; other data of the same time is applied', async () => {
      const data = { phone: '+7 701 555 44 33', name: 'Vera', avatar: 'https://example.com/vera.png', timestamp: 1640995100 };
      const outcomes = async () =>
        (await db().selectFrom('webhook_events').select('outcome').where('subject', '=', '+77015554433').orderBy('id').execute()).map((r) => r.outcome);
      expect((await t.postWebhook({ event: 'contact', data })).statusCode).toBe(200);
      const before = await db().selectFrom('contacts').selectAll().where('phone', '=', '+77015554433').executeTakeFirstOrThrow();
      const eventsBefore = t.published.length;

      const again = await t.postWebhook({ event: 'contact', data });
      expect(again.statusCode).toBe(200);
      expect(again.json()).toEqual(SUCCESS);
      expect(await outcomes()).toEqual(['accepted', 'duplicate']);
      expect(await db().selectFrom('contacts').selectAll().where('id', '=', before.id).executeTakeFirstOrThrow()).toEqual(before);
      expect(t.published.length).toBe(eventsBefore);

      // The same time and names, but data it does not model differs: not the same event.
      expect((await t.postWebhook({ event: 'contact', data: { ...data, note: 'VIP' } })).statusCode).toBe(200);
      expect(await outcomes()).toEqual(['accepted', 'duplicate', 'accepted']);
      const after = await db().selectFrom('contacts').select('raw').where('id', '=', before.id).executeTakeFirstOrThrow();
      expect(JSON.parse(after.raw!)).toMatchObject({ note: 'VIP' });
    });

    it('keeps a time per piece of contact information: a newer avatar is taken even after a later message confirmed the name', async () => {
      const phone = '+7 701 555 44 55';
      const row = () => db().selectFrom('contacts').selectAll().where('phone', '=', '+77015554455').executeTakeFirstOrThrow();
      await t.postWebhook({ event: 'contact', data: { phone, name: 'Ann', avatar: 'https://example.com/a1.jpg', timestamp: 1640995000 } });
      await t.postWebhook(message({}, { from: phone, contact: { name: 'Ann', phone }, timestamp: 1640995100 }));
      expect(await row()).toMatchObject({ name_updated_at: 1640995100_000, avatar_updated_at: 1640995000_000, info_updated_at: 1640995100_000 });
      // Sent between the two: its avatar is newer than the one held, its name older than the one held.
      const between = await t.postWebhook({ event: 'contact', data: { phone, name: 'Bob', avatar: 'https://example.com/a2.jpg', timestamp: 1640995050 } });
      expect(between.statusCode).toBe(200);
      expect(await row()).toMatchObject({
        name: 'Ann',
        avatar_url: 'https://example.com/a2.jpg',
        name_updated_at: 1640995100_000,
        avatar_updated_at: 1640995050_000,
        info_updated_at: 1640995100_000,
      });
      // An avatar older than the one now held loses.
      await t.postWebhook({ event: 'contact', data: { phone, avatar: 'https://example.com/a0.jpg', timestamp: 1640995020 } });
      expect((await row()).avatar_url).toBe('https://example.com/a2.jpg');
    });

    it('keeps the fields of status and contact events that it does not model', async () => {
      const m = message();
      await t.postWebhook(m);
      const status = { messageId: m.data.id, status: 'delivered', timestamp: 1640995300, channelId: 'ch-1', extra: { a: 1 } };
      expect((await t.postWebhook({ event: 'status', data: status })).statusCode).toBe(200);
      const stored = await db().selectFrom('message_statuses').select('raw').where('message_external_id', '=', m.data.id).executeTakeFirstOrThrow();
      expect(JSON.parse(stored.raw!)).toEqual(status);

      const phone = '+7 701 555 66 77';
      const row = () => db().selectFrom('contacts').select(['name', 'avatar_url', 'raw']).where('phone', '=', '+77015556677').executeTakeFirstOrThrow();
      const post = async (data: Record<string, unknown>) => expect((await t.postWebhook({ event: 'contact', data })).statusCode).toBe(200);
      const newest = { phone, name: 'Vera', timestamp: 1640995200, tags: ['new'] };
      await post(newest);
      expect(JSON.parse((await row()).raw!)).toEqual(newest);
      // Older: its avatar fills an empty piece, but the data kept stays the newest event's.
      await post({ phone, avatar: 'https://example.com/v.jpg', timestamp: 1640995100, tags: ['old'] });
      expect(await row()).toMatchObject({ name: 'Vera', avatar_url: 'https://example.com/v.jpg' });
      expect(JSON.parse((await row()).raw!)).toEqual(newest);
      // Newer, and nothing modelled changes: its data is kept all the same.
      const vip = { phone, name: 'Vera', timestamp: 1640995300, tags: ['vip'] };
      await post(vip);
      expect(JSON.parse((await row()).raw!)).toEqual(vip);
      // A message renames the contact; the contact event's data stays.
      expect((await t.postWebhook(message({}, { from: phone, contact: { name: 'Vera P.', phone }, timestamp: 1640995400 }))).statusCode).toBe(200);
      expect((await row()).name).toBe('Vera P.');
      expect(JSON.parse((await row()).raw!)).toEqual(vip);
      // A contact event newer than the one held but older than that message: its data is the
      // newest contact event's all the same (messages carry none), and its avatar is taken.
      const later = { phone, avatar: 'https://example.com/v2.jpg', timestamp: 1640995350, tags: ['later'] };
      await post(later);
      expect(await row()).toMatchObject({ name: 'Vera P.', avatar_url: 'https://example.com/v2.jpg' });
      expect(JSON.parse((await row()).raw!)).toEqual(later);
    });

    it('keeps the data and phone of the newest contact event even when the events carry no name or avatar', async () => {
      const row = () => db().selectFrom('contacts').select(['raw', 'phone_raw']).where('phone', '=', '+77010000002').executeTakeFirstOrThrow();
      const post = async (data: Record<string, unknown>) => expect((await t.postWebhook({ event: 'contact', data })).statusCode).toBe(200);
      const newest = { phone: '+7 701 000 00 02', timestamp: 1700000200, x: 'new' };
      await post(newest);
      await post({ phone: '+77010000002', timestamp: 1700000100, x: 'old' });
      expect(await row()).toMatchObject({ phone_raw: '+7 701 000 00 02' });
      expect(JSON.parse((await row()).raw!)).toEqual(newest);
      // Newer still, carrying only the phone as written: both are taken, and an older event after it loses.
      const newer = { phone: '+7 (701) 000-00-02', timestamp: 1700000300, x: 'newer' };
      await post(newer);
      await post({ phone: '+77010000002', timestamp: 1700000250, x: 'between' });
      expect(await row()).toMatchObject({ phone_raw: '+7 (701) 000-00-02' });
      expect(JSON.parse((await row()).raw!)).toEqual(newer);
    });

    it('finds the same contact whatever the phone formatting', async () => {
      const chatId = `fmt_${Date.now()}`;
      for (const [i, phone] of ['+7 702 111 22 33', '77021112233', '+7 (702) 111-22-33', '0077021112233'].entries()) {
        expect((await t.postWebhook(message({}, { chatId, from: phone, contact: undefined, id: `fmt_${i}_${chatId}` }))).statusCode).toBe(200);
      }
      const contacts = await db().selectFrom('contacts').selectAll().where('phone', '=', '+77021112233').execute();
      expect(contacts).toHaveLength(1);
    });

    it('takes "contact": null as no contact object (as "file": null): the sender is data.from', async () => {
      const body = message({}, { from: '+7 702 111 22 34', contact: null });
      expect((await t.postWebhook(body)).statusCode).toBe(200);
      const stored = await db().selectFrom('messages').select('contact_id').where('external_id', '=', body.data.id).executeTakeFirstOrThrow();
      const contact = await db().selectFrom('contacts').select(['id', 'name']).where('phone', '=', '+77021112234').executeTakeFirstOrThrow();
      expect(stored.contact_id).toBe(contact.id);
      expect(contact.name).toBeNull();
    });

    it('keeps a late message out of the last-message slot but counts it unread', async () => {
      const chatId = `late_${Date.now()}`;
      const newer = message({}, { chatId, timestamp: 1640995900 });
      const older = message({}, { chatId, timestamp: 1640995100 });
      await t.postWebhook(newer);
      await t.postWebhook(older);
      const chat = await db().selectFrom('chats').selectAll().where('external_id', '=', chatId).executeTakeFirstOrThrow();
      const last = await db().selectFrom('messages').select('external_id').where('id', '=', chat.last_message_id!).executeTakeFirstOrThrow();
      expect(last.external_id).toBe(newer.data.id);
      expect(chat.unread_count).toBe(2);
    });

    it('keeps fields it does not model in the raw column', async () => {
      const m = message({}, { type: 'location', text: null, location: { lat: 43.2, lng: 76.9 }, extra: { nested: [1, 2] } });
      expect((await t.postWebhook(m)).statusCode).toBe(200);
      const row = await db().selectFrom('messages').select(['raw', 'type']).where('external_id', '=', m.data.id).executeTakeFirstOrThrow();
      expect(row.type).toBe('location');
      expect(JSON.parse(row.raw)).toMatchObject({ location: { lat: 43.2, lng: 76.9 }, extra: { nested: [1, 2] } });
    });
  });

  describe('domain events', () => {
    it('publishes contact.updated, message.created and chat.updated after commit', async () => {
      const m = message({}, { from: '+7 705 999 88 77', contact: { name: 'Eve', phone: '+7 705 999 88 77' } });
      const start = t.published.length;
      await t.postWebhook(m);
      const events = t.published.slice(start);
      expect(events.map((e) => e.type)).toEqual(['contact.updated', 'message.created', 'chat.updated']);
      const created = events[1]!;
      if (created.type !== 'message.created') throw new Error('unexpected event');
      expect(created.payload.message).toMatchObject({ externalId: m.data.id, text: 'Hello', direction: 'in' });
      const chatUpdated = events[2]!;
      if (chatUpdated.type !== 'chat.updated') throw new Error('unexpected event');
      expect(chatUpdated.payload.chat.unreadCount).toBe(1);
      expect(chatUpdated.payload.lastMessage?.id).toBe(created.payload.message.id);
      // Committed before publication: a listener can read it back.
      expect(await db().selectFrom('messages').select('id').where('external_id', '=', m.data.id).executeTakeFirst()).toBeDefined();
    });

    it('publishes message.status_changed only when the status moves', async () => {
      const m = message();
      await t.postWebhook(m);
      const start = t.published.length;
      await t.postWebhook({ event: 'status', data: { messageId: m.data.id, status: 'read', timestamp: 1640995400 } });
      await t.postWebhook({ event: 'status', data: { messageId: m.data.id, status: 'delivered', timestamp: 1640995300 } });
      const events = t.published.slice(start);
      expect(events.map((e) => e.type)).toEqual(['message.status_changed']);
    });
  });

  describe('webhook log', () => {
    it('records every request with its outcome, and bodies only for accepted and failed ones', async () => {
      const m = message();
      await t.postWebhook(m, { 'user-agent': 'Wazzup24/1.0' });
      await t.postWebhook('{oops', { 'user-agent': 'Wazzup24/1.0' });
      await t.postWebhook(m, { 'content-type': 'text/plain', 'user-agent': 'Wazzup24/1.0' });
      const rows = await db()
        .selectFrom('webhook_events')
        .selectAll()
        .where('user_agent', '=', 'Wazzup24/1.0')
        .orderBy('id')
        .execute();
      expect(rows.map((r) => [r.outcome, r.http_status])).toEqual([
        ['accepted', 200],
        ['invalid', 400],
        ['rejected', 415],
      ]);
      expect(rows[0]).toMatchObject({ event: 'message', subject: m.data.id, client_ip: '127.0.0.1', format: 'seed' });
      expect(rows[0]!.size_bytes).toBe(Buffer.byteLength(JSON.stringify(m)));
      expect(JSON.parse(rows[0]!.raw_body!)).toEqual(m);
      expect(rows[1]!.raw_body).toBeNull();
      expect(JSON.parse(rows[1]!.error!).errors.body).toHaveLength(1);
      for (const row of rows) expect(row.duration_ms).toBeGreaterThanOrEqual(0);
    });
  });
});

describe.each(testDialects)('internal failures on %s', (dialect) => {
  it('answers 500 with the seed body and no details when the database is gone', async () => {
    const t = await createTestApp(dialect);
    try {
      await t.deps.database.close();
      const response = await t.postWebhook(message());
      expect(response.statusCode).toBe(500);
      expect(response.json()).toEqual({ status: 'error', message: 'Internal server error', code: 500 });
      expect(t.published).toHaveLength(0);
    } finally {
      await t.app.close();
      await t.close().catch(() => undefined);
    }
  });

  // SQLite rolls back by itself on some errors (a full disk, an I/O error); Kysely's own ROLLBACK
  // then failed, and its error took the place of the one that says why, in every log line (a
  // review's find). A trigger's RAISE(ROLLBACK) does the same as a full disk, on demand.
  it.runIf(dialect === 'sqlite')('logs why a write failed when SQLite rolled the transaction back by itself, and serves again after', async () => {
    const { logger, lines } = capturingLogger();
    const t = await createTestApp(dialect, { logger });
    try {
      await sql`CREATE TRIGGER roll_back BEFORE INSERT ON domain_events BEGIN SELECT RAISE(ROLLBACK, 'database or disk is full'); END`.execute(t.deps.database.db);
      const response = await t.postWebhook(message());
      expect(response.statusCode).toBe(500);
      const failures = lines.filter((line) => line.includes('"level":50')).join('\n');
      expect(failures).toMatch(/database or disk is full/);
      expect(failures).not.toMatch(/no transaction is active/);

      await sql`DROP TRIGGER roll_back`.execute(t.deps.database.db);
      expect((await t.postWebhook(message())).statusCode).toBe(200);
    } finally {
      await t.close();
    }
  });

  it('answers 500 when the outbox cannot be written at commit, and keeps serving (nothing crashes)', async () => {
    const t = await createTestApp(dialect);
    const refuseEvents =
      dialect === 'sqlite'
        ? [sql`CREATE TRIGGER refuse_events BEFORE INSERT ON domain_events BEGIN SELECT RAISE(ABORT, 'no events'); END`]
        : [
            sql`CREATE FUNCTION refuse_events() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'no events'; END $$ LANGUAGE plpgsql`,
            sql`CREATE TRIGGER refuse_events BEFORE INSERT ON domain_events FOR EACH ROW EXECUTE FUNCTION refuse_events()`,
          ];
    try {
      for (const statement of refuseEvents) await statement.execute(t.deps.database.db);
      // Two at once: one batch fails, then each is retried alone; the failed batch's promises are
      // never awaited, and must not end the process as unhandled rejections.
      const refused = await Promise.all([t.postWebhook(message()), t.postWebhook(message())]);
      expect(refused.map((r) => r.statusCode)).toEqual([500, 500]);
      expect(t.published).toHaveLength(0);
      await sql`DROP TRIGGER refuse_events${sql.raw(dialect === 'sqlite' ? '' : ' ON domain_events')}`.execute(t.deps.database.db);
      const accepted = await t.postWebhook(message());
      expect(accepted.statusCode).toBe(200);
      expect(t.published.map((e) => e.type)).toContain('message.created');
    } finally {
      await t.close();
    }
  });
});
