/**
 * Native Wazzup24 v3 bodies through the same endpoint, auth, log and domain code as the seed
 * format. Fixtures are the examples of reference/wazzup24-v3.md; the rest are built like them.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/test-app.js';
import { testDialects } from '../helpers/test-database.js';

const fixture = (name: string): string => readFileSync(new URL(`../fixtures/wazzup-v3/${name}.json`, import.meta.url), 'utf8');
const CHANNEL = 'b96a353b-9999-4cac-8413-ba99999f981';
const OTHER_CHANNEL = 'c0ffee00-0000-4000-8000-000000000002';

let sequence = 0;
/** A v3 message item with fresh ids unless overridden. */
function item(overrides: Record<string, unknown> = {}) {
  sequence += 1;
  return {
    messageId: `00000000-0000-4000-8000-${String(sequence).padStart(12, '0')}`,
    dateTime: new Date(Date.UTC(2025, 4, 6, 14, 0, sequence)).toISOString(),
    channelId: CHANNEL,
    chatType: 'whatsapp',
    chatId: '77012345678',
    type: 'text',
    isEcho: false,
    contact: { name: 'Dana', avatarUri: null },
    text: `hello ${sequence}`,
    status: 'inbound',
    ...overrides,
  };
}

describe.each(testDialects)('Wazzup24 v3 webhooks on %s', (dialect) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp(dialect);
  });
  afterAll(async () => {
    await t.close();
  });
  const db = () => t.deps.database.db;
  const messageRow = (externalId: string) => db().selectFrom('messages').selectAll().where('external_id', '=', externalId).executeTakeFirst();
  const logRow = (subject: string) =>
    db().selectFrom('webhook_events').selectAll().where('subject', 'like', `%${subject}%`).orderBy('id', 'desc').executeTakeFirstOrThrow();

  it('answers the test ping with 200 and records it as a test', async () => {
    const response = await t.postWebhook(fixture('test-ping'), { 'content-type': 'application/json; charset-utf-8' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'success', message: 'Webhook processed successfully' });
    const row = await db().selectFrom('webhook_events').selectAll().where('event', '=', 'test').executeTakeFirstOrThrow();
    expect(row).toMatchObject({ outcome: 'accepted', format: 'wazzup_v3', http_status: 200 });
  });

  it('stores the documented sticker (an image with a .was file) and poll examples', async () => {
    expect((await t.postWebhook(fixture('sticker'))).statusCode).toBe(200);
    expect((await t.postWebhook(fixture('poll'))).statusCode).toBe(200);
    const sticker = (await messageRow('6a2087e8-e0f4-9999-b968-9d9999933c81'))!;
    expect(sticker).toMatchObject({
      type: 'image',
      direction: 'in',
      file_url: 'https://store.wazzup24.com/e51159999e0046d628b3924161d411e5812d2546/?filename=f9ebe1b1-3ed5-4ec2-97fb-03f0c25e413f.was',
      file_name: 'f9ebe1b1-3ed5-4ec2-97fb-03f0c25e413f.was',
      sent_at: Date.parse('2025-05-06T14:16:00.002Z'),
    });
    const poll = (await messageRow('caa9999-cce3-424c-86cd-05f99995073'))!;
    expect(poll.text).toBe('Тестовый\n• Вариант1\n• Вариант2');
    // The WhatsApp chat id is the customer's phone: one contact, found by phone.
    const contact = await db().selectFrom('contacts').selectAll().where('phone', '=', '+79999999999').executeTakeFirstOrThrow();
    expect(contact).toMatchObject({ phone_raw: '79999999999', avatar_url: expect.stringContaining('store.wazzup24.com') });
    expect(sticker.contact_id).toBe(contact.id);
    const chat = await db().selectFrom('chats').selectAll().where('id', '=', sticker.chat_id).executeTakeFirstOrThrow();
    expect(chat).toMatchObject({ channel_id: 'b96a353b-9999-4cac-8413-ba99999f981', chat_type: 'whatsapp', external_id: '79999999999', unread_count: 1 });
    // The two examples come through two channels: two chats of the same contact.
    expect(poll.chat_id).not.toBe(sticker.chat_id);
    expect(poll.contact_id).toBe(contact.id);
    expect(JSON.parse(sticker.raw)).toMatchObject({ contentUri: expect.any(String), status: 'inbound' });
  });

  it('accepts nulls for every optional field', async () => {
    expect((await t.postWebhook(fixture('nulls'))).statusCode).toBe(200);
    expect(await messageRow('11111111-0000-4000-8000-000000000001')).toMatchObject({ text: 'Здравствуйте', author_name: null, quoted_message_id: null });
    // Null for the list a body does not carry, too.
    const only = item();
    expect((await t.postWebhook({ messages: [only], statuses: null })).statusCode).toBe(200);
    expect(await messageRow(only.messageId)).toBeDefined();
    const status = { messageId: only.messageId, status: 'read', timestamp: only.dateTime };
    expect((await t.postWebhook({ messages: null, statuses: [status] })).statusCode).toBe(200);
    expect(await messageRow(only.messageId)).toMatchObject({ status: 'read' });
    // And for every other top-level key, beside a batch: its messages are stored, and the body is
    // labelled by what it carries.
    const besideNulls = item();
    const nulls = { test: null, createContact: null, createDeal: null, channelsUpdates: null, templateStatus: null };
    expect((await t.postWebhook({ messages: [besideNulls], ...nulls })).statusCode).toBe(200);
    expect(await messageRow(besideNulls.messageId)).toBeDefined();
    const alone = await t.postWebhook({ statuses: null, ...nulls });
    expect(alone.statusCode).toBe(200);
    const logged = await db().selectFrom('webhook_events').select(['event', 'outcome']).orderBy('received_at', 'desc').orderBy('id', 'desc').executeTakeFirstOrThrow();
    expect(logged).toEqual({ event: 'empty', outcome: 'accepted' });
  });

  it('processes every item of a batch, and messages with statuses in one body', async () => {
    const items = ['text', 'image', 'audio', 'video', 'document', 'vcard', 'geo', 'wapi_template', 'unsupported', 'missing_call', 'unknown'].map(
      (type) => item({ type, chatId: '77015550001', ...(type === 'text' ? {} : { text: null, contentUri: type === 'image' ? 'https://store.wazzup24.com/x/?filename=a.jpg' : null }) }),
    );
    const echo = item({ chatId: '77015550001', isEcho: true, status: 'sent', authorName: 'Operator Olga', authorId: 'u-7' });
    const body = { messages: [...items, echo], statuses: [{ messageId: echo.messageId, timestamp: '2025-05-06T15:00:00.000Z', status: 'delivered' }] };
    const response = await t.postWebhook(body);
    expect(response.statusCode).toBe(200);
    for (const sent of items) expect((await messageRow(sent.messageId))?.type).toBe(sent.type);
    expect(await messageRow(echo.messageId)).toMatchObject({ status: 'delivered', direction: 'out' });
    const log = await logRow(echo.messageId);
    expect(log).toMatchObject({ event: 'batch', outcome: 'accepted', format: 'wazzup_v3' });
    // Every id of the batch can be searched for.
    expect(log.subject).toContain(items[5]!.messageId);
  });

  // PostgreSQL's index on the log's subject refuses entries over 2,704 bytes: cut by characters,
  // ten ids of 200 CJK characters (6,000 bytes) made the whole batch fail, unlogged.
  it('stores a batch whose ids are long and not Latin, and logs it searchable by the first ids', async () => {
    const ids = Array.from({ length: 10 }, (_, i) => Array.from({ length: 200 }, (_, j) => String.fromCharCode(0x4e00 + ((i * 7919 + j * 104729) % 20000))).join(''));
    const response = await t.postWebhook({ messages: ids.map((messageId) => item({ messageId, chatId: '77015550009' })) });
    expect(response.statusCode, response.body).toBe(200);
    for (const id of ids) expect(await messageRow(id)).toBeDefined();
    const log = await logRow(ids[0]!);
    expect(log).toMatchObject({ outcome: 'accepted', subject: ids.slice(0, 3).join(' ') });
  });

  // Wazzup24 documents dateTime as yyyy-mm-ddThh:mm:ss.ms, without a zone, and means UTC.
  it('reads a dateTime without a time zone as UTC, on a server in another zone too (v3 and seed)', async () => {
    const zone = process.env.TZ;
    process.env.TZ = 'Asia/Almaty';
    try {
      const v3 = item({ dateTime: '2025-05-06T14:16:00.002', chatId: '77015550010' });
      expect((await t.postWebhook({ messages: [v3] })).statusCode).toBe(200);
      expect(Number((await messageRow(v3.messageId))!.sent_at)).toBe(Date.UTC(2025, 4, 6, 14, 16, 0, 2));
      const seedId = `tz_seed_${dialect}`;
      const seed = { event: 'message', data: { id: seedId, chatId: 'tz', type: 'text', text: 'x', from: '+77771234567', timestamp: '2025-05-06T14:16:00.002' } };
      expect((await t.postWebhook(seed)).statusCode).toBe(200);
      expect(Number((await messageRow(seedId))!.sent_at)).toBe(Date.UTC(2025, 4, 6, 14, 16, 0, 2));
      // A space for the T is UTC too; what only Date.parse would take ("1": the year 2001) is no
      // time, and the message gets the time it was received.
      const spaced = item({ dateTime: '2025-05-06 14:16:00', chatId: '77015550010' });
      const loose = item({ dateTime: '1', chatId: '77015550010' });
      const before = Date.now();
      expect((await t.postWebhook({ messages: [spaced, loose] })).statusCode).toBe(200);
      expect(Number((await messageRow(spaced.messageId))!.sent_at)).toBe(Date.UTC(2025, 4, 6, 14, 16));
      expect(Number((await messageRow(loose.messageId))!.sent_at)).toBeGreaterThanOrEqual(before);
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });

  it('stores an echo as outgoing, with its author, and never counts it unread', async () => {
    const incoming = item({ chatId: '77015550002' });
    const echo = item({ chatId: '77015550002', isEcho: true, status: 'sent', authorName: 'Operator Olga', authorId: 'u-7', sentFromApp: true, contact: { name: 'Dana' } });
    await t.postWebhook({ messages: [incoming] });
    await t.postWebhook({ messages: [echo] });
    const stored = (await messageRow(echo.messageId))!;
    expect(stored).toMatchObject({ direction: 'out', author_name: 'Operator Olga', author_id: 'u-7', status: 'sent' });
    const chat = await db().selectFrom('chats').selectAll().where('id', '=', stored.chat_id).executeTakeFirstOrThrow();
    expect(chat.unread_count).toBe(1);
    expect(chat.last_message_id).toBe(stored.id);
  });

  it('keeps a numeric authorId (a CRM user number) as text', async () => {
    const echo = item({ chatId: '77015550003', isEcho: true, status: 'sent', authorName: 'Olga', authorId: 1207 });
    const response = await t.postWebhook({ messages: [echo] });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'success', message: 'Webhook processed successfully' });
    expect(await messageRow(echo.messageId)).toMatchObject({ author_id: '1207', direction: 'out' });
  });

  it('keeps the quoted message id', async () => {
    const original = item({ chatId: '77015550003' });
    const reply = item({ chatId: '77015550003', quotedMessage: { messageId: original.messageId, text: original.text } });
    await t.postWebhook({ messages: [original, reply] });
    expect((await messageRow(reply.messageId))!.quoted_message_id).toBe(original.messageId);
  });

  it('applies an edit and a deletion, keeps the history, and publishes message.updated', async () => {
    const original = item({ chatId: '77015550004', text: 'first words' });
    await t.postWebhook({ messages: [original] });
    const start = t.published.length;
    const edit = { ...original, text: 'better words', isEdited: true, oldInfo: { oldText: 'first words' } };
    expect((await t.postWebhook({ messages: [edit] })).statusCode).toBe(200);
    expect(await messageRow(original.messageId)).toMatchObject({ text: 'better words', edited_at: expect.any(Number), deleted_at: null });
    // The same edit again changes nothing.
    await t.postWebhook({ messages: [edit] });
    const deletion = { ...original, text: null, isDeleted: true, oldInfo: { oldText: 'better words' } };
    await t.postWebhook({ messages: [deletion] });
    const row = (await messageRow(original.messageId))!;
    expect(row.deleted_at).not.toBeNull();
    expect(row.text).toBe('better words');
    const history = await db().selectFrom('message_revisions').selectAll().where('message_external_id', '=', original.messageId).orderBy('received_at').execute();
    expect(history.map((h) => [h.kind, h.old_text, h.new_text])).toEqual([
      ['edited', 'first words', 'better words'],
      ['deleted', 'better words', null],
    ]);
    expect(t.published.slice(start).map((e) => e.type)).toEqual(['message.updated', 'message.updated']);
    expect(await db().selectFrom('messages').select('id').where('external_id', '=', original.messageId).execute()).toHaveLength(1);
  });

  it('ignores an edit older than the one applied, and any edit after a deletion', async () => {
    const original = item({ chatId: '77015550009', text: 'v1' });
    await t.postWebhook({ messages: [original] });
    const edit = (text: string, at: string) => ({ ...original, text, dateTime: at, isEdited: true, oldInfo: { oldText: 'v1' } });
    await t.postWebhook({ messages: [edit('v3', '2025-06-01T10:00:03Z')] });
    await t.postWebhook({ messages: [edit('v2', '2025-06-01T10:00:02Z')] });
    expect((await messageRow(original.messageId))!.text).toBe('v3');
    await t.postWebhook({ messages: [{ ...original, text: null, dateTime: '2025-06-01T10:00:04Z', isDeleted: true, oldInfo: { oldText: 'v3' } }] });
    await t.postWebhook({ messages: [edit('v4', '2025-06-01T10:00:05Z')] });
    const row = (await messageRow(original.messageId))!;
    expect(row.text).toBe('v3');
    expect(row.deleted_at).toBe(Date.parse('2025-06-01T10:00:04Z'));
    // Every revision is in the history all the same.
    const history = await db().selectFrom('message_revisions').select('new_text').where('message_external_id', '=', original.messageId).execute();
    expect(history.map((h) => h.new_text).sort()).toEqual(['v2', 'v3', 'v4', null].sort());
  });

  // An edit received after the deletion it preceded was ignored, and a deletion's old text never
  // reached a stored message: the same three webhooks left "orig" or "edit1", edited or not,
  // depending on their order (a review's find).
  it('ends in the same message whatever order an edit and a deletion arrive in', async () => {
    const outcomes = new Set<string>();
    const orders = [['O', 'E', 'D'], ['O', 'D', 'E'], ['E', 'O', 'D'], ['E', 'D', 'O'], ['D', 'O', 'E'], ['D', 'E', 'O']];
    for (const [n, order] of orders.entries()) {
      const original = item({ chatId: `7701555010${n}`, text: 'orig', dateTime: '2025-06-01T10:00:00Z' });
      const webhooks: Record<string, unknown> = {
        O: original,
        E: { ...original, text: 'edit1', dateTime: '2025-06-01T10:01:00Z', isEdited: true, oldInfo: { oldText: 'orig' } },
        D: { ...original, text: null, dateTime: '2025-06-01T10:03:00Z', isDeleted: true, oldInfo: { oldText: 'edit1' } },
      };
      for (const name of order) expect((await t.postWebhook({ messages: [webhooks[name]] })).statusCode).toBe(200);
      const { text, edited_at, deleted_at } = (await messageRow(original.messageId))!;
      outcomes.add(JSON.stringify({ text, edited_at, deleted_at }));
    }
    expect([...outcomes]).toEqual([JSON.stringify({ text: 'edit1', edited_at: Date.parse('2025-06-01T10:01:00Z'), deleted_at: Date.parse('2025-06-01T10:03:00Z') })]);
    // Without the edit, the deletion's old text is the message's last text, whichever came first.
    for (const order of [['O', 'D'], ['D', 'O']]) {
      const original = item({ chatId: '77015550110', text: 'orig' });
      const deletion = { ...original, text: null, isDeleted: true, oldInfo: { oldText: 'edited unseen' } };
      for (const name of order) await t.postWebhook({ messages: [name === 'O' ? original : deletion] });
      expect(await messageRow(original.messageId)).toMatchObject({ text: 'edited unseen', edited_at: null });
    }
  });

  it('stores an edit whose original never arrived, and ignores the original when it comes late', async () => {
    const original = item({ chatId: '77015550005', text: 'draft' });
    await t.postWebhook({ messages: [{ ...original, text: 'final', isEdited: true, oldInfo: { oldText: 'draft' } }] });
    expect(await messageRow(original.messageId)).toMatchObject({ text: 'final', edited_at: expect.any(Number) });
    await t.postWebhook({ messages: [original] });
    expect((await messageRow(original.messageId))!.text).toBe('final');
  });

  it('keeps the old text of a deletion whose original never arrived, as of one received, then deleted', async () => {
    const original = item({ chatId: '77015550011', text: null, isDeleted: true, oldInfo: { oldText: 'Cancel my order 5521' } });
    await t.postWebhook({ messages: [original] });
    expect(await messageRow(original.messageId)).toMatchObject({ text: 'Cancel my order 5521', deleted_at: expect.any(Number) });
  });

  // The delivery status an echo carries was dropped when the echo was an edit or a deletion: 200,
  // and the message kept its old status (a review's find).
  it('applies the delivery status of an edited or deleted echo, whether its original came first or not', async () => {
    const echo = item({ chatId: '77015550012', isEcho: true, status: 'sent', text: 'v1' });
    await t.postWebhook({ messages: [echo] });
    await t.postWebhook({ messages: [{ ...echo, text: 'v2', status: 'read', isEdited: true, oldInfo: { oldText: 'v1' } }] });
    expect(await messageRow(echo.messageId)).toMatchObject({ text: 'v2', status: 'read' });

    const early = item({ chatId: '77015550012', isEcho: true, status: 'delivered', text: null, isDeleted: true, oldInfo: { oldText: 'gone' } });
    await t.postWebhook({ messages: [early] });
    expect(await messageRow(early.messageId)).toMatchObject({ text: 'gone', status: 'delivered', deleted_at: expect.any(Number) });
    const statuses = await db().selectFrom('message_statuses').select('status').where('message_external_id', 'in', [echo.messageId, early.messageId]).execute();
    expect(statuses.map((row) => row.status).sort()).toEqual(['delivered', 'read', 'sent']);
  });

  it('counts an edit once however it is written: keys in another order, a null added', async () => {
    const original = item({ chatId: '77015550013', text: 'v1' });
    await t.postWebhook({ messages: [original] });
    const edit = { ...original, text: 'v2', isEdited: true, oldInfo: { oldText: 'v1' } };
    await t.postWebhook({ messages: [edit] });
    const { isEdited, ...rest } = edit;
    await t.postWebhook({ messages: [{ isEdited, ...rest, quotedMessage: null, oldInfo: { oldAuthorName: null, oldText: 'v1' } }] });
    const history = await db().selectFrom('message_revisions').select('new_text').where('message_external_id', '=', original.messageId).execute();
    expect(history).toEqual([{ new_text: 'v2' }]);
  });

  it('keeps phone_raw a spelling of the phone held when a Telegram contact\'s message carries another phone', async () => {
    const telegram = (at: string, phone: string) => item({ chatType: 'telegram', chatId: '9001', dateTime: at, contact: { name: 'T', phone } });
    await t.postWebhook({ messages: [telegram('2025-05-06T10:00:00Z', '+7 701 111 11 11')] });
    await t.postWebhook({ messages: [telegram('2025-05-06T11:00:00Z', '+44 7911 123456')] });
    const contact = await db().selectFrom('contacts').selectAll().where('external_key', '=', 'telegram:9001').executeTakeFirstOrThrow();
    expect(contact).toMatchObject({ phone: '+77011111111', phone_raw: '+7 701 111 11 11' });
  });

  // In a group the chatId is the group's, and `contact` the member who wrote: members are not one
  // contact renamed by each message, and a member's phone does not tie the group to their own chat.
  describe('group chats', () => {
    const contactOfChat = async (externalId: string) => {
      const chat = await db().selectFrom('chats').selectAll().where('external_id', '=', externalId).executeTakeFirstOrThrow();
      return chat.contact_id === null ? null : db().selectFrom('contacts').selectAll().where('id', '=', chat.contact_id).executeTakeFirstOrThrow();
    };

    it('names the member who wrote each message, and touches no contact for members known by name only', async () => {
      const group = '120363025246125486@g.us';
      const aliya = item({ chatType: 'whatsgroup', chatId: group, contact: { name: 'Aliya (Dealer Astana)', avatarUri: 'https://example.com/aliya' } });
      const timur = item({ chatType: 'whatsgroup', chatId: group, contact: { name: 'Timur (Dealer Astana)' } });
      const echo = item({ chatType: 'whatsgroup', chatId: group, isEcho: true, status: 'sent', authorName: 'Operator Olga', contact: { name: 'Timur (Dealer Astana)' } });
      const contactsBefore = (await db().selectFrom('contacts').select('id').execute()).length;
      expect((await t.postWebhook({ messages: [aliya, timur, echo] })).statusCode).toBe(200);
      expect([(await messageRow(aliya.messageId))!.sender, (await messageRow(timur.messageId))!.sender, (await messageRow(echo.messageId))!.sender]).toEqual([
        'Aliya (Dealer Astana)',
        'Timur (Dealer Astana)',
        null,
      ]);
      expect(await contactOfChat(group)).toBeNull();
      expect((await db().selectFrom('contacts').select('id').execute()).length).toBe(contactsBefore);
    });

    it('keys members by their phone: the group keeps no contact, and a member\'s own chat keeps theirs', async () => {
      const group = '-100987654321';
      const member = (name: string, phone: string) => item({ chatType: 'telegroup', chatId: group, contact: { name, username: name.toLowerCase(), phone } });
      await t.postWebhook({ messages: [member('Dana', '77017770001')] });
      await t.postWebhook({ messages: [member('Erlan', '77017770002')] });
      await t.postWebhook({ messages: [item({ chatId: '77017770001', contact: { name: 'Dana S.' } })] });
      await t.postWebhook({ messages: [member('Erlan', '77017770002')] });
      // The group is no one's conversation (it had been its first member's, listed among their chats).
      expect(await contactOfChat(group)).toBeNull();
      const dana = await db().selectFrom('contacts').selectAll().where('phone', '=', '+77017770001').executeTakeFirstOrThrow();
      expect(dana).toMatchObject({ name: 'Dana S.', external_key: null });
      const danaMessage = await db().selectFrom('messages').select('contact_id').where('chat_id', 'in', (eb) => eb.selectFrom('chats').select('id').where('external_id', '=', group)).orderBy('sent_at').executeTakeFirstOrThrow();
      expect(danaMessage.contact_id).toBe(dana.id);
      expect(await contactOfChat('77017770001')).toMatchObject({ phone: '+77017770001', name: 'Dana S.', phone_raw: '77017770001' });
      const erlan = await db().selectFrom('contacts').selectAll().where('phone', '=', '+77017770002').executeTakeFirstOrThrow();
      expect(erlan).toMatchObject({ name: 'Erlan', username: 'erlan', external_key: null });
      // A member without a phone is no contact, and their message is not put on the first member.
      const bob = item({ chatType: 'telegroup', chatId: group, contact: { name: 'Bob' } });
      await t.postWebhook({ messages: [bob] });
      expect(await messageRow(bob.messageId)).toMatchObject({ sender: 'Bob', contact_id: null });
    });
  });

  it('keeps a status that comes before its message, and moves statuses forward only', async () => {
    const echo = item({ chatId: '77015550006', isEcho: true, status: 'sent' });
    const status = (s: string, at: string) => ({ messageId: echo.messageId, timestamp: at, status: s });
    await t.postWebhook({ statuses: [status('read', '2025-05-06T16:00:00.000Z')] });
    await t.postWebhook({ messages: [echo] });
    await t.postWebhook({ statuses: [status('delivered', '2025-05-06T15:30:00.000Z')] });
    expect(await messageRow(echo.messageId)).toMatchObject({ status: 'read', status_at: Date.parse('2025-05-06T16:00:00.000Z') });
  });

  it('stores the error object of a failed status (documented example)', async () => {
    await t.postWebhook(fixture('status-delivered'));
    await t.postWebhook(fixture('status-error'));
    const failed = await db().selectFrom('message_statuses').selectAll().where('message_external_id', '=', 'be3dc577-60c4-4fc8-83a5-8c358e0bfe15').where('status', '=', 'failed').executeTakeFirstOrThrow();
    expect(JSON.parse(failed.error!)).toEqual({ error: 'BAD_CONTACT', description: 'The account with this chatId does not exist' });
  });

  // The echo of a failed message says "error" without saying which; the status item that follows
  // says it. It was dropped as a repeat of the echo's status (a review's find).
  it('keeps the error a failed status carries, also when the echo reported the failure first', async () => {
    const error = { error: 'BAD_CONTACT', description: 'The account with this chatId does not exist' };
    for (const echoFirst of [true, false]) {
      const echo = item({ chatId: '77015550016', isEcho: true, status: 'error' });
      const statuses = { statuses: [{ messageId: echo.messageId, timestamp: echo.dateTime, status: 'error', error }] };
      for (const body of echoFirst ? [{ messages: [echo] }, statuses] : [statuses, { messages: [echo] }]) expect((await t.postWebhook(body)).statusCode).toBe(200);
      expect(JSON.parse((await messageRow(echo.messageId))!.error!)).toEqual(error);
      const failed = await db().selectFrom('message_statuses').select('error').where('message_external_id', '=', echo.messageId).executeTakeFirstOrThrow();
      expect(JSON.parse(failed.error!)).toEqual(error);
    }
    // An error on a repeat of another status is that status's, never the failure's.
    const failedEcho = item({ chatId: '77015550017', isEcho: true, status: 'error' });
    await t.postWebhook({ messages: [failedEcho] });
    await t.postWebhook({ statuses: [{ messageId: failedEcho.messageId, timestamp: failedEcho.dateTime, status: 'sent' }] });
    await t.postWebhook({ statuses: [{ messageId: failedEcho.messageId, timestamp: failedEcho.dateTime, status: 'sent', error }] });
    expect((await messageRow(failedEcho.messageId))!.error).toBeNull();
  });

  // Reference §1.4: editing an outgoing message in the messenger app, not through Wazzup24, sends a
  // status `edited` (with neither text). It had been recorded as an unknown delivery status, once
  // per message: the message never showed it was edited, and a second edit was a duplicate.
  it('takes a status `edited` as an edit made in the messenger app: marked, kept in the history, announced', async () => {
    const echo = item({ chatId: '77015550020', isEcho: true, status: 'sent', text: 'See you at 5', authorName: 'Olga', authorId: 'u-7' });
    await t.postWebhook({ messages: [echo] });
    const edited = (timestamp: string) => ({ statuses: [{ messageId: echo.messageId, timestamp, status: 'edited' }] });
    const revisions = () =>
      db().selectFrom('message_revisions').select(['kind', 'old_text', 'new_text', 'occurred_at']).where('message_external_id', '=', echo.messageId).orderBy('occurred_at').execute();

    const published = t.published.length;
    expect((await t.postWebhook(edited('2025-05-06T16:00:00.000Z'))).statusCode).toBe(200);
    // Its text is what it was (Wazzup24 does not send the new one); its delivery status too.
    expect(await messageRow(echo.messageId)).toMatchObject({ text: 'See you at 5', edited_at: Date.parse('2025-05-06T16:00:00.000Z'), status: 'sent' });
    expect(t.published.slice(published).map((event) => event.type)).toEqual(['message.updated']);
    expect(await revisions()).toEqual([{ kind: 'edited', old_text: null, new_text: null, occurred_at: Date.parse('2025-05-06T16:00:00.000Z') }]);
    expect(await db().selectFrom('message_statuses').select('status').where('message_external_id', '=', echo.messageId).execute()).toEqual([{ status: 'sent' }]);

    // Sent again, even written otherwise: a duplicate. Edited again later: a second revision.
    await t.postWebhook(edited('2025-05-06T16:00:00.000Z'));
    expect((await logRow(echo.messageId)).outcome).toBe('duplicate');
    await t.postWebhook({ statuses: [{ status: 'edited', timestamp: '2025-05-06T16:00:00.000Z', messageId: echo.messageId, error: null }] });
    expect((await logRow(echo.messageId)).outcome).toBe('duplicate');
    await t.postWebhook(edited('2025-05-06T16:05:00.000Z'));
    expect(await messageRow(echo.messageId)).toMatchObject({ edited_at: Date.parse('2025-05-06T16:05:00.000Z') });
    expect(await revisions()).toHaveLength(2);

    // Before its message: kept in the history, nothing stored in its place.
    const early = item({ chatId: '77015550020', isEcho: true, status: 'sent' });
    expect((await t.postWebhook({ statuses: [{ messageId: early.messageId, timestamp: '2025-05-06T16:10:00.000Z', status: 'edited' }] })).statusCode).toBe(200);
    expect(await messageRow(early.messageId)).toBeUndefined();
    await t.postWebhook({ messages: [early] });
    // Stored now, it shows the edit that came first.
    expect(await messageRow(early.messageId)).toMatchObject({ text: early.text, edited_at: Date.parse('2025-05-06T16:10:00.000Z') });
    expect(await db().selectFrom('message_revisions').select('kind').where('message_external_id', '=', early.messageId).execute()).toEqual([{ kind: 'edited' }]);
  });

  it('stores enum values the docs do not list instead of rejecting the batch', async () => {
    const odd = item({ chatType: 'max', chatId: 'max-opaque-id-1', type: 'system', contact: { name: 'Max user', phone: null, username: 'maxuser' } });
    const response = await t.postWebhook({ messages: [odd], statuses: [{ messageId: odd.messageId, timestamp: '2025-05-06T16:00:00.000Z', status: 'archived' }] });
    expect(response.statusCode).toBe(200);
    expect(await messageRow(odd.messageId)).toMatchObject({ type: 'system', status: null });
    const statuses = await db().selectFrom('message_statuses').select('status').where('message_external_id', '=', odd.messageId).execute();
    expect(statuses).toEqual([{ status: 'archived' }]);
    // No phone: the contact is known by its messenger identity.
    const contact = await db().selectFrom('contacts').selectAll().where('external_key', '=', 'max:max-opaque-id-1').executeTakeFirstOrThrow();
    expect(contact).toMatchObject({ phone: null, username: 'maxuser', name: 'Max user' });
  });

  it('records a status named like a built-in JavaScript property as unknown, with the rest of the batch', async () => {
    // Such a name once found an inherited property of the alias table: a 500, and the batch lost.
    const names = ['toString', 'hasOwnProperty', 'constructor', '__proto__', 'valueOf'];
    const incoming = item();
    const echo = item({ isEcho: true, status: 'constructor' });
    const response = await t.postWebhook({ messages: [incoming, echo], statuses: names.map((status) => ({ messageId: incoming.messageId, status, timestamp: incoming.dateTime })) });
    expect(response.statusCode).toBe(200);
    expect(await messageRow(incoming.messageId)).toMatchObject({ status: null });
    expect(await messageRow(echo.messageId)).toMatchObject({ status: null });
    const statuses = await db().selectFrom('message_statuses').select('status').where('message_external_id', '=', incoming.messageId).orderBy('status').execute();
    expect(statuses.map((s) => s.status)).toEqual([...names].sort());
  });

  it('finds a Telegram contact by the phone it carries', async () => {
    const tg = item({ chatType: 'telegram', chatId: '8f6e0a1c-telegram-guid', contact: { name: 'Tg', username: 'tguser', phone: '77019998877' } });
    await t.postWebhook({ messages: [tg] });
    const contact = await db().selectFrom('contacts').selectAll().where('phone', '=', '+77019998877').executeTakeFirstOrThrow();
    expect(contact).toMatchObject({ username: 'tguser', external_key: 'telegram:8f6e0a1c-telegram-guid' });
    // A later message without the phone finds the same contact by its messenger identity.
    await t.postWebhook({ messages: [item({ chatType: 'telegram', chatId: '8f6e0a1c-telegram-guid', contact: { name: 'Tg' } })] });
    expect(await db().selectFrom('contacts').select('id').where('external_key', '=', 'telegram:8f6e0a1c-telegram-guid').execute()).toEqual([{ id: contact.id }]);
  });

  it('keeps one contact when a Telegram user is first known without a phone, then with one', async () => {
    const chatId = 'aa11bb22-telegram-guid';
    await t.postWebhook({ messages: [item({ chatType: 'telegram', chatId, contact: { name: 'Ira', phone: null } })] });
    const first = await db().selectFrom('contacts').selectAll().where('external_key', '=', `telegram:${chatId}`).executeTakeFirstOrThrow();
    expect(first.phone).toBeNull();
    const start = t.published.length;
    await new Promise((resolve) => setTimeout(resolve, 5));
    await t.postWebhook({ messages: [item({ chatType: 'telegram', chatId, contact: { name: 'Ira', phone: '+7 701 444 33 22' } })] });
    const contacts = await db().selectFrom('contacts').selectAll().where((eb) => eb.or([eb('external_key', '=', `telegram:${chatId}`), eb('phone', '=', '+77014443322')])).execute();
    expect(contacts).toHaveLength(1);
    expect(contacts[0]).toMatchObject({ id: first.id, phone: '+77014443322', phone_raw: '+7 701 444 33 22' });
    expect(Number(contacts[0]!.updated_at)).toBeGreaterThan(Number(first.updated_at));
    expect(t.published.slice(start).some((e) => e.type === 'contact.updated')).toBe(true);
    // Every message of the chat points at that contact, and so does a WhatsApp chat from the same phone.
    await t.postWebhook({ messages: [item({ chatId: '77014443322' })] });
    const senders = await db().selectFrom('messages').select('contact_id').where('contact_id', 'is not', null).where('chat_id', 'in', (eb) => eb.selectFrom('chats').select('id').where('external_id', 'in', [chatId, '77014443322'])).execute();
    expect(senders.length).toBe(3);
    expect(new Set(senders.map((m) => m.contact_id))).toEqual(new Set([first.id]));
  });

  it('keeps the same number on two channels as two chats of one contact', async () => {
    const a = item({ chatId: '77015550007', channelId: CHANNEL });
    const b = item({ chatId: '77015550007', channelId: OTHER_CHANNEL });
    await t.postWebhook({ messages: [a, b] });
    const chats = await db().selectFrom('chats').selectAll().where('external_id', '=', '77015550007').execute();
    expect(chats.map((c) => c.channel_id).sort()).toEqual([CHANNEL, OTHER_CHANNEL].sort());
    expect(new Set(chats.map((c) => c.contact_id)).size).toBe(1);
  });

  it('leaves seed-format chats as they were', async () => {
    const seed = { event: 'message', data: { id: 'seed-next-to-v3', chatId: '77015550007', text: 'seed', type: 'text', from: '+7 701 555 00 07', timestamp: 1640995200 } };
    expect((await t.postWebhook(seed)).statusCode).toBe(200);
    const chats = await db().selectFrom('chats').select(['channel_id', 'chat_type']).where('external_id', '=', '77015550007').execute();
    expect(chats).toHaveLength(3);
    expect(chats).toContainEqual({ channel_id: '', chat_type: '' });
  });

  it('keeps a status item whole, and no copy of a status that came inside its message', async () => {
    const sent = item({ isEcho: true, status: 'sent' });
    const delivered = { messageId: sent.messageId, timestamp: '2025-05-06T15:00:00.000Z', status: 'delivered', channelId: CHANNEL };
    expect((await t.postWebhook({ messages: [sent], statuses: [delivered] })).statusCode).toBe(200);
    const rows = await db().selectFrom('message_statuses').select(['status', 'raw']).where('message_external_id', '=', sent.messageId).orderBy('status').execute();
    expect(rows.map((r) => [r.status, r.raw === null ? null : JSON.parse(r.raw)])).toEqual([
      ['delivered', delivered],
      ['sent', null],
    ]);
  });

  it('rounds fractional times and falls back to the arrival time for times no date can hold', async () => {
    const fractional = item({ dateTime: 1640995200.0001 });
    const huge = item({ dateTime: 1e20 });
    const before = Date.now();
    const response = await t.postWebhook({
      messages: [fractional, huge],
      statuses: [{ messageId: fractional.messageId, timestamp: 1640995300.0004, status: 'delivered' }],
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'success', message: 'Webhook processed successfully' });
    expect(await messageRow(fractional.messageId)).toMatchObject({ sent_at: 1640995200000, status: 'delivered', status_at: 1640995300000 });
    expect((await messageRow(huge.messageId))!.sent_at).toBeGreaterThanOrEqual(before - 1000);
    expect((await messageRow(huge.messageId))!.sent_at).toBeLessThanOrEqual(Date.now());
  });

  it('acknowledges a repeated batch and changes nothing', async () => {
    const body = { messages: [item({ chatId: '77015550008' }), item({ chatId: '77015550008' })] };
    await t.postWebhook(body);
    const start = t.published.length;
    const again = await t.postWebhook(body);
    expect(again.statusCode).toBe(200);
    expect(t.published.length).toBe(start);
    expect((await logRow(body.messages[0]!.messageId)).outcome).toBe('duplicate');
  });

  it('applies the valid items of a batch and reports the invalid ones by path, with 200', async () => {
    const good = [item(), item(), item()];
    const body = { messages: [good[0], good[1], { ...item(), messageId: undefined }, good[2], { ...item(), chatId: null }] };
    const response = await t.postWebhook(JSON.stringify(body));
    expect(response.statusCode).toBe(200);
    const json = response.json();
    expect(json.status).toBe('success');
    expect(Object.keys(json.errors).sort()).toEqual(['messages.2.messageId', 'messages.4.chatId']);
    for (const g of good) expect(await messageRow(g!.messageId)).toBeDefined();
    const log = await logRow(good[0]!.messageId);
    expect(log).toMatchObject({ outcome: 'partial', http_status: 200 });
    expect(log.raw_body).not.toBeNull();
    expect(JSON.parse(log.error!).errors['messages.2.messageId']).toHaveLength(1);
  });

  // Such an item used to be skipped whole (200, "invalid items were skipped"): the customer's
  // message never reached the inbox, for the length of a name (a review's find).
  it('keeps a message whose names are too long (cut, never through an emoji) or whose links are (left out)', async () => {
    const longName = `${'a'.repeat(254)}😀 and more`;
    const fileLink = `https://example.com/${'f'.repeat(5000)}`;
    const first = item({ chatId: '77015550014', contact: { name: 'Short', avatarUri: 'https://example.com/a.jpg' } });
    await t.postWebhook({ messages: [first] });
    const long = item({
      chatId: '77015550014',
      isEcho: false,
      text: 'important order',
      contentUri: fileLink,
      authorName: 'b'.repeat(300),
      contact: { name: longName, username: 'u'.repeat(300), avatarUri: `https://example.com/${'v'.repeat(5000)}` },
    });
    const response = await t.postWebhook({ messages: [long] });
    expect(response.json()).toEqual({ status: 'success', message: 'Webhook processed successfully' });
    const row = (await messageRow(long.messageId))!;
    expect(row).toMatchObject({ text: 'important order', file_url: null, author_name: 'b'.repeat(255) });
    expect(JSON.parse(row.raw!).contentUri).toBe(fileLink);
    const contact = await db().selectFrom('contacts').selectAll().where('phone', '=', '+77015550014').executeTakeFirstOrThrow();
    expect(contact).toMatchObject({ name: 'a'.repeat(254), username: 'u'.repeat(255), avatar_url: 'https://example.com/a.jpg' });
  });

  // Decoded from the link, "%00" was a U+0000 PostgreSQL refused: a 500 for the whole body, for
  // ever, the valid items beside it never stored (a review's find).
  it('stores a file name whose link encodes U+0000 as U+FFFD, on both stores alike, and the items beside it', async () => {
    const text = item({ chatId: '77015550015', text: 'beside it' });
    const image = item({ chatId: '77015550015', type: 'image', contentUri: 'https://store.wazzup24.com/x?filename=a%00b.jpg' });
    const response = await t.postWebhook({ messages: [text, image] });
    expect(response.statusCode).toBe(200);
    expect((await messageRow(text.messageId))?.text).toBe('beside it');
    expect((await messageRow(image.messageId))?.file_name).toBe('a\ufffdb.jpg');
  });

  it('answers 400 when no item of a batch is valid, or the shape is wrong', async () => {
    const none = await t.postWebhook({ messages: [{ chatId: '1' }], statuses: [{ status: 'read' }] });
    expect(none.statusCode).toBe(400);
    expect(Object.keys(none.json().errors).sort()).toEqual(['messages.0.messageId', 'statuses.0.messageId']);
    const wrong = await t.postWebhook({ messages: { messageId: 'x' } });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().errors.messages).toEqual(['The messages field must be an array or null.']);
    // The cap on one request's work, refused whole: 1,001 valid statuses, far under the body limit.
    const statuses = Array.from({ length: 1001 }, (_, i) => ({ messageId: `cap-${i}`, status: 'read', timestamp: '2025-06-01T10:00:00Z' }));
    const tooMany = await t.postWebhook({ statuses });
    expect(tooMany.statusCode).toBe(400);
    expect(tooMany.json().errors.statuses).toEqual(['The statuses field must not have more than 1000 items.']);
    expect(await db().selectFrom('message_statuses').select('message_external_id').where('message_external_id', 'like', 'cap-%').execute()).toEqual([]);
    expect((await t.postWebhook({ statuses: statuses.slice(1) })).statusCode).toBe(200);
  });

  it.each(['create-contact', 'create-deal', 'channels-update', 'template-status'])('answers %s with 200 and records it', async (name) => {
    const response = await t.postWebhook(fixture(name));
    expect(response.statusCode).toBe(200);
    const label = name.replace('-', '_');
    const row = await db().selectFrom('webhook_events').selectAll().where('event', '=', label).orderBy('id', 'desc').executeTakeFirstOrThrow();
    expect(row).toMatchObject({ outcome: 'accepted', format: 'wazzup_v3' });
    expect(JSON.parse(row.raw_body!)).toEqual(JSON.parse(fixture(name)));
  });
});
