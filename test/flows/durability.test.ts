/**
 * "Nothing acknowledged is ever lost", for real: backchat runs as its own process, takes load from
 * many concurrent senders, and is SIGKILLed mid-stream. Every event that got a 200 must be in the
 * database when it comes back, exactly once, with its webhook-log row; the restarted server must
 * keep working and treat re-sent events as duplicates.
 *
 * Requests in flight at the kill fail with connection errors: that is expected, only 200s count.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/storage/database.js';
import { WRITERS_LOCK_KEY } from '../../src/storage/dialects/postgres.js';
import { startServer, type ProcessExit, type ServerProcess } from '../helpers/server-process.js';
import { createTestDatabase, POSTGRES_ADMIN_URL, testDialects, type TestDatabase } from '../helpers/test-database.js';

/** Concurrent senders, each with one request outstanding at a time. */
const SENDERS = 32;
/** Chats the messages are spread over. */
const CHATS = 300;
/** Every Nth message of a sender is preceded by a status for it (status before message). */
const STATUS_FIRST_EVERY = 5;
/** Start, load, SIGKILL this many times before the final restart (each kill is a new chance to lose data). */
const KILL_ROUNDS = 3;
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
  /** Every message sent, acked or not, by id: the body exactly as sent. */
  sentMessages: Map<string, unknown>;
  /** Every status sent, by message id. */
  sentStatuses: Map<string, unknown>;
  /** Non-200 HTTP answers: there must be none. */
  httpErrors: { status: number; body: string }[];
  /** Connection errors: the requests the kill cut off. */
  connectionErrors: string[];
  ackedAtKill: number;
  /** Requests sent and not yet answered when the signal went out. */
  inFlightAtKill: number;
  loadMs: number;
  /** 200s that arrived after the signal was sent (already on their way). */
  ackedAfterKill: number;
  exit: ProcessExit;
}

/**
 * Sends load to `server` and SIGKILLs it mid-stream; resolves once every sender has stopped.
 *
 * The signal goes out the moment a 200 arrives once enough are in: if the server answered before
 * committing, that is when it would most likely still be holding uncommitted acknowledged work.
 */
async function loadAndKill(server: ServerProcess, dialect: string): Promise<LoadResult> {
  const ackedMessages = new Set<string>();
  const ackedStatuses = new Set<string>();
  const sentMessages = new Map<string, unknown>();
  const sentStatuses = new Map<string, unknown>();
  const httpErrors: LoadResult['httpErrors'] = [];
  const connectionErrors: string[] = [];
  let inFlight = 0;
  let ackedAfterKill = 0;
  const started = performance.now();
  let kill: { at: number; acked: number; inFlight: number; exit: Promise<ProcessExit> } | undefined;

  const acked = () => ackedMessages.size + ackedStatuses.size;
  /** Sends SIGKILL now; `answered` tells whether the caller's own request has just been answered. */
  const killNow = (answered: boolean) => {
    kill ??= {
      at: performance.now(),
      acked: acked(),
      inFlight: inFlight - (answered ? 1 : 0),
      exit: server.stop('SIGKILL'),
    };
  };

  const send = async (body: unknown, onAck: () => void): Promise<boolean> => {
    inFlight += 1;
    try {
      const outcome = await post(server.webhookUrl, body);
      if (outcome.kind === 'acked') {
        onAck();
        if (kill) ackedAfterKill += 1;
        else if (acked() >= MIN_ACKED_BEFORE_KILL && performance.now() - started >= MIN_LOAD_MS) killNow(true);
        return kill === undefined;
      }
      if (outcome.kind === 'http') httpErrors.push({ status: outcome.status, body: outcome.body });
      else connectionErrors.push(outcome.error);
      return false;
    } finally {
      inFlight -= 1;
    }
  };

  const sender = async (s: number) => {
    for (let seq = 0; kill === undefined; seq++) {
      const id = `dur-${dialect}-${s}-${seq}`;
      const chat = (s * 7919 + seq * 31) % CHATS;
      if (seq % STATUS_FIRST_EVERY === 0) {
        const status = statusBody(id, seq);
        sentStatuses.set(id, status);
        if (!(await send(status, () => ackedStatuses.add(id)))) return;
      }
      const message = messageBody(id, chat, seq);
      sentMessages.set(id, message);
      if (!(await send(message, () => ackedMessages.add(id)))) return;
    }
  };

  const senders = Promise.all(Array.from({ length: SENDERS }, (_, s) => sender(s)));

  // Stop early (and fail the checks) if the server dies, errs or is too slow.
  while (kill === undefined) {
    const failed = !server.isRunning() || httpErrors.length > 0 || connectionErrors.length > 0;
    if (failed || performance.now() - started > LOAD_DEADLINE_MS) killNow(false);
    else await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const exit = await kill.exit;
  await senders;

  return {
    ackedMessages,
    ackedStatuses,
    sentMessages,
    sentStatuses,
    httpErrors,
    connectionErrors,
    ackedAtKill: kill.acked,
    inFlightAtKill: kill.inFlight,
    loadMs: kill.at - started,
    ackedAfterKill,
    exit,
  };
}

/** Everything sent and acknowledged over every round. */
interface Acknowledged {
  ackedMessages: Set<string>;
  ackedStatuses: Set<string>;
  sentMessages: Map<string, unknown>;
  sentStatuses: Map<string, unknown>;
}

function mergeRounds(rounds: readonly LoadResult[]): Acknowledged {
  return {
    ackedMessages: new Set(rounds.flatMap((r) => [...r.ackedMessages])),
    ackedStatuses: new Set(rounds.flatMap((r) => [...r.ackedStatuses])),
    sentMessages: new Map(rounds.flatMap((r) => [...r.sentMessages])),
    sentStatuses: new Map(rounds.flatMap((r) => [...r.sentStatuses])),
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
  let load: Acknowledged | undefined;
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
    chats: await db.selectFrom('chats').select(['id', 'external_id', 'unread_count']).orderBy('id').execute(),
  });

  it(`keeps every acknowledged event across ${KILL_ROUNDS} SIGKILLs mid-stream`, { timeout: 60_000 }, async () => {
    const rounds: LoadResult[] = [];
    for (let round = 1; round <= KILL_ROUNDS; round++) {
      const server = await startServer({ databaseUrl: database.url });
      servers.push(server);
      const result = await loadAndKill(server, `${dialect}-r${round}`);
      rounds.push(result);

      // The kill really happened, mid-stream, after enough acknowledgements.
      expect(result.httpErrors, `round ${round}: non-200 answers under load`).toEqual([]);
      expect(result.exit.signal, `round ${round}: the server must die of the SIGKILL:\n${server.output()}`).toBe('SIGKILL');
      expect(
        result.ackedAtKill,
        `round ${round}: 200s before the kill (${result.loadMs.toFixed(0)} ms of load; connection errors: ${result.connectionErrors.slice(0, 3).join('; ')})`,
      ).toBeGreaterThanOrEqual(MIN_ACKED_BEFORE_KILL);
      expect(result.inFlightAtKill, `round ${round}: requests in flight at the kill`).toBeGreaterThan(0);
      expect(result.ackedStatuses.size, `round ${round}: statuses sent before their message were acked`).toBeGreaterThan(0);
    }
    expect(rounds.reduce((n, r) => n + r.connectionErrors.length, 0), 'requests cut off by the kills').toBeGreaterThan(0);
    load = mergeRounds(rounds);

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

    const summary = rounds.map(
      (r, i) =>
        `  round ${i + 1}: ${r.loadMs.toFixed(0)} ms of load, ${r.ackedMessages.size} messages + ${r.ackedStatuses.size} statuses acked ` +
        `(${r.ackedAtKill} at the kill, ${r.ackedAfterKill} after it), ${r.inFlightAtKill} in flight at the kill, ${r.connectionErrors.length} cut off`,
    );
    console.info(
      [`[durability/${dialect}] ${messages.length - load.ackedMessages.size} messages stored but never acked`, ...summary].join('\n'),
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

    const failures: { id: string; outcome: PostOutcome }[] = [];
    const resend = async (id: string, body: unknown) => {
      const outcome = await post(restarted!.webhookUrl, body);
      if (outcome.kind !== 'acked') failures.push({ id, outcome });
    };
    await forEachConcurrently([...load!.ackedMessages], SENDERS, (id) => resend(id, load!.sentMessages.get(id)));
    await forEachConcurrently([...load!.ackedStatuses], SENDERS, (id) => resend(id, load!.sentStatuses.get(id)));
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

/**
 * Runs `test` against a server on a new PostgreSQL database while another session holds the lock
 * every write transaction takes first (as an instance frozen mid-batch, or someone in psql, would).
 */
async function whileWritersLockHeld(
  env: Record<string, string>,
  test: (server: ServerProcess, release: () => Promise<void>, databaseUrl: string) => Promise<void>,
) {
  const database = await createTestDatabase('postgres');
  const server = await startServer({ databaseUrl: database.url, env });
  const holder = new pg.Client({ connectionString: database.url });
  await holder.connect();
  try {
    await holder.query('select pg_advisory_lock($1)', [WRITERS_LOCK_KEY]);
    await test(server, async () => void (await holder.query('select pg_advisory_unlock($1)', [WRITERS_LOCK_KEY])), database.url);
  } finally {
    await holder.end();
    await server.stop();
    await database.drop();
  }
}

/** Posts a new message to `server`; resolves to its answer, or rejects when there is none. */
function postMessage(server: ServerProcess, id: string, timeoutMs = 30_000): Promise<Response> {
  return fetch(server.webhookUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ event: 'message', data: { id, chatId: 'held', text: 'hi', type: 'text', from: '+77770000001', timestamp: BASE_TIMESTAMP } }),
    signal: AbortSignal.timeout(timeoutMs),
  });
}

describe.runIf(testDialects.includes('postgres'))('shutdown while the database does not answer (postgres)', () => {
  it('exits with code 1 after SHUTDOWN_TIMEOUT_SECONDS, leaving the held webhook unanswered', { timeout: 60_000 }, () =>
    whileWritersLockHeld({ SHUTDOWN_TIMEOUT_SECONDS: '2' }, async (server) => {
      const held = postMessage(server, 'held_1').then(
        (response) => response.status,
        () => 'no answer',
      );
      await new Promise((resolve) => setTimeout(resolve, 500));

      const signalled = Date.now();
      const exit = await Promise.race([
        server.stop('SIGTERM'),
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no exit within 15 s of SIGTERM')), 15_000)),
      ]);
      expect(exit).toEqual({ code: 1, signal: null });
      expect(Date.now() - signalled).toBeGreaterThanOrEqual(1_900);
      expect(await held).toBe('no answer');
      expect(server.output()).toContain('shutdown did not finish in time');
    }),
  );
});

describe.runIf(testDialects.includes('postgres'))('a session ended by PostgreSQL while in use (postgres)', () => {
  // As in a restart or failover, or when our own idle-in-transaction timeout ends a frozen
  // instance's session: the 'error' the client emits used to crash the whole process.
  it('answers that webhook 500 and stays up', { timeout: 60_000 }, () =>
    whileWritersLockHeld({ WRITE_LOCK_TIMEOUT_SECONDS: '30' }, async (server, release) => {
      const answer = postMessage(server, 'terminated_1');
      const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
      await admin.connect();
      try {
        let waiting: number[] = [];
        for (let i = 0; i < 100 && waiting.length === 0; i += 1) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          const rows = await admin.query<{ pid: number }>("select pid from pg_stat_activity where wait_event_type = 'Lock' and query like '%pg_advisory_xact_lock%'");
          waiting = rows.rows.map((row) => row.pid);
        }
        expect(waiting, 'a write waiting for the writers lock').toHaveLength(1);
        await admin.query('select pg_terminate_backend($1)', [waiting[0]]);
      } finally {
        await admin.end();
      }
      expect((await answer).status).toBe(500);
      await release();
      expect(server.isRunning(), server.output()).toBe(true);
      expect((await fetch(`${server.baseUrl}/api/ready`)).status).toBe(200);
      expect((await postMessage(server, 'terminated_2')).status).toBe(200);
    }),
  );
});

describe.runIf(testDialects.includes('postgres'))('the webhook log table locked elsewhere (postgres)', () => {
  // A migration of a newer instance, or someone in psql: recording a refusal must give up in time
  // as every write does, not hold the refused request's answer until the lock goes.
  it('answers refused and failed webhooks within the lock timeout', { timeout: 60_000 }, async () => {
    const database = await createTestDatabase('postgres');
    const server = await startServer({ databaseUrl: database.url, env: { WRITE_LOCK_TIMEOUT_SECONDS: '1' } });
    const holder = new pg.Client({ connectionString: database.url });
    await holder.connect();
    try {
      await holder.query('begin');
      await holder.query('lock table webhook_events in share mode');
      const timed = async (body: string, contentType = 'application/json') => {
        const sent = Date.now();
        const response = await fetch(server.webhookUrl, { method: 'POST', headers: { 'content-type': contentType }, body, signal: AbortSignal.timeout(20_000) });
        return { status: response.status, ms: Date.now() - sent };
      };
      const [refused, invalid, failed] = await Promise.all([
        timed('hello', 'text/plain'),
        timed('{"nope":1}'),
        timed(JSON.stringify({ event: 'message', data: { id: 'locked_log_1', chatId: 'held', text: 'hi', type: 'text', from: '+77770000001', timestamp: BASE_TIMESTAMP } })),
      ]);
      expect([refused.status, invalid.status, failed.status]).toEqual([415, 400, 500]);
      // One timeout for a refusal's record; two for a failure (its batch, then its record).
      expect(Math.max(refused.ms, invalid.ms), `answered after ${refused.ms}, ${invalid.ms} ms`).toBeLessThan(3_000);
      expect(failed.ms).toBeLessThan(5_000);
      await holder.query('rollback');
      expect((await postMessage(server, 'unlocked_log_1')).status).toBe(200);
    } finally {
      await holder.end();
      await server.stop();
      await database.drop();
    }
  });
});

describe.runIf(testDialects.includes('postgres'))('the writers lock held elsewhere (postgres)', () => {
  it('answers 500 after the lock timeout, all of a batch at once, and takes webhooks again once the lock is free', { timeout: 60_000 }, () =>
    whileWritersLockHeld({ WRITE_LOCK_TIMEOUT_SECONDS: '1' }, async (server, release, databaseUrl) => {
      const post = async (id: string) => {
        const sent = Date.now();
        const response = await postMessage(server, id);
        return { status: response.status, body: await response.json(), ms: Date.now() - sent };
      };
      // Each answer waits for its batch: one timeout and some queueing. Retried one by one, the
      // units of a batch would each wait the timeout again (8 s and more here); recording their
      // failures under the lock too, the answers came after two timeouts, and the records never.
      const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => post(`locked_${i}`)));
      for (const answer of answers) {
        expect(answer.status).toBe(500);
        expect(answer.body).toEqual({ status: 'error', message: 'Internal server error', code: 500 });
        expect(answer.ms, `answered after ${answers.map((a) => a.ms).join(', ')} ms`).toBeLessThan(3_000);
      }
      // Recorded while the lock is still held, each with its body for a replay.
      const reader = new pg.Client({ connectionString: databaseUrl });
      await reader.connect();
      try {
        const { rows } = await reader.query<{ subject: string; raw_body: string | null }>(
          "select subject, raw_body from webhook_events where outcome = 'failed' and http_status = 500 order by subject",
        );
        expect(rows.map((row) => row.subject)).toEqual(Array.from({ length: 8 }, (_, i) => `locked_${i}`));
        expect(rows.every((row) => row.raw_body?.includes('"chatId":"held"'))).toBe(true);
      } finally {
        await reader.end();
      }
      await release();
      expect((await post('unlocked_1')).status).toBe(200);
    }),
  );
});
