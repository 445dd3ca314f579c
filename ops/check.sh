#!/usr/bin/env bash
# Checks the operations assets with Prometheus' own tool: the alert rules parse, their unit tests
# pass, and every query of the Grafana dashboard parses (as recording rules, with the dashboard's
# variables filled in). Needs promtool (Debian package `prometheus`).
set -euo pipefail
cd "$(dirname "$0")"

promtool check rules prometheus/alerts.yml
(cd prometheus && promtool test rules alerts.test.yml)

rules=$(mktemp --suffix=.yml)
trap 'rm -f "$rules"' EXIT
node -e '
  const dashboard = require("./grafana/backchat.json");
  const exprs = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
  const lines = ["groups:", "  - name: dashboard", "    rules:"];
  exprs.forEach((expr, i) => {
    const filled = expr.replaceAll("$__rate_interval", "5m").replaceAll("$instance", ".*");
    lines.push(`      - record: dashboard:query_${i}`, `        expr: ${JSON.stringify(filled)}`);
  });
  process.stdout.write(lines.join("\n") + "\n");
' > "$rules"
promtool check rules "$rules"
echo "ops assets OK"
