/** How a webhook request ended. */
export const WEBHOOK_OUTCOMES = ['accepted', 'duplicate', 'partial', 'invalid', 'rejected', 'failed'] as const;

export type WebhookOutcome =
  /** Stored (or a status kept for a message still to come). */
  | 'accepted'
  /** Seen before; acknowledged and changed nothing. */
  | 'duplicate'
  /** A batch applied without its invalid items (200); the body is kept so they can be replayed. */
  | 'partial'
  /** The body is not a valid webhook (400). */
  | 'invalid'
  /** Refused before reading the body: too large, wrong content type (413, 415). */
  | 'rejected'
  /** We failed to process it (500); the body is kept for replay. */
  | 'failed';

/** One received webhook request, as recorded in the webhook log. */
export interface WebhookLogEntry {
  id: string;
  receivedAt: number;
  clientIp: string | null;
  userAgent: string | null;
  sizeBytes: number;
  /** Body shape: `seed` (`{event, data}`); later also `wazzup_v3`. */
  format: string | null;
  event: string | null;
  /** The id the event is about: message id, or the contact's phone. */
  subject: string | null;
  outcome: WebhookOutcome;
  httpStatus: number;
  durationMs: number;
  /** Error message and field errors, for invalid and failed requests. */
  error: { message: string; errors?: Record<string, string[]> } | null;
  /** Kept for accepted (until the body retention), failed and partial requests, so that they can be replayed. */
  rawBody: string | null;
  /** How the sender authenticated (`signature-header`, `bearer`, `open`, …), if it did. */
  authScheme: string | null;
  /** Which secret or token matched (`secret-1`, `token-2`), never the secret itself. */
  authKey: string | null;
  /** Inside the IP allowlist; null when no allowlist is set. */
  ipAllowed: boolean | null;
  /** For a replay: the entry whose body was replayed. */
  replayOf: string | null;
  /** For a replayed entry: when it was last replayed, and how that replay ended. */
  replayedAt: number | null;
  replayOutcome: WebhookOutcome | null;
}

/** What the admin API and the CLI filter the log by. */
export interface WebhookLogFilter {
  outcome?: WebhookOutcome;
  event?: string;
  /** Epoch ms, inclusive. */
  from?: number;
  /** Epoch ms, exclusive. */
  to?: number;
  /** Matches an entry id or subject (message id, phone) exactly, or the start of a subject. */
  q?: string;
  /** Only entries older than this entry id (the previous page's cursor). */
  before?: string;
  limit: number;
}

/** Aggregates over a time window, for dashboards. */
export interface WebhookLogStats {
  from: number;
  to: number;
  total: number;
  byOutcome: Record<WebhookOutcome, number>;
  /** Failed over all requests that reached processing (accepted, duplicate, failed). */
  errorRatio: number;
  latencyMs: { p50: number | null; p95: number | null };
  lastReceivedAt: number | null;
}
