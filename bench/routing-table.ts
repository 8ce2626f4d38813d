// Routing-table benchmark: build time, memory and lookup rate at 10,000 Ingresses.
//
//   node_modules/.bin/node bench/routing-table.ts      (Node 24 strips the types)
//
// Targets (DESIGN.md "at 10,000 Ingresses an edit must cost milliseconds"; the proxy calls
// match() once per request): full build < 300 ms, > 1,000,000 lookups/s on one core.

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { translate } from '../src/model/translate.ts';
import type { RoutingConfig } from '../src/model/types.ts';
import { Store } from '../src/store/store.ts';
import type { HTTPIngressPath, Ingress, Service } from '../src/store/types.ts';

const INGRESSES = 10_000;
const NAMESPACES = 100;
const BUILD_RUNS = 7;
const REQUESTS = 200_000;
const LOOKUP_SECONDS = 1.5;
const OPTIONS = { controllerName: 'portico.dev/ingress-controller', ingressClass: 'portico' };

// Exposes gc() without needing --expose-gc on the command line, for the memory figures.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Deterministic pseudo-random numbers (mulberry32), so every run measures the same data. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * What Ingress i serves: every 20th a wildcard host of its own; 2 in 20 share one of 50 busy
 * hosts (20 Ingresses each, under their own `/svcN` prefix: 100 rules per host); the rest a
 * host of their own (5 rules).
 */
function hostOf(i: number): { host: string; prefix: string } {
  const r = i % 20;
  if (r === 0) return { host: `*.t${i}.example.com`, prefix: '' };
  if (r === 1 || r === 2) return { host: `shared${Math.floor(i / 20) % 50}.example.com`, prefix: `/svc${i}` };
  return { host: `h${i}.example.com`, prefix: '' };
}

function generate(store: Store): void {
  store.upsert('IngressClass', { metadata: { name: 'portico' }, spec: { controller: OPTIONS.controllerName } });
  const base = Date.parse('2024-01-01T00:00:00Z');
  for (let i = 0; i < INGRESSES; i++) {
    const namespace = `ns-${i % NAMESPACES}`;
    const svc = `svc-${i}`;
    const service: Service = {
      metadata: { namespace, name: svc, resourceVersion: String(i + 1) },
      spec: { ports: [{ name: 'http', port: 80, targetPort: 8080 }, { name: 'metrics', port: 9090 }] },
    };
    store.upsert('Service', service);
    const backend = { service: { name: svc, port: { number: 80 } } };
    const { host, prefix: p } = hostOf(i);
    // Five paths: a mix of Prefix and Exact; half the hosts have no catch-all '/', so path
    // misses (→ default backend or 404) happen too.
    const paths: HTTPIngressPath[] = [
      { path: i % 2 === 0 ? `${p}/` : `${p}/web`, pathType: 'Prefix', backend },
      { path: `${p}/api`, pathType: 'Prefix', backend },
      { path: `${p}/api/v${i % 3}/users`, pathType: 'Prefix', backend: { service: { name: svc, port: { name: 'http' } } } },
      { path: `${p}/healthz`, pathType: 'Exact', backend },
      { path: `${p}/static/`, pathType: 'ImplementationSpecific', backend },
    ];
    const ingress: Ingress = {
      metadata: {
        namespace,
        name: `ing-${i}`,
        resourceVersion: String(i + 1),
        creationTimestamp: new Date(base + i * 1000).toISOString(),
        ...(i % 10 === 0 ? { annotations: { 'portico.dev/load-balance': 'least-conn' } } : {}),
      },
      spec: {
        ingressClassName: 'portico',
        ...(i % 100 === 0 ? { defaultBackend: backend } : {}),
        rules: [{ host, http: { paths } }],
      },
    };
    store.upsert('Ingress', ingress);
  }
}

/** A realistic mix of hits and misses, with some ports and upper case in Host headers. */
function requests(): { hosts: string[]; paths: string[] } {
  const rand = rng(42);
  const hosts: string[] = [];
  const paths: string[] = [];
  const pick = (n: number) => Math.floor(rand() * n);
  const pathPool = ['/', '/api', '/api/v1/users/123', '/api/v2/users', '/healthz', '/static/app.js', '/web/index.html', '/login', '/a/b/c/d/e/f'];
  for (let k = 0; k < REQUESTS; k++) {
    const i = pick(INGRESSES);
    const base = i - (i % 20);
    const own = base + 3 + (i % 17); // an Ingress with a host of its own
    let path = pathPool[pick(pathPool.length)] ?? '/';
    const r = rand();
    let host: string;
    if (r < 0.5) host = `h${own}.example.com`; // exact host
    else if (r < 0.6) {
      // a busy shared host: mostly one of its Ingresses' prefixes, sometimes another's
      const j = base + 1;
      host = `shared${Math.floor(j / 20) % 50}.example.com`;
      path = `/svc${rand() < 0.8 ? j : j + 20}${path}`;
    } else if (r < 0.7) host = `app${pick(100)}.t${base}.example.com`; // wildcard
    else if (r < 0.8) host = `H${own}.Example.com:8443`; // case + port
    else if (r < 0.9) host = `unknown${i}.example.org`; // no such host
    else host = `x.y.t${base}.example.com`; // too deep for the wildcard
    // Copied through a Buffer: flat strings, as Node's HTTP parser hands them over (template
    // literals would be ropes, which V8 flattens on first use and then looks up faster).
    hosts.push(Buffer.from(host).toString('latin1'));
    paths.push(Buffer.from(path).toString('latin1'));
  }
  return { hosts, paths };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function main(): void {
  const store = new Store();
  generate(store);

  // Build: one warm-up, then the median of several full rebuilds.
  let config: RoutingConfig = translate(store, OPTIONS);
  const times: number[] = [];
  const cpuTimes: number[] = [];
  for (let r = 0; r < BUILD_RUNS; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    config = translate(store, OPTIONS);
    times.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpuTimes.push((c.user + c.system) / 1000);
  }
  let routes = 0;
  const hostNames = new Set<string>();
  for (const r of config.routes()) {
    routes++;
    if (r.path !== '') hostNames.add(r.host);
  }

  // Memory held by one built table (the store is already allocated and not counted).
  config = translate(store, OPTIONS);
  const keep: RoutingConfig[] = [];
  gc();
  gc();
  const before = process.memoryUsage();
  keep.push(translate(store, OPTIONS));
  gc();
  gc();
  const after = process.memoryUsage();
  config = keep.pop() as RoutingConfig;

  // Lookups on one core against a pre-generated request list, on a settled heap (as a
  // long-running proxy's is between rebuilds).
  const { hosts, paths } = requests();
  gc();
  gc();
  let hits = 0;
  let defaults = 0;
  let nulls = 0;
  for (let k = 0; k < REQUESTS; k++) {
    const r = config.match(hosts[k] as string, paths[k] as string);
    if (r === null) nulls++;
    else if (r.path === '') defaults++;
    else hits++;
  }
  let lookups = 0;
  let sink = 0;
  const deadline = performance.now() + LOOKUP_SECONDS * 1000;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  while (performance.now() < deadline) {
    for (let k = 0; k < REQUESTS; k++) {
      const r = config.match(hosts[k] as string, paths[k] as string);
      if (r !== null) sink++;
    }
    lookups += REQUESTS;
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  // Per CPU-second of this thread: on a shared machine, wall time also counts time the core
  // was given to other processes.
  const rate = lookups / cpuSeconds;
  const wallRate = lookups / seconds;
  const buildMs = median(times);

  const lines = [
    `Routing table: ${INGRESSES.toLocaleString('en')} Ingresses, ${hostNames.size.toLocaleString('en')} hosts, ${routes.toLocaleString('en')} routes (incl. default backends), ${config.problems.length} problems; Node ${process.version}`,
    '',
    '| measure | value | target |',
    '|---|---|---|',
    `| full build, wall clock (median of ${BUILD_RUNS}) | ${buildMs.toFixed(1)} ms (min ${Math.min(...times).toFixed(1)}, max ${Math.max(...times).toFixed(1)}) | < 300 ms ${buildMs < 300 ? 'ok' : 'MISSED'} |`,
    `| full build, CPU time of the process (median; includes GC helper threads) | ${median(cpuTimes).toFixed(1)} ms | — |`,
    `| heap held by one table | ${mib(after.heapUsed - before.heapUsed)} | — |`,
    `| RSS growth for one table | ${mib(after.rss - before.rss)} | — |`,
    `| lookups/s per CPU-second (one core, ${cpuSeconds.toFixed(1)} s CPU) | ${Math.round(rate).toLocaleString('en')} | > 1,000,000 ${rate > 1_000_000 ? 'ok' : 'MISSED'} |`,
    `| lookups/s wall clock (${seconds.toFixed(1)} s; lower when other processes share the core) | ${Math.round(wallRate).toLocaleString('en')} | — |`,
    `| request mix | ${((hits / REQUESTS) * 100).toFixed(0)}% rule hit, ${((defaults / REQUESTS) * 100).toFixed(0)}% default backend, ${((nulls / REQUESTS) * 100).toFixed(0)}% no route | — |`,
  ];
  console.log(lines.join('\n'));
  if (sink < 0) console.log(''); // use the results, so the lookups cannot be optimised away
}

main();
