/**
 * The operator side of the real-time latency measurement, run as a child process of the bench
 * (forked with IPC) so that receiving and decoding every frame (~3 per new message) never delays
 * autocannon's event loop, and autocannon never delays the frames.
 *
 * It opens `clients` WebSockets to `/api/ws?token=…`, waits for each one's `ready` frame, and
 * notes for every `message.created` frame when it arrived (monotonicMs, one clock for the whole
 * machine) under the message's external id. The bench then sends the ids it got a 200 for and
 * gets back, per connection, the arrival time of each (NaN when none came).
 *
 * Messages from the bench: {type: 'start', url, clients} → {type: 'ready'} or {type: 'failed'};
 * {type: 'measure'} (the measured run begins: reset the counters); {type: 'collect', ids, waitMs}
 * → {type: 'collected', …}; {type: 'stop'}.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import WebSocket, { type RawData } from 'ws';
import { LOOP_DELAY_RESOLUTION_MS, loopDelayMs, monotonicMs } from './clock.js';

export type ListenerRequest =
  | { type: 'start'; url: string; clients: number }
  | { type: 'measure' }
  | { type: 'collect'; ids: string[]; waitMs: number }
  | { type: 'stop' };

export type ListenerReply =
  | { type: 'ready' }
  | { type: 'failed'; reason: string }
  | {
      type: 'collected';
      /** Per connection, aligned with the ids sent: arrival time in ms, NaN when no frame came. */
      times: Float64Array[];
      /** Frames and bytes received per connection since 'measure'. */
      frames: number;
      bytes: number;
      messageFrames: number;
      /** This process's event-loop delay since 'measure' (ms): how late arrivals may be noted. */
      loopDelayP99Ms: number;
      loopDelayMaxMs: number;
      /** Connections that closed before 'stop', with the server's code and reason. */
      closes: string[];
    };

const MESSAGE_CREATED = '"message.created"';

interface Connection {
  socket: WebSocket;
  /** External id → arrival time of its message.created frame. */
  arrivals: Map<string, number>;
}

const connections: Connection[] = [];
const closes: string[] = [];
const counters = { frames: 0, bytes: 0, messageFrames: 0 };
const loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
let stopping = false;

const reply = (message: ListenerReply) => process.send?.(message);

function open(url: string, index: number): Promise<Connection> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { perMessageDeflate: false });
    const connection: Connection = { socket, arrivals: new Map() };
    let ready = false;
    const timer = setTimeout(() => reject(new Error(`connection ${index}: no ready frame within 10 s`)), 10_000);
    socket.on('message', (data: RawData) => {
      const at = monotonicMs();
      const text = data.toString();
      counters.frames += 1;
      counters.bytes += text.length;
      if (!ready) {
        // Only `ready` (and nothing before it: a fresh client gets no replay) is expected here.
        const frame = JSON.parse(text) as { type?: unknown };
        if (frame.type === 'ready') {
          ready = true;
          clearTimeout(timer);
          resolve(connection);
        }
        return;
      }
      // Parse only frames that can be one (a third); chat and contact frames are skipped unread.
      if (!text.includes(MESSAGE_CREATED)) return;
      const frame = JSON.parse(text) as { type?: unknown; data?: { externalId?: unknown } };
      const id = frame.data?.externalId;
      if (frame.type !== 'message.created' || typeof id !== 'string') return;
      counters.messageFrames += 1;
      if (!connection.arrivals.has(id)) connection.arrivals.set(id, at);
    });
    socket.on('close', (code, reason) => {
      clearTimeout(timer);
      if (!ready) reject(new Error(`connection ${index} closed before ready: ${code} ${reason.toString()}`));
      else if (!stopping) closes.push(`connection ${index} closed by the server: ${code} ${reason.toString()}`);
    });
    socket.on('error', (error) => {
      clearTimeout(timer);
      if (!ready) reject(error);
      else if (!stopping) closes.push(`connection ${index}: ${error.message}`);
    });
  });
}

async function collect(ids: string[], waitMs: number): Promise<void> {
  // Frames for the last acknowledged ids may still be on their way: wait for them, a while.
  const deadline = monotonicMs() + waitMs;
  const complete = () => connections.every((c) => c.socket.readyState !== WebSocket.OPEN || ids.every((id) => c.arrivals.has(id)));
  while (!complete() && monotonicMs() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  loopDelay.disable();
  const times = connections.map((c) => Float64Array.from(ids, (id) => c.arrivals.get(id) ?? Number.NaN));
  reply({
    type: 'collected',
    times,
    frames: counters.frames / Math.max(connections.length, 1),
    bytes: counters.bytes / Math.max(connections.length, 1),
    messageFrames: counters.messageFrames / Math.max(connections.length, 1),
    loopDelayP99Ms: loopDelayMs(loopDelay, 99),
    loopDelayMaxMs: loopDelayMs(loopDelay, 100),
    closes,
  });
}

process.on('message', (message: ListenerRequest) => {
  switch (message.type) {
    case 'start':
      Promise.all(Array.from({ length: message.clients }, (_, i) => open(message.url, i))).then(
        (opened) => {
          connections.push(...opened);
          reply({ type: 'ready' });
        },
        (error: unknown) => reply({ type: 'failed', reason: error instanceof Error ? error.message : String(error) }),
      );
      break;
    case 'measure':
      counters.frames = 0;
      counters.bytes = 0;
      counters.messageFrames = 0;
      loopDelay.reset();
      loopDelay.enable();
      break;
    case 'collect':
      void collect(message.ids, message.waitMs);
      break;
    case 'stop':
      stopping = true;
      for (const c of connections) c.socket.terminate();
      process.disconnect?.();
      break;
  }
});

// The bench went away without saying stop: nothing to report to anyone.
process.on('disconnect', () => {
  stopping = true;
  for (const c of connections) c.socket.terminate();
});
