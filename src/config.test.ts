import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

describe('loadConfig', () => {
  it('needs nothing: the defaults run backchat on SQLite at port 3000', () => {
    expect(loadConfig({})).toEqual({
      port: 3000,
      host: '0.0.0.0',
      databaseUrl: 'sqlite:./data/backchat.db',
      logLevel: 'info',
      webhookBodyLimit: 262144,
      commitBatchMax: 256,
    });
  });

  it('reads every variable', () => {
    const config = loadConfig({
      PORT: '8080',
      HOST: '127.0.0.1',
      DATABASE_URL: 'postgres://u@db:5432/backchat',
      LOG_LEVEL: 'DEBUG',
      WEBHOOK_BODY_LIMIT: '1024',
      COMMIT_BATCH_MAX: '10',
    });
    expect(config).toMatchObject({ port: 8080, host: '127.0.0.1', databaseUrl: 'postgres://u@db:5432/backchat', logLevel: 'debug', webhookBodyLimit: 1024, commitBatchMax: 10 });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('accepts sqlite::memory:', () => {
    expect(loadConfig({ DATABASE_URL: 'sqlite::memory:' }).databaseUrl).toBe('sqlite::memory:');
  });

  it('lists every problem at once', () => {
    try {
      loadConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x', LOG_LEVEL: 'loud', WEBHOOK_BODY_LIMIT: '-1' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const problems = (error as ConfigError).problems;
      expect(problems).toHaveLength(4);
      expect(problems.join('\n')).toMatch(/PORT.*DATABASE_URL|WEBHOOK_BODY_LIMIT/s);
      expect((error as Error).message).toContain('LOG_LEVEL');
    }
  });
});
