/**
 * The effects floor: the least an intake can do and still promise, with its 200, what the issue's
 * contract promises — that the event *and its effects* are on disk. Bare Fastify, then, in one
 * SQLite transaction per turn of the event loop (WAL, synchronous=FULL, the same group commit as
 * the durable floor, with backchat's cache size and background checkpoints), only the rows the
 * contract asks for, with hand-written prepared statements and a minimal schema:
 *
 * - every request: one webhook log row (time, IP, User-Agent, size, event, outcome, HTTP status,
 *   duration, raw body);
 * - `message`: the message once per id (a repeated id changes nothing else and is logged as a
 *   duplicate), then the contact upserted by phone, the chat upserted with its last message,
 *   activity time and unread count, and any status that arrived before the message applied;
 * - `status`: the message's status moved forward only, or kept for a message not yet stored;
 * - `contact`: the contact upserted by phone, an older update never overwriting a newer one.
 *
 * A batch that fails is written again one request at a time, so that one bad request fails alone
 * (answered 500) as in backchat. No validation, phone normalisation (digits only), events,
 * operator push, metrics or logging: whatever backchat does beyond this is its own work.
 *
 * EFFECTS_FLOOR_WRITER picks where the SQLite work runs:
 * - `inline` (default): on the event loop that serves HTTP, as backchat does;
 * - `thread`: in a writer thread. The HTTP thread only reads bodies and hands each turn's batch
 *   over in one message; the writer parses, writes and commits, and says which batch committed.
 *   This shows what a pipelined intake could reach on two cores.
 *
 * EFFECTS_FLOOR_OMIT (comma-separated) drops requirements one by one, to show what each costs:
 * `raw` (the message's raw JSON), `chat-index` (messages by chat, for listing a chat),
 * `foreign-keys`, `rowid` (contacts and chats become WITHOUT ROWID, one B-tree each),
 * `contact-touch` (a message that repeats its contact's name leaves the contact's row alone).
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import Fastify from 'fastify';
import { removeSqliteFiles, serveUntilStopped } from './floor-lifecycle.js';

/** One request as the writer needs it. */
interface Received {
  raw: string;
  ip: string;
  userAgent: string | null;
  startedAt: number;
}

type Role = 'writer' | 'checkpointer';
const role: Role | undefined = isMainThread ? undefined : (workerData as { role: Role }).role;
const file = isMainThread ? (process.env.FLOOR_DB ?? `./data/bench-effects-floor-${process.pid}.db`) : (workerData as { file: string }).file;
const omitted = new Set((process.env.EFFECTS_FLOOR_OMIT ?? '').split(',').filter(Boolean));
const CHECKPOINT_INTERVAL_MS = 100;
/**
 * Starts a thread that runs this file again in `role`. tsx's loader is not inherited by a worker
 * thread, so the thread registers it before it imports this (TypeScript) file.
 */
const startThread = (threadRole: Role) =>
  new Worker(
    `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(import.meta.url)}); });`,
    { eval: true, workerData: { role: threadRole, file } },
  );

const RANK: Record<string, number> = { sent: 1, delivered: 2, read: 3, failed: 4 };
const digits = (phone: string) => phone.replace(/\D/g, '');

/** Opens the store and returns the function that commits a batch; `true` per committed request. */
function openWriter(): (batch: Received[]) => boolean[] {
  mkdirSync(dirname(file), { recursive: true });
  const db = new BetterSqlite3(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma(`foreign_keys = ${omitted.has('foreign-keys') ? 'OFF' : 'ON'}`);
  // As backchat (src/storage/dialects/sqlite.ts): a bigger cache, and checkpoints mostly left to a
  // connection of their own so that a commit rarely copies the WAL into the database file.
  db.pragma('cache_size = -65536');
  db.pragma('wal_autocheckpoint = 10000');
  const textKeyed = omitted.has('rowid') ? ' without rowid' : '';
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
      type text not null, body text, status text, status_rank integer not null default 0, status_at integer, raw text not null);
    ${omitted.has('chat-index') ? '' : 'create index if not exists messages_by_chat on messages (chat_id, sent_at);'}
    create table if not exists early_statuses (
      message_id text not null, status text not null, status_rank integer not null, status_at integer not null);
    create index if not exists early_statuses_by_message on early_statuses (message_id);
  `);

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
  const takeEarlyStatuses = db.prepare('delete from early_statuses where message_id = ? returning status, status_rank, status_at');

  const moveStatusForward = (messageId: unknown, status: unknown, rank: number, at: number) =>
    moveStatus.run(status, rank, at, messageId, rank).changes > 0;

  /** Applies one request's effects; returns its outcome for the log. */
  function apply(body: { event?: string; data?: Record<string, unknown> }): string {
    const data = body.data ?? {};
    if (body.event === 'message') {
      const contact = (data.contact ?? {}) as { name?: string; phone?: string };
      const phone = digits(String(contact.phone ?? data.from));
      const at = Number(data.timestamp) * 1000;
      // The message first (its chat reference is checked at commit), so that a repeated id is
      // found by the insert itself and changes nothing else.
      if (insertMessage.run(data.id, data.chatId, at, data.type, data.text ?? null, omitted.has('raw') ? '' : JSON.stringify(data)).changes === 0) {
        return 'duplicate';
      }
      if (omitted.has('contact-touch')) upsertContactIfChanged.run(phone, contact.name ?? null, at);
      else upsertContact.run(phone, contact.name ?? null, null, at);
      upsertChat.run(data.chatId, phone, data.id, at);
      for (const early of takeEarlyStatuses.all(data.id) as { status: string; status_rank: number; status_at: number }[]) {
        moveStatusForward(data.id, early.status, early.status_rank, early.status_at);
      }
    } else if (body.event === 'status') {
      const rank = RANK[String(data.status)] ?? 0;
      const at = Number(data.timestamp) * 1000;
      if (!moveStatusForward(data.messageId, data.status, rank, at) && messageExists.get(data.messageId) === undefined) {
        keepEarlyStatus.run(data.messageId, data.status, rank, at);
      }
    } else if (body.event === 'contact') {
      upsertContact.run(digits(String(data.phone)), data.name ?? null, data.avatar ?? null, Number(data.timestamp) * 1000);
    }
    return 'accepted';
  }

  const write = (item: Received, now: number) => {
    const body = JSON.parse(item.raw) as { event?: string; data?: Record<string, unknown> };
    const outcome = apply(body);
    logRequest.run(now, item.ip, item.userAgent, Buffer.byteLength(item.raw), body.event ?? null, outcome, now - item.startedAt, item.raw);
  };
  const commitAll = db.transaction((batch: Received[], now: number) => {
    for (const item of batch) write(item, now);
  });
  const commitOne = db.transaction((item: Received, now: number) => write(item, now));

  return (batch) => {
    const now = Date.now();
    try {
      commitAll(batch, now);
      return batch.map(() => true);
    } catch {
      // One bad request must not fail the others: write them one by one.
      return batch.map((item) => {
        try {
          commitOne(item, now);
          return true;
        } catch {
          return false;
        }
      });
    }
  };
}

/** Checkpoints the WAL from a connection of its own, as backchat's background checkpointer does. */
function runCheckpointer(): void {
  const db = new BetterSqlite3(file);
  setInterval(() => db.pragma('wal_checkpoint(PASSIVE)'), CHECKPOINT_INTERVAL_MS);
}

async function serve(): Promise<void> {
  const mode = process.env.EFFECTS_FLOOR_WRITER ?? 'inline';
  if (mode !== 'inline' && mode !== 'thread') throw new Error(`EFFECTS_FLOOR_WRITER: inline or thread, not ${mode}`);

  // The store is created (by the writer) before the checkpointer opens it.
  let commit: ((batch: Received[]) => Promise<boolean[]>) | undefined;
  const threads: Worker[] = [];
  if (mode === 'inline') {
    const commitNow = openWriter();
    commit = async (batch) => commitNow(batch);
  } else {
    const writer = startThread('writer');
    threads.push(writer);
    const inFlight = new Map<number, (committed: boolean[]) => void>();
    let nextBatch = 0;
    writer.on('error', (error) => {
      console.error(error);
      process.exit(1);
    });
    // The writer says it is ready once the store is open and its tables exist.
    await new Promise<void>((resolve) => writer.once('message', () => resolve()));
    writer.on('message', ({ id, committed }: { id: number; committed: boolean[] }) => {
      inFlight.get(id)!(committed);
      inFlight.delete(id);
    });
    commit = (batch) =>
      new Promise((resolve) => {
        const id = nextBatch++;
        inFlight.set(id, resolve);
        writer.postMessage({ id, batch });
      });
  }
  threads.push(startThread('checkpointer'));

  // Group commit as backchat's: one batch being written at a time; what arrives meanwhile waits
  // for the next one.
  let waiting: { item: Received; done: (committed: boolean) => void }[] = [];
  let writing = false;
  const flush = () => {
    if (writing || waiting.length === 0) return;
    const batch = waiting;
    waiting = [];
    writing = true;
    void commit!(batch.map((entry) => entry.item)).then((committed) => {
      writing = false;
      batch.forEach((entry, i) => entry.done(committed[i]!));
      flush();
    });
  };

  const app = Fastify();
  // The raw text is what the writer parses and what the log keeps.
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => done(null, body));
  app.get('/api/webhooks/wazzup24', async () => ({ status: 'ok', message: 'Webhook endpoint is available' }));
  app.post('/api/webhooks/wazzup24', async (request, reply) => {
    const item: Received = { raw: request.body as string, ip: request.ip, userAgent: request.headers['user-agent'] ?? null, startedAt: Date.now() };
    const committed = await new Promise<boolean>((resolve) => {
      waiting.push({ item, done: resolve });
      if (waiting.length === 1) setImmediate(flush);
    });
    if (!committed) return reply.code(500).send({ status: 'error', message: 'Internal server error', code: 500 });
    return { status: 'success', message: 'Webhook processed successfully' };
  });

  await serveUntilStopped(app, 3003, async () => {
    for (const thread of threads) await thread.terminate();
    removeSqliteFiles(file);
  });
}

if (role === 'writer') {
  const commitNow = openWriter();
  parentPort!.postMessage({ ready: true });
  parentPort!.on('message', ({ id, batch }: { id: number; batch: Received[] }) => parentPort!.postMessage({ id, committed: commitNow(batch) }));
} else if (role === 'checkpointer') {
  runCheckpointer();
} else {
  await serve();
}
