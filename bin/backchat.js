#!/usr/bin/env node
// The compiled CLI lives in dist/ (built by `npm install` through the prepare script, or `npm run build`).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/backchat.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('backchat is not built yet: run `npm run build` first.\n');
  process.exit(1);
}
await import(entry.href);
