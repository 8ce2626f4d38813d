#!/usr/bin/env node
// Thin launcher: the compiled program lives in dist/ (built by `npm install` / `npm run build`).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('portico: dist/cli.js is missing; run `npm run build` first\n');
  process.exit(1);
}
await import(entry.href);
