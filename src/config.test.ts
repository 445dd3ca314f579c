import { describe, expect, it } from 'vitest';
import { ConfigError, configurationWarnings, loadConfig } from './config.js';

describe('loadConfig', () => {
  it('needs nothing: the defaults run backchat on SQLite at port 3000', () => {
    expect(loadConfig({})).toEqual({
      port: 3000,
      host: '0.0.0.0',
      databaseUrl: 'sqlite:./data/backchat.db',
      logLevel: 'info',
      webhookBodyLimit: 262144,
      commitBatchMax: 256,
      webhookMaxJsonDepth: 32,
      webhookSecrets: [],
      webhookTokens: [],
      webhookRequireSignature: false,
      webhookIpAllowlist: [],
      webhookIpAllowlistMode: 'off',
      trustProxy: [],
      metricsEnabled: true,
      metricsToken: null,
      metricsPort: null,
      metricsHost: '127.0.0.1',
      adminToken: null,
      webhookSilenceAlertSeconds: 1800,
      sessionTtlHours: 168,
      loginMaxFailures: 10,
      loginWindowMinutes: 15,
      realtimeReplayHours: 24,
      realtimeHeartbeatSeconds: 30,
      shutdownTimeoutSeconds: 25,
      writeLockTimeoutSeconds: 5,
      wazzupApiUrl: 'https://api.wazzup24.com',
      wazzupApiKey: null,
      phoneDefaultCountry: null,
      webhookLogRejectionsPerMinute: 120,
      webhookLogRetentionDays: 30,
      webhookLogBodyRetentionDays: 7,
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

  it('reads the webhook security settings', () => {
    const secret = 'a'.repeat(32);
    const config = loadConfig({
      WEBHOOK_SECRETS: `${secret}1, ${secret}2`,
      WEBHOOK_TOKENS: `${secret}3`,
      WEBHOOK_REQUIRE_SIGNATURE: 'true',
      WEBHOOK_IP_ALLOWLIST: '203.0.113.0/24, 2001:db8::/32, 198.51.100.7, ::ffff:10.0.0.0/104',
      TRUST_PROXY: '10.0.0.1,10.1.0.0/16',
      WEBHOOK_MAX_JSON_DEPTH: '16',
    });
    expect(config).toMatchObject({
      webhookSecrets: [`${secret}1`, `${secret}2`],
      webhookTokens: [`${secret}3`],
      webhookRequireSignature: true,
      webhookIpAllowlist: ['203.0.113.0/24', '2001:db8::/32', '198.51.100.7', '::ffff:10.0.0.0/104'],
      // An allowlist is enforced unless told otherwise.
      webhookIpAllowlistMode: 'enforce',
      trustProxy: ['10.0.0.1', '10.1.0.0/16'],
      webhookMaxJsonDepth: 16,
    });
  });

  it('refuses an IPv4-mapped allowlist range wider than the mapped block, with the other problems', () => {
    expect(() => loadConfig({ WEBHOOK_IP_ALLOWLIST: '::ffff:10.0.0.0/80, ::ffff:10.0.0.0/104, 10.0.0.0/33' })).toThrow(
      new ConfigError([
        'WEBHOOK_IP_ALLOWLIST: "::ffff:10.0.0.0/80" is an IPv4-mapped range with a prefix shorter than 96, which would span IPv6 addresses too; write the IPv4 range (a.b.c.d/n) or a mapped prefix of 96 or more',
        'WEBHOOK_IP_ALLOWLIST: "10.0.0.0/33" is not an IP address or CIDR range',
      ]),
    );
  });

  it('refuses short secrets and tokens, bad addresses and inconsistent switches, all at once', () => {
    try {
      loadConfig({
        WEBHOOK_SECRETS: 'short',
        WEBHOOK_TOKENS: 'also-short',
        WEBHOOK_IP_ALLOWLIST_MODE: 'report',
        TRUST_PROXY: '10.0.0.0/33,proxy.local',
        WEBHOOK_REQUIRE_SIGNATURE: 'maybe',
      });
      expect.unreachable();
    } catch (error) {
      const problems = (error as ConfigError).problems.join('\n');
      expect(problems).toMatch(/WEBHOOK_SECRETS: entry 1 is 5 characters long; use at least 32/);
      expect(problems).toMatch(/WEBHOOK_TOKENS: entry 1 is 10 characters/);
      expect(problems).toMatch(/WEBHOOK_IP_ALLOWLIST_MODE=report needs addresses/);
      expect(problems).toMatch(/TRUST_PROXY: "10.0.0.0\/33"/);
      expect(problems).toMatch(/TRUST_PROXY: "proxy.local"/);
      expect(problems).toMatch(/WEBHOOK_REQUIRE_SIGNATURE must be true or false/);
      // The secret itself never appears in the message.
      expect(problems).not.toContain('short,');
    }
  });

  // A whsec_ secret of 32 dots decoded to an empty HMAC key, and TRUST_PROXY=0.0.0.0/0 let any
  // client name its own address: both were accepted (a review's find).
  it('refuses a Standard Webhooks secret that is no base64 key, and a proxy range of every address', () => {
    const key = Buffer.alloc(32, 7).toString('base64');
    const problemsOf = (env: Record<string, string>) => {
      try {
        loadConfig(env);
        return [];
      } catch (error) {
        return (error as ConfigError).problems;
      }
    };
    expect(problemsOf({ WEBHOOK_SECRETS: `whsec_${'.'.repeat(32)},whsec_${Buffer.alloc(16, 1).toString('base64')}${'A'.repeat(8)}x` })).toEqual([
      'WEBHOOK_SECRETS: entry 1 starts with whsec_ but is not base64 of at least 24 bytes after it (a Standard Webhooks secret)',
      'WEBHOOK_SECRETS: entry 2 starts with whsec_ but is not base64 of at least 24 bytes after it (a Standard Webhooks secret)',
    ]);
    expect(problemsOf({ WEBHOOK_SECRETS: `whsec_${key}`, TRUST_PROXY: '10.0.0.1,10.0.0.0/8,fd00::/16,0.0.0.0/0,::/0,0.0.0.0/1,::ffff:0:0/96,2000::/3' })).toEqual([
      'TRUST_PROXY: "0.0.0.0/0" is wider than any proxy\'s range: name your proxies',
      'TRUST_PROXY: "::/0" is wider than any proxy\'s range: name your proxies',
      'TRUST_PROXY: "0.0.0.0/1" is wider than any proxy\'s range: name your proxies',
      'TRUST_PROXY: "::ffff:0:0/96" is wider than any proxy\'s range: name your proxies',
      'TRUST_PROXY: "2000::/3" is wider than any proxy\'s range: name your proxies',
    ]);
  });

  it('refuses a PostgreSQL URL its driver cannot read, without repeating the password, and takes a socket URL', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://backchat@/backchat?host=/var/run/postgresql' }).databaseUrl).toBe('postgres://backchat@/backchat?host=/var/run/postgresql');
    for (const url of ['postgres://app:pa#ss@db:5432/backchat', 'postgres://app:secret@db:99999/backchat']) {
      expect(() => loadConfig({ DATABASE_URL: url })).toThrow(/DATABASE_URL is not a valid URL/);
      try {
        loadConfig({ DATABASE_URL: url });
      } catch (error) {
        expect((error as ConfigError).message).not.toMatch(/pa#ss|secret/);
      }
    }
  });

  it('warns about an open webhook and unserved metrics, and not once they are set', () => {
    expect(configurationWarnings(loadConfig({}))).toEqual([
      expect.stringMatching(/webhook endpoint is open/),
      expect.stringMatching(/Metrics are not served/),
    ]);
    const token = 't'.repeat(40);
    expect(configurationWarnings(loadConfig({ WEBHOOK_TOKENS: token, METRICS_TOKEN: `m${token}` }))).toEqual([]);
  });

  it('reads the monitoring settings', () => {
    const config = loadConfig({
      METRICS_PORT: '9464',
      METRICS_HOST: '0.0.0.0',
      METRICS_ENABLED: 'false',
      ADMIN_TOKEN: 'a'.repeat(32),
      WEBHOOK_LOG_RETENTION_DAYS: '14',
      WEBHOOK_LOG_BODY_RETENTION_DAYS: '2',
    });
    expect(config).toMatchObject({ metricsPort: 9464, metricsHost: '0.0.0.0', metricsEnabled: false, adminToken: 'a'.repeat(32), webhookLogRetentionDays: 14, webhookLogBodyRetentionDays: 2 });
    expect(() => loadConfig({ ADMIN_TOKEN: 'short' })).toThrow(/ADMIN_TOKEN: entry 1 is 5 characters/);
    expect(() => loadConfig({ WEBHOOK_LOG_RETENTION_DAYS: '3', WEBHOOK_LOG_BODY_RETENTION_DAYS: '5' })).toThrow(/cannot be longer/);
    // Shortening the log alone shortens the bodies' default with it (it refused to start).
    expect(loadConfig({ WEBHOOK_LOG_RETENTION_DAYS: '3' })).toMatchObject({ webhookLogRetentionDays: 3, webhookLogBodyRetentionDays: 3 });
    expect(loadConfig({ WEBHOOK_LOG_RETENTION_DAYS: '10' })).toMatchObject({ webhookLogBodyRetentionDays: 7 });
    // A refused PORT is one problem, not also a METRICS_PORT clashing with its default.
    let message = '';
    try {
      loadConfig({ PORT: '99999', METRICS_PORT: '3000' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/PORT must be a whole number from 0 to 65535, got "99999"/);
    expect(message).not.toMatch(/METRICS_PORT must differ/);
    expect(() => loadConfig({ PORT: '9464', METRICS_PORT: '9464' })).toThrow(/METRICS_PORT must differ from PORT/);
    // A port the system picks would be told to no one.
    expect(() => loadConfig({ METRICS_PORT: '0' })).toThrow(/METRICS_PORT must be a whole number from 1 to 65535, got "0"/);
  });

  it('never shows a database password in its messages', () => {
    expect(() => loadConfig({ DATABASE_URL: 'mysql://app:s3cret-pass@db.internal/chat' })).toThrow(/mysql:\/\/app:\*\*\*@db\.internal/);
    try {
      loadConfig({ DATABASE_URL: 'mysql://app:s3cret-pass@db.internal/chat' });
    } catch (error) {
      expect((error as Error).message).not.toContain('s3cret');
    }
    // Characters left unencoded in the password (`@`, `/`, `?`, `#`): all of it is hidden still.
    for (const password of ['s3cr@t-Passw0rd', 'Zm9v/s3cret', 'pa?ss-s3cret', 'pa#ss-s3cret']) {
      expect(() => loadConfig({ DATABASE_URL: `postgress://app:${password}@db:5432/chat` })).toThrow(/"postgress:\/\/app:\*\*\*@db:5432\/chat"/);
    }
  });

  it('checks the addresses to listen on with the other settings', () => {
    expect(loadConfig({ HOST: '::', METRICS_HOST: 'metrics.internal' })).toMatchObject({ host: '::', metricsHost: 'metrics.internal' });
    expect(loadConfig({ HOST: 'localhost', METRICS_HOST: '10.0.0.7' })).toMatchObject({ host: 'localhost', metricsHost: '10.0.0.7' });
    expect(loadConfig({ HOST: 'backchat_app_1', METRICS_HOST: 'localhost.' })).toMatchObject({ host: 'backchat_app_1', metricsHost: 'localhost.' });
    expect(loadConfig({ HOST: 'fe80::1%lo' })).toMatchObject({ host: 'fe80::1%lo' });
    try {
      loadConfig({ HOST: '300.1.1.1', METRICS_HOST: 'bad host', PORT: 'x' });
      expect.unreachable();
    } catch (error) {
      expect((error as ConfigError).problems).toEqual([
        'PORT must be a whole number from 0 to 65535, got "x"',
        'HOST must be an IP address or a host name, got "300.1.1.1"',
        'METRICS_HOST must be an IP address or a host name, got "bad host"',
      ]);
    }
  });

  it('accepts sqlite::memory:', () => {
    expect(loadConfig({ DATABASE_URL: 'sqlite::memory:' }).databaseUrl).toBe('sqlite::memory:');
  });

  it('reads the country of local phone numbers, in either case, and refuses an unknown one', () => {
    expect(loadConfig({ PHONE_DEFAULT_COUNTRY: 'kz' }).phoneDefaultCountry).toBe('KZ');
    expect(() => loadConfig({ PHONE_DEFAULT_COUNTRY: 'Kazakhstan' })).toThrow(/PHONE_DEFAULT_COUNTRY must be a two-letter country code/);
    expect(() => loadConfig({ PHONE_DEFAULT_COUNTRY: 'XX' })).toThrow(/got "XX"/);
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
