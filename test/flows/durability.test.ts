/**
 * "Nothing acknowledged is ever lost", for real: backchat runs as its own process, takes load from
 * many concurrent senders, and is SIGKILLed mid-stream. Every event that got a 200 must be in the
 * database when it comes back, exactly once, with its webhook-log row; the restarted server must
 * keep working and treat re-sent events as duplicates.
 *
 * Requests in flight at the kill fail with connection errors: that is expected, only 200s count.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/storage/database.js';
import { startServer, type ProcessExit, type ServerProcess } from '../helpers/server-process.js';
import { createTestDatabase, testDialects, type TestDatabase } from '../helpers/test-database.js';

/** Concurrent senders, each with one request outstanding at a time. */
const SENDERS = 32;
/** Chats the messages are spread over. */
const CHATS = 300;
/** Every Nth message of a sender is preceded by a status for it (status before message). */
const STATUS_FIRST_EVERY = 5;
/** The kill comes once both hold: this many 200s, and this much time under load. */
const MIN_ACKED_BEFORE_KILL = 300;
const MIN_LOAD_MS = 1_200;
/** Fail rather than hang when the server cannot take MIN_ACKED_BEFORE_KILL in this time. */
const LOAD_DEADLINE_MS = 20_000;
const BASE_TIMESTAMP = 1_700_000_000;

const phoneOf = (chat: number) => `+7777${2_000_000 + chat}`;

function messageBody(id: string, chat: number, seq: number) {
  return {
    event: 'message',
    data: {
      id,
      chatId: `dur-chat-${chat}`,
      text: `hello ${id}`,
      type: 'text',
      from: phoneOf(chat),
      timestamp: BASE_TIMESTAMP + seq,
      contact: { name: `Customer ${chat}`, phone: phoneOf(chat) },
    },
  };
}

function statusBody(messageId: string, seq: number) {
  return { event: 'status', data: { messageId, status: 'delivered', timestamp: BASE_TIMESTAMP + seq + 1 } };
}

type PostOutcome = { kind: 'acked' } | { kind: 'http'; status: number; body: string } | { kind: 'connection'; error: string };

/** POSTs a webhook; a 200 counts only with the success body. */
async function post(url: string, body: unknown, timeoutMs = 15_000): Promise<PostOutcome> {
  let response: Response;
  let text: string;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    text = await response.text();
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
    return { kind: 'connection', error: `${String(error)}${cause}` };
  }
  if (response.status === 200) {
    const parsed = JSON.parse(text) as { status?: unknown };
    if (parsed.status === 'success') return { kind: 'acked' };
  }
  return { kind: 'http', status: response.status, body: text.slice(0, 500) };
}

/** Runs `work` over `items` with `concurrency` workers. */
async function forEachConcurrently<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<void>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}

interface LoadResult {
  /** Message ids that got a 200. */
  ackedMessages: Set<string>;
  /** Message ids whose status (sent before the message) got a 200. */
  ackedStatuses: Set<string>;
  /** Every message id sent, acked or not. */
  sentMessages: Set<string>;
  /** Non-200 HTTP answers: there must be none. */
  httpErrors: { status: number; body: string }[];
  /** Connection errors: the requests the kill cut off. */
  connectionErrors: string[];
  ackedAtKill: number;
  inFlightAtKill: number;
  msFromLastAckToKill: number;
  loadMs: number;
  /** 200s that arrived after the signal was sent (already on their way). */
  ackedAfterKill: number;
  exit: ProcessExit;
}

/** Sends load to `server` and SIGKILLs it mid-stream; resolves once every sender has stopped. */
async function loadAndKill(server: ServerProcess, dialect: string): Promise<LoadResult> {
  const ackedMessages = new Set<string>();
  const ackedStatuses = new Set<string>();
  const sentMessages = new Set<string>();
  const httpErrors: LoadResult['httpErrors'] = [];
  const connectionErrors: string[] = [];
  let inFlight = 0;
  let stopping = false;
  let killed = false;
  let ackedAfterKill = 0;
  let lastAckAt = 0;

  const send = async (body: unknown, onAck: () => void): Promise<boolean> => {
    inFlight += 1;
    try {
      const outcome = await post(server.webhookUrl, body);
      if (outcome.kind === 'acked') {
        onAck();
        lastAckAt = performance.now();
        if (killed) ackedAfterKill += 1;
        return true;
      }
      if (outcome.kind === 'http') httpErrors.push({ status: outcome.status, body: outcome.body });
      else connectionErrors.push(outcome.error);
      return false;
    } finally {
      inFlight -= 1;
    }
  };

  const sender = async (s: number) => {
    for (let seq = 0; !stopping; seq++) {
      const id = `dur-${dialect}-${s}-${seq}`;
      const chat = (s * 7919 + seq * 31) % CHATS;
      if (seq % STATUS_FIRST_EVERY === 0) {
        if (!(await send(statusBody(id, seq), () => ackedStatuses.add(id)))) return;
        if (stopping) return;
      }
      sentMessages.add(id);
      if (!(await send(messageBody(id, chat, seq), () => ackedMessages.add(id)))) return;
    }
  };

  const started = performance.now();
  const senders = Promise.all(Array.from({ length: SENDERS }, (_, s) => sender(s)));

  // Watch the load; kill once enough has been acknowledged.
  const acked = () => ackedMessages.size + ackedStatuses.size;
  while (acked() < MIN_ACKED_BEFORE_KILL || performance.now() - started < MIN_LOAD_MS) {
    if (!server.isRunning()) throw new Error(`backchat died under load:\n${server.output()}`);
    if (httpErrors.length > 0 || connectionErrors.length > 0 || performance.now() - started > LOAD_DEADLINE_MS) break;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const killAt = performance.now();
  const ackedAtKill = acked();
  const inFlightAtKill = inFlight;
  stopping = true;
  killed = true;
  const exit = await server.stop('SIGKILL');
  await senders;

  return {
    ackedMessages,
    ackedStatuses,
    sentMessages,
    httpErrors,
    connectionErrors,
    ackedAtKill,
    inFlightAtKill,
    msFromLastAckToKill: killAt - lastAckAt,
    loadMs: killAt - started,
    ackedAfterKill,
    exit,
  };
}

function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return counts;
}

describe.each(testDialects)('durability: SIGKILL under load (%s)', (dialect) => {
  let database: TestDatabase;
  let store: DatabaseHandle | undefined;
  const servers: ServerProcess[] = [];
  let load: LoadResult | undefined;
  let restarted: ServerProcess | undefined;

  beforeAll(async () => {
    database = await createTestDatabase(dialect);
  });

  afterAll(async () => {
    for (const server of servers) await server.stop('SIGKILL');
    await store?.close();
    await database?.drop();
  });

  const readState = async (db: DatabaseHandle['db']) => ({
    messages: await db.selectFrom('messages').select(['external_id', 'chat_id', 'status']).execute(),
    statuses: await db.selectFrom('message_statuses').select(['message_external_id', 'status']).execute(),
    log: await db.selectFrom('webhook_events').select(['event', 'subject', 'outcome', 'http_status']).execute(),
    chats: await db.selectFrom('chats').select(['id', 'external_id', 'unread_count']).execute(),
  });

  it('keeps every acknowledged event after a SIGKILL mid-stream', { timeout: 60_000 }, async () => {
    const first = await startServer({ databaseUrl: database.url });
    servers.push(first);
    load = await loadAndKill(first, dialect);

    // The kill really happened, mid-stream, after enough acknowledgements.
    expect(load.httpErrors, 'non-200 answers under load').toEqual([]);
    expect(load.exit.signal, 'the server must have died of the SIGKILL').toBe('SIGKILL');
    expect(load.ackedAtKill).toBeGreaterThanOrEqual(MIN_ACKED_BEFORE_KILL);
    expect(load.inFlightAtKill, 'requests in flight at the kill').toBeGreaterThan(0);
    expect(load.connectionErrors.length, 'requests cut off by the kill').toBeGreaterThan(0);
    expect(load.msFromLastAckToKill, 'the server was still answering right before the kill').toBeLessThan(250);
    expect(load.ackedStatuses.size, 'statuses sent before their message were acked').toBeGreaterThan(0);

    restarted = await startServer({ databaseUrl: database.url });
    servers.push(restarted);
    store = openDatabase(database.url);
    const { messages, statuses, log, chats } = await readState(store.db);

    // Every acked message is stored, exactly once.
    const stored = countBy(messages, (m) => m.external_id);
    const lostMessages = [...load.ackedMessages].filter((id) => stored.get(id) !== 1);
    expect(lostMessages, 'acked messages missing after the restart').toEqual([]);
    const unknown = [...stored.keys()].filter((id) => !load!.sentMessages.has(id));
    expect(unknown, 'stored messages that were never sent').toEqual([]);

    // Every acked request has its one 'accepted' webhook_events row.
    expect(log.filter((e) => e.outcome !== 'accepted'), 'only accepted events during the load').toEqual([]);
    const acceptedMessages = countBy(log.filter((e) => e.event === 'message'), (e) => e.subject!);
    const acceptedStatuses = countBy(log.filter((e) => e.event === 'status'), (e) => e.subject!);
    expect([...load.ackedMessages].filter((id) => acceptedMessages.get(id) !== 1), 'acked messages without one accepted log row').toEqual([]);
    expect([...load.ackedStatuses].filter((id) => acceptedStatuses.get(id) !== 1), 'acked statuses without one accepted log row').toEqual([]);
    // The log row and the message commit together: one never exists without the other.
    expect([...acceptedMessages.keys()].sort(), 'log rows and messages committed together').toEqual([...stored.keys()].sort());

    // Statuses that came before their message are kept, and applied when it came.
    const storedStatuses = new Set(statuses.filter((s) => s.status === 'delivered').map((s) => s.message_external_id));
    expect([...load.ackedStatuses].filter((id) => !storedStatuses.has(id)), 'acked statuses missing').toEqual([]);
    const statusOf = new Map(messages.map((m) => [m.external_id, m.status]));
    const notApplied = [...load.ackedStatuses].filter((id) => statusOf.has(id) && statusOf.get(id) !== 'delivered');
    expect(notApplied, 'early statuses not applied to their message').toEqual([]);
    expect([...load.ackedStatuses].filter((id) => load!.ackedMessages.has(id)).length).toBeGreaterThan(0);

    // Chats are consistent with their messages: unread_count counts exactly the stored messages.
    const perChat = countBy(messages, (m) => m.chat_id);
    const inconsistent = chats.filter((c) => c.unread_count !== (perChat.get(c.id) ?? 0));
    expect(inconsistent, 'chats whose unread_count differs from their stored messages').toEqual([]);

    console.info(
      `[durability/${dialect}] ${load.loadMs.toFixed(0)} ms of load; acked ${load.ackedMessages.size} messages + ` +
        `${load.ackedStatuses.size} statuses (${load.ackedAtKill} at the kill, ${load.ackedAfterKill} arrived after it); ` +
        `${load.inFlightAtKill} in flight at the kill, ${load.connectionErrors.length} cut off; ` +
        `${messages.length - load.ackedMessages.size} stored but never acked`,
    );
  });

  it('the restarted server keeps accepting new messages', async () => {
    expect(restarted, 'needs the restarted server from the previous test').toBeDefined();
    const id = `dur-${dialect}-after-restart`;
    expect(await post(restarted!.webhookUrl, messageBody(id, 0, 1_000_000))).toEqual({ kind: 'acked' });
    const row = await store!.db.selectFrom('messages').select('external_id').where('external_id', '=', id).executeTakeFirst();
    expect(row).toEqual({ external_id: id });
  });

  it('re-sending the acked events answers 200 and stores nothing twice', { timeout: 30_000 }, async () => {
    expect(restarted && load, 'needs the state of the previous tests').toBeTruthy();
    const before = await readState(store!.db);
    const chatIndexOf = new Map(before.chats.map((c) => [c.id, Number(c.external_id.slice('dur-chat-'.length))]));
    const chatOfMessage = new Map(before.messages.map((m) => [m.external_id, chatIndexOf.get(m.chat_id)!]));

    const failures: { id: string; outcome: PostOutcome }[] = [];
    const resend = async (id: string, body: unknown) => {
      const outcome = await post(restarted!.webhookUrl, body);
      if (outcome.kind !== 'acked') failures.push({ id, outcome });
    };
    await forEachConcurrently([...load!.ackedMessages], SENDERS, (id) =>
      resend(id, messageBody(id, chatOfMessage.get(id)!, Number(id.split('-').at(-1)))),
    );
    await forEachConcurrently([...load!.ackedStatuses], SENDERS, (id) =>
      resend(id, statusBody(id, Number(id.split('-').at(-1)))),
    );
    expect(failures, 're-sent events not answered 200').toEqual([]);

    const after = await readState(store!.db);
    expect(after.messages.length, 'no message stored twice').toBe(before.messages.length);
    expect(after.statuses.length, 'no status stored twice').toBe(before.statuses.length);
    expect(after.chats, 'chats unchanged by duplicates').toEqual(before.chats);

    const rows = countBy(after.log, (e) => `${e.event}|${e.subject}|${e.outcome}`);
    const expectOnce = (event: string, ids: Set<string>, outcome: string) =>
      [...ids].filter((id) => rows.get(`${event}|${id}|${outcome}`) !== 1);
    expect(expectOnce('message', load!.ackedMessages, 'accepted'), 'one accepted row per message').toEqual([]);
    expect(expectOnce('message', load!.ackedMessages, 'duplicate'), 'one duplicate row per re-sent message').toEqual([]);
    expect(expectOnce('status', load!.ackedStatuses, 'accepted'), 'one accepted row per status').toEqual([]);
    expect(expectOnce('status', load!.ackedStatuses, 'duplicate'), 'one duplicate row per re-sent status').toEqual([]);
  });

  it('the restarted server shuts down cleanly on SIGTERM', async () => {
    expect(restarted, 'needs the restarted server').toBeDefined();
    const exit = await Promise.race([
      restarted!.stop('SIGTERM'),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no exit within 10 s of SIGTERM')), 10_000)),
    ]);
    expect(exit).toEqual({ code: 0, signal: null });
  });
});
