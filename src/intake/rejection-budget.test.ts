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
});
