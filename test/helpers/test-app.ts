/**
 * A whole backchat (real database, real services, real Fastify) for a test, driven with inject().
 */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../../src/app.js';
import { openDependencies, type Dependencies } from '../../src/dependencies.js';
import type { DomainEvent } from '../../src/domain/domain-events.js';
import type { DialectName } from '../../src/storage/database.js';
import { createTestDatabase } from './test-database.js';

export interface TestApp {
  app: FastifyInstance;
  deps: Dependencies;
  /** Every domain event published so far, in order. */
  published: DomainEvent[];
  /** Sends a JSON webhook body (an object is serialised; a string is sent as is). */
  postWebhook(body: unknown, headers?: Record<string, string>): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export const silentLogger = { warn: () => undefined, error: () => undefined };

export async function createTestApp(
  dialect: DialectName,
  options: { webhookBodyLimit?: number; now?: () => number } = {},
): Promise<TestApp> {
  const database = await createTestDatabase(dialect);
  const deps = await openDependencies(
    { databaseUrl: database.url, commitBatchMax: 256 },
    silentLogger,
    options.now ? { now: options.now } : {},
  );
  const app = await buildApp({ config: { webhookBodyLimit: options.webhookBodyLimit ?? 256 * 1024 }, intake: deps.intake });
  const published: DomainEvent[] = [];
  deps.bus.onAny((event) => published.push(event));
  return {
    app,
    deps,
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
