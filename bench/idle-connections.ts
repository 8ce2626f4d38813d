// Memory of idle HTTP/1.1 keep-alive client connections (issue #15: 8,000 of them cost 80 MB).
// Starts the built program (one process, bench/memory-probe.mjs preloaded), measures its
// memory (RSS; heap used after a full GC; external and array buffers), opens N connections
// that each make one keep-alive GET and then sit idle, measures again, and prints the
// difference per connection. With --snapshot, it also writes a heap snapshot of the proxy
// with the connections open (node --heapsnapshot-signal), to see which objects they keep.
// Run: node bench/idle-connections.ts [--connections 8000] [--snapshot] (after npm run build).
// BENCH_NODE_ARGS adds node flags for Portico, e.g. "--max-semi-space-size=16" (the image's).
// Loopback only; every wait is bounded; only processes started here are stopped.

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { get, sleep, stop, listeningPorts } from './loopback.ts';
import { probeMemory, type MemoryDetail } from './procs.ts';

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '8000' },
    snapshot: { type: 'boolean', default: false },
    cli: { type: 'string' },
  },
});
const N = Math.min(30_000, Math.max(1, Number(values.connections)));
const CLI = values.cli ?? new URL('../dist/cli.js', import.meta.url).pathname;
const PROBE = new URL('./memory-probe.mjs', import.meta.url).pathname;
const dir = mkdtempSync(path.join(tmpdir(), 'portico-bench-idle-'));

function manifests(port: number): string {
  const mdir = path.join(dir, 'manifests');
  mkdirSync(mdir, { recursive: true });
  writeFileSync(
    path.join(mdir, 'bench.yaml'),
    [
      'apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: { name: portico }\nspec: { controller: portico.dev/ingress-controller }',
      'apiVersion: v1\nkind: Service\nmetadata: { name: upstream, namespace: bench }\nspec: { ports: [{ name: http, port: 80 }] }',
      `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: { name: upstream-1, namespace: bench, labels: { kubernetes.io/service-name: upstream } }\naddressType: IPv4\nports: [{ name: http, port: ${port} }]\nendpoints: [{ addresses: ["127.0.0.1"] }]`,
      'apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: { name: app, namespace: bench }\nspec:\n  ingressClassName: portico\n  rules: [{ host: app.bench, http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: upstream, port: { number: 80 } } } }] } }]',
    ].join('\n---\n') + '\n',
  );
  return mdir;
}

/** One keep-alive GET on a fresh raw connection; resolves once the response is in, socket kept open. */
function idleConnection(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    const t = setTimeout(() => reject(new Error('no response in 10 s')), 10_000);
    s.on('error', reject);
    s.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.includes('\r\n\r\nok')) {
        clearTimeout(t);
        resolve(s);
      }
    });
    s.write('GET / HTTP/1.1\r\nHost: app.bench\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n');
  });
}

function mib(d: MemoryDetail | undefined): string {
  if (!d) return 'no answer';
  return `RSS ${d.rss.toFixed(1)} MiB, heap used ${d.heapUsedAfterGc.toFixed(1)}, heap total ${d.heapTotalAfterGc.toFixed(1)}, external ${d.external.toFixed(1)} (array buffers ${d.arrayBuffers.toFixed(1)})`;
}

async function main(): Promise<void> {
  const upstream = http.createServer((_req, res) => res.end('ok'));
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const mdir = manifests((upstream.address() as net.AddressInfo).port);
  const nodeArgs = [...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean), '--expose-gc', '--import', PROBE, ...(values.snapshot ? ['--heapsnapshot-signal=SIGUSR1', `--diagnostic-dir=${dir}`] : [])];
  const child = spawn(
    process.execPath,
    [...nodeArgs, CLI, '--manifests', mdir, '--bind-address', '127.0.0.1', '--http-port', '0', '--https-port', '0', '--health-port', '0', '--access-log', 'false', '--workers', '0', '--shutdown-delay', '0s', '--shutdown-grace', '1s'],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, PORTICO_MEMORY_PROBE_DIR: dir } },
  );
  const ports = listeningPorts(child);
  const socks: net.Socket[] = [];
  try {
    for (let i = 0; i < 600 && (ports.health === undefined || ports.http === undefined); i++) await sleep(50);
    for (let i = 0; i < 600 && (await get(ports.health!, 'x', '/readyz')) !== 200; i++) await sleep(50);
    // warm up: the first requests compile code and fill caches; not what connections cost
    for (let i = 0; i < 200; i++) (await idleConnection(ports.http!)).destroy();
    await sleep(1000);
    const before = (await probeMemory(dir, [child.pid!])).get(child.pid!);
    for (let i = 0; i < N; i += 200) {
      const batch = await Promise.all(Array.from({ length: Math.min(200, N - i) }, () => idleConnection(ports.http!)));
      socks.push(...batch);
    }
    await sleep(2000);
    const after = (await probeMemory(dir, [child.pid!])).get(child.pid!);
    if (values.snapshot) {
      process.kill(child.pid!, 'SIGUSR1');
      for (let i = 0; i < 600 && !readdirSync(dir).some((f) => f.endsWith('.heapsnapshot')); i++) await sleep(100);
      await sleep(3000);
    }
    console.log(`before: ${mib(before)}`);
    console.log(`with ${N} idle keep-alive connections: ${mib(after)}`);
    if (before && after) {
      const per = (a: number, b: number) => (((b - a) * 1048576) / N / 1024).toFixed(2);
      console.log(
        `per connection: RSS ${per(before.rss, after.rss)} KiB, heap used ${per(before.heapUsedAfterGc, after.heapUsedAfterGc)} KiB, heap total ${per(before.heapTotalAfterGc, after.heapTotalAfterGc)} KiB, external ${per(before.external, after.external)} KiB`,
      );
    }
    if (values.snapshot) {
      const snap = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot'));
      console.log(snap ? `heap snapshot: ${path.join(dir, snap)} (kept)` : 'no heap snapshot written');
    }
  } finally {
    for (const s of socks) s.destroy();
    await stop(child);
    upstream.closeAllConnections();
    upstream.close();
    if (!values.snapshot) rmSync(dir, { recursive: true, force: true });
  }
}

await main();
