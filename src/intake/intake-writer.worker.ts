/**
 * The SQLite intake writer's thread: its own connection to the database file, its own group
 * committer, and the same domain code as the in-process writer. It receives bodies to apply and
 * entries to record from `threaded-intake-writer.ts`, and answers each once its transaction is on
 * disk, together with the domain events committed so far (the main thread publishes them).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createChangeRunner } from '../events/change-runner.js';
import { createInProcessBus } from '../events/in-process-bus.js';
import type { PublishedEvent } from '../events/outbox.js';
import { openDatabase } from '../storage/database.js';
import { createGroupCommitter } from '../storage/group-commit.js';
import { applyBody, createInProcessIntakeWriter } from './intake-writer.js';
import type { WriterRequest, WriterResponse, WriterSettings } from './threaded-intake-writer.js';

const port = parentPort!;
const settings = workerData as WriterSettings;
// The main thread's connection runs the background checkpoints.
const database = openDatabase(settings.databaseUrl, { backgroundCheckpoints: false });
const committer = createGroupCommitter(database.db, {
  maxBatchSize: settings.maxBatchSize,
  onBegin: database.writers.lockWriters,
  onEnd: database.writers.announceCommit,
  onBatch: (stats) => port.postMessage({ kind: 'batch', stats } satisfies WriterResponse),
});
// Committed events wait here and leave with the next answer, in the order they were committed.
const committed: PublishedEvent[] = [];
const bus = createInProcessBus(() => undefined);
bus.onAny((event) => committed.push(event));
const writer = createInProcessIntakeWriter({ committer, commitChange: createChangeRunner({ committer, bus, now: Date.now }) });

const answer = (id: number, outcome: { entry?: unknown; error?: { message: string; stack?: string } }) =>
  port.postMessage({ kind: 'done', id, events: committed.splice(0), ...outcome } satisfies WriterResponse);

port.on('message', (request: WriterRequest) => {
  void (async () => {
    try {
      switch (request.kind) {
        case 'apply':
          // Stamped with the request's time, as in process: the outbox too.
          answer(request.id, { entry: await applyBody(createChangeRunner({ committer, bus, now: () => request.body.now }), request.body) });
          break;
        case 'record':
          await writer.record(request.entry);
          answer(request.id, {});
          break;
        case 'close':
          await writer.close();
          await database.close();
          answer(request.id, {});
          break;
      }
    } catch (error) {
      answer(request.id, { error: error instanceof Error ? { message: error.message, stack: error.stack } : { message: String(error) } });
    }
  })();
});
