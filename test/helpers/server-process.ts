/**
 * backchat as a separate process (`node --import tsx src/main.ts`, so it runs the current sources),
 * for tests that must do what an in-process app cannot survive: SIGKILL it and start it again.
 *
 * Every process started here is killed when the test process exits, even if a test forgot to.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

/** The repository root: where `src/main.ts` and `node_modules/tsx` are. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

const WEBHOOK_URL_PATH = '/api/webhooks/wazzup24';
const OUTPUT_KEPT = 64 * 1024;

/** The only variables passed on from the test's environment. */
const INHERITED_ENV = ['PATH', 'HOME', 'TMPDIR', 'TEMP', 'TMP', 'LANG', 'TZ', 'SYSTEMROOT'];

function pick(env: NodeJS.ProcessEnv, names: readonly string[]): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const name of names) if (env[name] !== undefined) picked[name] = env[name];
  return picked;
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServerProcess {
  /** `http://127.0.0.1:<port>` */
  readonly baseUrl: string;
  /** The webhook endpoint's full URL. */
  readonly webhookUrl: string;
  readonly pid: number;
  /** Settles when the process has exited. */
  readonly exited: Promise<ProcessExit>;
  /** True until the process has exited. */
  isRunning(): boolean;
  /** The last 64 KiB of its stdout and stderr, for failure messages. */
  output(): string;
  /** Sends `signal` (SIGKILL by default) unless it has exited, and waits for the exit. */
  stop(signal?: NodeJS.Signals): Promise<ProcessExit>;
}

/** A port that was free a moment ago (the server must be told one: it does not report PORT=0). */
export async function findFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error('could not read the port of a probe socket'));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

export interface StartServerOptions {
  databaseUrl: string;
  /** Extra environment (COMMIT_BATCH_MAX, WEBHOOK_TOKENS, …); nothing else is inherited but PATH, HOME and the like. */
  env?: Record<string, string>;
  /** How long to wait for `GET /api/webhooks/wazzup24` to answer 200. */
  readyTimeoutMs?: number;
}

/** Starts backchat on a free port and resolves once its webhook endpoint answers. */
export async function startServer(options: StartServerOptions): Promise<ServerProcess> {
  const host = '127.0.0.1';
  const port = await findFreePort(host);
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: REPO_ROOT,
    // Only what a process needs to run: the developer's own settings (tokens, allowlists, …) must
    // not change what the test sees.
    env: {
      ...pick(process.env, INHERITED_ENV),
      DATABASE_URL: options.databaseUrl,
      PORT: String(port),
      HOST: host,
      LOG_LEVEL: 'warn',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);

  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-OUTPUT_KEPT);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);

  let running = true;
  const exited = new Promise<ProcessExit>((resolve) => {
    child.once('exit', (code, signal) => {
      running = false;
      live.delete(child);
      resolve({ code, signal });
    });
  });

  const baseUrl = `http://${host}:${port}`;
  const server: ServerProcess = {
    baseUrl,
    webhookUrl: `${baseUrl}${WEBHOOK_URL_PATH}`,
    pid: child.pid!,
    exited,
    isRunning: () => running,
    output: () => output,
    async stop(signal = 'SIGKILL') {
      if (running) child.kill(signal);
      return exited;
    },
  };

  try {
    await waitUntilReady(server, options.readyTimeoutMs ?? 20_000);
  } catch (error) {
    await server.stop('SIGKILL');
    throw error;
  }
  return server;
}

async function waitUntilReady(server: ServerProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (!server.isRunning()) {
      const { code, signal } = await server.exited;
      throw new Error(`backchat exited before it was ready (code ${code}, signal ${signal}):\n${server.output()}`);
    }
    try {
      const response = await fetch(server.webhookUrl, { signal: AbortSignal.timeout(1_000) });
      if (response.status === 200) {
        await response.arrayBuffer();
        return;
      }
      lastError = new Error(`GET ${server.webhookUrl} answered ${response.status}`);
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(
    `backchat was not ready within ${timeoutMs} ms (last error: ${String(lastError)}):\n${server.output()}`,
  );
}
