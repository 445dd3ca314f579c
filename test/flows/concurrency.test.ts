/**
 * Simultaneous requests over real HTTP: the first messages of a new chat arriving all at once make
 * one contact and one chat, and copies of one message arriving all at once make one message.
 * Every request is answered 200, and only after its effect is committed.
 */
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { normalizePhone } from '../../src/domain/phone.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';
import { testDialects } from '../helpers/test-database.js';

const CONCURRENT = 200;
/** The test is void unless this many requests were waiting for a commit together. */
const MIN_WAITING_AT_ONCE = 50;
const PHONE = '+7 777 555 12 34';
const BASE_TIMESTAMP = 1_700_000_000;

function messageBody(id: string, chatId: string, timestamp: number) {
  return {
    event: 'message',
    data: {
      id,
      chatId,
      text: `text of ${id}`,
      type: 'text',
      from: PHONE,
      timestamp,
      contact: { name: 'Concurrent Customer', phone: PHONE },
    },
  };
}

describe.each(testDialects)('concurrency over HTTP (%s)', (dialect) => {
  let testApp: TestApp;
  let webhookUrl: string;
  let maxWaiting = 0;

  beforeEach(async () => {
    testApp = await createTestApp(dialect);
    // How many requests waited for a commit at the same time: proof that they really were concurrent.
    const committer = testApp.deps.committer;
    const run = committer.run.bind(committer);
    let waiting = 0;
    maxWaiting = 0;
    committer.run = async (work) => {
      maxWaiting = Math.max(maxWaiting, ++waiting);
      try {
        return await run(work);
      } finally {
        waiting -= 1;
      }
    };
    await testApp.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = testApp.app.server.address() as AddressInfo;
    webhookUrl = `http://127.0.0.1:${port}/api/webhooks/wazzup24`;
  });

  afterEach(async () => {
    await testApp?.close();
  });

  /**
   * Fires every body at once: one connection per request is opened first (keep-alive GETs), so
   * that the POSTs leave together instead of trickling in behind TCP handshakes.
   */
  async function postAllAtOnce(bodies: unknown[]): Promise<{ status: number; body: unknown }[]> {
    const payloads = bodies.map((body) => JSON.stringify(body));
    await Promise.all(
      payloads.map(async () => {
        const response = await fetch(webhookUrl, { signal: AbortSignal.timeout(20_000) });
        await response.arrayBuffer();
      }),
    );
    return Promise.all(
      payloads.map(async (payload) => {
        const response = await fetch(webhookUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: payload,
          signal: AbortSignal.timeout(20_000),
        });
        return { status: response.status, body: (await response.json()) as unknown };
      }),
    );
  }

  const success = { status: 200, body: { status: 'success', message: 'Webhook processed successfully' } };

  it(`${CONCURRENT} simultaneous first messages of a new chat make one contact, one chat, ${CONCURRENT} messages`, async () => {
    const chatId = `race-chat-${dialect}`;
    const ids = Array.from({ length: CONCURRENT }, (_, i) => `race-${dialect}-${i}`);
    const responses = await postAllAtOnce(ids.map((id, i) => messageBody(id, chatId, BASE_TIMESTAMP + i)));
    expect(responses.filter((r) => r.status !== 200 || JSON.stringify(r.body) !== JSON.stringify(success.body))).toEqual([]);
    console.info(`[concurrency/${dialect}] at most ${maxWaiting} requests waited for a commit at once`);
    expect(maxWaiting, 'requests that waited for a commit at the same time').toBeGreaterThanOrEqual(MIN_WAITING_AT_ONCE);

    // Read right after the last answer: a 200 means committed.
    const { db } = testApp.deps.database;
    const contacts = await db.selectFrom('contacts').selectAll().execute();
    expect(contacts).toHaveLength(1);
    const contact = contacts[0]!;
    expect(contact.phone).toBe(normalizePhone(PHONE));
    // Newer information always wins, whatever order the requests were applied in.
    expect(contact.info_updated_at).toBe((BASE_TIMESTAMP + CONCURRENT - 1) * 1000);

    const chats = await db.selectFrom('chats').selectAll().execute();
    expect(chats).toHaveLength(1);
    const chat = chats[0]!;
    expect(chat).toMatchObject({ external_id: chatId, contact_id: contact.id, unread_count: CONCURRENT });

    const messages = await db.selectFrom('messages').select(['id', 'external_id', 'chat_id', 'contact_id', 'sent_at']).execute();
    expect(messages).toHaveLength(CONCURRENT);
    expect(messages.map((m) => m.external_id).sort()).toEqual([...ids].sort());
    expect(messages.every((m) => m.chat_id === chat.id && m.contact_id === contact.id)).toBe(true);
    // The newest message is the chat's last, whatever order they were applied in.
    const newest = messages.find((m) => m.external_id === ids.at(-1))!;
    expect(chat).toMatchObject({ last_message_id: newest.id, last_message_at: newest.sent_at });

    const log = await db.selectFrom('webhook_events').select(['subject', 'outcome', 'http_status']).execute();
    expect(log).toHaveLength(CONCURRENT);
    expect(log.every((e) => e.outcome === 'accepted' && e.http_status === 200)).toBe(true);
    expect(new Set(log.map((e) => e.subject))).toEqual(new Set(ids));

    const types = testApp.published.map((e) => e.type);
    expect(types.filter((t) => t === 'message.created')).toHaveLength(CONCURRENT);
    expect(types.filter((t) => t === 'contact.updated')).toHaveLength(1);
  });

  it(`${CONCURRENT} simultaneous copies of one message make one message; the rest are duplicates`, async () => {
    const id = `same-${dialect}`;
    const body = messageBody(id, `same-chat-${dialect}`, BASE_TIMESTAMP);
    const responses = await postAllAtOnce(Array.from({ length: CONCURRENT }, () => body));
    expect(responses.filter((r) => r.status !== 200 || JSON.stringify(r.body) !== JSON.stringify(success.body))).toEqual([]);
    console.info(`[concurrency/${dialect}] at most ${maxWaiting} requests waited for a commit at once`);
    expect(maxWaiting, 'requests that waited for a commit at the same time').toBeGreaterThanOrEqual(MIN_WAITING_AT_ONCE);

    const { db } = testApp.deps.database;
    const messages = await db.selectFrom('messages').select(['external_id']).execute();
    expect(messages).toEqual([{ external_id: id }]);
    const chats = await db.selectFrom('chats').select(['unread_count']).execute();
    expect(chats).toEqual([{ unread_count: 1 }]);
    expect(await db.selectFrom('contacts').select('id').execute()).toHaveLength(1);

    const log = await db.selectFrom('webhook_events').select(['subject', 'outcome', 'http_status', 'raw_body']).execute();
    expect(log).toHaveLength(CONCURRENT);
    expect(log.every((e) => e.subject === id && e.http_status === 200)).toBe(true);
    const accepted = log.filter((e) => e.outcome === 'accepted');
    const duplicates = log.filter((e) => e.outcome === 'duplicate');
    expect(accepted).toHaveLength(1);
    expect(duplicates).toHaveLength(CONCURRENT - 1);
    expect(accepted[0]!.raw_body).not.toBeNull();
    expect(duplicates.every((e) => e.raw_body === null)).toBe(true);

    const created = testApp.published.filter((e) => e.type === 'message.created');
    expect(created).toHaveLength(1);
    expect(testApp.published.filter((e) => e.type === 'chat.updated')).toHaveLength(1);
  });
});
