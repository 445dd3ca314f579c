/**
 * The operators connected over WebSocket. Each gets, in order, every event after the sequence
 * number it names (replayed from the outbox), then live events. Dead connections are found by
 * heartbeat pings and closed; a client too slow to keep up is closed too (it reconnects and
 * replays what it missed).
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { PublishedEvent } from '../events/outbox.js';
import { latestOutboxSeq, purgedThroughSeq, readOutboxAfter } from '../events/outbox.js';
import type { Executor } from '../storage/executor.js';

/**
 * Bytes a client may leave unread from earlier ticks before it is dropped as too slow, rather
 * than buffered without end; and a cap on what may be queued for it at all, bursts included.
 */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
const MAX_QUEUED_BYTES = 64 * 1024 * 1024;
/** Events read from the outbox at a time: a page of 60,000-character messages is a dozen megabytes, held until sent. */
const REPLAY_PAGE = 100;
/**
 * Live events that may wait for a replay to end before the client is dropped as too slow: they
 * are held for it meanwhile, and a replay waits for the client to read.
 */
const MAX_PENDING_EVENTS = 10_000;
/**
 * A replay goes on only while less than this is queued for the client: events of 60,000
 * characters made one page 100 MB, held for a client that read none of it (a review's find).
 */
const REPLAY_QUEUED_BYTES = MAX_BUFFERED_BYTES / 2;
/** Connections one operator may hold at once (tabs, devices); each may hold a replay's queue. */
export const MAX_CONNECTIONS_PER_USER = 20;
/** How long a client has to answer the server's close frame at shutdown. */
const CLOSE_GRACE_MS = 1_000;

export interface RealtimeHub {
  /** Takes a new connection (see ClientAccess); `since` is the last sequence number the client has (replay after it). */
  connect(socket: WebSocket, since: number | null, access: ClientAccess): Promise<void>;
  /** Connections `owner` holds now. */
  connectionsOf(owner: string): number;
  /** Sends an event to every connected client (in sequence order, as the feed delivers them). */
  broadcast(event: PublishedEvent): void;
  connections(): number;
  /** Closes every connection (shutdown) and stops the heartbeat. */
  close(): void;
}

/** Who a connection is for, and how to tell whether they still may hold it. */
export interface ClientAccess {
  /** The user: what MAX_CONNECTIONS_PER_USER counts by. */
  owner: string;
  /** What signed the connection in (a token): connections with one key share one check per heartbeat. */
  key: string;
  /** Asked at every heartbeat: a logout, a revoked token, a disabled user or an expired session closes the connection too. */
  stillAllowed: () => Promise<boolean>;
}

interface Client {
  socket: WebSocket;
  /** Whether it answered the last ping: a pong that echoes that ping's payload, which only a client that read up to the ping has seen. */
  alive: boolean;
  /** The payload of the last ping. */
  ping: Buffer | null;
  access: ClientAccess;
  /** While replaying: live events wait here, then those not replayed are sent. */
  pending: PublishedEvent[] | null;
  lastSeq: number;
  /**
   * Bytes still queued for it when the first frame of the current tick went out (null outside a
   * tick with frames): what it has not read yet. The frames of this tick do not count: a burst
   * (one commit of many large events, a page of a replay) is queued in one go, however fast the
   * client reads.
   */
  backlog: number | null;
}

/**
 * A commit announces several events at once (a new message: 2–3). Corking the client's TCP socket
 * until the current tick ends sends them in one write instead of one write each. `_socket` is the
 * ws library's underlying socket: ws has no public cork.
 */
const held = new Set<Client>();
function holdWrites(client: Client): void {
  if (client.backlog !== null) return;
  client.backlog = client.socket.bufferedAmount;
  rawSocket(client)?.cork();
  held.add(client);
  if (held.size === 1) process.nextTick(releaseWrites);
}
function releaseWrites(): void {
  for (const client of held) {
    rawSocket(client)?.uncork();
    client.backlog = null;
  }
  held.clear();
}
const rawSocket = (client: Client) => (client.socket as unknown as { _socket?: Socket })._socket;

/** Resolves once less than REPLAY_QUEUED_BYTES is queued for the client, or it is gone. */
async function drained(client: Client): Promise<void> {
  while (client.socket.readyState === client.socket.OPEN && client.socket.bufferedAmount > REPLAY_QUEUED_BYTES) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export function createRealtimeHub(deps: {
  db: Executor;
  present: (event: PublishedEvent) => unknown;
  heartbeatMs: number;
  onSent?: (count: number) => void;
}): RealtimeHub {
  const clients = new Set<Client>();

  const send = (client: Client, frame: string, seq: number) => {
    if (seq <= client.lastSeq) return;
    holdWrites(client);
    if (client.backlog! > MAX_BUFFERED_BYTES || client.socket.bufferedAmount > MAX_QUEUED_BYTES) {
      client.socket.close(1013, 'Too slow: reconnect with since=<last seq>');
      return;
    }
    client.lastSeq = seq;
    client.socket.send(frame);
  };

  const heartbeat = setInterval(() => {
    // One check per key and beat: 3,000 connections of 20 tokens made 3,000 lookups at once,
    // which held every other request for a second or two (a review's find).
    const checks = new Map<string, Promise<boolean>>();
    for (const client of clients) {
      // No pong since the last ping: the connection is dead (a laptop closed, a proxy dropped it).
      if (!client.alive) {
        client.socket.terminate();
        continue;
      }
      client.alive = false;
      client.ping = randomBytes(8);
      client.socket.ping(client.ping);
      let allowed = checks.get(client.access.key);
      if (!allowed) {
        allowed = client.access.stillAllowed().catch(() => true);
        checks.set(client.access.key, allowed);
      }
      void allowed.then((stillAllowed) => {
        if (!stillAllowed) client.socket.close(4001, 'Session ended: sign in again');
      });
    }
  }, deps.heartbeatMs);
  heartbeat.unref();

  return {
    async connect(socket, since, access) {
      // Live events that arrive while the replay is read wait in `pending`, then go out in order.
      const client: Client = { socket, alive: true, ping: null, access, pending: [], lastSeq: 0, backlog: null };
      clients.add(client);
      // Any pong counted once: a client that read nothing kept itself alive with pongs nobody
      // asked for, and held its replay's page and every live event for ever (a review's find:
      // 40 such connections took the process past its heap).
      socket.on('pong', (data) => {
        if (client.ping !== null && data.equals(client.ping)) client.alive = true;
      });
      socket.on('close', () => clients.delete(client));
      socket.on('error', () => clients.delete(client));

      const latest = await latestOutboxSeq(deps.db);
      client.lastSeq = since ?? latest;
      // A number we never gave out, or events the client missed that are gone (past the replay
      // window): it must reload by REST, and gets live events from the newest on.
      const resync = async () => {
        client.lastSeq = await latestOutboxSeq(deps.db);
        socket.send(JSON.stringify({ type: 'resync_required', seq: client.lastSeq }));
      };
      if (since === null) {
        // A fresh client starts from now; it loads the current state by REST.
      } else if (since > latest || since < (await purgedThroughSeq(deps.db))) {
        await resync();
      } else {
        for (;;) {
          const after = client.lastSeq;
          const events = await readOutboxAfter(deps.db, after, REPLAY_PAGE);
          // A purge that ran since the last page may have taken events this page skipped; the
          // mark it moved first says so.
          if ((await purgedThroughSeq(deps.db)) > after) {
            await resync();
            break;
          }
          // At the client's pace: the next event once little is queued for it; none once it is gone.
          for (const event of events) {
            if (socket.bufferedAmount > REPLAY_QUEUED_BYTES) await drained(client);
            if (socket.readyState !== socket.OPEN) return;
            send(client, JSON.stringify(deps.present(event)), event.seq);
          }
          deps.onSent?.(events.length);
          if (events.length < REPLAY_PAGE) break;
        }
      }
      const waiting = client.pending ?? [];
      client.pending = null;
      for (const event of waiting) send(client, JSON.stringify(deps.present(event)), event.seq);
      socket.send(JSON.stringify({ type: 'ready', seq: client.lastSeq }));
    },

    broadcast(event) {
      if (clients.size === 0) return;
      // Presented and serialised once for every client.
      const frame = JSON.stringify(deps.present(event));
      let sent = 0;
      for (const client of clients) {
        if (client.pending && client.pending.length >= MAX_PENDING_EVENTS) {
          // Cut off at once: a close frame would wait behind all it has not read, and the events
          // with it. It reconnects with `since`, as after any connection lost.
          client.pending = [];
          client.socket.terminate();
        } else if (client.pending) client.pending.push(event);
        else {
          send(client, frame, event.seq);
          sent += 1;
        }
      }
      deps.onSent?.(sent);
    },

    connections: () => clients.size,

    connectionsOf(owner) {
      let count = 0;
      for (const client of clients) if (client.access.owner === owner) count += 1;
      return count;
    },

    close() {
      clearInterval(heartbeat);
      for (const client of clients) {
        client.socket.close(1001, 'Server shutting down');
        // A client that never answers the close frame (a laptop asleep, a half-open connection)
        // would hold the server open for ws's own 30 s, past the shutdown timeout.
        setTimeout(() => client.socket.terminate(), CLOSE_GRACE_MS).unref();
      }
      clients.clear();
    },
  };
}
