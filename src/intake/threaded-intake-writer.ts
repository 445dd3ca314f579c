/**
 * The intake writer for a SQLite file: a worker thread owns a connection and a group committer
 * and writes the webhooks' effects there, so that the event loop goes on reading and answering
 * requests while a batch is being written and synced, and the work uses a second core. This side
 * hands it plain data, publishes the events it committed on the process's bus, and settles each
 * request when its transaction is on disk. If the thread dies, the requests it held fail (500:
 * nothing was acknowledged) and the next one starts a new thread.
 */
import { Worker } from 'node:worker_threads';
import type { WebhookLogEntry } from '../domain/webhook-log/webhook-log.types.js';
import type { EventBus } from '../events/in-process-bus.js';
import type { PublishedEvent } from '../events/outbox.js';
import type { BatchStats } from '../storage/group-commit.js';
import type { BodyToApply, IntakeWriter } from './intake-writer.js';

export interface WriterSettings {
  databaseUrl: string;
  maxBatchSize: number;
}

export type WriterRequest =
  | { kind: 'apply'; id: number; body: BodyToApply }
  | { kind: 'record'; id: number; entry: WebhookLogEntry }
  | { kind: 'close'; id: number };

export interface WriterAnswer {
  id: number;
  entry?: unknown;
  error?: { message: string; stack?: string };
}

/**
 * What the thread sends back: answers, the events committed before them, and batch statistics.
 * Messages go both ways in bundles (everything of one turn of the event loop): each message wakes
 * the other thread, and a wake-up per request would cost more than the request's SQL.
 */
export interface WriterReport {
  answers: WriterAnswer[];
  events: PublishedEvent[];
  batches: BatchStats[];
}

/** A request before it is numbered. */
type Unnumbered<T> = T extends unknown ? Omit<T, 'id'> : never;

interface Waiting {
  resolve: (entry: unknown) => void;
  reject: (error: Error) => void;
}

// Run from the sources (tests, `node --import tsx src/main.ts`), the worker is TypeScript too: it
// registers tsx's loader itself, since Node 20 does not apply `--import` hooks to worker threads.
const fromSources = import.meta.url.endsWith('.ts');
const WORKER_FILE = new URL(`./intake-writer.worker.${fromSources ? 'ts' : 'js'}`, import.meta.url);
const newWorkerThread = (workerData: WriterSettings): Worker =>
  fromSources
    ? new Worker(`const { register } = await import('tsx/esm/api'); register(); await import(${JSON.stringify(WORKER_FILE.href)});`, {
        eval: true,
        workerData,
      })
    : new Worker(WORKER_FILE, { workerData });

export function createThreadedIntakeWriter(
  settings: WriterSettings,
  deps: { bus: EventBus; onBatch: (stats: BatchStats) => void },
): IntakeWriter {
  let worker: Worker | null = null;
  let nextId = 0;
  const waiting = new Map<number, Waiting>();

  let outgoing: WriterRequest[] = [];
  const sendOutgoing = () => {
    const requests = outgoing;
    outgoing = [];
    worker?.postMessage(requests);
  };

  const start = (): Worker => {
    const started = newWorkerThread(settings);
    started.on('message', (report: WriterReport) => {
      for (const stats of report.batches) deps.onBatch(stats);
      // Published before the requests that committed them are answered, like the in-process writer.
      for (const event of report.events) deps.bus.publish(event);
      for (const answer of report.answers) {
        const request = waiting.get(answer.id);
        waiting.delete(answer.id);
        if (!request) continue;
        if (answer.error) request.reject(Object.assign(new Error(answer.error.message), { stack: answer.error.stack }));
        else request.resolve(answer.entry);
      }
      if (waiting.size === 0) started.unref();
    });
    const fail = (error: Error) => {
      if (worker === started) worker = null;
      for (const request of waiting.values()) request.reject(error);
      waiting.clear();
    };
    started.on('error', fail);
    started.on('exit', (code) => fail(new Error(`the intake writer thread stopped (exit code ${code})`)));
    return started;
  };

  const send = <T>(request: Unnumbered<WriterRequest>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      worker ??= start();
      const id = (nextId += 1);
      waiting.set(id, { resolve: resolve as (entry: unknown) => void, reject });
      // An idle thread must not keep the process alive (the CLI exits when its work is done).
      if (waiting.size === 1) worker.ref();
      outgoing.push({ ...request, id } as WriterRequest);
      // Every request read in this turn of the event loop leaves in one message.
      if (outgoing.length === 1) setImmediate(sendOutgoing);
    });

  return {
    apply: (body) => send<WebhookLogEntry>({ kind: 'apply', body }),
    record: (entry) => send<void>({ kind: 'record', entry }),
    async close() {
      if (!worker) return;
      const closing = worker;
      await send<void>({ kind: 'close' });
      await closing.terminate();
    },
  };
}
