/**
 * The durable floor: the least a webhook intake can do and still promise, with its 200, that the
 * request is on disk. Bare Fastify, the same route, the body read as bytes (not parsed, not
 * validated), one row per request (the raw body and its arrival time) in one SQLite table, WAL
 * with synchronous=FULL, group-committed: requests read in one turn of the event loop share one
 * transaction and are answered once it has committed.
 *
 * No domain, no webhook log, no events, no logging: whatever backchat does beyond this, it pays
 * for on top. The floor's ratio to the ceiling bounds what any intake that stores before it
 * answers can reach on this machine.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import Fastify from 'fastify';
import { removeSqliteFiles, serveUntilStopped } from './floor-lifecycle.js';

const file = process.env.FLOOR_DB ?? `./data/bench-floor-${process.pid}.db`;

mkdirSync(dirname(file), { recursive: true });
const db = new BetterSqlite3(file);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.exec('create table if not exists received (id integer primary key, received_at integer not null, body text not null)');
const insert = db.prepare('insert into received (received_at, body) values (?, ?)');
const commitAll = db.transaction((bodies: string[], now: number) => {
  for (const body of bodies) insert.run(now, body);
});

let waiting: { body: string; done: () => void }[] = [];
const flush = () => {
  const batch = waiting;
  waiting = [];
  commitAll(
    batch.map((item) => item.body),
    Date.now(),
  );
  for (const item of batch) item.done();
};

const app = Fastify();
app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => done(null, body));
app.get('/api/webhooks/wazzup24', async () => ({ status: 'ok', message: 'Webhook endpoint is available' }));
app.post('/api/webhooks/wazzup24', async (request) => {
  await new Promise<void>((resolve) => {
    if (waiting.length === 0) setImmediate(flush);
    waiting.push({ body: request.body as string, done: resolve });
  });
  return { status: 'success', message: 'Webhook processed successfully' };
});

await serveUntilStopped(app, 3002, () => {
  db.close();
  removeSqliteFiles(file);
});
