#!/usr/bin/env node
// `npm run bench`: the routing-table benchmark, then the proxy benchmark through
// ../shared/bench/anchors.sh with Portico as --target (nginx, haproxy, caddy and the minimal
// Node proxy measured in the same run). Pass --quick for a short smoke run, --table-only to
// skip the proxy benchmark. Figures are printed as Markdown.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const run = (cmd, argv, env = {}) => {
  const r = spawnSync(cmd, argv, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  if (r.status !== 0) process.exit(r.status ?? 1);
};

console.log('## Routing table\n');
run(process.execPath, ['bench/routing-table.ts']);
if (args.includes('--table-only')) process.exit(0);

const anchors = path.resolve(root, '../shared/bench/anchors.sh');
if (!existsSync(anchors)) {
  console.error(`bench: ${anchors} not found; the proxy benchmark needs the shared anchors harness`);
  process.exit(1);
}
console.log('\n## Proxy (anchors.sh)\n');
const target = `${process.execPath} ${path.join(root, 'bench/portico-target.mjs')}`;
run('bash', [anchors, '--target', target, '--target-name', 'portico', ...(args.includes('--quick') ? ['--quick'] : [])],
  { ONLY: process.env.ONLY ?? 'direct,nginx,node24,target' });
