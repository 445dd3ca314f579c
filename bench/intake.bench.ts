/**
 * `npm run bench`: webhook intake throughput and latency against the ceiling of this machine.
 *
 * In one run it measures (a) a bare Fastify answering the same route (bench/ceiling-server.ts)
 * and (b) backchat (`node dist/main.js`, LOG_LEVEL=info, log to a file) on a fresh store, with the
 * same request mix and load (bench/workload.ts), then checks the store against what was
 * acknowledged. Target: backchat ≥ 0.6× the ceiling's requests/s and p99 ≤ 2× the ceiling's.
 *
 * Environment (or flags):
 *   BENCH_DURATION=10        measured seconds per server (a warm-up of BENCH_WARMUP=2 s precedes)
 *   BENCH_CONNECTIONS=50     concurrent keep-alive connections
 *   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres  (or --postgres[=URL]):
 *                            run backchat on a new database created there and dropped afterwards;
 *                            default (or --sqlite) is a new SQLite file under ./data/, deleted
 *                            afterwards; sqlite::memory: (or --memory) shows what the disk costs
 *   BENCH_LOG_LEVEL=info     backchat's LOG_LEVEL; change it only to measure what logging costs
 *   BENCH_CPU_PROF=<dir>     also write a V8 CPU profile of backchat into <dir> (node --cpu-prof);
 *                            summarise it with bench/cpu-profile-summary.ts
 *   BENCH_QUIET_WAIT=0       seconds to wait, before each server's warm-up, for the rest of the
 *                            machine to go idle (other work on the same 2 cores skews the figures)
 *   BENCH_JSON=<file>        also write the figures as JSON
 *   COMMIT_BATCH_MAX etc.    backchat's own variables pass through unchanged
 *
 * Exit code 1 when a server failed, a request got a non-2xx answer or an error, or the store does
 * not hold what was acknowledged; missing the performance target alone still exits 0.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import autocannon from 'autocannon';
import { freePort, machineCpuSeconds, startServer, usageBetween, usageByCommand, type ProcessUsage, type RunningServer } from './server-process.js';
import { createStore, type BenchStore, type StoreSpec } from './store.js';
import { Workload, type Kind, type Tally } from './workload.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TARGET_THROUGHPUT_RATIO = 0.6;
const TARGET_P99_RATIO = 2;
const DEFAULT_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

interface Options {
  duration: number;
  warmup: number;
  connections: number;
  store: StoreSpec;
  logLevel: string;
  cpuProfDir: string | undefined;
  quietWait: number;
  jsonFile: string | undefined;
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
  /** Bytes the server (and its PostgreSQL backends) wrote to storage per request. */
  writeBytesPerRequest: number | undefined;
  /** Cores everything else on the machine used meanwhile: noise from other work. */
  otherCores: number | undefined;
  /** Group-commit batches during the measured run, from backchat's /metrics (when it has them). */
  batches: BatchFigures | undefined;
  /** Whole run including the warm-up. */
  tally: Record<Kind, Tally>;
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
  extra: { databaseName?: string; metricsPort?: number } = {},
): Promise<Measured> {
  const { databaseName, metricsPort } = extra;
  const busy = await waitForQuiet(options.quietWait);
  if (busy) console.log(`${server.name}: ${busy}`);
  if (options.warmup > 0) await cannon(server.port, workload, options.warmup, options.connections);
  const commitsBefore = await scrapeCommitCounters(metricsPort);
  // Only the backends serving this run's database: other PostgreSQL users on the machine are noise.
  const databaseUsage = () =>
    databaseName === undefined ? new Map<number, ProcessUsage>() : usageByCommand('postgres', databaseName);
  const serverBefore = server.usage();
  const databaseBefore = databaseUsage();
  const benchCpuBefore = process.cpuUsage();
  const machineCpuBefore = machineCpuSeconds();
  const started = performance.now();
  const result = await cannon(server.port, workload, options.duration, options.connections);
  const wall = (performance.now() - started) / 1000;
  const serverAfter = server.usage();
  const database = usageBetween(databaseBefore, databaseUsage());
  const benchCpu = process.cpuUsage(benchCpuBefore);
  const machineCpuAfter = machineCpuSeconds();
  const exited = server.unexpectedExit();
  if (exited) throw new Error(exited);
  const batches = batchFigures(commitsBefore, await scrapeCommitCounters(metricsPort));
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
    writeBytesPerRequest,
    otherCores:
      machineCores === undefined || serverCores === undefined
        ? undefined
        : Math.max(0, machineCores - serverCores - benchCores - databaseCores),
    batches,
    tally: structuredClone(workload.tally),
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

function table(rows: [string, string, string][]): string {
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => `  ${r[0].padEnd(widths[0]!)}  ${r[1].padStart(widths[1]!)}  ${r[2].padStart(widths[2]!)}`).join('\n');
}

function mixLine(tally: Record<Kind, Tally>): string {
  const total = tally.message.sent + tally.status.sent + tally.contact.sent;
  const pct = (n: number) => `${((100 * n) / Math.max(total, 1)).toFixed(1)}%`;
  return `${total} requests: ${pct(tally.message.sent)} messages, ${pct(tally.status.sent)} statuses, ${pct(tally.contact.sent)} contact updates`;
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2), process.env);
  const tag = `${Date.now().toString(36)}_${process.pid}`;
  const problems: string[] = [];
  const running = new Set<RunningServer>();
  mkdirSync(resolve(ROOT, 'data'), { recursive: true });
  // Created up front so that a PostgreSQL that is down fails the run before anything is measured.
  const store = await createStore(ROOT, tag, options.store);

  // Bounded in time whatever happens: stop what we started, drop the store, fail.
  const limitMs = (4 * (options.warmup + options.duration) + 2 * options.quietWait + 180) * 1000;
  const cleanUp = async () => {
    await Promise.all([...running].map((server) => server.stop(2000)));
    await store.remove().catch(() => undefined);
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

  console.log(
    `backchat intake bench: ${options.connections} connections, ${options.warmup} s warm-up + ${options.duration} s measured per server, ` +
      `127.0.0.1, ${os.cpus().length} CPUs, node ${process.version}, load average ${os.loadavg()[0]!.toFixed(2)}`,
  );

  const ceilingLog = resolve(ROOT, `data/bench-${tag}-ceiling.log`);
  const backchatLog = resolve(ROOT, `data/bench-${tag}-backchat.log`);
  // Two workloads with the same seed: both servers get the same sequence of requests.
  const ceilingWorkload = new Workload();
  const backchatWorkload = new Workload();
  let ceiling: Measured;
  let backchat: Measured;
  let verification: Verification;
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

    // (b) backchat on the fresh store.
    console.log(`backchat store: ${store.description}`);
    const nodeArgs = options.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfDir}`] : [];
    // /metrics on a port of its own, read before and after the run for the group-commit figures.
    const metricsPort = await freePort();
    const backchatServer = await start({
      name: 'backchat',
      args: [...nodeArgs, 'dist/main.js'],
      cwd: ROOT,
      env: {
        ...process.env,
        NODE_ENV: 'production',
        DATABASE_URL: store.url,
        LOG_LEVEL: options.logLevel,
        METRICS_PORT: String(metricsPort),
        METRICS_HOST: '127.0.0.1',
      },
      logFile: backchatLog,
    });
    // The pid, so that a profiler or strace can be attached during the run.
    console.log(`backchat running: pid ${backchatServer.pid}, port ${backchatServer.port}`);
    try {
      backchat = await measure(backchatServer, backchatWorkload, options, { databaseName: store.databaseName, metricsPort });
    } finally {
      // Stopped before reading the store, so that everything it acknowledged is flushed.
      await stop(backchatServer);
    }
    verification = await verify(store, backchatWorkload);
  } finally {
    await store.remove();
  }

  const throughputRatio = backchat.rps / ceiling.rps;
  const p99Ratio = backchat.p99 / ceiling.p99;
  const throughputPass = throughputRatio >= TARGET_THROUGHPUT_RATIO;
  const p99Pass = p99Ratio <= TARGET_P99_RATIO;

  console.log('');
  console.log(`mix (backchat, incl. warm-up): ${mixLine(backchat.tally)}`);
  console.log(
    table([
      ['', 'ceiling', 'backchat'],
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
      ['PostgreSQL backends CPU (cores)', fmt(ceiling.databaseCores, 2), fmt(backchat.databaseCores, 2)],
      ['other processes CPU (cores)', fmt(ceiling.otherCores, 2), fmt(backchat.otherCores, 2)],
      ['disk writes per request (KB)', fmt(kib(ceiling.writeBytesPerRequest), 1), fmt(kib(backchat.writeBytesPerRequest), 1)],
      ['commit batches (count)', '-', fmt(backchat.batches?.count)],
      ['mean batch size (requests)', '-', fmt(backchat.batches?.meanSize, 1)],
      ['mean batch write + commit (ms)', '-', fmt(backchat.batches?.meanMs, 2)],
    ]),
  );
  for (const measured of [ceiling, backchat]) {
    // Both sides share the same cores, so anything else running skews the comparison.
    if ((measured.otherCores ?? 0) > 0.25) {
      console.log(`  warning: other processes used ${fmt(measured.otherCores, 2)} cores during the ${measured.name} run; figures are skewed`);
    }
  }
  console.log('');
  console.log(
    `throughput ratio backchat/ceiling: ${fmt(throughputRatio, 2)} (target ≥ ${TARGET_THROUGHPUT_RATIO}) ${throughputPass ? 'PASS' : 'FAIL'}`,
  );
  console.log(`p99 ratio backchat/ceiling:        ${fmt(p99Ratio, 2)} (target ≤ ${TARGET_P99_RATIO}) ${p99Pass ? 'PASS' : 'FAIL'}`);
  console.log(`target: ${throughputPass && p99Pass ? 'PASS' : 'FAIL'}`);
  console.log('');
  console.log(`correctness (${store.dialect}):`);
  for (const line of verification.lines) console.log(`  ${line}`);

  for (const measured of [ceiling, backchat]) {
    const failed = measured.tally.message.failed + measured.tally.status.failed + measured.tally.contact.failed;
    if (failed > 0 || measured.non2xx > 0) problems.push(`${measured.name}: ${Math.max(failed, measured.non2xx)} non-2xx responses`);
    if (measured.errors > 0) problems.push(`${measured.name}: ${measured.errors} request errors (${measured.timeouts} timeouts)`);
  }
  for (const failure of [...ceilingWorkload.failures, ...backchatWorkload.failures]) problems.push(`  e.g. ${failure}`);
  if (!verification.ok) problems.push('the store does not match what was acknowledged');

  if (options.jsonFile) {
    const report = {
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, node: process.version },
      options: { ...options, store: options.store.kind },
      dialect: store.dialect,
      ceiling,
      backchat,
      throughputRatio,
      p99Ratio,
      pass: throughputPass && p99Pass,
      verification,
      problems,
    };
    writeFileSync(resolve(options.jsonFile), `${JSON.stringify(report, null, 2)}\n`);
  }

  clearTimeout(watchdog);
  if (problems.length > 0) {
    console.log('');
    console.log(`problems (logs kept: ${ceilingLog}, ${backchatLog}):`);
    for (const problem of problems) console.log(`  ${problem}`);
    return 1;
  }
  // Logs only matter when something went wrong; a 10 s run leaves ~10 MB of them.
  rmSync(ceilingLog, { force: true });
  rmSync(backchatLog, { force: true });
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
