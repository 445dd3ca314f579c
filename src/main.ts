/**
 * Process entry: config → dependencies → app → listen, and a graceful shutdown that stops taking
 * requests, lets those in flight commit, then closes the store.
 */
import { pino } from 'pino';
import { buildApp, LOG_REDACTIONS } from './app.js';
import { ConfigError, configurationWarnings, loadConfig } from './config.js';
import { openDependencies } from './dependencies.js';

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

  const logger = pino({ level: config.logLevel, redact: LOG_REDACTIONS });
  for (const warning of configurationWarnings(config)) logger.warn(warning);
  const deps = await openDependencies(config, logger);
  const app = await buildApp({ config, intake: deps.intake }, logger);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    await app.close();
    await deps.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  await app.listen({ port: config.port, host: config.host });
  logger.info({ database: deps.database.dialect }, 'backchat is ready');
}

main().catch((error: unknown) => {
  process.stderr.write(`backchat failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
