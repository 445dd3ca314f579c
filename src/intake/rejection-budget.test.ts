import { describe, expect, it } from 'vitest';
import { createRejectionBudget } from './rejection-budget.js';

describe('createRejectionBudget', () => {
  it('lets each address record its first refusals of a minute, says once when it goes over, and starts again each minute', () => {
    const budget = createRejectionBudget(2);
    const minute = 60_000 * 1000;
    expect([1, 2, 3, 4].map(() => budget.take('192.0.2.1', minute))).toEqual([
      { record: true, firstOverBudget: false },
      { record: true, firstOverBudget: false },
      { record: false, firstOverBudget: true },
      { record: false, firstOverBudget: false },
    ]);
    expect(budget.take('192.0.2.2', minute + 59_999).record).toBe(true);
    expect(budget.take('192.0.2.1', minute + 60_000)).toEqual({ record: true, firstOverBudget: false });
  });

  it('counts an IPv6 client by its /64, and caps all clients together at ten budgets a minute', () => {
    const budget = createRejectionBudget(2);
    const at = 60_000 * 2000;
    expect(['2001:db8:1:1::1', '2001:db8:1:1::2', '2001:db8:1:1:ffff::3'].map((address) => budget.take(address, at).record)).toEqual([true, true, false]);
    expect(budget.take('2001:db8:1:2::1', at).record).toBe(true);
    expect(budget.take('::ffff:192.0.2.9', at).record).toBe(true);
    expect(budget.take('192.0.2.9', at).record).toBe(true);
    const many = Array.from({ length: 30 }, (_, i) => budget.take(`198.51.100.${i}`, at));
    // 5 recorded above (the IPv4-mapped address is the IPv4 one, its second), so 15 more reach the
    // total of 20; the first refused one is worth a warning.
    expect(many.filter((r) => r.record)).toHaveLength(15);
    expect(many.filter((r) => r.firstOverBudget)).toHaveLength(1);
  });

  // The addresses it remembers are bounded; forgetting them once had reset the total too, so that
  // 100,000 addresses in a minute recorded 12,000 refusals where the total is 1,200.
  it('keeps the total when a flood of addresses makes it forget them', () => {
    const budget = createRejectionBudget(120);
    const at = 60_000 * 3000;
    let recorded = 0;
    for (let i = 0; i < 100_000; i += 1) if (budget.take(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, at).record) recorded += 1;
    expect(recorded).toBe(1200);
    expect(budget.take('192.0.2.77', at + 60_000).record).toBe(true);
  });
});
