/**
 * `GET /api/health`: the process is alive (and what it knows about its own state). Configuration
 * warnings are shown to admins only: "the webhook endpoint is open" is worth telling the operator
 * of backchat, not whoever probes it.
 * `GET /api/ready`: it can take traffic: the database answers, migrations are applied, and it is
 * not shutting down. Load balancers route by the second.
 */
import type { FastifyInstance } from 'fastify';
import type { WebhookActivity } from '../observability/webhook-activity.js';
import { bearerToken } from '../security/token-matcher.js';
import type { DatabaseHandle } from '../storage/database.js';
import type { OperatorAuth } from './operator-auth.js';

export interface HealthRoutesOptions {
  database: Pick<DatabaseHandle, 'readiness'>;
  activity: WebhookActivity;
  warnings: readonly string[];
  auth: Pick<OperatorAuth, 'identify'>;
  isShuttingDown: () => boolean;
}

export async function healthRoutes(app: FastifyInstance, options: HealthRoutesOptions): Promise<void> {
  const status = { type: 'object', properties: { status: { type: 'string' }, message: { type: 'string' } } };
  app.get(
    '/api/health',
    {
      schema: {
        tags: ['operations'],
        summary: 'Liveness, the last accepted webhook and (for admins) configuration warnings',
        response: {
          200: {
            type: 'object',
            properties: {
              ...status.properties,
              lastWebhookAt: { type: ['string', 'null'], format: 'date-time' },
              warnings: { type: 'array', items: { type: 'string' } },
            },
          },
        },
      },
    },
    async (request) => {
      const last = options.activity.lastAcceptedAt();
      const isAdmin = await askedByAdmin(options.auth, bearerToken(request.headers.authorization));
      return {
        status: 'ok',
        message: 'backchat is running',
        lastWebhookAt: last === null ? null : new Date(last).toISOString(),
        ...(isAdmin && { warnings: options.warnings }),
      };
    },
  );

  app.get(
    '/api/ready',
    { schema: { tags: ['operations'], summary: 'Readiness: database, migrations, not shutting down', response: { 200: status, 503: { $ref: 'Error#' } } } },
    async (_request, reply) => {
      const problems: string[] = [];
      if (options.isShuttingDown()) problems.push('shutting down');
      // A database that accepts connections but stops answering would hold the probe for good, and
      // a load balancer reads a probe that never answers as nothing at all.
      const tooSlow = [`database did not answer within ${READINESS_BUDGET_MS / 1000} s`];
      problems.push(...(await withinBudget(options.database.readiness(), READINESS_BUDGET_MS, tooSlow)));
      if (problems.length > 0) {
        return reply.code(503).send({ status: 'error', message: `Not ready: ${problems.join('; ')}`, code: 503 });
      }
      return { status: 'ok', message: 'Ready' };
    },
  );
}

/**
 * How long liveness waits to learn whether a session token is an admin's. Checking it needs the
 * database, and a database that is down, or a pool whose connections are all taken, must not stall
 * a liveness probe (which typically gives up after a second).
 */
const TOKEN_CHECK_BUDGET_MS = 300;

/** How long readiness waits for the database; a probe typically gives up after a few seconds. */
const READINESS_BUDGET_MS = 2_000;

/** Whether the token is ADMIN_TOKEN or an admin's session; a token that cannot be checked in time counts as none. */
async function askedByAdmin(auth: Pick<OperatorAuth, 'identify'>, token: string | undefined): Promise<boolean> {
  const principal = await withinBudget(auth.identify(token).catch(() => null), TOKEN_CHECK_BUDGET_MS, null);
  return principal?.kind === 'admin-token' || principal?.user.role === 'admin';
}

/** What `work` resolves to, or `late` if it takes longer than `ms` (the work itself runs on). */
async function withinBudget<T>(work: Promise<T>, ms: number, late: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const giveUp = new Promise<T>((resolve) => {
    timer = setTimeout(resolve, ms, late);
  });
  try {
    return await Promise.race([work, giveUp]);
  } finally {
    clearTimeout(timer);
  }
}
