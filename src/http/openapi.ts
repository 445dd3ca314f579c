/**
 * OpenAPI 3 at /api/openapi.json, generated from the route schemas, and a browsable page at
 * /api/docs. The webhook reads its body as raw bytes (no body schema to validate with), so its
 * request body is described here for the documentation only.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';

const WEBHOOK_BODY_DOC = {
  description:
    'The seed format `{"event":"message"|"status"|"contact","data":{…},"signature"?}` or a native Wazzup24 API v3 body ' +
    '(`{"messages":[…],"statuses":[…]}`, `{"test":true}`, …). Rules: docs/API.md and docs/WAZZUP24.md.',
  type: 'object',
  properties: {
    event: { type: 'string', enum: ['message', 'status', 'contact'] },
    data: { type: 'object' },
    signature: { type: 'string', description: 'sha256=<hex>, as the last member (docs/SECURITY.md)' },
    messages: { type: 'array', items: { type: 'object' } },
    statuses: { type: 'array', items: { type: 'object' } },
    test: { type: 'boolean' },
  },
};

/** Marks, between the two transforms below, an operation whose body is optional. */
const OPTIONAL_BODY = 'x-backchat-optional-body';

export async function registerOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'backchat',
        version: '0.1.0',
        description: 'Webhook intake for Wazzup24, and the operator API over chats. Errors use `{"status":"error","message":…}`.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'A session or API token, or ADMIN_TOKEN on admin routes' } } },
    },
    // Fastify registers a HEAD twin of every GET; the docs need only the GET.
    hideUntagged: true,
    transform: ({ schema, url, route }) => {
      const documented = { ...(schema as Record<string, unknown>) };
      if (url === '/api/webhooks/wazzup24' && route.method === 'POST') documented.body = WEBHOOK_BODY_DOC;
      // A body that may be null may be left out; @fastify/swagger marks every body required.
      const bodyType = (documented.body as { type?: unknown } | undefined)?.type;
      if (Array.isArray(bodyType) && bodyType.includes('null')) documented[OPTIONAL_BODY] = true;
      return { schema: documented as typeof schema, url };
    },
    transformObject: (document) => {
      // Always the OpenAPI form here (the `openapi` option above), never Swagger 2's.
      if (!('openapiObject' in document)) return document.swaggerObject;
      for (const operations of Object.values(document.openapiObject.paths ?? {})) {
        for (const operation of Object.values(operations as Record<string, Record<string, unknown>>)) {
          if (!operation[OPTIONAL_BODY]) continue;
          delete operation[OPTIONAL_BODY];
          (operation.requestBody as { required?: boolean }).required = false;
        }
      }
      return document.openapiObject;
    },
  });
  await app.register(swaggerUi, { routePrefix: '/api/docs' });
  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
