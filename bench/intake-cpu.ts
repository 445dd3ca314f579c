/**
 * CPU per webhook inside backchat, without HTTP: the intake service alone, on a fresh SQLite file
 * (or MICRO_DB), fed message events in groups of 32 (as group commit sees them under load).
 * Process CPU time is much steadier than requests per second on a shared machine, which makes
 * this the measurement to compare code changes with: run it a few times and take the lowest.
 *
 *   npx tsx bench/intake-cpu.ts            # MICRO_N=20000 messages after 2,000 of warm-up
 */
import { mkdirSync, rmSync } from 'node:fs';
import { loadConfig } from '../src/config.js';
import { openDependencies } from '../src/dependencies.js';
import type { WebhookRequest } from '../src/intake/intake.service.js';

const total = Number(process.env.MICRO_N ?? 20_000);
const group = 32;
const chats = 1000;
const dir = `${process.cwd()}/data/intake-cpu-${process.pid}`;
mkdirSync(dir, { recursive: true });
const deps = await openDependencies(loadConfig({ DATABASE_URL: process.env.MICRO_DB ?? `sqlite:${dir}/intake.db` }), {
  warn: () => undefined,
  error: () => undefined,
});

let sequence = 0;
function request(): WebhookRequest {
  sequence += 1;
  const chat = sequence % chats;
  const phone = `+7 701 ${1_000_000 + chat}`;
  const body = Buffer.from(
    JSON.stringify({
      event: 'message',
      data: { id: `m${sequence}`, chatId: `chat${chat}`, text: 'Hello, a question about your services', type: 'text', from: phone, timestamp: 1640995200 + sequence, contact: { name: `Name ${chat}`, phone } },
    }),
  );
  return { rawBody: body, sizeBytes: body.length, clientIp: '127.0.0.1', userAgent: 'bench', receivedAt: Date.now(), elapsedMs: () => 0, headers: {}, queryToken: undefined, ipAllowed: null };
}
const run = async (count: number) => {
  for (let i = 0; i < count; i += group) await Promise.all(Array.from({ length: group }, () => deps.intake.receive(request())));
};

await run(2000);
const cpuBefore = process.cpuUsage();
const started = performance.now();
await run(total);
const cpu = process.cpuUsage(cpuBefore);
const wallUs = (performance.now() - started) * 1000;
console.log(
  `CPU per message: ${((cpu.user + cpu.system) / total).toFixed(1)} µs (user ${(cpu.user / total).toFixed(1)}, system ${(cpu.system / total).toFixed(1)}); wall ${(wallUs / total).toFixed(1)} µs`,
);
await deps.close();
rmSync(dir, { recursive: true, force: true });
