/**
 * buildApp wires plugins and routes onto a Fastify instance. It never listens, so tests drive it
 * with inject() and main.ts decides where it listens.
 */
import type { IncomingMessage } from 'node:http';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { configurationWarnings, type Config } from './config.js';
import type { Dependencies } from './dependencies.js';
import { createLoginThrottle } from './domain/users/login-throttle.js';
import { AppError } from './errors.js';
import { answerProtocolError, cutOffForSlowness, handleError } from './http/error-envelope.js';
import { authRoutes } from './http/auth.routes.js';
import { healthRoutes } from './http/health.routes.js';
import { inboxRoutes } from './http/inbox.routes.js';
import { createLifecycle, type Lifecycle } from './http/lifecycle.js';
import { metricsRoutes } from './http/metrics.routes.js';
import { refuseNulCharacters, unstorableCharacterErrors } from './http/unstorable-characters.js';
import { registerOpenApi } from './http/openapi.js';
import { exactBodies } from './http/exact-bodies.js';
import { createRouteTable } from './http/route-table.js';
import { createOperatorAuth } from './http/operator-auth.js';
import { SHARED_SCHEMAS } from './http/schemas.js';
import { usersRoutes } from './http/users.routes.js';
import { webhookLogRoutes } from './http/webhook-log.routes.js';
import { webhookRoutes } from './intake/webhook.routes.js';
import { nestsDeeperThan, tooDeepMessage } from './intake/json-depth.js';
import { realtimeRoutes } from './realtime/ws.routes.js';

export type AppDependencies = Pick<Dependencies, 'database' | 'intake' | 'inbox' | 'metrics' | 'feed' | 'activity' | 'storeWarnings' | 'now'>;

/** Secrets that must never reach a log line. */
export const LOG_REDACTIONS = ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]'];

/** Largest body of the operator and admin API; larger gets 413. */
const API_BODY_LIMIT = 64 * 1024;
/** Deepest nesting of an API request's JSON; deeper gets 400, before any walk could overflow the stack. */
const MAX_API_JSON_DEPTH = 32;

export async function buildApp(
  config: Config,
  deps: AppDependencies,
  logger?: FastifyBaseLogger,
  lifecycle: Lifecycle = createLifecycle(),
): Promise<FastifyInstance> {
  const app = Fastify({
    ...(logger ? { loggerInstance: logger } : { logger: false }),
    // One line per request, written below with the fields operators search by.
    logController: new LogController({ disableRequestLogging: true }),
    // Fastify's own 503 during shutdown has another body; ours uses the seed's envelope.
    return503OnClosing: false,
    requestTimeout: 30_000,
    // node:http holds a request to headersTimeout (60 s by default) whenever that is the longer of
    // the two, and looks for late ones every connectionsCheckingInterval (30 s by default): a body
    // trickling in was cut off after 60–90 s, not 30.
    http: { headersTimeout: 30_000, connectionsCheckingInterval: 5_000 },
    // No operator or admin request comes near it (a login is about 1 KB), and anyone can send one
    // to be parsed; the webhook route has its own limit (WEBHOOK_BODY_LIMIT).
    bodyLimit: API_BODY_LIMIT,
    // Errors the router raises before routing (a malformed %-escape, an over-long path segment, a
    // failing async constraint) would otherwise be answered with Fastify's own body.
    frameworkErrors: (error, request, reply) => {
      // An upgrade request that fails in the router never reaches onResponse (below).
      reply.raw.once('finish', () => closeIfUpgrade(request.raw));
      return handleError(error, request, reply);
    },
    // Requests node:http cannot parse never reach the router: answered in the envelope all the same.
    clientErrorHandler: answerProtocolError,
    // Unknown fields are an error, not silently dropped: a typo must not answer 200 and do nothing.
    ajv: { customOptions: { removeAdditional: false } },
    schemaController: { compilersFactory: { buildValidator: exactBodies } },
    // Only the listed proxies' X-Forwarded-For is believed (the rightmost untrusted hop is the
    // client); never `true`, which would let anyone claim an allowlisted address.
    trustProxy: config.trustProxy.length > 0 ? [...config.trustProxy] : false,
  });

  app.addHook('preClose', async () => lifecycle.beginShutdown());
  app.addHook('onRequest', async (request) => {
    // Health stays answerable so that a load balancer can see why it should stop sending (whatever
    // query string its probe adds).
    const path = request.url.split('?', 1)[0];
    if (lifecycle.isShuttingDown() && path !== '/api/health' && path !== '/api/ready') {
      throw new AppError('internal_error', 503, 'Service is shutting down');
    }
  });

  // Nothing here decompresses: a gzipped body would be read as broken JSON (400), and a body that
  // happens to parse would be taken as sent. Refused before it is read, as RFC 7694 asks.
  // A callback, not an async hook: it runs on every request, and a promise each is not free.
  app.addHook('preParsing', (request, reply, payload, done) => {
    const encoding = request.headers['content-encoding']?.trim().toLowerCase();
    if (encoding === undefined || encoding === '' || encoding === 'identity' || !hasBody(request.raw)) return done(null, payload);
    reply.header('accept-encoding', 'identity');
    // Named only when it looks like codings: the header is the client's text, and the message is
    // answered, recorded and logged before any authentication.
    const named = /^[a-z0-9!#$%&'*+.^_`|~-]{1,20}(\s*,\s*[a-z0-9!#$%&'*+.^_`|~-]{1,20}){0,2}$/.test(encoding) ? `Content-Encoding ${encoding}` : 'This Content-Encoding';
    done(new AppError('unsupported_media_type', 415, `${named} is not supported: send the body uncompressed`));
  });

  /** Once per answered request: its log line, and a webhook's metrics and last-activity time. */
  const completed = (request: FastifyRequest, reply: FastifyReply, hungUp: boolean): void => {
    const entry = request.webhookLogEntry;
    request.log.info(
      {
        method: request.method,
        // The path only: query strings may carry tokens.
        path: request.url.split('?', 1)[0],
        statusCode: reply.statusCode,
        durationMs: Math.round(reply.elapsedTime * 100) / 100,
        ip: request.webhookClientIp ?? request.ip,
        userAgent: request.headers['user-agent'],
        // The client left before its answer, which it never read (a webhook's effects stand).
        ...(hungUp && { hungUp }),
        ...(entry && {
          webhookEventId: entry.id,
          format: entry.format,
          event: entry.event,
          subject: entry.subject,
          outcome: entry.outcome,
          sizeBytes: entry.sizeBytes,
          authScheme: entry.authScheme,
          authKey: entry.authKey,
          ipAllowed: entry.ipAllowed,
          // Why it was refused or failed (field paths and rules, never the message's text).
          ...(entry.error && { error: entry.error }),
        }),
      },
      'request completed',
    );
    if (entry) {
      deps.metrics.observeWebhook(entry, reply.elapsedTime / 1000);
      deps.activity.record(entry);
    }
  };
  // Not onResponse: Fastify runs it only once the answer is written, never for a client that hung
  // up first, and the slowest webhooks (past the sender's timeout), which the alerts on slowness
  // and errors are there for, went uncounted. By onSend the answer is decided (a webhook's entry
  // is recorded); the response's close comes after it is written, or at once if the client left.
  const seen = new WeakSet<FastifyRequest>();
  app.addHook('onSend', (request, reply, payload, done) => {
    // Once, though an error while sending sends again, and a client gone may have closed already.
    if (!seen.has(request)) {
      seen.add(request);
      // The connection too: an answer queued behind another on it (pipelining) is never given the
      // socket, and its response says nothing when the client leaves.
      const socket = request.raw.socket as IncomingMessage['socket'] | null;
      let written = false;
      let logged = false;
      const complete = () => {
        if (logged) return;
        logged = true;
        socket?.off('close', complete);
        // Cut off for slowness, the client was answered (408) by node:http itself, not by this reply.
        completed(request, reply, !written && !cutOffForSlowness(socket));
      };
      // Not writableFinished, which inject()'s responses never set.
      reply.raw.once('finish', () => (written = true));
      reply.raw.once('close', complete);
      socket?.once('close', complete);
      if (reply.raw.destroyed || socket?.destroyed === true) complete();
    }
    done(null, payload);
  });

  // Before any route, so that it sees them all (those of plugins registered below too).
  const routeTable = createRouteTable();
  app.addHook('onRoute', (route) => {
    routeTable.add(route.method, route.url);
    // A plugin's '/' route is also registered at its prefix plus '/', without this hook running.
    if (route.prefix && route.routePath === '' && (route.prefixTrailingSlash ?? 'both') === 'both') routeTable.add(route.method, `${route.url}/`);
  });

  app.setErrorHandler(handleError);
  // An empty body labelled JSON is no body, as many HTTP clients send it on a request without one
  // (POST /api/chats/:id/read, logout); a route that needs a body then refuses it by its schema.
  // The webhook route keeps its own parser: there an empty body is the seed's 400.
  // The body is also refused when it nests deeper than any request of this API needs (every walk
  // after parsing would overflow the stack) or holds U+0000 or a lone surrogate (unstorable-characters.ts).
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const raw = body as string;
    if (raw === '') return done(null, undefined);
    if (nestsDeeperThan(Buffer.from(raw), MAX_API_JSON_DEPTH)) {
      return done(new AppError('bad_request', 400, 'Invalid request data', { body: [tooDeepMessage(MAX_API_JSON_DEPTH)] }));
    }
    parseJson(request, raw, (error, parsed) => done(error ?? unstorableCharacterErrors(raw, parsed) ?? null, parsed));
  });
  // Every route's params and query at once, rather than a check in each route.
  app.addHook('preValidation', refuseNulCharacters);
  // @fastify/websocket sends every upgrade request through the router, but closes the socket only
  // of one answered inside its own plugin. Answered anywhere else (a 404, /api/health), the socket,
  // which node:http has let go of and no longer times out, would stay open for good: a thousand
  // such requests would use up the process's file descriptors.
  app.addHook('onResponse', async (request) => closeIfUpgrade(request.raw));
  for (const schema of SHARED_SCHEMAS) app.addSchema(schema);
  app.decorateRequest('principal', null);
  // Before the routes: it documents the routes registered after it.
  await registerOpenApi(app);

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?', 1)[0]!;
    const allowed = routeTable.methodsFor(path);
    // The table only approximates the router: never answer 405 for the method that was asked.
    if (allowed.length > 0 && !allowed.includes(request.method)) {
      return handleError(new AppError('method_not_allowed', 405, `Method ${request.method} is not allowed here`), request, reply.header('allow', allowed.join(', ')));
    }
    return handleError(new AppError('not_found', 404, `Route ${request.method} ${path} not found`), request, reply);
  });

  await app.register(webhookRoutes, {
    intake: deps.intake,
    bodyLimit: config.webhookBodyLimit,
    ipAllowlist: config.webhookIpAllowlist,
    ipAllowlistMode: config.webhookIpAllowlistMode,
    onIntakeStarted: () => deps.metrics.webhookStarted(),
    onIpAllowlistMiss: (mode) => deps.metrics.observeIpAllowlistMiss(mode),
  });
  const auth = createOperatorAuth({ db: deps.database.db, adminToken: config.adminToken, now: deps.now });
  await app.register(healthRoutes, {
    database: deps.database,
    activity: deps.activity,
    warnings: [...configurationWarnings(config), ...deps.storeWarnings],
    auth,
    isShuttingDown: lifecycle.isShuttingDown,
  });
  await app.register(authRoutes, {
    db: deps.database.db,
    auth,
    throttle: createLoginThrottle(deps.database.db, { maxFailures: config.loginMaxFailures, windowMs: config.loginWindowMinutes * 60_000 }),
    sessionTtlMs: config.sessionTtlHours * 3_600_000,
    now: deps.now,
  });
  await app.register(inboxRoutes, { inbox: deps.inbox, auth });
  await app.register(usersRoutes, { db: deps.database.db, auth, now: deps.now });
  await app.register(webhookLogRoutes, { db: deps.database.db, intake: deps.intake, auth });
  await app.register(realtimeRoutes, {
    db: deps.database.db,
    feed: deps.feed,
    auth,
    heartbeatMs: config.realtimeHeartbeatSeconds * 1000,
    observe: { connections: (count) => deps.metrics.trackRealtimeConnections(count), sent: (n) => deps.metrics.observeRealtimeSent(n) },
  });
  // Served here only with a token; METRICS_PORT serves it on a listener of its own (main.ts).
  if (config.metricsEnabled && config.metricsPort === null && config.metricsToken !== null) {
    await app.register(metricsRoutes, { registry: deps.metrics.registry, token: config.metricsToken });
  }
  return app;
}

/** Whether the request carries a body (RFC 9112 §6.3), however empty it turns out. */
function hasBody(request: IncomingMessage): boolean {
  return request.headers['transfer-encoding'] !== undefined || Number(request.headers['content-length'] ?? 0) > 0;
}

/** Closes the socket of an answered upgrade request that no WebSocket took (see buildApp). */
function closeIfUpgrade(request: IncomingMessage): void {
  if ((request as { upgrade?: boolean }).upgrade === true) request.socket.destroy();
}
