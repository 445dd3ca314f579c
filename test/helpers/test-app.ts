/**
 * A whole backchat (real database, real services, real Fastify) for a test, driven with inject().
 */
import { Writable } from 'node:stream';
import type { FastifyBaseLogger, FastifyInstance, LightMyRequestResponse } from 'fastify';
import pino from 'pino';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLifecycle, type Lifecycle } from '../../src/http/lifecycle.js';
import { openDependencies, type Dependencies } from '../../src/dependencies.js';
import type { DomainEvent } from '../../src/domain/domain-events.js';
import type { DialectName } from '../../src/storage/database.js';
import { createTestDatabase } from './test-database.js';

export interface TestApp {
  app: FastifyInstance;
  deps: Dependencies;
  lifecycle: Lifecycle;
  /** The throwaway database's URL, for processes that should share it. */
  databaseUrl: string;
  /** Every domain event published so far, in order. */
  published: DomainEvent[];
  /** Sends a JSON webhook body (an object is serialised; a string is sent as is). */
  postWebhook(body: unknown, headers?: Record<string, string>): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export const silentLogger = { warn: () => undefined, error: () => undefined };

/** A pino logger (at `info` unless `options` say otherwise) whose JSON lines land in `lines`, for tests that read the log. */
export function capturingLogger(options: pino.LoggerOptions = {}): { logger: FastifyBaseLogger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { logger: pino({ level: 'info', ...options }, stream), lines };
}

/** `env`: configuration as environment variables, on top of the defaults and the test database. */
export async function createTestApp(
  dialect: DialectName,
  options: { env?: Record<string, string>; now?: () => number; logger?: FastifyBaseLogger } = {},
): Promise<TestApp> {
  const database = await createTestDatabase(dialect);
  const config = loadConfig({ ...options.env, DATABASE_URL: database.url });
  const deps = await openDependencies(config, silentLogger, options.now ? { now: options.now } : {});
  const lifecycle = createLifecycle();
  const app = await buildApp(config, deps, options.logger, lifecycle);
  const published: DomainEvent[] = [];
  deps.bus.onAny((event) => published.push(event));
  return {
    app,
    deps,
    lifecycle,
    databaseUrl: database.url,
    published,
    postWebhook: (body, headers = {}) =>
      app.inject({
        method: 'POST',
        url: '/api/webhooks/wazzup24',
        headers: { 'content-type': 'application/json', ...headers },
        payload: typeof body === 'string' ? body : JSON.stringify(body),
      }),
    async close() {
      await app.close();
      await deps.close();
      await database.drop();
    },
  };
}
