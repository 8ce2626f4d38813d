// Control-plane benchmark (Kubernetes mode): the built program against the in-process fake
// API server holding N Ingresses, N Services and 2N EndpointSlices. Prints, as Markdown:
//   - start → ready time and RSS at ready (the primary and each worker with --workers);
//   - apply latency: an Ingress written to the API → the first request routed by it (p50/p99);
//   - endpoint latency: an EndpointSlice change → traffic reaching the new pod (p50/p99);
//   - a load run while changes are applied: requests sent and failed, RSS afterwards.
// With --workers N the latencies are measured through each worker's own connection (the workers
// share their listeners; procs.ts pins a connection to each): "first" is when the first worker
// routes the change, "every" when the last one does (what a client can rely on).
// Run: node bench/control-plane.ts [--ingresses 10000] [--workers 0] [--changes 200]
// [--load-seconds 30] [--load-changes 1000] [--memory-detail] [--cli dist/cli.js]
// (after `npm run build`). Loopback only; every loop is bounded. BENCH_NODE_ARGS adds node flags
// for the program (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" or "--max-semi-space-size=16").
// --memory-detail preloads bench/memory-probe.mjs and reports, per process, heap used after a
// full GC, heap committed, external memory and RSS: live data versus memory merely kept.
// --memory-limit MiB runs the program in a memory cgroup with that limit, as a container with
// resources.limits.memory would (Linux, root; bench/cgroup.ts), and reports the cgroup's usage.

import { spawn } from 'node:child_process';
import http from 'node:http';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { FakeApiServer } from '../test/fake-apiserver/index.ts';
import { MemoryCgroup } from './cgroup.ts';
import { PinnedAgent, formatDetail, probeMemory, rssOf, waitForChildren } from './procs.ts';

const { values } = parseArgs({
  options: {
    ingresses: { type: 'string', default: '10000' },
    workers: { type: 'string', default: '0' },
    changes: { type: 'string', default: '200' },
    'load-seconds': { type: 'string', default: '30' },
    'load-changes': { type: 'string', default: '1000' },
    'memory-detail': { type: 'boolean', default: false },
    cli: { type: 'string' },
    'memory-limit': { type: 'string' },
  },
});
const N = Number(values.ingresses);
const WORKERS = Number(values.workers);
const CHANGES = Number(values.changes);
const LOAD_SECONDS = Number(values['load-seconds']);
const LOAD_CHANGES = Number(values['load-changes']);
const CLI = values.cli ?? new URL('../dist/cli.js', import.meta.url).pathname;
const PROBE = new URL('./memory-probe.mjs', import.meta.url).pathname;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
function request(port: number, host: string, p = '/', via: http.Agent = agent): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, headers: { host }, agent: via, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

// Two backends: "old" and "new" pods.
async function backend(name: string): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-length': name.length });
    res.end(name);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

const ingress = (i: number, svc = `svc-${i}`) => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name: `ing-${i}`, namespace: `ns-${i % 100}` },
  spec: {
    ingressClassName: 'portico',
    rules: [{ host: `h${i}.bench`, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: svc, port: { number: 80 } } } }] } }],
  },
});
const service = (i: number) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${i}`, namespace: `ns-${i % 100}` }, spec: { ports: [{ name: 'http', port: 80 }] } });
const slice = (i: number, k: number, port: number) => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name: `svc-${i}-${k}`, namespace: `ns-${i % 100}`, labels: { 'kubernetes.io/service-name': `svc-${i}` } },
  addressType: 'IPv4',
  ports: [{ name: 'http', port }],
  endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
});

const api = await FakeApiServer.start();
const dir = mkdtempSync(path.join(tmpdir(), 'portico-bench-cp-'));
const oldPod = await backend('old');
const newPod = await backend('new');
api.create({ apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: 'portico' }, spec: { controller: 'portico.dev/ingress-controller' } });
for (let i = 0; i < N; i++) {
  api.create(service(i));
  api.create(slice(i, 0, oldPod.port));
  api.create(slice(i, 1, oldPod.port)); // two slices per Service (as large Services have)
  api.create(ingress(i));
}
const kubeconfig = api.writeKubeconfig(dir);

const nodeArgs = [...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean), ...(values['memory-detail'] ? ['--expose-gc', '--import', PROBE] : [])];
const LIMIT_MIB = values['memory-limit'] === undefined ? undefined : Number(values['memory-limit']);
if (LIMIT_MIB !== undefined && !(LIMIT_MIB > 0)) throw new Error(`--memory-limit takes MiB, e.g. 512 (got ${values['memory-limit']})`);
const cgroup = LIMIT_MIB === undefined ? undefined : MemoryCgroup.create(`portico-bench-${process.pid}`, LIMIT_MIB);
const argv = [process.execPath, ...nodeArgs, CLI, '--kubeconfig', kubeconfig, '--bind-address', '127.0.0.1', '--http-port', '0', '--https-port', '0', '--health-port', '0', '--access-log', 'false', '--log-level', 'info', '--publish-status-address', '192.0.2.1', '--workers', String(WORKERS)];
const [command, args] = cgroup ? cgroup.wrap(argv) : [argv[0]!, argv.slice(1)];
const t0 = performance.now();
const child = spawn(
  command,
  args,
  {
    env: { ...process.env, POD_NAMESPACE: 'portico', POD_NAME: 'bench', PORTICO_MEMORY_PROBE_DIR: dir },
    stdio: ['ignore', 'ignore', 'pipe'],
  },
);
const ports: Record<string, number> = {};
let errBuf = '';
child.stderr!.setEncoding('utf8').on('data', (d: string) => {
  errBuf += d;
  let i;
  while ((i = errBuf.indexOf('\n')) >= 0) {
    const line = errBuf.slice(0, i);
    errBuf = errBuf.slice(i + 1);
    try {
      const e = JSON.parse(line) as { msg?: string; listener?: string; port?: number };
      if (e.msg === 'listening' && e.listener && e.port) ports[e.listener] = e.port;
    } catch {
      /* not JSON */
    }
  }
});

/** RSS of the primary and of each worker, as "P / W1, W2" MiB. */
const rssLine = (pids: number[]) => `${rssOf(pids[0]!).toFixed(0)}${pids.length > 1 ? ` / ${pids.slice(1).map((p) => rssOf(p).toFixed(0)).join(', ')}` : ''} MiB`;

try {
  for (let i = 0; i < 1200 && ports.health === undefined; i++) await sleep(50);
  for (let i = 0; i < 1200; i++) {
    const ok = await request(ports.health!, 'x', '/readyz').then((r) => r.status === 200, () => false);
    if (ok) break;
    await sleep(50);
  }
  const readyMs = performance.now() - t0;
  // The primary, then its workers (none in one-process mode).
  const pids = [child.pid!, ...(WORKERS > 0 ? await waitForChildren(child.pid!, WORKERS) : [])];
  const rssReady = rssLine(pids);
  const cgroupReady = cgroup?.usageMiB();
  // Workers log their listeners too; the port is the same for all.
  for (let i = 0; i < 200 && ports.http === undefined; i++) await sleep(50);
  const httpPort = ports.http!;
  if ((await request(httpPort, `h${N - 1}.bench`)).body !== 'old') throw new Error('last Ingress does not route');
  const servers = WORKERS > 0 ? pids.slice(1) : pids;
  const pinned = servers.map((pid) => new PinnedAgent(pid, servers));
  const detailReady = values['memory-detail'] ? await probeMemory(dir, pids) : undefined;

  /** Polls every server until `done`; returns [first, last] elapsed ms. */
  const untilEvery = async (host: string, done: (r: { status: number; body: string }) => boolean): Promise<[number, number]> => {
    const t = performance.now();
    const each = await Promise.all(
      pinned.map(async (via) => {
        for (let k = 0; k < 2000; k++) {
          if (done(await request(httpPort, host, '/', via).catch(() => ({ status: 0, body: '' })))) break;
          await sleep(1);
        }
        return performance.now() - t;
      }),
    );
    return [Math.min(...each), Math.max(...each)];
  };

  // apply latency: new Ingresses on new hosts, one at a time
  const apply: [number, number][] = [];
  for (let c = 0; c < CHANGES; c++) {
    const i = N + c;
    api.create(ingress(i, `svc-${c % N}`));
    apply.push(await untilEvery(`h${i}.bench`, (r) => r.status === 200));
  }

  // endpoint latency: move a Service's pods to the new backend
  const endpoint: [number, number][] = [];
  for (let c = 0; c < CHANGES; c++) {
    const i = c % N;
    api.update(slice(i, 0, newPod.port));
    api.update(slice(i, 1, newPod.port));
    endpoint.push(await untilEvery(`h${i}.bench`, (r) => r.body === 'new'));
  }

  // load while changes are applied: traffic to hosts that stay valid
  let sent = 0;
  let failed = 0;
  const end = Date.now() + LOAD_SECONDS * 1000;
  const loops = Array.from({ length: 16 }, async (_, w) => {
    for (let k = 0; Date.now() < end && k < 10_000_000; k++) {
      sent++;
      const r = await request(httpPort, `h${(w * 7919 + k) % N}.bench`).catch(() => ({ status: 0, body: '' }));
      if (r.status !== 200) failed++;
    }
  });
  const changer = (async () => {
    for (let c = 0; c < LOAD_CHANGES && Date.now() < end; c++) {
      const i = N + CHANGES + c;
      api.create(ingress(i, `svc-${c % N}`)); // new Ingress
      api.update(slice(c % N, c % 2, c % 3 === 0 ? oldPod.port : newPod.port)); // pods move
      await sleep((LOAD_SECONDS * 1000) / LOAD_CHANGES);
    }
  })();
  await Promise.all([...loops, changer]);
  const rssEnd = rssLine(pids);
  const cgroupEnd = cgroup?.usageMiB();
  const detailEnd = values['memory-detail'] ? await probeMemory(dir, pids) : undefined;

  const lat = (xs: [number, number][], which: 0 | 1) => `${pct(xs.map((x) => x[which]), 50).toFixed(1)} / ${pct(xs.map((x) => x[which]), 99).toFixed(1)} ms`;
  const mode = WORKERS > 0 ? `--workers ${WORKERS}` : 'one process';
  const limit = cgroup ? `, in a memory cgroup limited to ${LIMIT_MIB} MiB` : '';
  console.log(`Control plane, Kubernetes mode against the fake API server: ${N} Ingresses, ${N} Services, ${2 * N} EndpointSlices, ${mode}${limit} (${new Date().toISOString().slice(0, 10)}, node ${process.version}${nodeArgs.length ? `, node flags ${nodeArgs.join(' ')}` : ''})\n`);
  console.log('| measure | value | target |');
  console.log('|---|---:|---|');
  console.log(`| start → ready | ${(readyMs / 1000).toFixed(2)} s | < 10 s |`);
  console.log(`| RSS at ready${WORKERS > 0 ? ' (primary / workers)' : ''} | ${rssReady} | primary < 300 MiB |`);
  if (WORKERS > 0) {
    console.log(`| apply latency p50 / p99, first worker (${CHANGES} Ingress creates) | ${lat(apply, 0)} | |`);
    console.log(`| apply latency p50 / p99, every worker | ${lat(apply, 1)} | p99 < 100 ms |`);
    console.log(`| endpoint latency p50 / p99, first worker (${CHANGES} slice moves) | ${lat(endpoint, 0)} | |`);
    console.log(`| endpoint latency p50 / p99, every worker | ${lat(endpoint, 1)} | p99 < 50 ms |`);
  } else {
    console.log(`| apply latency p50 / p99 (${CHANGES} Ingress creates) | ${lat(apply, 1)} | p99 < 100 ms |`);
    console.log(`| endpoint latency p50 / p99 (${CHANGES} slice moves) | ${lat(endpoint, 1)} | p99 < 50 ms |`);
  }
  console.log(`| load run ${LOAD_SECONDS} s with ${LOAD_CHANGES} changes | ${sent} requests, ${failed} failed | 0 failed |`);
  console.log(`| RSS after the load run${WORKERS > 0 ? ' (primary / workers)' : ''} | ${rssEnd} | primary < 300 MiB |`);
  if (cgroup) {
    console.log(`| cgroup memory at ready / after the load run (what the limit counts: all processes, page cache) | ${cgroupReady!.toFixed(0)} / ${cgroupEnd!.toFixed(0)} MiB | < ${LIMIT_MIB} MiB |`);
    console.log(`| cgroup limit events | ${cgroup.limitEvents()} | |`);
  }
  if (detailReady && detailEnd) {
    const name = (i: number) => (i === 0 ? (WORKERS > 0 ? 'primary' : 'process') : `worker ${i}`);
    console.log('\nMemory detail (MiB; heap after a full GC):\n');
    console.log('| process | at ready | after the load run |');
    console.log('|---|---|---|');
    pids.forEach((pid, i) => console.log(`| ${name(i)} | ${formatDetail(detailReady.get(pid))} | ${formatDetail(detailEnd.get(pid))} |`));
  }
  for (const p of pinned) p.destroy();
} finally {
  // A clean exit (so --cpu-prof in BENCH_NODE_ARGS can write its profile), bounded.
  child.kill('SIGTERM');
  const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  if (child.exitCode === null) await once(child, 'exit');
  clearTimeout(killer);
  agent.destroy();
  oldPod.server.close();
  newPod.server.close();
  await api.close();
  rmSync(dir, { recursive: true, force: true });
  cgroup?.remove();
}

