/**
 * The alert rules and the dashboard query metrics by name; a renamed metric would silently turn
 * an alert off. Every name they use must be one backchat exports.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

const TOKEN = 'metrics-token-0123456789abcdef0123456789';
const read = (path: string) => readFileSync(new URL(`../../ops/${path}`, import.meta.url), 'utf8');

/** Metric names in PromQL text (ours and Node's), without histogram suffixes. */
function metricNames(text: string): string[] {
  const names = text.match(/(?<![:\w])(?:webhook|store|domain_events|nodejs|process)_[a-z0-9_]+/g) ?? [];
  return [...new Set(names.map((n) => n.replace(/_(bucket|sum|count)$/, '')))].filter((n) => !n.endsWith('_'));
}

describe('operations assets', () => {
  let t: TestApp;
  let exported: string;
  beforeAll(async () => {
    t = await createTestApp('sqlite', { env: { METRICS_TOKEN: TOKEN } });
    const response = await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${TOKEN}` } });
    exported = response.body;
  });
  afterAll(async () => {
    await t.close();
  });

  it.each([
    ['prometheus/alerts.yml', read('prometheus/alerts.yml')],
    ['grafana/backchat.json', JSON.parse(read('grafana/backchat.json')).panels.flatMap((p: { targets?: { expr: string }[] }) => (p.targets ?? []).map((x) => x.expr)).join('\n')],
  ])('%s only uses metrics that backchat exports', (_file, text: string) => {
    const names = metricNames(text);
    expect(names.length).toBeGreaterThan(3);
    for (const name of names) expect(exported, name).toMatch(new RegExp(`^# TYPE ${name} `, 'm'));
  });
});

describe('npm start', () => {
  it("replaces its shell with node, so that a supervisor's SIGTERM reaches backchat", () => {
    // npm runs the script with `sh -c` and signals that shell; without `exec`, node is the shell's
    // child, never hears the SIGTERM, and keeps running with the port and the database open.
    const scripts = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> }).scripts;
    expect(scripts.start).toMatch(/&& exec node dist\/main\.js$/);
  });
});
