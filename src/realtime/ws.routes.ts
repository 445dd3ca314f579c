/**
 * `GET /api/ws`: operators' real-time channel. Authenticated with the same token as the REST
 * API, in the Authorization header or, for browsers (which cannot set headers on a WebSocket),
 * as `?token=`. `?since=<seq>` replays what the client missed before live events.
 */
import websocket from '@fastify/websocket';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { AppError } from '../errors.js';
import type { OperatorAuth, Principal } from '../http/operator-auth.js';
import { presentEvent } from '../http/presenters/event.presenter.js';
import { bearerSecurity } from '../http/schemas.js';
import { bearerToken } from '../security/token-matcher.js';
import type { Executor } from '../storage/executor.js';
import type { EventFeed } from './event-feed.js';
import { createRealtimeHub, MAX_CONNECTIONS_PER_USER } from './realtime-hub.js';

export interface RealtimeRoutesOptions {
  db: Executor;
  feed: EventFeed;
  auth: OperatorAuth;
  heartbeatMs: number;
  /** Reports the hub's live connection count and events sent, for metrics. */
  observe: { connections(count: () => number): void; sent(count: number): void };
}

export async function realtimeRoutes(app: FastifyInstance, options: RealtimeRoutesOptions): Promise<void> {
  const hub = createRealtimeHub({ db: options.db, present: presentEvent, heartbeatMs: options.heartbeatMs, onSent: options.observe.sent });
  options.observe.connections(hub.connections);
  const stopFeed = await options.feed.start((event) => hub.broadcast(event));
  app.addHook('preClose', async () => hub.close());
  app.addHook('onClose', async () => stopFeed());

  await app.register(websocket, {
    options: { maxPayload: 64 * 1024 },
    // A client breaking the protocol (a frame too large, bad UTF-8; ws has closed it with the
    // code that says so) is its own fault: not an error of ours, nor worth a stack trace.
    errorHandler: (error, socket, request) => {
      request.log.warn({ reason: error.message, code: (error as { code?: string }).code }, 'real-time client broke the protocol');
      socket.terminate();
    },
  });

  // Declared with a plain handler beside the WebSocket one so that the route stays in the OpenAPI
  // document (`websocket: true` hides it); a plain HTTP request gets 426.
  app.route({
    method: 'GET',
    url: '/api/ws',
    schema: {
      tags: ['real-time'],
      summary: 'WebSocket of domain events: {seq, type, at, data}; ?since=<seq> replays what was missed',
      security: bearerSecurity,
      querystring: {
        type: 'object',
        properties: { token: { type: 'string', maxLength: 200 }, since: { type: 'integer', minimum: 0 } },
        additionalProperties: false,
      },
      response: { 400: { $ref: 'Error#' }, 401: { $ref: 'Error#' }, 403: { $ref: 'Error#' }, 426: { $ref: 'Error#' } },
    },
    onRequest: async (request) => {
        const principal = await options.auth.identify(presentedToken(request));
        if (!principal) throw new AppError('unauthorized', 401, 'Sign in: send Authorization: Bearer <token> or ?token=');
        if (principal.kind !== 'user') throw new AppError('forbidden', 403, 'Real-time events are for users; ADMIN_TOKEN is for admin routes');
        if (hub.connectionsOf(principal.user.id) >= MAX_CONNECTIONS_PER_USER) {
          throw new AppError('too_many_requests', 429, `This user holds ${MAX_CONNECTIONS_PER_USER} real-time connections already: close one first`);
        }
        request.principal = principal;
    },
    handler: async () => {
      throw new AppError('upgrade_required', 426, 'This is a WebSocket endpoint: connect with Upgrade: websocket');
    },
    wsHandler: (socket, request) => {
      const { since } = request.query as { since?: number };
      const token = presentedToken(request)!;
      const principal = request.principal as Extract<Principal, { kind: 'user' }>;
      const access = { owner: principal.user.id, key: token, stillAllowed: async () => (await options.auth.identify(token))?.kind === 'user' };
      // An upgrade answers no HTTP response, so the request log line never comes: who held a live
      // feed, and for how long, is said here (never the token, which the query may carry).
      const opened = performance.now();
      const who = { userId: principal.user.id, tokenId: principal.tokenId, clientIp: request.ip };
      request.log.info({ ...who, since: since ?? null }, 'real-time connection opened');
      socket.once('close', (code: number) => request.log.info({ ...who, code, durationMs: Math.round(performance.now() - opened) }, 'real-time connection closed'));
      // Clients only listen; anything they send is ignored.
      hub.connect(socket, since ?? null, access).catch((error: unknown) => {
        request.log.error({ err: error }, 'real-time replay failed');
        socket.close(1011, 'Replay failed; reconnect');
      });
    },
  });
}

/**
 * The header's bearer token, or `?token=` for browsers, which cannot set headers on a WebSocket.
 * This runs before the query is validated: a repeated `?token=` (a list) is no token.
 */
function presentedToken(request: FastifyRequest): string | undefined {
  const { token } = request.query as { token?: unknown };
  return bearerToken(request.headers.authorization) ?? (typeof token === 'string' ? token : undefined);
}
