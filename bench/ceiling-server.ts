/**
 * The ceiling: the same route on a bare Fastify with its default JSON parser and nothing else, so
 * the benchmark can tell what HTTP + JSON alone cost on this machine. Run as its own process so it
 * never shares an event loop (or a CPU) with autocannon in a way backchat would not.
 */
import Fastify from 'fastify';

const port = Number(process.env.PORT ?? 3001);
const host = process.env.HOST ?? '127.0.0.1';

/**
 * CPU work per request, in µs (BENCH_BUDGET sets it): a busy loop on the event loop, as a
 * single-threaded server's own work would be. 0, the ceiling itself, does nothing.
 */
const cpuUsPerRequest = Number(process.env.CEILING_CPU_US ?? 0);
const spend = (us: number) => {
  const until = process.hrtime.bigint() + BigInt(Math.round(us * 1000));
  while (process.hrtime.bigint() < until);
};

const app = Fastify();

// Readiness probe, like backchat's GET on the same path.
app.get('/api/webhooks/wazzup24', async () => ({ status: 'ok', message: 'Webhook endpoint is available' }));
app.post('/api/webhooks/wazzup24', async () => {
  if (cpuUsPerRequest > 0) spend(cpuUsPerRequest);
  return { status: 'success', message: 'Webhook processed successfully' };
});

const stop = () => {
  void app.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

await app.listen({ port, host });
