import type { FastifyReply } from 'fastify';
import { describe, expect, it, vi } from 'vitest';
import { createSearchGate, SEARCHES_AT_ONCE } from './search-gate.js';

describe('search gate', () => {
  it('runs a few searches at once, lets a few more wait, and refuses the rest with Retry-After', async () => {
    const gate = createSearchGate();
    const reply = { header: vi.fn() };
    let running = 0;
    let most = 0;
    const finish: (() => void)[] = [];
    const search = () =>
      new Promise<string>((resolve) => {
        running += 1;
        most = Math.max(most, running);
        finish.push(() => {
          running -= 1;
          resolve('found');
        });
      });
    const run = (user: string) => gate(user, reply as unknown as FastifyReply, search);

    // Eleven users, two searches each: two run, twenty wait.
    const admitted = Array.from({ length: 11 }, (_, user) => [run(`u${user}`), run(`u${user}`)]).flat();
    // A third of one user's own (SEARCHES_PER_USER), and anyone's once twenty wait: refused.
    await expect(run('u0')).rejects.toMatchObject({ httpStatus: 429, message: 'Too many searches at once; try again in 2 s' });
    await expect(run('u99')).rejects.toMatchObject({ httpStatus: 429 });
    expect(reply.header).toHaveBeenCalledWith('retry-after', '2');

    while (finish.length > 0 || running > 0) {
      await new Promise((resolve) => setImmediate(resolve));
      finish.shift()?.();
    }
    expect(await Promise.all(admitted)).toEqual(Array(22).fill('found'));
    expect(most).toBe(SEARCHES_AT_ONCE);
    // All done: each user may search again.
    const again = run('u0');
    await new Promise((resolve) => setImmediate(resolve));
    finish.shift()?.();
    expect(await again).toBe('found');
  });
});
