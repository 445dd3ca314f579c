/**
 * `npm run bench`: webhook intake throughput and latency against the ceiling of this machine.
 *
 * In one run it measures (a) a bare Fastify answering the same route (bench/ceiling-server.ts)
 * and (b) backchat (`node dist/main.js`, LOG_LEVEL=info, log to a file) on a fresh store, with the
 * same request mix and load (bench/workload.ts), then checks the store against what was
 * acknowledged. Target: backchat ≥ 0.6× the ceiling's requests/s and p99 ≤ 2× the ceiling's.
 *
 * Two more measurements come from the same run:
 * - Cost of metrics: backchat is run again with METRICS_ENABLED=false, same load, fresh store,
 *   interleaved with more metrics-on runs (on, off, off, on by default), and requests/s, latency
 *   and server CPU per request are compared. Target: metrics on within 5% of metrics off, judged
 *   on server CPU per request (requests/s moves with whatever else runs on the 2 shared cores).
 * - Real-time latency: in every backchat run an operator (created with ADMIN_TOKEN) listens on
 *   /api/ws from a separate process (bench/ws-listener.ts); for every new message acknowledged
 *   during the measured run, the time from its 200 at autocannon to its `message.created` frame
 *   at the operator is taken (bench/realtime-probe.ts). Target: p99 < 50 ms (metrics-on runs).
 *
 * Environment (or flags):
 *   BENCH_DURATION=10        measured seconds per server (a warm-up of BENCH_WARMUP=2 s precedes)
 *   BENCH_CONNECTIONS=50     concurrent keep-alive connections
 *   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres  (or --postgres[=URL]):
 *                            run backchat on a new database created there and dropped afterwards;
 *                            default (or --sqlite) is a new SQLite file under ./data/, deleted
 *                            afterwards; sqlite::memory: (or --memory) shows what the disk costs
 *   BENCH_LOG_LEVEL=info     backchat's LOG_LEVEL; change it only to measure what logging costs
 *   BENCH_CPU_PROF=<dir>     also write a V8 CPU profile of backchat into <dir> (node --cpu-prof),
 *                            and of each floor into <dir>/<floor>/; summarise one with
 *                            bench/cpu-profile-summary.ts
 *   BENCH_QUIET_WAIT=0       seconds to wait, before each server's warm-up, for the rest of the
 *                            machine to go idle (other work on the same 2 cores skews the figures)
 *   BENCH_JSON=<file>        also write the figures as JSON
 *   BENCH_METRICS_PAIRS=2    metrics-on/off pairs of backchat runs (order on, off, off, on, …);
 *                            0: a single metrics-on run, no cost-of-metrics comparison (also
 *                            forced by BENCH_CPU_PROF)
 *   BENCH_WS_CLIENTS=1       operator WebSockets held open during every backchat run (each gets
 *                            every event); 0: no real-time latency measurement
 *   BENCH_FLOOR=1            also measure floors, SQLite, group-committed, synchronous=FULL: the
 *                            durable floor (bench/floor-server.ts: one raw row per request, nothing
 *                            else), what storing before answering costs here, and the effects floor
 *                            (bench/effects-floor-server.ts: the contract's rows, written by hand,
 *                            nothing else; inline, then with its writer in a thread), what
 *                            committing the contract's effects first costs; 0: skip
 *   BENCH_BUDGET=45,60,…     also measure the ceiling made to spend that many µs of CPU per request
 *                            (bench/ceiling-server.ts, CEILING_CPU_US), one server per value: how
 *                            much work per request a single-threaded server can do here and still
 *                            reach the target
 *   COMMIT_BATCH_MAX etc.    backchat's own variables pass through unchanged, except
 *                            METRICS_ENABLED, METRICS_PORT and ADMIN_TOKEN, which the bench sets
 *
 * Exit code 1 when a server failed, a request got a non-2xx answer or an error, the store does
 * not hold what was acknowledged, or an acknowledged message never reached the operator's
 * WebSocket; missing a performance target alone still exits 0.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import autocannon from 'autocannon';
import { LOOP_DELAY_RESOLUTION_MS, loopDelayMs } from './clock.js';
import { freePort, machineCpuSeconds, startServer, usageBetween, usageByCommand, type ProcessUsage, type RunningServer } from './server-process.js';
import {
  newAdminToken,
  operatorToken,
  poolRealtime,
  realtimeFigures,
  startRealtimeListener,
  type RealtimeFigures,
  type RealtimeListener,
} from './realtime-probe.js';
import { createStore, type BenchStore, type StoreSpec } from './store.js';
import { Workload, type Kind, type Tally } from './workload.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TARGET_THROUGHPUT_RATIO = 0.6;
const TARGET_P99_RATIO = 2;
/** Metrics on may cost at most 5%: CPU per request ≤ 1.05× and requests/s ≥ 0.95× metrics off. */
const TARGET_METRICS_COST = 0.05;
/** p99 of webhook 200 → WebSocket frame at an operator, on loopback. */
const TARGET_REALTIME_P99_MS = 50;
/** How long to wait, after the load, for frames of the last acknowledged messages. */
const FRAME_WAIT_MS = 5000;
const DEFAULT_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * The servers measured between the ceiling and backchat, each a process of its own: the floors
 * (BENCH_FLOOR) and the budget servers (BENCH_BUDGET).
 */
interface FloorKind {
  name: 'floor' | 'effects-floor' | 'effects-floor-thread' | `budget-${number}`;
  script: string;
  env?: Record<string, string>;
  description: string;
}
const FLOOR_KINDS: readonly FloorKind[] = [
  { name: 'floor', script: 'bench/floor-server.ts', description: 'durable floor (one raw row per request, group-committed, nothing else; bench/floor-server.ts)' },
  {
    name: 'effects-floor',
    script: 'bench/effects-floor-server.ts',
    env: { EFFECTS_FLOOR_WRITER: 'inline' },
    description: "effects floor (the contract's rows by hand: log, message, contact, chat, status; group-committed; bench/effects-floor-server.ts)",
  },
  {
    name: 'effects-floor-thread',
    script: 'bench/effects-floor-server.ts',
    env: { EFFECTS_FLOOR_WRITER: 'thread' },
    description: 'effects floor with its writer in a thread of its own (EFFECTS_FLOOR_WRITER=thread: HTTP on one core, SQLite on the other)',
  },
];

/**
 * The ceiling made to spend `us` µs of CPU per request on its event loop (BENCH_BUDGET): how much
 * work per request a single-threaded server can do on this machine and still reach the target.
 */
const budgetKind = (us: number): FloorKind => ({
  name: `budget-${us}`,
  script: 'bench/ceiling-server.ts',
  env: { CEILING_CPU_US: String(us) },
  description: `ceiling + ${us} µs of CPU per request (CEILING_CPU_US=${us}; bench/ceiling-server.ts)`,
});

interface Options {
  duration: number;
  warmup: number;
  connections: number;
  store: StoreSpec;
  logLevel: string;
  cpuProfDir: string | undefined;
  quietWait: number;
  jsonFile: string | undefined;
  metricsPairs: number;
  wsClients: number;
  floor: boolean;
  budgetUs: number[];
}

function parseOptions(argv: string[], env: NodeJS.ProcessEnv): Options {
  const number = (name: string, fallback: number, min: number): number => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return fallback;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < min) throw new Error(`${name} must be a number ≥ ${min}, got "${raw}"`);
    return value;
  };
  let databaseUrl = env.BENCH_DATABASE_URL?.trim() || 'sqlite';
  for (const arg of argv) {
    if (arg === '--postgres') databaseUrl = /^postgres/.test(databaseUrl) ? databaseUrl : DEFAULT_POSTGRES_URL;
    else if (arg.startsWith('--postgres=')) databaseUrl = arg.slice('--postgres='.length);
    else if (arg === '--sqlite') databaseUrl = 'sqlite';
    else if (arg === '--memory') databaseUrl = 'sqlite::memory:';
    else throw new Error(`Unknown argument "${arg}" (expected --sqlite, --postgres[=URL] or --memory)`);
  }
  let store: StoreSpec;
  if (/^postgres(ql)?:\/\//.test(databaseUrl)) store = { kind: 'postgres', adminUrl: databaseUrl };
  else if (databaseUrl === 'sqlite::memory:') store = { kind: 'sqlite-memory' };
  else if (databaseUrl === 'sqlite') store = { kind: 'sqlite' };
  else throw new Error(`BENCH_DATABASE_URL must be "sqlite", "sqlite::memory:" or a postgres:// URL, got "${databaseUrl}"`);
  return {
    duration: number('BENCH_DURATION', 10, 1),
    warmup: number('BENCH_WARMUP', 2, 0),
    connections: Math.round(number('BENCH_CONNECTIONS', 50, 1)),
    store,
    // info is what production runs with; other levels only to measure what logging costs.
    logLevel: env.BENCH_LOG_LEVEL?.trim() || 'info',
    quietWait: number('BENCH_QUIET_WAIT', 0, 0),
    cpuProfDir: env.BENCH_CPU_PROF?.trim() ? resolve(env.BENCH_CPU_PROF.trim()) : undefined,
    jsonFile: env.BENCH_JSON?.trim() || undefined,
    metricsPairs: Math.round(number('BENCH_METRICS_PAIRS', 2, 0)),
    wsClients: Math.round(number('BENCH_WS_CLIENTS', 1, 0)),
    floor: number('BENCH_FLOOR', 1, 0) > 0,
    budgetUs: (env.BENCH_BUDGET ?? '')
      .split(',')
      .filter((item) => item.trim() !== '')
      .map((item) => {
        const us = Number(item);
        if (!Number.isInteger(us) || us < 1) throw new Error(`BENCH_BUDGET must list whole microseconds ≥ 1, got "${item}"`);
        return us;
      }),
  };
}

interface Measured {
  name: string;
  rps: number;
  p50: number;
  p99: number;
  responses2xx: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  seconds: number;
  /** Cores the server process used on average during the measured run. */
  serverCores: number | undefined;
  /** Cores this process (autocannon) used on average during the measured run. */
  benchCores: number;
  /** Cores the PostgreSQL backends of this run's database used meanwhile. */
  databaseCores: number;
  /** Cores the operator WebSocket listener process used meanwhile (undefined: none ran). */
  listenerCores: number | undefined;
  /** Bytes the server (and its PostgreSQL backends) wrote to storage per request. */
  writeBytesPerRequest: number | undefined;
  /** Cores everything else on the machine used meanwhile: noise from other work. */
  otherCores: number | undefined;
  /** Group-commit batches during the measured run, from backchat's /metrics (when it has them). */
  batches: BatchFigures | undefined;
  /** Whole run including the warm-up. */
  tally: Record<Kind, Tally>;
  /** webhook 200 → WebSocket frame, when an operator listened during the run. */
  realtime: RealtimeFigures | undefined;
}

interface BatchFigures {
  count: number;
  meanSize: number;
  meanMs: number;
}

interface CommitCounters {
  sizeSum: number;
  count: number;
  secondsSum: number;
}

/** Reads the group committer's counters from backchat's Prometheus text, if it exports them. */
async function scrapeCommitCounters(metricsPort: number | undefined): Promise<CommitCounters | undefined> {
  if (metricsPort === undefined) return undefined;
  try {
    const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(2000) });
    const text = await response.text();
    if (!response.ok) return undefined;
    const value = (name: string) => {
      const match = new RegExp(`^${name} ([0-9.e+-]+)$`, 'm').exec(text);
      return match ? Number(match[1]) : undefined;
    };
    const sizeSum = value('store_commit_batch_size_sum');
    const count = value('store_commit_batch_size_count');
    const secondsSum = value('store_commit_duration_seconds_sum');
    if (sizeSum === undefined || count === undefined || secondsSum === undefined) return undefined;
    return { sizeSum, count, secondsSum };
  } catch {
    return undefined;
  }
}

function batchFigures(before: CommitCounters | undefined, after: CommitCounters | undefined): BatchFigures | undefined {
  if (!before || !after || after.count <= before.count) return undefined;
  const count = after.count - before.count;
  return {
    count,
    meanSize: (after.sizeSum - before.sizeSum) / count,
    meanMs: ((after.secondsSum - before.secondsSum) * 1000) / count,
  };
}

function cannon(port: number, workload: Workload, seconds: number, connections: number): Promise<autocannon.Result> {
  return autocannon({
    url: `http://127.0.0.1:${port}`,
    connections,
    duration: seconds,
    timeout: 10,
    headers: { 'content-type': 'application/json', 'user-agent': 'backchat-bench/1' },
    requests: workload.requests(),
  });
}

/**
 * Waits (at most `maxSeconds`) until the whole machine has been nearly idle for a second: on a
 * shared 2-core machine a test suite running next door halves either side's throughput.
 */
async function waitForQuiet(maxSeconds: number): Promise<string | undefined> {
  if (maxSeconds <= 0) return undefined;
  const deadline = Date.now() + maxSeconds * 1000;
  let busy = Number.NaN;
  while (Date.now() < deadline) {
    const before = machineCpuSeconds();
    const started = performance.now();
    await sleep(1000);
    const after = machineCpuSeconds();
    if (before === undefined || after === undefined) return undefined;
    busy = (after - before) / ((performance.now() - started) / 1000);
    if (busy < 0.2) return undefined;
  }
  return `the machine stayed busy (${fmt(busy, 2)} cores) for ${maxSeconds} s; measuring anyway`;
}

/** Warm-up (discarded), then the measured run, sampling CPU use of both sides around it. */
async function measure(
  server: RunningServer,
  workload: Workload,
  options: Options,
  extra: { databaseName?: string; metricsPort?: number; listener?: RealtimeListener } = {},
): Promise<Measured> {
  const { databaseName, metricsPort, listener } = extra;
  const busy = await waitForQuiet(options.quietWait);
  if (busy) console.log(`${server.name}: ${busy}`);
  if (options.warmup > 0) await cannon(server.port, workload, options.warmup, options.connections);
  const commitsBefore = await scrapeCommitCounters(metricsPort);
  // Only the backends serving this run's database: other PostgreSQL users on the machine are noise.
  const databaseUsage = () =>
    databaseName === undefined ? new Map<number, ProcessUsage>() : usageByCommand('postgres', databaseName);
  // How late this process may notice a 200 (its event loop also runs autocannon).
  const loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
  if (listener) {
    workload.startTimingAcks();
    listener.startMeasuring();
  }
  const serverBefore = server.usage();
  const databaseBefore = databaseUsage();
  const listenerBefore = listener?.usage();
  const benchCpuBefore = process.cpuUsage();
  const machineCpuBefore = machineCpuSeconds();
  const started = performance.now();
  loopDelay.enable();
  const result = await cannon(server.port, workload, options.duration, options.connections);
  loopDelay.disable();
  const wall = (performance.now() - started) / 1000;
  const serverAfter = server.usage();
  const database = usageBetween(databaseBefore, databaseUsage());
  const listenerAfter = listener?.usage();
  const benchCpu = process.cpuUsage(benchCpuBefore);
  const machineCpuAfter = machineCpuSeconds();
  const ackTimes = workload.stopTimingAcks();
  const exited = server.unexpectedExit();
  if (exited) throw new Error(exited);
  const batches = batchFigures(commitsBefore, await scrapeCommitCounters(metricsPort));
  const listenerCores =
    listenerBefore === undefined || listenerAfter === undefined ? undefined : (listenerAfter.cpuSeconds - listenerBefore.cpuSeconds) / wall;
  const realtime = listener
    ? realtimeFigures(ackTimes, await listener.collect([...ackTimes.keys()], FRAME_WAIT_MS), {
        listenerCores,
        benchLoopDelayP99Ms: loopDelayMs(loopDelay, 99),
      })
    : undefined;
  const serverCores =
    serverBefore === undefined || serverAfter === undefined ? undefined : (serverAfter.cpuSeconds - serverBefore.cpuSeconds) / wall;
  const benchCores = (benchCpu.user + benchCpu.system) / 1e6 / wall;
  const databaseCores = database.cpuSeconds / wall;
  const machineCores =
    machineCpuBefore === undefined || machineCpuAfter === undefined ? undefined : (machineCpuAfter - machineCpuBefore) / wall;
  const requests = result['2xx'] + result.non2xx;
  const writeBytesPerRequest =
    serverBefore === undefined || serverAfter === undefined || requests === 0
      ? undefined
      : (serverAfter.writeBytes - serverBefore.writeBytes + database.writeBytes) / requests;
  return {
    name: server.name,
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    responses2xx: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    seconds: result.duration,
    serverCores,
    benchCores,
    databaseCores,
    listenerCores,
    writeBytesPerRequest,
    otherCores:
      machineCores === undefined || serverCores === undefined
        ? undefined
        : Math.max(0, machineCores - serverCores - benchCores - databaseCores - (listenerCores ?? 0)),
    batches,
    tally: structuredClone(workload.tally),
    realtime,
  };
}

interface Verification {
  ok: boolean;
  lines: string[];
}

/** Cheap end-to-end check: everything acknowledged is stored, and nothing was stored twice. */
async function verify(store: BenchStore, workload: Workload): Promise<Verification> {
  const stored = await store.read();
  if (!stored) return { ok: true, lines: ['skipped: the store went away with the server'] };
  const lines: string[] = [];
  let ok = true;
  const { message, status } = workload.tally;
  const missing = workload.ackedMessageIds.filter((id) => !stored.messageIds.has(id));
  const unacked = stored.messages - (workload.ackedMessageIds.length - missing.length);
  // Requests still in flight when autocannon stops get no answer but may well be committed.
  const messagesOk = missing.length === 0 && stored.messages <= message.sent;
  ok &&= messagesOk;
  lines.push(
    `messages: ${stored.messages} stored, ${workload.ackedMessageIds.length} acknowledged, ${missing.length} acknowledged but missing, ` +
      `${unacked} stored without an answer (in flight at stop), ${message.sent} sent → ${messagesOk ? 'OK' : 'FAIL'}`,
  );
  const statusesOk = stored.statuses >= status.ok && stored.statuses <= status.sent;
  ok &&= statusesOk;
  lines.push(`statuses: ${stored.statuses} stored, ${status.ok} acknowledged, ${status.sent} sent → ${statusesOk ? 'OK' : 'FAIL'}`);
  const total = workload.totals();
  const logOk = stored.webhookEvents >= total.ok && stored.webhookEvents <= total.sent;
  ok &&= logOk;
  lines.push(`webhook log: ${stored.webhookEvents} entries for ${total.ok} acknowledged of ${total.sent} sent → ${logOk ? 'OK' : 'FAIL'}`);
  lines.push(`contacts: ${stored.contacts}, chats: ${stored.chats}`);
  if (missing.length > 0) lines.push(`first missing ids: ${missing.slice(0, 5).join(', ')}`);
  return { ok, lines };
}

function cpuPerRequest(measured: Measured): number | undefined {
  if (measured.serverCores === undefined) return undefined;
  return (measured.serverCores * 1e6) / measured.rps;
}

const kib = (bytes: number | undefined) => (bytes === undefined ? undefined : bytes / 1024);

const fmt = (value: number | undefined, digits = 0): string =>
  value === undefined || !Number.isFinite(value) ? 'n/a' : value.toFixed(digits);

/** Rows of cells: the first column left-aligned, the others right-aligned. */
function table(rows: string[][]): string {
  const columns = Math.max(...rows.map((r) => r.length));
  const widths = Array.from({ length: columns }, (_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) => `  ${widths.map((w, i) => (i === 0 ? (r[i] ?? '').padEnd(w) : (r[i] ?? '').padStart(w))).join('  ')}`.trimEnd())
    .join('\n');
}

function mixLine(tally: Record<Kind, Tally>): string {
  const total = tally.message.sent + tally.status.sent + tally.contact.sent;
  const pct = (n: number) => `${((100 * n) / Math.max(total, 1)).toFixed(1)}%`;
  return `${total} requests: ${pct(tally.message.sent)} messages, ${pct(tally.status.sent)} statuses, ${pct(tally.contact.sent)} contact updates`;
}

/** One backchat run: metrics on or off, a fresh store, an operator listening when asked. */
interface BackchatRun {
  index: number;
  metrics: boolean;
  measured: Measured;
  verification: Verification;
}

/**
 * The order of backchat runs: true = metrics on. Pairs alternate their order (on off, off on, …)
 * so that a drift of the machine over the run weighs on both settings alike.
 */
function runPlan(pairs: number): boolean[] {
  if (pairs === 0) return [true];
  const plan: boolean[] = [];
  for (let i = 0; i < pairs; i += 1) plan.push(...(i % 2 === 0 ? [true, false] : [false, true]));
  return plan;
}

/** The runs of one setting (metrics on, or off) as one: means, and how far apart the runs were. */
interface SettingFigures {
  runs: number;
  rps: number;
  p50: number;
  p99: number;
  cpuPerRequest: number | undefined;
  /** (max − min) / mean over the runs: the noise a difference between settings must beat. */
  rpsSpread: number | undefined;
  cpuSpread: number | undefined;
}

interface MetricsCost {
  on: SettingFigures;
  off: SettingFigures;
  rpsRatio: number;
  p50Ratio: number;
  p99Ratio: number;
  cpuRatio: number | undefined;
  rpsPass: boolean;
  cpuPass: boolean;
  /** The verdict: CPU per request (requests/s when there is no CPU figure). */
  pass: boolean;
}

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
const spread = (values: number[]) => (values.length < 2 ? undefined : (Math.max(...values) - Math.min(...values)) / mean(values));

function settingFigures(runs: Measured[]): SettingFigures {
  const cpu = runs.map(cpuPerRequest);
  const cpuKnown = cpu.every((v) => v !== undefined) ? (cpu as number[]) : undefined;
  return {
    runs: runs.length,
    rps: mean(runs.map((r) => r.rps)),
    p50: mean(runs.map((r) => r.p50)),
    p99: mean(runs.map((r) => r.p99)),
    cpuPerRequest: cpuKnown ? mean(cpuKnown) : undefined,
    rpsSpread: spread(runs.map((r) => r.rps)),
    cpuSpread: cpuKnown ? spread(cpuKnown) : undefined,
  };
}

function metricsCost(runs: BackchatRun[]): MetricsCost | undefined {
  const onRuns = runs.filter((r) => r.metrics).map((r) => r.measured);
  const offRuns = runs.filter((r) => !r.metrics).map((r) => r.measured);
  if (onRuns.length === 0 || offRuns.length === 0) return undefined;
  const on = settingFigures(onRuns);
  const off = settingFigures(offRuns);
  const rpsRatio = on.rps / off.rps;
  const cpuRatio = on.cpuPerRequest === undefined || off.cpuPerRequest === undefined ? undefined : on.cpuPerRequest / off.cpuPerRequest;
  const rpsPass = rpsRatio >= 1 - TARGET_METRICS_COST;
  // Without /proc (off Linux) there is no CPU figure; requests/s alone decides then.
  const cpuPass = cpuRatio === undefined ? rpsPass : cpuRatio <= 1 + TARGET_METRICS_COST;
  // CPU per request decides: on 2 shared cores requests/s follows whatever else runs (two runs of
  // one setting often differ by 10–25%), while CPU per request stays within a few per cent.
  return { on, off, rpsRatio, p50Ratio: on.p50 / off.p50, p99Ratio: on.p99 / off.p99, cpuRatio, rpsPass, cpuPass, pass: cpuPass };
}

const pct = (value: number | undefined, digits = 1) => (value === undefined ? 'n/a' : `${(value * 100).toFixed(digits)}%`);
const passFail = (pass: boolean) => (pass ? 'PASS' : 'FAIL');
/** Drops the raw latency samples (large, and a typed array JSON cannot show) from the JSON report. */
const jsonReplacer = (key: string, value: unknown) => (key === 'samples' ? undefined : value);

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2), process.env);
  const tag = `${Date.now().toString(36)}_${process.pid}`;
  const problems: string[] = [];
  const running = new Set<RunningServer>();
  const listening = new Set<RealtimeListener>();
  mkdirSync(resolve(ROOT, 'data'), { recursive: true });
  // A profile of metrics-on runs only would make the comparison meaningless: one run, no pairs.
  const pairs = options.cpuProfDir ? 0 : options.metricsPairs;
  const plan = runPlan(pairs);

  // Created up front so that a PostgreSQL that is down fails the run before anything is measured.
  const stores = new Set<BenchStore>();
  const removeStores = () => Promise.all([...stores].map((store) => store.remove().catch(() => undefined)));
  const planned: BenchStore[] = [];
  try {
    for (let i = 0; i < plan.length; i += 1) {
      const store = await createStore(ROOT, `${tag}_${i + 1}`, options.store);
      stores.add(store);
      planned.push(store);
    }
  } catch (error) {
    await removeStores();
    throw error;
  }

  // Bounded in time whatever happens: stop what we started, drop the stores, fail.
  const servers = 1 + plan.length;
  const limitMs = (servers * (2 * (options.warmup + options.duration) + options.quietWait + 60) + 60) * 1000;
  const cleanUp = async () => {
    await Promise.all([...listening].map((listener) => listener.stop()));
    await Promise.all([...running].map((server) => server.stop(2000)));
    await removeStores();
  };
  const watchdog = setTimeout(() => {
    process.stderr.write(`bench: gave up after ${limitMs / 1000} s\n`);
    void cleanUp().finally(() => process.exit(1));
  }, limitMs);
  const interrupted = () => void cleanUp().finally(() => process.exit(130));
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);

  const start = async (...args: Parameters<typeof startServer>) => {
    const server = await startServer(...args);
    running.add(server);
    return server;
  };
  const stop = async (server: RunningServer) => {
    running.delete(server);
    const problem = await server.stop();
    if (problem) problems.push(problem);
  };

  const order = plan.map((on) => (on ? 'on' : 'off')).join(', ');
  console.log(
    `backchat intake bench: ${options.connections} connections, ${options.warmup} s warm-up + ${options.duration} s measured per server, ` +
      `127.0.0.1, ${os.cpus().length} CPUs, node ${process.version}, load average ${os.loadavg()[0]!.toFixed(2)}`,
  );
  console.log(
    `servers: ceiling, then backchat ${plan.length}× (metrics ${order}; fresh store each), ` +
      `${options.wsClients > 0 ? `${options.wsClients} operator WebSocket(s) listening in each backchat run` : 'no operator WebSocket'}`,
  );
  if (options.cpuProfDir && options.metricsPairs > 0) console.log('BENCH_CPU_PROF: one backchat run only, no cost-of-metrics comparison');

  const ceilingLog = resolve(ROOT, `data/bench-${tag}-ceiling.log`);
  const logs = [ceilingLog];
  // Workloads with the same seed: every server gets the same sequence of requests.
  const ceilingWorkload = new Workload();
  const workloads: Workload[] = [ceilingWorkload];
  let ceiling: Measured;
  const floors: { kind: FloorKind; measured: Measured }[] = [];
  const runs: BackchatRun[] = [];
  try {
    // (a) The ceiling.
    const ceilingServer = await start({
      name: 'ceiling',
      args: ['--import', 'tsx', 'bench/ceiling-server.ts'],
      cwd: ROOT,
      env: { ...process.env, NODE_ENV: 'production' },
      logFile: ceilingLog,
    });
    try {
      ceiling = await measure(ceilingServer, ceilingWorkload, options);
    } finally {
      await stop(ceilingServer);
    }
    console.log(`ceiling done: ${fmt(ceiling.rps)} req/s, p99 ${fmt(ceiling.p99, 1)} ms`);

    // (a') The floors: what storing each request (durable), or each request's effects (effects),
    // before answering costs by itself; and the ceiling given CPU work to do (BENCH_BUDGET).
    for (const kind of [...(options.floor ? FLOOR_KINDS : []), ...options.budgetUs.map(budgetKind)]) {
      const floorLog = resolve(ROOT, `data/bench-${tag}-${kind.name}.log`);
      logs.push(floorLog);
      // Profiled too, into a folder of its own, to compare where its time goes with backchat's.
      const profileArgs = options.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${resolve(options.cpuProfDir, kind.name)}`] : [];
      const floorServer = await start({
        name: kind.name,
        args: [...profileArgs, '--import', 'tsx', kind.script],
        cwd: ROOT,
        env: { ...process.env, ...kind.env, NODE_ENV: 'production', FLOOR_DB: resolve(ROOT, `data/bench-${tag}-${kind.name}.db`) },
        logFile: floorLog,
      });
      try {
        floors.push({ kind, measured: await measure(floorServer, new Workload(), options) });
      } finally {
        await stop(floorServer);
      }
      const measured = floors.at(-1)!.measured;
      console.log(`${kind.name} done: ${fmt(measured.rps)} req/s, p99 ${fmt(measured.p99, 1)} ms`);
    }

    // (b) backchat, each run on a fresh store: metrics on and off in turn.
    console.log(`backchat store: ${planned[0]!.description}${plan.length > 1 ? ` (and ${plan.length - 1} more like it)` : ''}`);
    const nodeArgs = options.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`] : [];
    for (const [i, metrics] of plan.entries()) {
      const index = i + 1;
      const store = planned[i]!;
      const workload = new Workload();
      workloads.push(workload);
      const log = resolve(ROOT, `data/bench-${tag}-backchat-${index}.log`);
      logs.push(log);
      const adminToken = newAdminToken();
      // With metrics on, /metrics on a port of its own, read before and after the run for the
      // group-commit figures. With metrics off there is no /metrics, and no batch figures.
      const metricsPort = metrics ? await freePort() : undefined;
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        NODE_ENV: 'production',
        DATABASE_URL: store.url,
        LOG_LEVEL: options.logLevel,
        METRICS_ENABLED: metrics ? 'true' : 'false',
        ADMIN_TOKEN: adminToken,
      };
      delete env.METRICS_PORT;
      delete env.METRICS_HOST;
      delete env.METRICS_TOKEN;
      if (metricsPort !== undefined) Object.assign(env, { METRICS_PORT: String(metricsPort), METRICS_HOST: '127.0.0.1' });
      const server = await start({ name: `backchat #${index}`, args: [...nodeArgs, 'dist/main.js'], cwd: ROOT, env, logFile: log });
      let listener: RealtimeListener | undefined;
      let measured: Measured;
      try {
        if (options.wsClients > 0) {
          try {
            listener = await startRealtimeListener(ROOT, server.port, await operatorToken(server.port, adminToken), options.wsClients);
            listening.add(listener);
          } catch (error) {
            problems.push(`${server.name}: no real-time measurement: ${error instanceof Error ? error.message : String(error)}`);
          }
        }
        // The pid, so that a profiler or strace can be attached during the run.
        console.log(
          `${server.name} running (metrics ${metrics ? 'on' : 'off'}): pid ${server.pid}, port ${server.port}` +
            (listener ? `; operator WebSocket listener pid ${listener.pid}` : ''),
        );
        measured = await measure(server, workload, options, { databaseName: store.databaseName, metricsPort, listener });
      } finally {
        if (listener) {
          listening.delete(listener);
          await listener.stop();
        }
        // Stopped before reading the store, so that everything it acknowledged is flushed.
        await stop(server);
      }
      const verification = await verify(store, workload);
      stores.delete(store);
      await store.remove();
      runs.push({ index, metrics, measured, verification });
      const realtime = measured.realtime;
      console.log(
        `${server.name} done (metrics ${metrics ? 'on' : 'off'}): ${fmt(measured.rps)} req/s, p99 ${fmt(measured.p99, 1)} ms, ` +
          `${fmt(cpuPerRequest(measured))} µs CPU/req` +
          (realtime ? `, WebSocket frame p99 ${fmt(realtime.p99, 1)} ms after the 200 (${realtime.missing} missing)` : ''),
      );
      if (realtime && realtime.missing > 0) {
        problems.push(`${server.name}: ${realtime.missing} of ${realtime.expected} acknowledged messages never reached the operator's WebSocket`);
      }
      for (const close of realtime?.closes ?? []) problems.push(`${server.name}: ${close}`);
    }
  } finally {
    await removeStores();
  }

  const primaryRun = runs[0]!;
  const backchat = primaryRun.measured;
  const throughputRatio = backchat.rps / ceiling.rps;
  const p99Ratio = backchat.p99 / ceiling.p99;
  const throughputPass = throughputRatio >= TARGET_THROUGHPUT_RATIO;
  const p99Pass = p99Ratio <= TARGET_P99_RATIO;
  const dialect = planned[0]!.dialect;

  console.log('');
  console.log(`mix (backchat #1, incl. warm-up): ${mixLine(backchat.tally)}`);
  console.log(
    table([
      ['', 'ceiling', 'backchat #1'],
      ['requests/s (avg)', fmt(ceiling.rps), fmt(backchat.rps)],
      ['latency p50 (ms)', fmt(ceiling.p50, 1), fmt(backchat.p50, 1)],
      ['latency p99 (ms)', fmt(ceiling.p99, 1), fmt(backchat.p99, 1)],
      ['2xx responses', String(ceiling.responses2xx), String(backchat.responses2xx)],
      ['non-2xx responses', String(ceiling.non2xx), String(backchat.non2xx)],
      ['errors (timeouts)', `${ceiling.errors} (${ceiling.timeouts})`, `${backchat.errors} (${backchat.timeouts})`],
      ['server CPU (cores)', fmt(ceiling.serverCores, 2), fmt(backchat.serverCores, 2)],
      // Steadier than requests/s when other work shares the cores.
      ['server CPU per request (µs)', fmt(cpuPerRequest(ceiling)), fmt(cpuPerRequest(backchat))],
      ['autocannon CPU (cores)', fmt(ceiling.benchCores, 2), fmt(backchat.benchCores, 2)],
      ['WebSocket listener CPU (cores)', '-', fmt(backchat.listenerCores, 2)],
      ['PostgreSQL backends CPU (cores)', fmt(ceiling.databaseCores, 2), fmt(backchat.databaseCores, 2)],
      ['other processes CPU (cores)', fmt(ceiling.otherCores, 2), fmt(backchat.otherCores, 2)],
      ['disk writes per request (KB)', fmt(kib(ceiling.writeBytesPerRequest), 1), fmt(kib(backchat.writeBytesPerRequest), 1)],
      ['commit batches (count)', '-', fmt(backchat.batches?.count)],
      ['mean batch size (requests)', '-', fmt(backchat.batches?.meanSize, 1)],
      ['mean batch write + commit (ms)', '-', fmt(backchat.batches?.meanMs, 2)],
    ]),
  );
  for (const measured of [ceiling, ...runs.map((r) => r.measured)]) {
    // Both sides share the same cores, so anything else running skews the comparison.
    if ((measured.otherCores ?? 0) > 0.25) {
      console.log(`  warning: other processes used ${fmt(measured.otherCores, 2)} cores during the ${measured.name} run; figures are skewed`);
    }
  }
  console.log('');
  console.log(
    `throughput ratio backchat/ceiling: ${fmt(throughputRatio, 2)} (target ≥ ${TARGET_THROUGHPUT_RATIO}) ${passFail(throughputPass)}`,
  );
  console.log(`p99 ratio backchat/ceiling:        ${fmt(p99Ratio, 2)} (target ≤ ${TARGET_P99_RATIO}) ${passFail(p99Pass)}`);
  console.log(`target: ${passFail(throughputPass && p99Pass)}`);
  const backchatCpu = cpuPerRequest(backchat);
  const ceilingCpu = cpuPerRequest(ceiling);
  if (backchatCpu !== undefined && ceilingCpu !== undefined) {
    // What the target comes down to (docs/PERFORMANCE.md, the CPU budget): the work per request.
    console.log(`server CPU per request backchat/ceiling: ${fmt(backchatCpu / ceilingCpu, 1)}×`);
  }
  for (const { kind, measured } of floors) {
    console.log(
      `${kind.description}: ` +
        `${fmt(measured.rps)} req/s, p99 ${fmt(measured.p99, 1)} ms, ${fmt(cpuPerRequest(measured))} µs CPU/req; ` +
        `ratio to the ceiling ${fmt(measured.rps / ceiling.rps, 2)} (p99 ${fmt(measured.p99 / ceiling.p99, 2)}), backchat/${kind.name} ${fmt(backchat.rps / measured.rps, 2)}`,
    );
  }

  // Cost of metrics: every metrics-on run against every metrics-off run, same load.
  const cost = metricsCost(runs);
  if (cost) {
    const limit = TARGET_METRICS_COST * 100;
    console.log('');
    console.log(`cost of metrics (METRICS_ENABLED=true vs false; same load, fresh store, run order ${order}):`);
    const columns = runs.map((r) => `#${r.index} ${r.metrics ? 'on' : 'off'}`);
    const row = (name: string, value: (m: Measured) => string, on: string, off: string, ratio: string) => [
      name,
      ...runs.map((r) => value(r.measured)),
      on,
      off,
      ratio,
    ];
    console.log(
      table([
        ['', ...columns, 'on (mean)', 'off (mean)', 'on/off'],
        row('requests/s (avg)', (m) => fmt(m.rps), fmt(cost.on.rps), fmt(cost.off.rps), fmt(cost.rpsRatio, 3)),
        row('latency p50 (ms)', (m) => fmt(m.p50, 1), fmt(cost.on.p50, 1), fmt(cost.off.p50, 1), fmt(cost.p50Ratio, 2)),
        row('latency p99 (ms)', (m) => fmt(m.p99, 1), fmt(cost.on.p99, 1), fmt(cost.off.p99, 1), fmt(cost.p99Ratio, 2)),
        row('server CPU per request (µs)', (m) => fmt(cpuPerRequest(m)), fmt(cost.on.cpuPerRequest), fmt(cost.off.cpuPerRequest), fmt(cost.cpuRatio, 3)),
        row('server CPU (cores)', (m) => fmt(m.serverCores, 2), '', '', ''),
        row('other processes CPU (cores)', (m) => fmt(m.otherCores, 2), '', '', ''),
        row('WebSocket frame p99 (ms)', (m) => fmt(m.realtime?.p99, 1), '', '', ''),
      ]),
    );
    console.log(
      `  spread between runs of the same setting (noise): requests/s on ${pct(cost.on.rpsSpread)}, off ${pct(cost.off.rpsSpread)}; ` +
        `CPU per request on ${pct(cost.on.cpuSpread)}, off ${pct(cost.off.cpuSpread)}`,
    );
    const rpsNoise = Math.max(cost.on.rpsSpread ?? 0, cost.off.rpsSpread ?? 0);
    const cpuNoise = Math.max(cost.on.cpuSpread ?? 0, cost.off.cpuSpread ?? 0);
    console.log(
      `  metrics on/off: CPU per request ${fmt(cost.cpuRatio, 3)} (target ≤ ${fmt(1 + TARGET_METRICS_COST, 2)}) ${passFail(cost.cpuPass)}; ` +
        `requests/s ${fmt(cost.rpsRatio, 3)} (target ≥ ${fmt(1 - TARGET_METRICS_COST, 2)}) ${passFail(cost.rpsPass)}` +
        (!cost.rpsPass && rpsNoise > Math.abs(cost.rpsRatio - 1) ? `, within the requests/s noise (${pct(rpsNoise)})` : ''),
    );
    // A difference smaller than what separates two runs of the same setting cannot be told from noise.
    const verdictNoise = cost.cpuRatio === undefined ? rpsNoise : cpuNoise;
    const difference = Math.abs((cost.cpuRatio ?? cost.rpsRatio) - 1);
    const note =
      verdictNoise > TARGET_METRICS_COST && difference < verdictNoise
        ? ` (runs of one setting differ by up to ${pct(verdictNoise)}: inconclusive, repeat on a quiet machine or with more BENCH_METRICS_PAIRS)`
        : '';
    console.log(
      `metrics on within ${limit}% of metrics off (${cost.cpuRatio === undefined ? 'requests/s' : 'server CPU per request'}): ${passFail(cost.pass)}${note}`,
    );
  }

  // Real-time latency: pooled over the metrics-on runs (what production runs with).
  const realtimeRuns = runs.filter((r) => r.measured.realtime);
  const realtime = poolRealtime(realtimeRuns.filter((r) => r.metrics).map((r) => r.measured.realtime!));
  const realtimePass = realtime !== undefined && realtime.p99 < TARGET_REALTIME_P99_MS;
  if (realtime) {
    const onCount = realtimeRuns.filter((r) => r.metrics).length;
    console.log('');
    console.log(
      `real-time latency: webhook 200 at autocannon → message.created frame at the operator, measured runs with metrics on ` +
        `(${onCount} run${onCount === 1 ? '' : 's'}, ${realtime.clients} WebSocket${realtime.clients === 1 ? '' : 's'}):`,
    );
    console.log(
      `  ${realtime.acked} new messages acknowledged; ${realtime.expected - realtime.missing} of ${realtime.expected} frames received, ` +
        `${realtime.missing} missing`,
    );
    console.log(
      `  ms: min ${fmt(realtime.min, 2)}  p50 ${fmt(realtime.p50, 2)}  p95 ${fmt(realtime.p95, 2)}  p99 ${fmt(realtime.p99, 2)}  ` +
        `max ${fmt(realtime.max, 2)}  (the frame came before the 200 in ${pct(realtime.frameFirstShare, 0)})`,
    );
    console.log(
      `  per run: ${realtimeRuns
        .map((r) => `#${r.index} ${r.metrics ? 'on' : 'off'} p50 ${fmt(r.measured.realtime!.p50, 2)} p99 ${fmt(r.measured.realtime!.p99, 2)} max ${fmt(r.measured.realtime!.max, 1)}`)
        .join('; ')}`,
    );
    console.log(
      `  listener: ${fmt(realtime.listenerCores, 2)} cores, ${fmt(realtime.framesPerMessage, 2)} frames per new message per connection, ` +
        `event-loop delay p99 ${fmt(realtime.listenerLoopDelayP99Ms, 1)} ms; bench (autocannon) event-loop delay p99 ${fmt(realtime.benchLoopDelayP99Ms, 1)} ms`,
    );
    console.log(`real-time p99 < ${TARGET_REALTIME_P99_MS} ms: ${passFail(realtimePass)}`);
  }

  console.log('');
  console.log(`correctness (${dialect}):`);
  for (const run of runs) {
    if (runs.length > 1) console.log(`  backchat #${run.index} (metrics ${run.metrics ? 'on' : 'off'}):`);
    for (const line of run.verification.lines) console.log(`  ${runs.length > 1 ? '  ' : ''}${line}`);
  }

  for (const measured of [ceiling, ...floors.map((f) => f.measured), ...runs.map((r) => r.measured)]) {
    const failed = measured.tally.message.failed + measured.tally.status.failed + measured.tally.contact.failed;
    if (failed > 0 || measured.non2xx > 0) problems.push(`${measured.name}: ${Math.max(failed, measured.non2xx)} non-2xx responses`);
    if (measured.errors > 0) problems.push(`${measured.name}: ${measured.errors} request errors (${measured.timeouts} timeouts)`);
  }
  for (const failure of workloads.flatMap((w) => w.failures)) problems.push(`  e.g. ${failure}`);
  for (const run of runs) if (!run.verification.ok) problems.push(`backchat #${run.index}: the store does not match what was acknowledged`);

  if (options.jsonFile) {
    const report = {
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version },
      options: { ...options, store: options.store.kind },
      dialect,
      ceiling,
      floor: floors.find((f) => f.kind.name === 'floor')?.measured,
      effectsFloor: floors.find((f) => f.kind.name === 'effects-floor')?.measured,
      effectsFloorThread: floors.find((f) => f.kind.name === 'effects-floor-thread')?.measured,
      budgets: floors.filter((f) => f.kind.name.startsWith('budget-')).map((f) => ({ cpuUs: Number(f.kind.env?.CEILING_CPU_US), ...f.measured })),
      backchat,
      throughputRatio,
      p99Ratio,
      pass: throughputPass && p99Pass,
      runs,
      metricsCost: cost,
      realtime,
      realtimePass,
      verification: primaryRun.verification,
      problems,
    };
    writeFileSync(resolve(options.jsonFile), `${JSON.stringify(report, jsonReplacer, 2)}\n`);
  }

  clearTimeout(watchdog);
  if (problems.length > 0) {
    console.log('');
    console.log(`problems (logs kept: ${logs.join(', ')}):`);
    for (const problem of problems) console.log(`  ${problem}`);
    return 1;
  }
  // Logs only matter when something went wrong; a 10 s run leaves ~10 MB of them.
  for (const log of logs) rmSync(log, { force: true });
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
