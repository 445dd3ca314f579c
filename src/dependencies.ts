/**
 * Everything the app runs on, built from the configuration: the store, the group committer, the
 * event bus and the services. Tests build the same thing on a throwaway database.
 */
import type { Config } from './config.js';
import { lastAcceptedWebhookAt } from './domain/webhook-log/webhook-log.repository.js';
import { createChangeRunner, type CommitChange } from './events/change-runner.js';
import { createInProcessBus, type EventBus } from './events/in-process-bus.js';
import { createMetrics, type Metrics } from './observability/metrics.js';
import { createWebhookActivity, type WebhookActivity } from './observability/webhook-activity.js';
import { createIntakeService, type IntakeLogger, type IntakeService } from './intake/intake.service.js';
import { createWebhookAuthenticator } from './intake/webhook-auth.js';
import { createInboxService, type InboxService } from './domain/inbox/inbox.service.js';
import { createEventFeed, type EventFeed } from './realtime/event-feed.js';
import { openDatabase, type DatabaseHandle } from './storage/database.js';
import { createGroupCommitter, type GroupCommitter } from './storage/group-commit.js';
import { migrateToLatest } from './storage/migrations/index.js';
import type { Database } from './storage/schema.js';

export interface Dependencies {
  database: DatabaseHandle;
  committer: GroupCommitter<Database>;
  bus: EventBus;
  /** Commits a change with its domain events, then publishes them. */
  commitChange: CommitChange;
  intake: IntakeService;
  inbox: InboxService;
  metrics: Metrics;
  /** Committed domain events from every instance, for real-time clients. */
  feed: EventFeed;
  /** The clock every service uses (tests may set it). */
  now: () => number;
  activity: WebhookActivity;
  /** Store settings that break the promise of a 200 (shown at start and, to admins, in health). */
  storeWarnings: readonly string[];
  /** Waits for queued writes, then closes the store. */
  close(): Promise<void>;
}

export interface DependencyLogger extends IntakeLogger {
  error(details: object, message: string): void;
}

/** Opens the store, applies pending migrations and builds the services. */
export async function openDependencies(
  config: Config,
  logger: DependencyLogger,
  options: { now?: () => number } = {},
): Promise<Dependencies> {
  const database = openDatabase(config.databaseUrl, (error) => logger.error({ err: error }, 'store background work failed'), {
    writeLockTimeoutMs: config.writeLockTimeoutSeconds * 1000,
  });
  let storeWarnings: string[];
  try {
    await migrateToLatest(database.db);
    storeWarnings = await database.settingWarnings();
  } catch (error) {
    await database.close();
    throw error;
  }
  const lastAcceptedAt = await lastAcceptedWebhookAt(database.db);
  const metrics = createMetrics({
    enabled: config.metricsEnabled,
    lastReceivedAt: lastAcceptedAt,
    silenceAlertSeconds: config.webhookSilenceAlertSeconds,
    writeLockTimeoutSeconds: config.writeLockTimeoutSeconds,
  });
  const activity = createWebhookActivity(lastAcceptedAt);
  const committer = createGroupCommitter(database.writerDb, {
    maxBatchSize: config.commitBatchMax,
    onBegin: database.writers.lockWriters,
    onEnd: database.writers.announceCommit,
    onBatch: (stats) => metrics.observeCommitBatch(stats),
    lostConnection: database.writers.lostConnection,
  });
  // Refused and failed webhooks' log entries: group-committed too (a burst of refusals shares a
  // flush), but without the writers' lock, which these inserts of new rows need not take turns
  // for. A failure because that lock was held elsewhere would otherwise wait for it again, and
  // then not be recorded at all.
  const logCommitter = createGroupCommitter(database.writerDb, {
    maxBatchSize: config.commitBatchMax,
    onBegin: database.writers.limitWaits,
    onBatch: (stats) => metrics.observeCommitBatch(stats),
    lostConnection: database.writers.lostConnection,
  });
  const bus = createInProcessBus((error, event) => logger.error({ err: error, event: event.type }, 'event listener failed'));
  bus.onAny((event) => metrics.observeDomainEvent(event));
  const now = options.now ?? Date.now;
  const commitChange = createChangeRunner({ committer, bus, now });
  const authenticator = createWebhookAuthenticator({
    secrets: config.webhookSecrets,
    tokens: config.webhookTokens,
    requireSignature: config.webhookRequireSignature,
  });
  const intake = createIntakeService({
    db: database.db,
    committer,
    logCommitter,
    commitChange,
    logger,
    authenticator,
    maxJsonDepth: config.webhookMaxJsonDepth,
    phoneCountry: config.phoneDefaultCountry,
    rejectionsPerMinute: config.webhookLogRejectionsPerMinute,
    now,
  });
  return {
    database,
    committer,
    bus,
    commitChange,
    intake,
    inbox: createInboxService({ db: database.db, commitChange, now, phoneCountry: config.phoneDefaultCountry }),
    metrics,
    feed: createEventFeed({ database, bus, onError: (error) => logger.error({ err: error }, 'event feed failed') }),
    activity,
    storeWarnings,
    now,
    async close() {
      await committer.drain();
      await logCommitter.drain();
      await database.close();
    },
  };
}
