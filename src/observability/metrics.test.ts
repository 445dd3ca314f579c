import { describe, expect, it, vi } from 'vitest';
import { createMetrics } from './metrics.js';

const gauge = async (metrics: ReturnType<typeof createMetrics>, name: string) => {
  const metric = await metrics.registry.getSingleMetric(name)!.get();
  return metric.values[0]!.value;
};

describe('metrics', () => {
  // A webhook logged before the clock was set back must not keep the silence alert quiet.
  it('starts the last-received time at the log\'s last webhook, never ahead of now', async () => {
    const past = Date.now() - 3_600_000;
    expect(await gauge(createMetrics({ enabled: true, lastReceivedAt: past, silenceAlertSeconds: 1800, writeLockTimeoutSeconds: 5 }), 'webhook_last_received_timestamp_seconds')).toBe(past / 1000);
    const future = createMetrics({ enabled: true, lastReceivedAt: Date.now() + 86_400_000, silenceAlertSeconds: 1800, writeLockTimeoutSeconds: 5 });
    expect(await gauge(future, 'webhook_last_received_timestamp_seconds')).toBeLessThanOrEqual(Date.now() / 1000);
  });

  // A request waits for the batch ahead of it and for its own, each up to the lock's timeout.
  it('sets the stuck alert above the longest wait the writers\' lock allows, 90 s at least', async () => {
    const threshold = (writeLockTimeoutSeconds: number) =>
      gauge(createMetrics({ enabled: true, lastReceivedAt: null, silenceAlertSeconds: 1800, writeLockTimeoutSeconds }), 'webhook_stuck_alert_threshold_seconds');
    expect(await threshold(5)).toBe(90);
    expect(await threshold(60)).toBe(180);
  });

  it('counts webhooks in flight until each ends, and how long the oldest has waited', async () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    try {
      const metrics = createMetrics({ enabled: true, lastReceivedAt: null, silenceAlertSeconds: 1800, writeLockTimeoutSeconds: 5 });
      const first = metrics.webhookStarted();
      vi.advanceTimersByTime(5_000);
      const second = metrics.webhookStarted();
      vi.advanceTimersByTime(1_000);
      expect(await gauge(metrics, 'webhook_requests_in_flight')).toBe(2);
      expect(await gauge(metrics, 'webhook_oldest_in_flight_seconds')).toBe(6);
      first();
      first();
      expect(await gauge(metrics, 'webhook_requests_in_flight')).toBe(1);
      expect(await gauge(metrics, 'webhook_oldest_in_flight_seconds')).toBe(1);
      second();
      expect(await gauge(metrics, 'webhook_requests_in_flight')).toBe(0);
      expect(await gauge(metrics, 'webhook_oldest_in_flight_seconds')).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});
