/**
 * What the floor servers share: they listen until the bench stops them with SIGTERM, then close
 * and delete their SQLite files, so that a run leaves nothing behind.
 */
import { rmSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';

/** Deletes a SQLite database with its WAL, shared-memory and rollback-journal files. */
export function removeSqliteFiles(file: string): void {
  for (const suffix of ['', '-wal', '-shm', '-journal']) rmSync(file + suffix, { force: true });
}

/** Listens on PORT/HOST (or the defaults); on SIGTERM or SIGINT closes, runs `cleanUp`, exits 0. */
export async function serveUntilStopped(app: FastifyInstance, defaultPort: number, cleanUp: () => void | Promise<void>): Promise<void> {
  const stop = () => {
    void app.close().then(async () => {
      await cleanUp();
      process.exit(0);
    });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  await app.listen({ port: Number(process.env.PORT ?? defaultPort), host: process.env.HOST ?? '127.0.0.1' });
}
