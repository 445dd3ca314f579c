/**
 * `GET /metrics` in Prometheus text format. On the main port it needs `METRICS_TOKEN`; on a port
 * of its own (`METRICS_PORT`) the operator decides who can reach it by where it is bound.
 */
import type { FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import { AppError } from '../errors.js';
import { bearerToken, createTokenMatcher } from '../security/token-matcher.js';

export interface MetricsRoutesOptions {
  registry: Registry;
  /** Null: no token needed (a dedicated port). */
  token: string | null;
}

export async function metricsRoutes(app: FastifyInstance, options: MetricsRoutesOptions): Promise<void> {
  const match = createTokenMatcher(options.token ? [{ id: 'metrics', value: options.token }] : []);
  const schema = {
    tags: ['operations'],
    summary: 'Prometheus metrics (METRICS_TOKEN or METRICS_PORT)',
    response: {
      200: { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } },
      ...(options.token && { 401: { $ref: 'Error#' } }),
    },
  };
  app.get('/metrics', { schema }, async (request, reply) => {
    if (options.token && !match(bearerToken(request.headers.authorization))) {
      throw new AppError('unauthorized', 401, 'Send the metrics token as Authorization: Bearer <token>');
    }
    return reply.header('content-type', options.registry.contentType).send(await options.registry.metrics());
  });
}
