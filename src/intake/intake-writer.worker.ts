/**
 * The SQLite intake writer's thread: its own connection to the database file, its own group
 * committer, and the same domain code as the in-process writer. It receives bodies to apply and
 * entries to record from `threaded-intake-writer.ts`, and answers each once its transaction is on
 * disk, together with the domain events committed so far (the main thread publishes them).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createChangeRunner } from '../events/change-runner.js';
import { createInProcessBus } from '../events/in-process-bus.js';
import { openDatabase } from '../storage/database.js';
import { createGroupCommitter } from '../storage/group-commit.js';
import { applyBody, createInProcessIntakeWriter } from './intake-writer.js';
import type { WriterAnswer, WriterReport, WriterRequest, WriterSettings } from './threaded-intake-writer.js';

const port = parentPort!;
const settings = workerData as WriterSettings;
// The main thread's connection runs the background checkpoints.
const database = openDatabase(settings.databaseUrl, { backgroundCheckpoints: false });
const committer = createGroupCommitter(database.db, {
  maxBatchSize: settings.maxBatchSize,
  onBegin: database.writers.lockWriters,
  onEnd: database.writers.announceCommit,
  onBatch: (stats) => {
    report.batches.push(stats);
    scheduleReport();
  },
});
// Committed events wait here and leave with the next report, in the order they were committed,
// before the answers of the requests that committed them.
let report: WriterReport = { answers: [], events: [], batches: [] };
let reportScheduled = false;
const sendReport = () => {
  reportScheduled = false;
  const sent = report;
  report = { answers: [], events: [], batches: [] };
  port.postMessage(sent);
};
const scheduleReport = () => {
  if (reportScheduled) return;
  reportScheduled = true;
  setImmediate(sendReport);
};
const bus = createInProcessBus(() => undefined);
bus.onAny((event) => report.events.push(event));
const writer = createInProcessIntakeWriter({ committer, commitChange: createChangeRunner({ committer, bus, now: Date.now }) });

const answer = (outcome: WriterAnswer) => {
  report.answers.push(outcome);
  scheduleReport();
};

const handle = async (request: WriterRequest): Promise<void> => {
  try {
    switch (request.kind) {
      case 'apply':
        // Stamped with the request's time, as in process: the outbox too.
        answer({ id: request.id, entry: await applyBody(createChangeRunner({ committer, bus, now: () => request.body.now }), request.body) });
        break;
      case 'record':
        await writer.record(request.entry);
        answer({ id: request.id });
        break;
      case 'close':
        await writer.close();
        await database.close();
        answer({ id: request.id });
        break;
    }
  } catch (error) {
    answer({ id: request.id, error: error instanceof Error ? { message: error.message, stack: error.stack } : { message: String(error) } });
  }
};

port.on('message', (requests: WriterRequest[]) => {
  for (const request of requests) void handle(request);
});
