/**
 * Prometheus metrics (prom-client, on a registry of our own). Every labelled series is created at
 * zero at start, so that rate() and absence alerts work from the first scrape. Labels never carry
 * ids, addresses or User-Agents: their number must stay small and fixed.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { WEBHOOK_OUTCOMES, type WebhookLogEntry } from '../domain/webhook-log/webhook-log.types.js';
import type { BatchStats } from '../storage/group-commit.js';
import type { DomainEvent } from '../domain/domain-events.js';

/** `event` label values: the kinds a body carries, `other` for v3 kinds we only record, `none` for the rest. */
const EVENTS = ['message', 'status', 'contact', 'batch', 'test', 'other', 'none'] as const;
const RECORDED_ONLY = new Set(['create_contact', 'create_deal', 'channels_update', 'template_status', 'empty']);
const DOMAIN_EVENTS: DomainEvent['type'][] = ['message.created', 'message.updated', 'message.status_changed', 'chat.updated', 'contact.updated'];
// Bucket boundaries sit exactly on the alert thresholds (0.5 s, 1 s) and on Wazzup24's 30 s timeout.
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30];

export interface Metrics {
  readonly registry: Registry;
  /** One finished webhook request: its log entry and the whole request's duration. */
  observeWebhook(entry: WebhookLogEntry, requestSeconds: number): void;
  observeIpAllowlistMiss(mode: 'enforce' | 'report'): void;
  observeCommitBatch(stats: BatchStats): void;
  observeDomainEvent(event: DomainEvent): void;
  /**
   * One webhook request being handled, from its handler's start; the returned function ends it.
   * A request that never ends (a database that stopped answering) is what the stuck alert sees.
   */
  webhookStarted(): () => void;
  /** The real-time hub's count of open WebSocket connections, read at each scrape. */
  trackRealtimeConnections(count: () => number): void;
  observeRealtimeSent(frames: number): void;
}

/**
 * `enabled: false` records nothing (the benchmark uses it to measure what metrics cost).
 * `lastReceivedAt`: the last accepted webhook found in the log at start, or null; without one
 * the gauge starts at the process start, so that a restart alone does not page anyone.
 * `silenceAlertSeconds` is exported for the silence alert rule to compare against, and the stuck
 * alert's threshold, derived from `writeLockTimeoutSeconds`, for the stuck alert rule.
 */
export function createMetrics(options: {
  enabled: boolean;
  lastReceivedAt: number | null;
  silenceAlertSeconds: number;
  writeLockTimeoutSeconds: number;
}): Metrics {
  const registry = new Registry();
  if (!options.enabled) {
    const none = () => undefined;
    return {
      registry,
      observeWebhook: none,
      observeIpAllowlistMiss: none,
      observeCommitBatch: none,
      observeDomainEvent: none,
      webhookStarted: () => none,
      trackRealtimeConnections: none,
      observeRealtimeSent: none,
    };
  }
  collectDefaultMetrics({ register: registry });

  const requests = new Counter({
    name: 'webhook_requests_total',
    help: 'Webhook requests by event and outcome (accepted, duplicate, partial, invalid, rejected, failed).',
    labelNames: ['event', 'outcome'],
    registers: [registry],
  });
  const requestDuration = new Histogram({
    name: 'webhook_request_duration_seconds',
    help: 'Time from receiving a webhook request to sending its response.',
    labelNames: ['outcome'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const processingDuration = new Histogram({
    name: 'webhook_processing_duration_seconds',
    help: 'Time from receiving a webhook to writing its effects in their transaction (processed requests only).',
    labelNames: ['event'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const requestSize = new Histogram({
    name: 'webhook_request_size_bytes',
    help: 'Size of webhook request bodies.',
    buckets: [256, 1024, 4096, 16384, 65536, 262144, 1048576],
    registers: [registry],
  });
  const lastReceived = new Gauge({
    name: 'webhook_last_received_timestamp_seconds',
    help: 'Unix time of the last accepted (or duplicate) webhook; the process start before the first one.',
    registers: [registry],
  });
  const silenceThreshold = new Gauge({
    name: 'webhook_silence_alert_threshold_seconds',
    help: 'How long without an accepted webhook the silence alert waits (WEBHOOK_SILENCE_ALERT_SECONDS).',
    registers: [registry],
  });
  const stuckThreshold = new Gauge({
    name: 'webhook_stuck_alert_threshold_seconds',
    help: 'How long a webhook may be in flight before the stuck alert fires: longer than any legitimate wait for the store.',
    registers: [registry],
  });
  const allowlistMisses = new Counter({
    name: 'webhook_ip_allowlist_misses_total',
    help: 'Webhooks from addresses outside the IP allowlist, by mode (enforce refused them, report let them in).',
    labelNames: ['mode'],
    registers: [registry],
  });
  const batchSize = new Histogram({
    name: 'store_commit_batch_size',
    help: 'Units of work committed together in one transaction by the group committer.',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
    registers: [registry],
  });
  const commitDuration = new Histogram({
    name: 'store_commit_duration_seconds',
    help: 'Time to write and commit one group-commit batch.',
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const unitFailures = new Counter({
    name: 'store_commit_unit_failures_total',
    help: 'Units of work that failed: alone after their batch was retried unit by unit, or with a batch that could not start.',
    registers: [registry],
  });
  const domainEvents = new Counter({
    name: 'domain_events_published_total',
    help: 'Domain events published on the event bus after commit.',
    labelNames: ['type'],
    registers: [registry],
  });

  /** Start times (performance.now(), ms) of the webhooks in flight, each its own object. */
  const inFlight = new Set<{ startedAt: number }>();
  new Gauge({
    name: 'webhook_requests_in_flight',
    help: 'Webhook requests being handled now.',
    registers: [registry],
    collect() {
      this.set(inFlight.size);
    },
  });
  new Gauge({
    name: 'webhook_oldest_in_flight_seconds',
    help: 'How long the oldest webhook request still being handled has been waiting; 0 when none is.',
    registers: [registry],
    collect() {
      let oldest = Infinity;
      for (const request of inFlight) oldest = Math.min(oldest, request.startedAt);
      this.set(oldest === Infinity ? 0 : (performance.now() - oldest) / 1000);
    },
  });

  let realtimeConnections: () => number = () => 0;
  new Gauge({
    name: 'realtime_connections',
    help: 'Open operator WebSocket connections on this instance.',
    registers: [registry],
    collect() {
      this.set(realtimeConnections());
    },
  });
  const realtimeSent = new Counter({
    name: 'realtime_events_sent_total',
    help: 'Event frames sent to operator WebSocket connections.',
    registers: [registry],
  });

  for (const event of EVENTS) for (const outcome of WEBHOOK_OUTCOMES) requests.inc({ event, outcome }, 0);
  realtimeSent.inc(0);
  for (const outcome of WEBHOOK_OUTCOMES) requestDuration.zero({ outcome });
  for (const event of EVENTS) processingDuration.zero({ event });
  for (const mode of ['enforce', 'report']) allowlistMisses.inc({ mode }, 0);
  for (const type of DOMAIN_EVENTS) domainEvents.inc({ type }, 0);
  unitFailures.inc(0);
  // Never ahead of now: a log entry dated by a clock that has since been set back would keep the
  // silence alert quiet until the next webhook.
  lastReceived.set(Math.min(options.lastReceivedAt ?? Date.now(), Date.now()) / 1000);
  silenceThreshold.set(options.silenceAlertSeconds);
  // A request may wait for the batch being written, then for its own: each may wait for a
  // connection (10 s at most) and the writers' lock, then for its work. Never below 90 s, which
  // covers the default lock timeout many times over.
  stuckThreshold.set(Math.max(90, 2 * options.writeLockTimeoutSeconds + 60));

  return {
    registry,
    observeWebhook(entry, requestSeconds) {
      // Only our own names become labels; anything a client wrote is "none".
      const event = (EVENTS as readonly string[]).includes(entry.event ?? '') ? entry.event! : RECORDED_ONLY.has(entry.event ?? '') ? 'other' : 'none';
      requests.inc({ event, outcome: entry.outcome });
      requestDuration.observe({ outcome: entry.outcome }, requestSeconds);
      requestSize.observe(entry.sizeBytes);
      if (entry.outcome === 'accepted' || entry.outcome === 'duplicate' || entry.outcome === 'partial' || entry.outcome === 'failed') {
        processingDuration.observe({ event }, entry.durationMs / 1000);
      }
      if (entry.outcome === 'accepted' || entry.outcome === 'duplicate' || entry.outcome === 'partial') {
        lastReceived.set(entry.receivedAt / 1000);
      }
    },
    observeIpAllowlistMiss(mode) {
      allowlistMisses.inc({ mode });
    },
    observeCommitBatch(stats) {
      batchSize.observe(stats.size);
      commitDuration.observe(stats.durationMs / 1000);
      if (stats.failedUnits > 0) unitFailures.inc(stats.failedUnits);
    },
    observeDomainEvent(event) {
      domainEvents.inc({ type: event.type });
    },
    webhookStarted() {
      const request = { startedAt: performance.now() };
      inFlight.add(request);
      return () => void inFlight.delete(request);
    },
    trackRealtimeConnections(count) {
      realtimeConnections = count;
    },
    observeRealtimeSent(frames) {
      if (frames > 0) realtimeSent.inc(frames);
    },
  };
}
