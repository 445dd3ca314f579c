/**
 * `GET|POST /api/webhooks/wazzup24`. This plugin reads the body as raw bytes (its own content-type
 * parser, JSON only), hands them to the intake, and answers with the seed's bodies.
 */
import type { FastifyInstance, FastifyRequest, FastifyReply } from 'fastify';
import { invalidWebhookData } from '../errors.js';
import { handleError, toErrorReply } from '../http/error-envelope.js';
import type { IntakeService, WebhookRequest } from './intake.service.js';
import type { WebhookLogEntry } from '../domain/webhook-log/webhook-log.types.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set once the webhook request is recorded; the request log line reads it. */
    webhookLogEntry: WebhookLogEntry | null;
  }
}

export const WEBHOOK_PATH = '/api/webhooks/wazzup24';

export interface WebhookRoutesOptions {
  intake: IntakeService;
  bodyLimit: number;
}

export async function webhookRoutes(app: FastifyInstance, options: WebhookRoutesOptions): Promise<void> {
  const { intake } = options;
  app.decorateRequest('webhookLogEntry', null);

  // Only JSON, kept as bytes: `application/json` with any parameters, including Wazzup24's
  // malformed `charset-utf-8`. Anything else is a 415 from Fastify.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: options.bodyLimit }, (_request, body, done) =>
    done(null, body),
  );

  app.setErrorHandler(async (error, request, reply) => {
    // Errors raised before the handler ran (body too large, wrong content type) are recorded here.
    const { statusCode, body } = toErrorReply(error);
    if (request.webhookLogEntry === null && statusCode < 500) {
      request.webhookLogEntry = await intake.recordRejection(describe(request, reply), statusCode, body.message);
    }
    return handleError(error, request, reply);
  });

  app.get(WEBHOOK_PATH, async () => ({ status: 'ok', message: 'Webhook endpoint is available' }));

  app.post(WEBHOOK_PATH, { bodyLimit: options.bodyLimit }, async (request, reply) => {
    const result = await intake.receive(describe(request, reply));
    request.webhookLogEntry = result.entry;
    if (result.fieldErrors) throw invalidWebhookData(result.fieldErrors);
    if (result.failure !== undefined) throw result.failure;
    return { status: 'success', message: 'Webhook processed successfully' };
  });
}

function describe(request: FastifyRequest, reply: FastifyReply): WebhookRequest {
  const rawBody = Buffer.isBuffer(request.body) ? request.body : undefined;
  return {
    rawBody,
    sizeBytes: rawBody?.length ?? (Number(request.headers['content-length']) || 0),
    clientIp: request.ip ?? null,
    userAgent: request.headers['user-agent'] ?? null,
    receivedAt: Math.round(Date.now() - reply.elapsedTime),
    elapsedMs: () => reply.elapsedTime,
  };
}
