/**
 * The admin API over the webhook log: list and filter, read one with its body, replay one or every
 * failed one in a window, and aggregate stats. All behind the admin token.
 */
import type { FastifyInstance } from 'fastify';
import {
  failedWebhookLogIds,
  getWebhookLogEntry,
  listWebhookLog,
  parseLogTime,
  webhookStats,
} from '../domain/webhook-log/webhook-log.service.js';
import { WEBHOOK_OUTCOMES, type WebhookOutcome } from '../domain/webhook-log/webhook-log.types.js';
import { AppError, type FieldErrors } from '../errors.js';
import type { IntakeService } from '../intake/intake.service.js';
import type { Executor } from '../storage/executor.js';
import type { OperatorAuth } from './operator-auth.js';
import { presentWebhookEvent, presentWebhookStats } from './presenters/webhook-event.presenter.js';
import { authErrors, bearerSecurity } from './schemas.js';

export interface WebhookLogRoutesOptions {
  db: Executor;
  intake: IntakeService;
  auth: OperatorAuth;
}

const MAX_BULK_REPLAY = 1000;
/** A bound of a time window; parseWindow checks that it is a date within the range of dates. */
const timeBound = { type: 'string', maxLength: 64, description: 'An ISO-8601 date or epoch milliseconds' };

/**
 * The documented answers of a route: a 200 of any shape (a schema listing fields would also make
 * Fastify drop from the answer whatever field it left out; the presenters define the shape), and
 * these refusals with those of every admin route.
 */
const answers = (...refusals: number[]) => ({ 200: {}, ...Object.fromEntries(refusals.map((code) => [code, { $ref: 'Error#' }])), ...authErrors });

export async function webhookLogRoutes(app: FastifyInstance, options: WebhookLogRoutesOptions): Promise<void> {
  const { db, intake } = options;
  app.addHook('onRequest', options.auth.require('admin'));

  app.get(
    '/api/webhook-events',
    {
      schema: {
        tags: ['webhook log'],
        summary: 'List webhook requests, newest first',
        security: bearerSecurity,
        response: answers(400),
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            outcome: { type: 'string', enum: [...WEBHOOK_OUTCOMES] },
            event: { type: 'string', maxLength: 64 },
            from: timeBound,
            to: timeBound,
            q: { type: 'string', minLength: 1, maxLength: 255 },
            limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 },
            // The last entry's id (a UUID); anything else was never given out.
            cursor: { type: 'string', pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$', description: "The previous page's nextCursor" },
          },
        },
      },
    },
    async (request) => {
      const query = request.query as { outcome?: WebhookOutcome; event?: string; from?: string; to?: string; q?: string; limit: number; cursor?: string };
      const window = parseWindow(query);
      const page = await listWebhookLog(db, {
        ...window,
        ...(query.outcome && { outcome: query.outcome }),
        ...(query.event && { event: query.event }),
        ...(query.q && { q: query.q }),
        ...(query.cursor && { before: query.cursor }),
        limit: query.limit,
      });
      return { data: page.entries.map((e) => presentWebhookEvent(e, { withBody: false })), nextCursor: page.nextCursor };
    },
  );

  app.get('/api/webhook-events/:id', { schema: { tags: ['webhook log'], summary: 'One webhook request with its body', security: bearerSecurity, response: answers(404) } }, async (request) => {
    const { id } = request.params as { id: string };
    const entry = await getWebhookLogEntry(db, id);
    if (!entry) throw new AppError('not_found', 404, 'No webhook event with this id');
    return presentWebhookEvent(entry, { withBody: true });
  });

  app.post('/api/webhook-events/:id/replay', { schema: { tags: ['webhook log'], summary: 'Replay one recorded webhook (idempotent)', security: bearerSecurity, response: answers(404, 409) } }, async (request) => {
    const { id } = request.params as { id: string };
    const replay = await intake.replay(id);
    if (!replay) throw new AppError('not_found', 404, 'No webhook event with this id');
    return presentWebhookEvent(replay, { withBody: false });
  });

  app.post(
    '/api/webhook-events/replay',
    {
      schema: {
        tags: ['webhook log'],
        summary: 'Replay every failed webhook of a time range',
        security: bearerSecurity,
        response: answers(400),
        body: {
          type: ['object', 'null'],
          additionalProperties: false,
          properties: {
            from: timeBound,
            to: timeBound,
            limit: { type: 'integer', minimum: 1, maximum: MAX_BULK_REPLAY },
          },
        },
      },
    },
    async (request) => {
      const body = (request.body ?? {}) as { from?: string; to?: string; limit?: number };
      const ids = await failedWebhookLogIds(db, parseWindow(body), body.limit ?? MAX_BULK_REPLAY);
      const results = [];
      // One at a time: a replay storm must not starve live webhooks of the committer.
      for (const id of ids) {
        const replay = await intake.replay(id);
        if (replay) results.push({ id, replayId: replay.id, outcome: replay.outcome });
      }
      return { replayed: results.length, results };
    },
  );

  app.get(
    '/api/stats/webhooks',
    {
      schema: {
        tags: ['webhook log'],
        summary: 'Counts, error ratio and latency of webhooks over a window',
        security: bearerSecurity,
        response: answers(400),
        querystring: { type: 'object', properties: { window: { type: 'string', default: '1h' } }, additionalProperties: false },
      },
    },
    async (request) => {
      const { window } = request.query as { window: string };
      const span = parseDuration(window);
      if (span === undefined) {
        throw new AppError('bad_request', 400, 'Invalid request data', { window: ['The window must look like 15m, 1h, 24h or 7d.'] });
      }
      const to = Date.now();
      return presentWebhookStats(await webhookStats(db, { from: to - span, to }));
    },
  );
}

/** `from`/`to` as ISO-8601 dates (or epoch milliseconds), every problem reported. */
function parseWindow(query: { from?: string; to?: string }): { from?: number; to?: number } {
  const errors: FieldErrors = {};
  const parse = (name: 'from' | 'to'): number | undefined => {
    const raw = query[name];
    if (raw === undefined) return undefined;
    const ms = parseLogTime(raw);
    if (ms === undefined) errors[name] = [`The ${name} field must be an ISO-8601 date.`];
    return ms;
  };
  const window = { from: parse('from'), to: parse('to') };
  if (Object.keys(errors).length > 0) throw new AppError('bad_request', 400, 'Invalid request data', errors);
  return {
    ...(window.from !== undefined && { from: window.from }),
    ...(window.to !== undefined && { to: window.to }),
  };
}

/** `15m`, `1h`, `7d` → milliseconds (at most 90 days). */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d{1,4})([mhd])$/.exec(text.trim());
  if (!match) return undefined;
  const ms = Number(match[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 'm' | 'h' | 'd'];
  return ms > 0 && ms <= 90 * 86_400_000 ? ms : undefined;
}
