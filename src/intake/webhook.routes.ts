/**
 * `GET|POST /api/webhooks/wazzup24`. This plugin checks the client address against the allowlist
 * before the body is read, reads the body as raw bytes (its own content-type parser, JSON only),
 * hands them to the intake, and answers with the seed's bodies.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { IpAllowlistMode } from '../config.js';
import type { WebhookLogEntry } from '../domain/webhook-log/webhook-log.types.js';
import { AppError, invalidWebhookData } from '../errors.js';
import { handleError, toErrorReply } from '../http/error-envelope.js';
import type { IntakeService, WebhookRequest } from './intake.service.js';
import { createIpAllowlist } from './ip-allowlist.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set once the webhook request is recorded; the request log line and metrics read it. */
    webhookLogEntry: WebhookLogEntry | null;
    /** Inside the IP allowlist; null when no allowlist is set. */
    webhookIpAllowed: boolean | null;
    /**
     * The client's address, read as the request arrives: once a client has hung up, its socket no
     * longer knows it, and an aborted request would be recorded (and budgeted) without one.
     */
    webhookClientIp: string | null;
  }
}

export const WEBHOOK_PATH = '/api/webhooks/wazzup24';

export interface WebhookRoutesOptions {
  intake: IntakeService;
  bodyLimit: number;
  ipAllowlist: readonly string[];
  ipAllowlistMode: IpAllowlistMode;
  /** Called as the intake starts on a request (or on recording its refusal); what it returns, once that has settled. */
  onIntakeStarted: () => () => void;
  onIpAllowlistMiss: (mode: 'enforce' | 'report') => void;
}

export async function webhookRoutes(app: FastifyInstance, options: WebhookRoutesOptions): Promise<void> {
  const { intake } = options;
  const allowlist = options.ipAllowlistMode === 'off' ? null : createIpAllowlist(options.ipAllowlist);
  app.decorateRequest('webhookLogEntry', null);
  app.decorateRequest('webhookIpAllowed', null);
  app.decorateRequest('webhookClientIp', null);
  /** Runs `work` counted as in flight: a request that waits on the database for good shows there. */
  const inFlight = async <T>(work: () => Promise<T>): Promise<T> => {
    const settled = options.onIntakeStarted();
    try {
      return await work();
    } finally {
      settled();
    }
  };

  // Only JSON, kept as bytes: `application/json` with any parameters, including Wazzup24's
  // malformed `charset-utf-8`. Anything else is a 415 from Fastify.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: options.bodyLimit }, (_request, body, done) =>
    done(null, body),
  );

  app.setErrorHandler(async (error, request, reply) => {
    // Errors raised before the handler ran (address refused, body too large, wrong content type,
    // shutting down) are recorded here; the handler records its own.
    const errorReply = toErrorReply(error, request);
    if (request.webhookLogEntry === null) {
      // Recording it writes to the database too.
      const described = describe(request, reply);
      // A body sent in chunks (no Content-Length) is cut off once past the limit: more than the
      // limit arrived, however much more.
      if (errorReply.statusCode === 413 && described.sizeBytes <= options.bodyLimit) described.sizeBytes = options.bodyLimit + 1;
      request.webhookLogEntry = await inFlight(() => intake.recordRejection(described, errorReply.statusCode, errorReply.body.message));
    }
    return handleError(error, request, reply, errorReply);
  });

  // The availability check stays open to every address, for uptime monitors: it changes and
  // reveals nothing. (Wazzup24 checks a new URL with a test POST, which the allowlist guards.)
  app.get(
    WEBHOOK_PATH,
    {
      schema: {
        tags: ['webhooks'],
        summary: 'Availability check (for uptime monitors)',
        response: { 200: { type: 'object', properties: { status: { type: 'string', enum: ['ok'] }, message: { type: 'string' } } } },
      },
    },
    async () => ({ status: 'ok', message: 'Webhook endpoint is available' }),
  );

  app.post(
    WEBHOOK_PATH,
    {
      bodyLimit: options.bodyLimit,
      schema: {
        tags: ['webhooks'],
        summary: 'Receive a Wazzup24 webhook (seed format or API v3); 200 once committed',
        description: 'Authenticated by signature or token when configured (docs/SECURITY.md).',
        response: {
          200: {
            type: 'object',
            properties: {
              status: { type: 'string', enum: ['success'] },
              message: { type: 'string' },
              errors: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } },
            },
          },
          ...Object.fromEntries([400, 401, 403, 413, 415, 500, 503].map((code) => [code, { $ref: 'Error#' }])),
        },
      },
      // Before the body is read: a refused address costs no parsing at all.
      onRequest: async (request) => {
        request.webhookClientIp = request.ip ?? null;
        if (!allowlist) return;
        request.webhookIpAllowed = allowlist.contains(request.ip);
        if (request.webhookIpAllowed) return;
        options.onIpAllowlistMiss(options.ipAllowlistMode === 'enforce' ? 'enforce' : 'report');
        if (options.ipAllowlistMode === 'enforce') {
          throw new AppError('forbidden', 403, 'This address is not allowed to post webhooks');
        }
        request.log.warn({ ip: request.ip }, 'webhook from outside the IP allowlist (report mode: accepted)');
      },
    },
    async (request, reply) => {
      const result = await inFlight(() => intake.receive(describe(request, reply)));
      request.webhookLogEntry = result.entry;
      if (result.unauthorized) throw new AppError('unauthorized', 401, result.unauthorized);
      if (result.fieldErrors) throw invalidWebhookData(result.fieldErrors);
      if (result.failure !== undefined) throw result.failure;
      if (result.skippedItems) {
        // 200 all the same: Wazzup24 resends anything else, and the invalid items would never pass.
        return { status: 'success', message: 'Webhook processed; invalid items were skipped', errors: result.skippedItems };
      }
      return { status: 'success', message: 'Webhook processed successfully' };
    },
  );
}

function describe(request: FastifyRequest, reply: FastifyReply): WebhookRequest {
  const rawBody = Buffer.isBuffer(request.body) ? request.body : undefined;
  const query = request.query as Record<string, unknown> | undefined;
  return {
    rawBody,
    // Content-Length is whatever the client claims; the column holds a 32-bit integer.
    sizeBytes: rawBody?.length ?? Math.min(Number(request.headers['content-length']) || 0, 2_147_483_647),
    clientIp: request.webhookClientIp ?? request.ip ?? null,
    userAgent: request.headers['user-agent'] ?? null,
    receivedAt: Math.round(Date.now() - reply.elapsedTime),
    elapsedMs: () => reply.elapsedTime,
    headers: request.headers,
    queryToken: typeof query?.token === 'string' ? query.token : undefined,
    ipAllowed: request.webhookIpAllowed,
  };
}
