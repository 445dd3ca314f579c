/**
 * Process entry: config → dependencies → app → listen, and a graceful shutdown that stops taking
 * requests, lets those in flight commit, then closes the store.
 */
import Fastify from 'fastify';
import { pino } from 'pino';
import { buildApp, LOG_REDACTIONS } from './app.js';
import { ConfigError, configurationWarnings, loadConfig } from './config.js';
import { openDependencies } from './dependencies.js';
import { purgeEndedLoginFailures } from './domain/users/login-throttle.js';
import { purgeExpiredWebhookLog } from './domain/webhook-log/webhook-log.service.js';
import { purgeOutbox } from './events/outbox.js';
import { handleError } from './http/error-envelope.js';
import { createLifecycle } from './http/lifecycle.js';
import { metricsRoutes } from './http/metrics.routes.js';
import { errorSchema } from './http/schemas.js';

/** How often retention runs (webhook log, event outbox, ended login throttling windows). */
const PURGE_INTERVAL_MS = 60 * 60 * 1000;

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }

  // Lines are written in chunks of 4 KiB rather than with one write per line: under load a write
  // per request costs more than its line. The buffer is flushed every second and on shutdown; a
  // crash can lose its last lines, never a webhook (every request is also in the webhook log).
  const logDestination = pino.destination({ dest: 1, sync: false, minLength: 4096 });
  const logger = pino({ level: config.logLevel, redact: LOG_REDACTIONS }, logDestination);
  setInterval(() => logDestination.flush(), 1000).unref();
  for (const warning of configurationWarnings(config)) logger.warn(warning);
  const deps = await openDependencies(config, logger);
  for (const warning of deps.storeWarnings) logger.warn(warning);
  const lifecycle = createLifecycle();
  const app = await buildApp(config, deps, logger, lifecycle);

  // A listener of its own, so that operators can keep /metrics off the public port.
  const metricsServer = config.metricsEnabled && config.metricsPort !== null ? Fastify({ logger: false }) : null;
  if (metricsServer) {
    metricsServer.setErrorHandler(handleError);
    metricsServer.addSchema(errorSchema);
    await metricsServer.register(metricsRoutes, { registry: deps.metrics.registry, token: config.metricsToken });
  }

  // One purge at a time; a shutdown stops it between two chunks and waits for that chunk, rather
  // than closing the store under it (which logged an error on every deploy during a long purge).
  const purgeStop = new AbortController();
  let purgeRunning: Promise<void> | null = null;
  const runPurge = async () => {
    const chunks = { signal: purgeStop.signal };
    try {
      const result = await purgeExpiredWebhookLog(
        deps.database.db,
        { retentionDays: config.webhookLogRetentionDays, bodyRetentionDays: config.webhookLogBodyRetentionDays },
        Date.now(),
        chunks,
      );
      if (result.deleted + result.bodiesDropped > 0) logger.info(result, 'webhook log purged');
      if (purgeStop.signal.aborted) return;
      const events = await purgeOutbox(deps.database.db, Date.now() - config.realtimeReplayHours * 3_600_000, chunks);
      if (events > 0) logger.info({ events }, 'event outbox purged');
      if (purgeStop.signal.aborted) return;
      const loginCounts = await purgeEndedLoginFailures(deps.database.db, Date.now(), config.loginWindowMinutes * 60_000);
      if (loginCounts > 0) logger.info({ loginCounts }, 'ended login throttling windows purged');
    } catch (error) {
      logger.error({ err: error }, 'purge failed');
    }
  };
  const purge = () => {
    purgeRunning ??= runPurge().finally(() => {
      purgeRunning = null;
    });
  };
  const purgeTimer = setInterval(purge, PURGE_INTERVAL_MS);
  purgeTimer.unref();

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    // A database that stopped answering would hold the requests in flight, and the pool's close,
    // forever: the process would keep its port until a supervisor killed it. Their senders got no
    // 200, so they retry; nothing acknowledged is lost by exiting.
    setTimeout(() => {
      logger.error({ timeoutSeconds: config.shutdownTimeoutSeconds }, 'shutdown did not finish in time; exiting with requests still in flight');
      try {
        logDestination.flushSync();
      } catch {
        // A write still in progress: its lines may be lost, the exit may not wait.
      }
      process.exit(1);
    }, config.shutdownTimeoutSeconds * 1000);
    lifecycle.beginShutdown();
    clearInterval(purgeTimer);
    purgeStop.abort();
    await app.close();
    await purgeRunning;
    await metricsServer?.close();
    await deps.close();
    await new Promise<void>((resolve) => logDestination.flush(() => resolve()));
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  await app.listen({ port: config.port, host: config.host });
  if (metricsServer) await metricsServer.listen({ port: config.metricsPort!, host: config.metricsHost });
  logger.info({ database: deps.database.dialect }, 'backchat is ready');
  purge();
}

main().catch((error: unknown) => {
  process.stderr.write(`backchat failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
