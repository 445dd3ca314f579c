/**
 * A server under test, run as its own process so that it has its own event loop and the bench
 * process does nothing but drive autocannon.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ServerSpec {
  name: string;
  /** Arguments after `node`. */
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Where stdout and stderr go; logging to a real file is part of what a server costs. */
  logFile: string;
}

export interface RunningServer {
  readonly name: string;
  readonly port: number;
  readonly pid: number;
  /** Set when the process ended before stop() was called. */
  unexpectedExit(): string | undefined;
  /** CPU and disk writes of the process so far, or undefined off Linux. */
  usage(): ProcessUsage | undefined;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with a problem description or undefined. */
  stop(graceMs?: number): Promise<string | undefined>;
}

/** A port free right now on the loopback interface. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

// Clock ticks per second for /proc/<pid>/stat; 100 on every Linux this will run on.
const CLOCK_TICKS = 100;

/** What a process has used so far. */
export interface ProcessUsage {
  /** User + system CPU seconds. */
  cpuSeconds: number;
  /** Bytes it caused to be written to storage (page cache dirtied), from /proc/<pid>/io. */
  writeBytes: number;
}

function cpuSecondsOf(stat: string): number {
  // The command name may contain spaces; fields are counted after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

function writeBytesOf(pid: number | string): number {
  try {
    const match = /^write_bytes: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
    return match ? Number(match[1]) : 0;
  } catch {
    return 0;
  }
}

/** Usage of one process so far, or undefined off Linux (or once it has ended). */
export function processUsage(pid: number): ProcessUsage | undefined {
  try {
    return { cpuSeconds: cpuSecondsOf(readFileSync(`/proc/${pid}/stat`, 'utf8')), writeBytes: writeBytesOf(pid) };
  } catch {
    return undefined;
  }
}

/** CPU seconds used by the whole machine (all processes, all cores) so far, or undefined off Linux. */
export function machineCpuSeconds(): number | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal …; idle and iowait are not work.
    const busy = fields.slice(0, 8).reduce((sum, value, i) => (i === 3 || i === 4 ? sum : sum + value), 0);
    return busy / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/**
 * Usage so far of each live process whose command name is `command` and whose command line
 * includes `argsInclude` (PostgreSQL shows the database name there), by pid; empty off Linux.
 */
export function usageByCommand(command: string, argsInclude: string): Map<number, ProcessUsage> {
  const result = new Map<number, ProcessUsage>();
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return result;
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) !== command) continue;
      if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(argsInclude)) continue;
      result.set(Number(pid), { cpuSeconds: cpuSecondsOf(stat), writeBytes: writeBytesOf(pid) });
    } catch {
      // The process ended meanwhile.
    }
  }
  return result;
}

/** Usage between two usageByCommand() readings (processes started meanwhile count from 0). */
export function usageBetween(before: Map<number, ProcessUsage>, after: Map<number, ProcessUsage>): ProcessUsage {
  const total: ProcessUsage = { cpuSeconds: 0, writeBytes: 0 };
  for (const [pid, usage] of after) {
    total.cpuSeconds += usage.cpuSeconds - (before.get(pid)?.cpuSeconds ?? 0);
    total.writeBytes += usage.writeBytes - (before.get(pid)?.writeBytes ?? 0);
  }
  return total;
}

export async function startServer(spec: ServerSpec, readyTimeoutMs = 30_000): Promise<RunningServer> {
  const port = await freePort();
  const log = openSync(spec.logFile, 'w');
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, spec.args, {
      cwd: spec.cwd,
      env: { ...spec.env, PORT: String(port), HOST: '127.0.0.1' },
      stdio: ['ignore', log, log],
    });
  } finally {
    // The child holds its own copy of the descriptor.
    closeSync(log);
  }
  let exited: string | undefined;
  let stopping = false;
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      if (!stopping) exited = `${spec.name} exited unexpectedly (code ${code}, signal ${signal}); see ${spec.logFile}`;
      resolve({ code, signal });
    });
  });
  child.once('error', (error) => {
    exited = `${spec.name} could not start: ${error.message}`;
  });

  const server: RunningServer = {
    name: spec.name,
    port,
    pid: child.pid ?? -1,
    unexpectedExit: () => exited,
    usage: () => (child.pid === undefined ? undefined : processUsage(child.pid)),
    async stop(graceMs = 15_000) {
      if (exited) return exited;
      stopping = true;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const { code, signal } = await exit;
      clearTimeout(timer);
      if (signal === 'SIGKILL') return `${spec.name} did not stop within ${graceMs} ms of SIGTERM and was killed`;
      // A clean shutdown exits 0; a server without its own handler dies of the signal itself.
      if (code !== 0 && signal !== 'SIGTERM') return `${spec.name} stopped with code ${code}; see ${spec.logFile}`;
      return undefined;
    },
  };

  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (exited) throw new Error(exited);
    try {
      const response = await fetch(`http://127.0.0.1:${port}/api/webhooks/wazzup24`, { signal: AbortSignal.timeout(1000) });
      // Read the body so that the connection is idle again and never delays the server's close.
      await response.text();
      if (response.ok) return server;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      await server.stop(2000);
      throw new Error(`${spec.name} was not ready within ${readyTimeoutMs} ms; see ${spec.logFile}`);
    }
    await sleep(100);
  }
}
