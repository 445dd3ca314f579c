/**
 * Configuration comes from environment variables only. Every problem is collected and reported
 * at once, so that an operator fixes a broken deployment in one pass instead of one per restart.
 */

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

  const port = integer('PORT', 3000, 0, 65535);
  const host = env.HOST?.trim() || '0.0.0.0';
  const webhookBodyLimit = integer('WEBHOOK_BODY_LIMIT', 256 * 1024, 1024, 16 * 1024 * 1024);
  const commitBatchMax = integer('COMMIT_BATCH_MAX', 256, 1, 10_000);

  const databaseUrl = env.DATABASE_URL?.trim() || 'sqlite:./data/backchat.db';
  if (!/^(sqlite:.+|postgres(ql)?:\/\/.+)$/.test(databaseUrl)) {
    problems.push(
      `DATABASE_URL must start with "sqlite:" (a file path or ":memory:") or "postgres://", got "${databaseUrl}"`,
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
  });
}
