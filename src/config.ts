/**
 * Configuration comes from environment variables only. Every problem is collected and reported
 * at once, so that an operator fixes a broken deployment in one pass instead of one per restart.
 */
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { parse as parsePgConnectionString } from 'pg-connection-string';
import { isPhoneCountry, type PhoneCountry } from './domain/phone.js';
import { mappedRangeProblem } from './intake/ip-allowlist.js';
import { DEFAULT_WRITE_LOCK_TIMEOUT_MS } from './storage/database.js';

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  /** TCP port the HTTP server listens on. */
  readonly port: number;
  /** Interface the HTTP server binds to. */
  readonly host: string;
  /** `sqlite:<path>`, `sqlite::memory:` or `postgres://…`. */
  readonly databaseUrl: string;
  /** pino log level. */
  readonly logLevel: LogLevel;
  /** Largest webhook body accepted, in bytes; larger ones get 413. */
  readonly webhookBodyLimit: number;
  /** Most events committed together in one transaction by the group committer. */
  readonly commitBatchMax: number;
  /** Deepest JSON nesting accepted in a webhook body; deeper gets 400. */
  readonly webhookMaxJsonDepth: number;
  /** HMAC secrets for webhook signatures; the first is current, the others are still accepted during rotation. */
  readonly webhookSecrets: readonly string[];
  /** Tokens accepted as `Authorization: Bearer …` or `?token=…` from senders that cannot sign. */
  readonly webhookTokens: readonly string[];
  /** Refuse unsigned webhooks even when a token matches. */
  readonly webhookRequireSignature: boolean;
  /** IPs and CIDR ranges allowed to post webhooks. */
  readonly webhookIpAllowlist: readonly string[];
  /** `enforce` answers 403 outside the allowlist, `report` only records it, `off` ignores the list. */
  readonly webhookIpAllowlistMode: IpAllowlistMode;
  /** Addresses or CIDR ranges of reverse proxies whose X-Forwarded-For is believed. */
  readonly trustProxy: readonly string[];
  /** Record Prometheus metrics at all (false only to measure their cost). */
  readonly metricsEnabled: boolean;
  /** Bearer token for `/metrics` on the main port; without it (and without a metrics port) metrics are not served. */
  readonly metricsToken: string | null;
  /** A separate port for `/metrics`, bound to `metricsHost`; null serves it on the main port (token required). */
  readonly metricsPort: number | null;
  readonly metricsHost: string;
  /** Bootstrap bearer token for the admin API (users, webhook log, replay, stats); admins' own tokens work too. */
  readonly adminToken: string | null;
  /** Seconds without an accepted webhook after which the silence alert fires (exported as a metric for the rule). */
  readonly webhookSilenceAlertSeconds: number;
  /** How long a login session lasts, in hours. */
  readonly sessionTtlHours: number;
  /** Failed logins per account, and per address, allowed within `loginWindowMinutes`. */
  readonly loginMaxFailures: number;
  readonly loginWindowMinutes: number;
  /** Hours of domain events kept for real-time clients to replay after a reconnect. */
  readonly realtimeReplayHours: number;
  /** Seconds between WebSocket pings; a connection that missed one is closed. */
  readonly realtimeHeartbeatSeconds: number;
  /** How long a graceful shutdown may take before the process exits anyway (code 1). */
  readonly shutdownTimeoutSeconds: number;
  /** PostgreSQL: how long a write waits for the writers' lock before it fails. */
  readonly writeLockTimeoutSeconds: number;
  /** Base URL of the Wazzup24 API (a local fake in tests). */
  readonly wazzupApiUrl: string;
  /** The Wazzup24 API key, for registering the webhook (and, later, sending replies). */
  readonly wazzupApiKey: string | null;
  /** Where phone numbers written the local way ("8 777 …") are from; null reads only international ones. */
  readonly phoneDefaultCountry: PhoneCountry | null;
  /** Webhook log rows older than this many days are deleted. */
  readonly webhookLogRetentionDays: number;
  /** Bodies of accepted webhooks older than this many days are dropped (the rows stay). */
  readonly webhookLogBodyRetentionDays: number;
  /** Refused webhooks recorded in the webhook log per client and minute (ten times that in all); the rest are only counted. */
  readonly webhookLogRejectionsPerMinute: number;
}

export type IpAllowlistMode = 'enforce' | 'report' | 'off';

/** Secrets and tokens shorter than this are guessable; refuse them at start. */
export const MIN_SECRET_LENGTH = 32;

/**
 * A Standard Webhooks secret (`whsec_` and base64) whose base64 is broken decodes to fewer bytes,
 * none at all for dots: an empty HMAC key anyone can sign with (a review's find). Its key must be
 * whole base64 of at least 24 bytes, as the specification generates them.
 */
function standardWebhooksSecretProblem(value: string): string | undefined {
  if (!value.startsWith('whsec_')) return undefined;
  const encoded = value.slice('whsec_'.length);
  const bytes = /^[A-Za-z0-9+/]+={0,2}$/.test(encoded) && encoded.length % 4 === 0 ? Buffer.from(encoded, 'base64').length : 0;
  return bytes >= 24 ? undefined : 'starts with whsec_ but is not base64 of at least 24 bytes after it (a Standard Webhooks secret)';
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Reads and validates the configuration; throws a ConfigError listing every problem. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const problems: string[] = [];

  const integer = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`);
      return fallback;
    }
    return value;
  };

  /**
   * An address to listen on: an IP address, or a host name (checked here; resolved at listen).
   * Underscores are allowed, as in Docker's service names, and so is a final dot.
   */
  const listenHost = (name: string, fallback: string): string => {
    const value = env[name]?.trim() || fallback;
    const numeric = /^[\d.]+$/.test(value);
    const hostName = /^(?=.{1,254}$)[\w]([\w-]{0,61}[\w])?(\.[\w]([\w-]{0,61}[\w])?)*\.?$/.test(value);
    if (isIP(value) === 0 && (numeric || !hostName)) {
      problems.push(`${name} must be an IP address or a host name, got "${env[name]}"`);
      return fallback;
    }
    return value;
  };

  const problemsBeforePort = problems.length;
  const port = integer('PORT', 3000, 0, 65535);
  /** Whether PORT was read as given: a PORT already refused must not make METRICS_PORT look wrong too. */
  const portAsGiven = problems.length === problemsBeforePort;
  const host = listenHost('HOST', '0.0.0.0');
  const webhookBodyLimit = integer('WEBHOOK_BODY_LIMIT', 256 * 1024, 1024, 16 * 1024 * 1024);
  const commitBatchMax = integer('COMMIT_BATCH_MAX', 256, 1, 10_000);

  const webhookMaxJsonDepth = integer('WEBHOOK_MAX_JSON_DEPTH', 32, 2, 256);

  const list = (name: string): string[] =>
    (env[name] ?? '')
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== '');
  const secrets = (name: string, problemOf: (value: string) => string | undefined = () => undefined): string[] => {
    const values = list(name);
    values.forEach((value, i) => {
      const problem =
        value.length < MIN_SECRET_LENGTH ? `is ${value.length} characters long; use at least ${MIN_SECRET_LENGTH} random characters` : problemOf(value);
      if (problem) problems.push(`${name}: entry ${i + 1} ${problem}`);
    });
    return values;
  };
  const webhookSecrets = secrets('WEBHOOK_SECRETS', standardWebhooksSecretProblem);
  const webhookTokens = secrets('WEBHOOK_TOKENS');

  const boolean = (name: string, fallback: boolean): boolean => {
    const raw = env[name]?.trim().toLowerCase();
    if (raw === undefined || raw === '') return fallback;
    if (['true', '1', 'yes', 'on'].includes(raw)) return true;
    if (['false', '0', 'no', 'off'].includes(raw)) return false;
    problems.push(`${name} must be true or false, got "${env[name]}"`);
    return fallback;
  };
  const webhookRequireSignature = boolean('WEBHOOK_REQUIRE_SIGNATURE', false);
  if (webhookRequireSignature && webhookSecrets.length === 0) {
    problems.push('WEBHOOK_REQUIRE_SIGNATURE=true needs at least one secret in WEBHOOK_SECRETS');
  }

  const addresses = (name: string, problemOf: (value: string) => string | undefined = () => undefined): string[] => {
    const values = list(name);
    for (const value of values) {
      const problem = isAddressOrRange(value) ? problemOf(value) : `"${value}" is not an IP address or CIDR range`;
      if (problem) problems.push(`${name}: ${problem}`);
    }
    return values;
  };
  const webhookIpAllowlist = addresses('WEBHOOK_IP_ALLOWLIST', mappedRangeProblem);
  const trustProxy = addresses('TRUST_PROXY', proxyRangeProblem);
  const modeRaw = env.WEBHOOK_IP_ALLOWLIST_MODE?.trim().toLowerCase() || (webhookIpAllowlist.length > 0 ? 'enforce' : 'off');
  if (!['enforce', 'report', 'off'].includes(modeRaw)) {
    problems.push(`WEBHOOK_IP_ALLOWLIST_MODE must be enforce, report or off, got "${env.WEBHOOK_IP_ALLOWLIST_MODE}"`);
  } else if (modeRaw !== 'off' && webhookIpAllowlist.length === 0) {
    problems.push(`WEBHOOK_IP_ALLOWLIST_MODE=${modeRaw} needs addresses in WEBHOOK_IP_ALLOWLIST`);
  }

  const metricsEnabled = boolean('METRICS_ENABLED', true);
  const single = (name: string): string | null => {
    const [value, ...rest] = secrets(name);
    if (rest.length > 0) problems.push(`${name} takes one token, not a list`);
    return value ?? null;
  };
  const metricsToken = single('METRICS_TOKEN');
  const adminToken = single('ADMIN_TOKEN');
  // No 0: a port picked by the system would be told to no one, Prometheus included.
  const metricsPortRaw = integer('METRICS_PORT', -1, 1, 65535);
  const metricsPort = metricsPortRaw === -1 ? null : metricsPortRaw;
  if (metricsPort !== null && portAsGiven && metricsPort === port) problems.push('METRICS_PORT must differ from PORT');
  const metricsHost = listenHost('METRICS_HOST', '127.0.0.1');
  const webhookSilenceAlertSeconds = integer('WEBHOOK_SILENCE_ALERT_SECONDS', 1800, 60, 7 * 86400);
  const webhookLogRetentionDays = integer('WEBHOOK_LOG_RETENTION_DAYS', 30, 1, 3650);
  // Bodies are kept 7 days, or less when the log itself is kept less: shortening the one must not
  // make the other's default an error.
  const webhookLogBodyRetentionDays = integer('WEBHOOK_LOG_BODY_RETENTION_DAYS', Math.min(7, webhookLogRetentionDays), 0, 3650);
  const webhookLogRejectionsPerMinute = integer('WEBHOOK_LOG_REJECTIONS_PER_MINUTE', 120, 1, 1_000_000);
  if (webhookLogBodyRetentionDays > webhookLogRetentionDays) {
    problems.push('WEBHOOK_LOG_BODY_RETENTION_DAYS cannot be longer than WEBHOOK_LOG_RETENTION_DAYS');
  }

  const sessionTtlHours = integer('SESSION_TTL_HOURS', 168, 1, 24 * 365);
  const loginMaxFailures = integer('LOGIN_MAX_FAILURES', 10, 1, 1000);
  const loginWindowMinutes = integer('LOGIN_WINDOW_MINUTES', 15, 1, 24 * 60);
  const realtimeReplayHours = integer('REALTIME_REPLAY_HOURS', 24, 1, 24 * 30);
  const realtimeHeartbeatSeconds = integer('REALTIME_HEARTBEAT_SECONDS', 30, 1, 3600);
  const shutdownTimeoutSeconds = integer('SHUTDOWN_TIMEOUT_SECONDS', 25, 1, 3600);
  const writeLockTimeoutSeconds = integer('WRITE_LOCK_TIMEOUT_SECONDS', DEFAULT_WRITE_LOCK_TIMEOUT_MS / 1000, 1, 60);
  const wazzupApiUrl = env.WAZZUP_API_URL?.trim() || 'https://api.wazzup24.com';
  if (!/^https?:\/\/\S+$/.test(wazzupApiUrl)) problems.push(`WAZZUP_API_URL must be an http(s) URL, got "${wazzupApiUrl}"`);
  const wazzupApiKey = env.WAZZUP_API_KEY?.trim() || null;
  const phoneCountryRaw = env.PHONE_DEFAULT_COUNTRY?.trim().toUpperCase() || null;
  const phoneDefaultCountry = phoneCountryRaw !== null && isPhoneCountry(phoneCountryRaw) ? phoneCountryRaw : null;
  if (phoneCountryRaw !== null && phoneDefaultCountry === null) {
    problems.push(`PHONE_DEFAULT_COUNTRY must be a two-letter country code such as KZ or RU, got "${env.PHONE_DEFAULT_COUNTRY}"`);
  }

  const databaseUrl = env.DATABASE_URL?.trim() || 'sqlite:./data/backchat.db';
  if (!/^(sqlite:.+|postgres(ql)?:\/\/.+)$/.test(databaseUrl)) {
    problems.push(
      `DATABASE_URL must start with "sqlite:" (a file path or ":memory:") or "postgres://", got "${withoutPassword(databaseUrl)}"`,
    );
  } else if (!databaseUrl.startsWith('sqlite:') && !pgCanParse(databaseUrl)) {
    // The driver would throw a TypeError that reads as a bug, with a stack (a review's find).
    problems.push(
      'DATABASE_URL is not a valid URL: a port above 65535, or "#", "/", "?" or "@" in the user or password (write them %23, %2F, %3F, %40)',
    );
  }

  const logLevelRaw = (env.LOG_LEVEL?.trim() || 'info').toLowerCase();
  if (!LOG_LEVELS.includes(logLevelRaw as LogLevel)) {
    problems.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}, got "${env.LOG_LEVEL}"`);
  }

  if (problems.length > 0) throw new ConfigError(problems);

  return Object.freeze({
    port,
    host,
    databaseUrl,
    logLevel: logLevelRaw as LogLevel,
    webhookBodyLimit,
    commitBatchMax,
    webhookMaxJsonDepth,
    webhookSecrets: Object.freeze(webhookSecrets),
    webhookTokens: Object.freeze(webhookTokens),
    webhookRequireSignature,
    webhookIpAllowlist: Object.freeze(webhookIpAllowlist),
    webhookIpAllowlistMode: modeRaw as IpAllowlistMode,
    trustProxy: Object.freeze(trustProxy),
    metricsEnabled,
    metricsToken,
    metricsPort,
    metricsHost,
    adminToken,
    webhookSilenceAlertSeconds,
    sessionTtlHours,
    loginMaxFailures,
    loginWindowMinutes,
    realtimeReplayHours,
    realtimeHeartbeatSeconds,
    shutdownTimeoutSeconds,
    writeLockTimeoutSeconds,
    wazzupApiUrl,
    wazzupApiKey,
    phoneDefaultCountry,
    webhookLogRetentionDays,
    webhookLogBodyRetentionDays,
    webhookLogRejectionsPerMinute,
  });
}

function isAddressOrRange(value: string): boolean {
  try {
    if (value.includes('/')) ipaddr.parseCIDR(value);
    else ipaddr.parse(value);
    return true;
  } catch {
    return false;
  }
}

/** Configuration that works but that an operator should know about (shown at start and in health). */
export function configurationWarnings(config: Config): string[] {
  const warnings: string[] = [];
  if (config.webhookSecrets.length === 0 && config.webhookTokens.length === 0) {
    warnings.push(
      'The webhook endpoint is open: anyone who knows its URL can post events. Set WEBHOOK_SECRETS or WEBHOOK_TOKENS (see docs/SECURITY.md).',
    );
  }
  if (config.metricsEnabled && config.metricsPort === null && config.metricsToken === null) {
    warnings.push('Metrics are not served: set METRICS_TOKEN (for /metrics on the main port) or METRICS_PORT (see docs/OPERATIONS.md).');
  }
  if (config.webhookIpAllowlistMode === 'report') {
    warnings.push('WEBHOOK_IP_ALLOWLIST_MODE=report: requests from outside the allowlist are accepted and only recorded.');
  }
  return warnings;
}

/**
 * A range wider than any proxy's: trusting it lets the clients in it name the address they come
 * from (SECURITY.md). `/0` made the proxy library throw at start; `0.0.0.0/1` or the mapped
 * `::ffff:0:0/96` passed and trusted every IPv4 client (a review's find). IPv4 ranges from /8,
 * IPv6 from /16 (an IPv4-mapped range counts as the IPv4 range it maps).
 */
function proxyRangeProblem(value: string): string | undefined {
  if (!value.includes('/') || !ipaddr.isValidCIDR(value)) return undefined;
  const [address, bits] = ipaddr.parseCIDR(value);
  const mapped = address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress();
  const ipv4Bits = address.kind() === 'ipv4' ? bits : mapped ? bits - 96 : null;
  const tooWide = ipv4Bits === null ? bits < 16 : ipv4Bits < 8;
  return tooWide ? `"${value}" is wider than any proxy's range: name your proxies` : undefined;
}

/** Whether the PostgreSQL driver reads `url` (its own parser, which takes `postgres://user@/db?host=/socket` too). */
function pgCanParse(url: string): boolean {
  try {
    parsePgConnectionString(url);
    return true;
  } catch {
    return false;
  }
}

/**
 * A URL as it may be shown: the password of `scheme://user:password@host` replaced, up to the last
 * `@` of the whole URL, since people leave `@`, `/` or `#` of their password unencoded (an `@`
 * later in the URL hides a little more than the password, which is the safe side).
 */
export function withoutPassword(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:).*@/i, '$1***@');
}
