/**
 * A local stand-in for the Wazzup24 API v3, behaving as its documentation says (we cannot call
 * the real one from tests): `PATCH /v3/webhooks` checks the API key and the URI, test-posts
 * `{"test":true}` to the URI, and keeps the URL only if that answered 200; `GET /v3/webhooks`
 * returns the settings, with the switches as strings as the documentation shows them.
 */
import Fastify, { type FastifyInstance } from 'fastify';

export interface FakeWazzupApi {
  url: string;
  /** Every PATCH body received, in order. */
  patches: unknown[];
  current(): { webhooksUri: string; subscriptions: Record<string, boolean> } | null;
  close(): Promise<void>;
}

type Settings = { webhooksUri: string; subscriptions: Record<string, boolean> };

export async function startFakeWazzupApi(options: { apiKey: string; crmKey?: string }): Promise<FakeWazzupApi> {
  const app: FastifyInstance = Fastify({ logger: false });
  const patches: unknown[] = [];
  let settings: Settings | null = null;

  app.addHook('onRequest', async (request, reply) => {
    if (request.headers.authorization !== `Bearer ${options.apiKey}`) {
      // Documented: 401 for a bad key, with an empty body or {error, description}.
      return reply.code(401).send({ error: 'unauthorized', description: 'Invalid API key' });
    }
  });

  app.patch('/v3/webhooks', async (request, reply) => {
    const body = request.body as { webhooksUri?: unknown; subscriptions?: Record<string, boolean> };
    patches.push(body);
    const uri = typeof body.webhooksUri === 'string' ? body.webhooksUri : '';
    let parsed: URL | undefined;
    try {
      parsed = new URL(uri);
    } catch {
      parsed = undefined;
    }
    if (!parsed || !/^https?:$/.test(parsed.protocol) || uri.length > 200) {
      return reply.code(400).send({ error: 'uriNotValid', description: 'Provided URI is not valid URI' });
    }
    let status: number;
    try {
      const test = await fetch(uri, {
        method: 'POST',
        // Wazzup24's header, malformed charset included.
        headers: {
          'content-type': 'application/json; charset-utf-8',
          ...(options.crmKey && { authorization: `Bearer ${options.crmKey}` }),
        },
        body: JSON.stringify({ test: true }),
        signal: AbortSignal.timeout(30_000),
      });
      status = test.status;
    } catch {
      status = 0;
    }
    if (status !== 200) {
      return reply.code(400).send({ error: 'testPostNotPassed', description: 'URI does not return 200 OK on test request', data: { status } });
    }
    settings = { webhooksUri: uri, subscriptions: body.subscriptions ?? {} };
    // The docs show `{ ok }`, which is not JSON: a client must not insist on parsing it.
    return reply.code(200).type('application/json').send('{ ok }');
  });

  app.get('/v3/webhooks', async () => {
    const switches = Object.fromEntries(Object.entries(settings?.subscriptions ?? {}).map(([name, on]) => [name, String(on)]));
    return { webhooksUri: settings?.webhooksUri ?? null, subscriptions: switches };
  });

  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address() as { port: number };
  return { url: `http://127.0.0.1:${address.port}`, patches, current: () => settings, close: () => app.close() };
}
