/**
 * The effects floor: the least an intake can do and still promise, with its 200, what the issue's
 * contract promises — that the event *and its effects* are on disk. Bare Fastify with its default
 * JSON parser (as the ceiling), then, in one SQLite transaction per turn of the event loop (WAL,
 * synchronous=FULL, the same group commit as the durable floor), only the rows the contract asks
 * for, with hand-written prepared statements and a minimal schema:
 *
 * - every request: one webhook log row (time, IP, User-Agent, size, event, outcome, HTTP status,
 *   duration, raw body);
 * - `message`: the message once per id (a repeated id changes nothing else), then the contact
 *   upserted by phone and the chat upserted with its last message, activity time and unread count;
 * - `status`: the message's status moved forward only, or kept for a message not yet stored;
 * - `contact`: the contact upserted by phone, an older update never overwriting a newer one.
 *
 * No validation, phone normalisation (digits only), events, operator push, metrics or logging:
 * whatever backchat does beyond this is its own work. The effects floor's ratio to the ceiling
 * bounds what any intake that commits the contract's effects before it answers can reach here
 * with this store; the durable floor (bench/floor-server.ts) bounds one that stores only the body.
 *
 * EFFECTS_FLOOR_OMIT (comma-separated) drops requirements one by one, to show what each costs:
 * `raw` (the message's raw JSON), `chat-index` (messages by chat, for listing a chat),
 * `foreign-keys`, `rowid` (the tables keyed by text become WITHOUT ROWID, one B-tree each),
 * `contact-touch` (a message that repeats its contact's name leaves the contact's row alone).
 */
import { mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import Fastify from 'fastify';

const port = Number(process.env.PORT ?? 3003);
const host = process.env.HOST ?? '127.0.0.1';
const file = process.env.FLOOR_DB ?? `./data/bench-effects-floor-${process.pid}.db`;

mkdirSync(dirname(file), { recursive: true });
const omitted = new Set((process.env.EFFECTS_FLOOR_OMIT ?? '').split(',').filter(Boolean));
const textKeyed = omitted.has('rowid') ? ' without rowid' : '';

const db = new BetterSqlite3(file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.pragma(`foreign_keys = ${omitted.has('foreign-keys') ? 'OFF' : 'ON'}`);
db.exec(`
  create table if not exists webhook_log (
    id integer primary key, received_at integer not null, client_ip text, user_agent text,
    size_bytes integer not null, event text, outcome text not null, http_status integer not null,
    duration_ms real not null, raw_body text);
  create table if not exists contacts (
    phone text primary key, name text, avatar text, info_at integer not null)${textKeyed};
  create table if not exists chats (
    chat_id text primary key, contact_phone text not null references contacts (phone),
    last_message_id text, last_activity_at integer, unread_count integer not null default 0)${textKeyed};
  create table if not exists messages (
    id text primary key, chat_id text not null references chats (chat_id) deferrable initially deferred, sent_at integer not null,
    type text not null, body text, status text, status_rank integer not null default 0, status_at integer, raw text not null)${textKeyed};
  ${omitted.has('chat-index') ? '' : 'create index if not exists messages_by_chat on messages (chat_id, sent_at);'}
  create table if not exists early_statuses (
    message_id text not null, status text not null, status_rank integer not null, status_at integer not null);
`);

const RANK: Record<string, number> = { sent: 1, delivered: 2, read: 3, failed: 4 };
const digits = (phone: string) => phone.replace(/\D/g, '');

const logRequest = db.prepare(
  'insert into webhook_log (received_at, client_ip, user_agent, size_bytes, event, outcome, http_status, duration_ms, raw_body) values (?, ?, ?, ?, ?, ?, 200, ?, ?)',
);
const insertMessage = db.prepare(
  'insert into messages (id, chat_id, sent_at, type, body, raw) values (?, ?, ?, ?, ?, ?) on conflict (id) do nothing',
);
const upsertContact = db.prepare(
  `insert into contacts (phone, name, avatar, info_at) values (?, ?, ?, ?)
   on conflict (phone) do update set name = coalesce(excluded.name, name), avatar = coalesce(excluded.avatar, avatar), info_at = excluded.info_at
   where excluded.info_at >= contacts.info_at`,
);
// A message that repeats what is stored about its contact leaves the contact's row alone.
const upsertContactIfChanged = db.prepare(
  `insert into contacts (phone, name, avatar, info_at) values (?, ?, null, ?)
   on conflict (phone) do update set name = excluded.name, info_at = excluded.info_at
   where excluded.info_at >= contacts.info_at and excluded.name is not contacts.name`,
);
const upsertChat = db.prepare(
  `insert into chats (chat_id, contact_phone, last_message_id, last_activity_at, unread_count) values (?, ?, ?, ?, 1)
   on conflict (chat_id) do update set last_message_id = excluded.last_message_id,
     last_activity_at = max(last_activity_at, excluded.last_activity_at), unread_count = unread_count + 1`,
);
const moveStatus = db.prepare('update messages set status = ?, status_rank = ?, status_at = ? where id = ? and status_rank < ?');
const messageExists = db.prepare('select 1 from messages where id = ?').pluck();
const keepEarlyStatus = db.prepare('insert into early_statuses (message_id, status, status_rank, status_at) values (?, ?, ?, ?)');

interface Received {
  body: { event?: string; data?: Record<string, unknown> };
  raw: string;
  ip: string;
  userAgent: string | undefined;
  startedAt: number;
  done: () => void;
}

// The schema is minimal and the input trusted (the bench's own bodies): a floor, not an intake.
function apply({ body }: Received): void {
  const data = body.data ?? {};
  if (body.event === 'message') {
    const contact = (data.contact ?? {}) as { name?: string; phone?: string };
    const phone = digits(String(contact.phone ?? data.from));
    const at = Number(data.timestamp) * 1000;
    // The message first (its chat reference is checked at commit), so that a repeated id is
    // found by the insert itself and changes nothing else.
    if (insertMessage.run(data.id, data.chatId, at, data.type, data.text ?? null, omitted.has('raw') ? '' : JSON.stringify(data)).changes === 0) return;
    if (omitted.has('contact-touch')) upsertContactIfChanged.run(phone, contact.name ?? null, at);
    else upsertContact.run(phone, contact.name ?? null, null, at);
    upsertChat.run(data.chatId, phone, data.id, at);
  } else if (body.event === 'status') {
    const rank = RANK[String(data.status)] ?? 0;
    const at = Number(data.timestamp) * 1000;
    if (moveStatus.run(data.status, rank, at, data.messageId, rank).changes === 0 && messageExists.get(data.messageId) === undefined) {
      keepEarlyStatus.run(data.messageId, data.status, rank, at);
    }
  } else if (body.event === 'contact') {
    upsertContact.run(digits(String(data.phone)), data.name ?? null, data.avatar ?? null, Number(data.timestamp) * 1000);
  }
}

const commitAll = db.transaction((batch: Received[], now: number) => {
  for (const item of batch) {
    apply(item);
    logRequest.run(now, item.ip, item.userAgent ?? null, Buffer.byteLength(item.raw), item.body.event ?? null, 'accepted', now - item.startedAt, item.raw);
  }
});

let waiting: Received[] = [];
const flush = () => {
  const batch = waiting;
  waiting = [];
  commitAll(batch, Date.now());
  for (const item of batch) item.done();
};

const app = Fastify();
// Keep the raw text for the log, as backchat does, and parse it once.
app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => done(null, body));
app.get('/api/webhooks/wazzup24', async () => ({ status: 'ok', message: 'Webhook endpoint is available' }));
app.post('/api/webhooks/wazzup24', async (request) => {
  const raw = request.body as string;
  const startedAt = Date.now();
  await new Promise<void>((resolve) => {
    if (waiting.length === 0) setImmediate(flush);
    waiting.push({ body: JSON.parse(raw) as Received['body'], raw, ip: request.ip, userAgent: request.headers['user-agent'], startedAt, done: resolve });
  });
  return { status: 'success', message: 'Webhook processed successfully' };
});

const stop = () => {
  void app.close().then(() => {
    db.close();
    rmSync(file, { force: true });
    rmSync(`${file}-wal`, { force: true });
    rmSync(`${file}-shm`, { force: true });
    process.exit(0);
  });
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

await app.listen({ port, host });
