#!/usr/bin/env node
// `npm run bench`: the routing-table and endpoint-index benchmarks, then the proxy benchmark
// through ../shared/bench/anchors.sh with Portico as --target (nginx, HAProxy, Caddy and the
// minimal Node proxy measured in the same run; ONLY=... changes the set), then Portico without
// request metrics against the minimal Node proxy (what metrics cost), then two workers against
// nginx with 2 workers and the minimal Node proxy with 2 cluster workers (on both cores), then
// HTTPS and HTTP/2 against nginx (bench/https.sh), then memory per process (bench/memory.ts). Pass --quick for
// a short smoke run, --table-only to stop after the routing table. Figures are printed as
// Markdown. The control-plane benchmark (Kubernetes mode, 10,000 Ingresses, ~1 min per mode)
// is separate: node bench/control-plane.ts [--workers 2].
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
console.log('\n## Endpoint index\n');
run(process.execPath, ['bench/endpoint-index.ts']);
if (args.includes('--table-only')) process.exit(0);

const anchors = path.resolve(root, '../shared/bench/anchors.sh');
if (!existsSync(anchors)) {
  console.error(`bench: ${anchors} not found; the proxy benchmark needs the shared anchors harness`);
  process.exit(1);
}
console.log('\n## Proxy (anchors.sh)\n');
const target = `${process.execPath} ${path.join(root, 'bench/portico-target.mjs')}`;
const quick = args.includes('--quick') ? ['--quick'] : [];
run('bash', [anchors, '--target', target, '--target-name', 'portico', ...quick], { ONLY: process.env.ONLY ?? 'direct,nginx,haproxy,caddy,node24,portico' });
console.log('\n## Proxy without request metrics (anchors.sh)\n');
run('bash', [anchors, '--target', target, '--target-name', 'portico-no-metrics', ...quick], { ONLY: 'node24,portico-no-metrics', PORTICO_REQUEST_METRICS: 'false' });
console.log('\n## Two workers (anchors.sh, proxies on CPUs 0-1)\n');
run('bash', [anchors, '--target', target, '--target-name', 'portico-2w', ...quick], { ONLY: 'nginx-2w,node24-x2,portico-2w', PIN_PROXY: '0-1', PORTICO_WORKERS: '2' });
console.log('\n## HTTPS and HTTP/2 (bench/https.sh)\n');
run('bash', ['bench/https.sh'], quick.length ? { DURATION: '2', ROUNDS: '1' } : {});
console.log('\n## Memory per process (bench/memory.ts)\n');
run(process.execPath, ['bench/memory.ts', ...(quick.length ? ['--seconds', '3'] : [])]);
