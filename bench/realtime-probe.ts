/**
 * Real-time latency under the benchmark's load: the time from a webhook's 200 (when autocannon
 * got it) to the `message.created` WebSocket frame announcing that message at an operator.
 *
 * Before the load, an operator is created with ADMIN_TOKEN and signs in; a listener process
 * (bench/ws-listener.ts) holds one or a few WebSockets as that operator. After the measured run
 * the acknowledged ids (with their 200 times) are matched with the frames' arrival times. A frame
 * can arrive before autocannon has processed the 200 (on SQLite backchat sends the frame first),
 * so values at or below zero are normal and kept.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { processUsage, type ProcessUsage } from './server-process.js';
import type { ListenerReply, ListenerRequest } from './ws-listener.js';

const OPERATOR = { email: 'bench@example.com', name: 'Bench', role: 'operator', password: 'bench password 123' };

/** A fresh ADMIN_TOKEN for one backchat process (40 characters; backchat wants ≥ 32). */
export function newAdminToken(): string {
  return randomBytes(30).toString('base64url');
}

async function postJson(url: string, body: object, bearer?: string): Promise<{ status: number; json: unknown; text: string }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, json, text };
}

/** Creates the bench operator (POST /api/users with ADMIN_TOKEN) and signs in; resolves to its token. */
export async function operatorToken(port: number, adminToken: string): Promise<string> {
  const base = `http://127.0.0.1:${port}`;
  const created = await postJson(`${base}/api/users`, OPERATOR, adminToken);
  if (created.status !== 201) throw new Error(`POST /api/users answered ${created.status}: ${created.text.slice(0, 300)}`);
  const login = await postJson(`${base}/api/auth/login`, { email: OPERATOR.email, password: OPERATOR.password });
  const token = (login.json as { token?: unknown } | undefined)?.token;
  if (login.status !== 200 || typeof token !== 'string') {
    throw new Error(`POST /api/auth/login answered ${login.status}: ${login.text.slice(0, 300)}`);
  }
  return token;
}

export type Collected = Extract<ListenerReply, { type: 'collected' }>;

export interface RealtimeListener {
  readonly pid: number;
  /** CPU (and disk) the listener process used so far. */
  usage(): ProcessUsage | undefined;
  /** The measured run begins. */
  startMeasuring(): void;
  /** Arrival times of the frames for `ids`, waiting at most `waitMs` for late ones. */
  collect(ids: string[], waitMs: number): Promise<Collected>;
  /** Closes the connections and ends the process. */
  stop(): Promise<void>;
}

/** Starts the listener process and opens `clients` WebSockets as the operator with `token`. */
export async function startRealtimeListener(root: string, port: number, token: string, clients: number): Promise<RealtimeListener> {
  const child: ChildProcess = fork(resolve(root, 'bench/ws-listener.ts'), [], {
    cwd: root,
    execArgv: ['--import', 'tsx'],
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let exited: string | undefined;
  const exit = new Promise<void>((done) => {
    child.once('exit', (code, signal) => {
      exited = `WebSocket listener exited (code ${code}, signal ${signal})`;
      done();
    });
  });
  const next = (timeoutMs: number) =>
    new Promise<ListenerReply>((done, fail) => {
      const onMessage = (message: ListenerReply) => {
        cleanup();
        done(message);
      };
      const onExit = () => {
        cleanup();
        fail(new Error(exited ?? 'WebSocket listener exited'));
      };
      const timer = setTimeout(() => {
        cleanup();
        fail(new Error(`WebSocket listener did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  const send = (message: ListenerRequest) => child.send(message);
  const stop = async () => {
    if (!exited && child.connected) send({ type: 'stop' });
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exit;
    clearTimeout(timer);
  };

  try {
    const ready = next(30_000);
    send({ type: 'start', url: `ws://127.0.0.1:${port}/api/ws?token=${encodeURIComponent(token)}`, clients });
    const answer = await ready;
    if (answer.type !== 'ready') throw new Error(`WebSocket listener could not connect: ${answer.type === 'failed' ? answer.reason : answer.type}`);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    pid: child.pid ?? -1,
    usage: () => (child.pid === undefined ? undefined : processUsage(child.pid)),
    startMeasuring: () => send({ type: 'measure' }),
    async collect(ids, waitMs) {
      const answer = next(waitMs + 30_000);
      send({ type: 'collect', ids, waitMs });
      const collected = await answer;
      if (collected.type !== 'collected') throw new Error(`WebSocket listener answered ${collected.type} to collect`);
      return collected;
    },
    stop,
  };
}

/** The latency figures of one run (or of several pooled). */
export interface RealtimeFigures {
  /** Connections listening. */
  clients: number;
  /** New messages acknowledged with a 2xx during the measured run. */
  acked: number;
  /** (id, connection) pairs expected, i.e. acked × clients; and how many got no frame. */
  expected: number;
  missing: number;
  /** Latencies (frame arrival − 200 arrival) in ms over the pairs that got a frame. */
  min: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  /** Share of frames that arrived before autocannon processed the 200. */
  frameFirstShare: number;
  /** Frames per connection during the measured run, and per acknowledged message. */
  framesPerConnection: number;
  framesPerMessage: number;
  /** Cores the listener process used during the measured run (undefined off Linux). */
  listenerCores: number | undefined;
  /** Event-loop delay p99 (ms) of the listener and of the bench process (autocannon's side). */
  listenerLoopDelayP99Ms: number;
  benchLoopDelayP99Ms: number;
  /** Connections the server closed during the run. */
  closes: string[];
  /** The latencies themselves, for pooling runs (not written to JSON). */
  samples?: Float64Array;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

function summarize(samples: Float64Array): Pick<RealtimeFigures, 'min' | 'p50' | 'p95' | 'p99' | 'max' | 'frameFirstShare'> {
  const sorted = Float64Array.from(samples).sort();
  let frameFirst = 0;
  for (const value of sorted) if (value < 0) frameFirst += 1;
  return {
    min: sorted.length > 0 ? sorted[0]! : Number.NaN,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.length > 0 ? sorted[sorted.length - 1]! : Number.NaN,
    frameFirstShare: sorted.length > 0 ? frameFirst / sorted.length : Number.NaN,
  };
}

/** Matches 200 times with frame times. */
export function realtimeFigures(
  ackTimes: Map<string, number>,
  collected: Collected,
  extra: { listenerCores: number | undefined; benchLoopDelayP99Ms: number },
): RealtimeFigures {
  const acks = [...ackTimes.values()];
  const samples: number[] = [];
  let missing = 0;
  for (const times of collected.times) {
    for (let i = 0; i < acks.length; i += 1) {
      const frame = times[i]!;
      if (Number.isNaN(frame)) missing += 1;
      else samples.push(frame - acks[i]!);
    }
  }
  const array = Float64Array.from(samples);
  return {
    clients: collected.times.length,
    acked: acks.length,
    expected: acks.length * collected.times.length,
    missing,
    ...summarize(array),
    framesPerConnection: collected.frames,
    framesPerMessage: acks.length > 0 ? collected.frames / acks.length : Number.NaN,
    listenerCores: extra.listenerCores,
    listenerLoopDelayP99Ms: collected.loopDelayP99Ms,
    benchLoopDelayP99Ms: extra.benchLoopDelayP99Ms,
    closes: collected.closes,
    samples: array,
  };
}

/** Several runs' figures as one: latencies pooled, counts summed. */
export function poolRealtime(runs: RealtimeFigures[]): RealtimeFigures | undefined {
  if (runs.length === 0) return undefined;
  if (runs.length === 1) return runs[0];
  const total = runs.reduce((n, r) => n + (r.samples?.length ?? 0), 0);
  const samples = new Float64Array(total);
  let offset = 0;
  for (const r of runs) {
    if (!r.samples) continue;
    samples.set(r.samples, offset);
    offset += r.samples.length;
  }
  const mean = (pick: (r: RealtimeFigures) => number | undefined) => {
    const values = runs.map(pick).filter((v): v is number => v !== undefined && Number.isFinite(v));
    return values.length === 0 ? undefined : values.reduce((a, b) => a + b, 0) / values.length;
  };
  const acked = runs.reduce((n, r) => n + r.acked, 0);
  return {
    clients: runs[0]!.clients,
    acked,
    expected: runs.reduce((n, r) => n + r.expected, 0),
    missing: runs.reduce((n, r) => n + r.missing, 0),
    ...summarize(samples),
    framesPerConnection: runs.reduce((n, r) => n + r.framesPerConnection, 0),
    framesPerMessage: runs.reduce((n, r) => n + r.framesPerConnection, 0) / Math.max(acked, 1),
    listenerCores: mean((r) => r.listenerCores),
    listenerLoopDelayP99Ms: Math.max(...runs.map((r) => r.listenerLoopDelayP99Ms)),
    benchLoopDelayP99Ms: Math.max(...runs.map((r) => r.benchLoopDelayP99Ms)),
    closes: runs.flatMap((r) => r.closes),
    samples,
  };
}
