// Routing-table benchmark: build time, memory and lookup rate at 10,000 Ingresses, then the
// cost of one change through the incremental translator the controller runs.
//
//   node_modules/.bin/node bench/routing-table.ts      (Node 24 strips the types)
//
// Targets (DESIGN.md "at 10,000 Ingresses an edit must cost milliseconds"; the proxy calls
// match() once per request): full build < 300 ms, > 1,000,000 lookups/s on one core, one
// Ingress change < 5 ms (issue 6: "an Ingress change costs O(that host's rules)").

import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { IncrementalTranslator } from '../src/model/incremental.ts';
import { translate } from '../src/model/translate.ts';
import { routePredicates, type MatchRequest } from '../src/model/predicates.ts';
import { RouteTable } from '../src/model/route-table.ts';
import type { Route, RoutingConfig } from '../src/model/types.ts';
import { routingRelevant } from '../src/store/routing-relevant.ts';
import { Store, type StoreChange } from '../src/store/store.ts';
import type { HTTPIngressPath, Ingress, Service } from '../src/store/types.ts';

const INGRESSES = 10_000;
/** REGEX_SHARE=0 measures a configuration without ingress-nginx regex paths (default: a fifth). */
const REGEX = process.env.REGEX_SHARE !== '0';
/**
 * PREDICATES=1 adds a row: lookups (with a request: method, headers, query) on the table with
 * a quarter of its hosts given, beside each rule, one with a header match and one with a method
 * match (Gateway API HTTPRouteMatch; no Ingress annotation makes them).
 */
const PREDICATES = process.env.PREDICATES === '1';
const NAMESPACES = 100;
const BUILD_RUNS = 7;
const REQUESTS = 200_000;
const LOOKUP_SECONDS = 1.5;
const OPTIONS = { controllerName: 'portico.dev/ingress-controller', ingressClass: 'portico' };
/** Changes measured per incremental scenario (after a few unmeasured ones). */
const CHANGE_RUNS = 400;
const CHANGE_WARMUP = 20;

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

const BASE_TIME = Date.parse('2024-01-01T00:00:00Z');

function service(namespace: string, name: string, resourceVersion: string, metricsPort = 9090): Service {
  return {
    metadata: { namespace, name, resourceVersion },
    spec: { ports: [{ name: 'http', port: 80, targetPort: 8080 }, { name: 'metrics', port: metricsPort }] },
  };
}

/** Ingress number i of the data set (resourceVersion and path suffix vary for edits). */
function makeIngress(i: number, opts: { namespace?: string; name?: string; host?: string; prefix?: string; svc?: string; resourceVersion?: string; edit?: string } = {}): Ingress {
  const namespace = opts.namespace ?? `ns-${i % NAMESPACES}`;
  const svc = opts.svc ?? `svc-${i}`;
  const backend = { service: { name: svc, port: { number: 80 } } };
  const own = hostOf(i);
  const host = opts.host ?? own.host;
  const p = opts.prefix ?? own.prefix;
  // Five paths: a mix of Prefix and Exact; half the hosts have no catch-all '/', so path
  // misses (→ default backend or 404) happen too.
  const paths: HTTPIngressPath[] = [
    { path: i % 2 === 0 ? `${p}/` : `${p}/web`, pathType: 'Prefix', backend },
    { path: `${p}/api${opts.edit ?? ''}`, pathType: 'Prefix', backend },
    { path: `${p}/api/v${i % 3}/users`, pathType: 'Prefix', backend: { service: { name: svc, port: { name: 'http' } } } },
    { path: `${p}/healthz`, pathType: 'Exact', backend },
    { path: REGEX && i % 5 === 2 ? `${p}/static/.*\\.(js|css)` : `${p}/static/`, pathType: 'ImplementationSpecific', backend },
  ];
  return {
    metadata: {
      namespace,
      name: opts.name ?? `ing-${i}`,
      resourceVersion: opts.resourceVersion ?? String(i + 1),
      creationTimestamp: new Date(BASE_TIME + i * 1000).toISOString(),
      // a tenth ask for least-conn; a fifth use ingress-nginx regex paths (use-regex), which make
      // every path of their host a regex (shared hosts included)
      ...(i % 10 === 0 || (REGEX && i % 5 === 2)
        ? {
            annotations: {
              ...(i % 10 === 0 ? { 'portico.dev/load-balance': 'least-conn' } : {}),
              ...(REGEX && i % 5 === 2 ? { 'nginx.ingress.kubernetes.io/use-regex': 'true' } : {}),
            },
          }
        : {}),
    },
    spec: {
      ingressClassName: 'portico',
      ...(i % 100 === 0 ? { defaultBackend: backend } : {}),
      rules: [{ host, http: { paths } }],
    },
  };
}

function generate(store: Store): void {
  store.upsert('IngressClass', { metadata: { name: 'portico' }, spec: { controller: OPTIONS.controllerName } });
  for (let i = 0; i < INGRESSES; i++) {
    store.upsert('Service', service(`ns-${i % NAMESPACES}`, `svc-${i}`, String(i + 1)));
    store.upsert('Ingress', makeIngress(i));
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

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? 0;
}

interface LookupRun {
  rate: number;
  wallRate: number;
  seconds: number;
  cpuSeconds: number;
}

/** match() on one core over the request list for LOOKUP_SECONDS, on a settled heap. */
function lookupRate(config: RoutingConfig, hosts: readonly string[], paths: readonly string[]): LookupRun {
  gc();
  gc();
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
  if (sink < 0) console.log(''); // use the results, so the lookups cannot be optimised away
  // Per CPU-second of this thread: on a shared machine, wall time also counts time the core
  // was given to other processes.
  return { rate: lookups / cpuSeconds, wallRate: lookups / seconds, seconds, cpuSeconds };
}

/** The table with predicate rules on every fourth host (PREDICATES=1): beside each rule, a header and a method match. */
function withPredicates(config: RouteTable): RouteTable {
  const canary = routePredicates({ headers: [{ name: 'x-canary', value: 'on' }] });
  const post = routePredicates({ method: 'POST' });
  let n = 0;
  const hosts = config.virtualHosts().map((vh) => {
    if (n++ % 4 !== 0 || vh.regex === true) return vh;
    const routes: Route[] = [];
    for (const r of vh.routes) routes.push({ ...r, predicates: canary! }, { ...r, predicates: post! }, r);
    return { ...vh, routes };
  });
  return new RouteTable({ version: config.version + 1, virtualHosts: hosts, defaultRoute: config.defaultRoute, problems: config.problems, ingresses: config.ingresses, tls: config.tls });
}

/** Request heads for PREDICATES=1: a browser's GET, one with the canary header, a POST, a GET with a query. */
function matchRequests(): MatchRequest[] {
  const browser = ['Host', 'h.example.com', 'User-Agent', 'Mozilla/5.0', 'Accept', 'text/html', 'Accept-Language', 'en', 'Accept-Encoding', 'gzip, br', 'Cookie', 'session=abc', 'Connection', 'keep-alive'];
  return [
    { method: 'GET', url: '/', rawHeaders: browser },
    { method: 'GET', url: '/', rawHeaders: [...browser, 'X-Canary', 'on'] },
    { method: 'POST', url: '/', rawHeaders: [...browser, 'Content-Length', '2'] },
    { method: 'GET', url: '/?page=2&sort=name', rawHeaders: browser },
  ];
}

/** lookupRate with a request given to every match() (the proxy's call). */
function lookupRateWith(config: RoutingConfig, hosts: readonly string[], paths: readonly string[], reqs: readonly MatchRequest[]): LookupRun {
  gc();
  gc();
  let lookups = 0;
  let sink = 0;
  const deadline = performance.now() + LOOKUP_SECONDS * 1000;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  while (performance.now() < deadline) {
    for (let k = 0; k < REQUESTS; k++) {
      const r = config.match(hosts[k] as string, paths[k] as string, reqs[k & 3] as MatchRequest);
      if (r !== null) sink++;
    }
    lookups += REQUESTS;
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  if (sink < 0) console.log('');
  return { rate: lookups / cpuSeconds, wallRate: lookups / seconds, seconds, cpuSeconds };
}

function ms(x: number): string {
  return x < 10 ? x.toFixed(2) : x.toFixed(1);
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
  let hits = 0;
  let defaults = 0;
  let nulls = 0;
  for (let k = 0; k < REQUESTS; k++) {
    const r = config.match(hosts[k] as string, paths[k] as string);
    if (r === null) nulls++;
    else if (r.path === '') defaults++;
    else hits++;
  }
  const { rate, wallRate, seconds, cpuSeconds } = lookupRate(config, hosts, paths);
  const buildMs = median(times);
  let predicateRows: string[] = [];
  if (PREDICATES) {
    const reqs = matchRequests();
    const plain = lookupRateWith(config, hosts, paths, reqs);
    const c0 = performance.now();
    const pconfig = withPredicates(config as RouteTable);
    const compileMs = performance.now() - c0;
    let predicated = 0;
    for (const vh of pconfig.virtualHosts()) if (vh.routes.some((r) => r.predicates !== undefined)) predicated++;
    const pred = lookupRateWith(pconfig, hosts, paths, reqs);
    predicateRows = [
      `| PREDICATES=1: lookups/s per CPU-second, no predicates, a request given (${plain.cpuSeconds.toFixed(1)} s CPU) | ${Math.round(plain.rate).toLocaleString('en')} | > 1,000,000 ${plain.rate > 1_000_000 ? 'ok' : 'MISSED'} |`,
      `| PREDICATES=1: lookups/s per CPU-second, ${predicated.toLocaleString('en')} hosts with a header and a method rule beside each rule (${pred.cpuSeconds.toFixed(1)} s CPU; table compiled in ${compileMs.toFixed(0)} ms) | ${Math.round(pred.rate).toLocaleString('en')} | > 1,000,000 ${pred.rate > 1_000_000 ? 'ok' : 'MISSED'} |`,
    ];
  }

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
    ...predicateRows,
    `| request mix | ${((hits / REQUESTS) * 100).toFixed(0)}% rule hit, ${((defaults / REQUESTS) * 100).toFixed(0)}% default backend, ${((nulls / REQUESTS) * 100).toFixed(0)}% no route | — |`,
  ];
  console.log(lines.join('\n'));
  incremental(store, hosts, paths);
}

/**
 * The incremental translator (model/incremental.ts) fed the store's changes, as the reconciler
 * does: time of one apply per kind of change, then a check against a full translation and
 * the lookup rate of the table that many edits left behind (shared hosts plus a delta).
 */
function incremental(store: Store, hosts: readonly string[], paths: readonly string[]): void {
  gc();
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const translator = new IncrementalTranslator(OPTIONS);
  let pending: StoreChange[] = [];
  const unsubscribe = store.subscribe((c) => {
    if (routingRelevant(c)) pending.push(c);
  });
  let version = 1;
  const t0 = performance.now();
  let config = translator.apply(store, undefined, version);
  const firstMs = performance.now() - t0;
  gc();
  gc();
  const heapHeld = process.memoryUsage().heapUsed - heapBefore;
  let rv = 1_000_000;

  // 20 Ingresses of one namespace on one busy host, all naming one Service (100 rules).
  store.upsert('Service', service('busy', 'shared', String(++rv)));
  for (let j = 0; j < 20; j++) store.upsert('Ingress', makeIngress(3 + j * 20, { namespace: 'busy', name: `busy-${j}`, host: 'busy.example.com', prefix: `/team${j}`, svc: 'shared' }));
  // A Service per namespace for the new Ingresses below.
  for (let n = 0; n < NAMESPACES; n++) store.upsert('Service', service(`ns-${n}`, 'added', String(++rv)));
  config = translator.apply(store, pending.splice(0), ++version);

  /** Wall-clock ms of one apply of the pending changes. (Per-apply CPU time is no help on a
   *  shared machine: getrusage counts in kernel ticks, and GC helper threads are in it.) */
  const applyOnce = (): number => {
    const changes = pending;
    pending = [];
    const started = performance.now();
    config = translator.apply(store, changes, ++version);
    return performance.now() - started;
  };
  const rand = rng(7);
  /** An Ingress with a host of its own. */
  const ownHost = (): number => {
    const i = Math.floor(rand() * INGRESSES);
    return i - (i % 20) + 3 + (i % 17);
  };
  let added = 0;
  const scenarios: { name: string; change: (k: number) => void; ingresses: number; hosts: number }[] = [
    {
      name: 'one Ingress updated (one path changed), own host, 5 rules',
      change: (k) => {
        const i = ownHost();
        store.upsert('Ingress', makeIngress(i, { resourceVersion: String(++rv), edit: `-v${k}` }));
      },
      ingresses: 1,
      hosts: 1,
    },
    {
      name: 'one Ingress updated on a busy host (100 rules from 20 Ingresses)',
      change: (k) => {
        const j = k % 20;
        store.upsert('Ingress', makeIngress(3 + j * 20, { namespace: 'busy', name: `busy-${j}`, host: 'busy.example.com', prefix: `/team${j}`, svc: 'shared', resourceVersion: String(++rv), edit: `-v${k}` }));
      },
      ingresses: 1,
      hosts: 1,
    },
    {
      name: 'one new Ingress on a new host',
      change: () => {
        const i = ownHost();
        added++;
        store.upsert('Ingress', makeIngress(i, { name: `new-${added}`, host: `new${added}.example.com`, svc: 'added', resourceVersion: String(++rv) }));
      },
      ingresses: 1,
      hosts: 1,
    },
    {
      name: 'one Service changed, named by 1 Ingress',
      change: (k) => {
        const i = ownHost();
        store.upsert('Service', service(`ns-${i % NAMESPACES}`, `svc-${i}`, String(++rv), 9000 + (k % 50)));
      },
      ingresses: 1,
      hosts: 1,
    },
    {
      name: 'one Service changed, named by 20 Ingresses on a busy host',
      change: (k) => store.upsert('Service', service('busy', 'shared', String(++rv), 9000 + (k % 50))),
      ingresses: 20,
      hosts: 1,
    },
  ];

  const rows: string[] = [];
  let worst = 0;
  for (const sc of scenarios) {
    const times: number[] = [];
    let k = 0;
    for (let r = 0; r < CHANGE_WARMUP + CHANGE_RUNS; r++) {
      sc.change(k++);
      const dt = applyOnce();
      const stats = translator.lastApply;
      if (stats.full || stats.ingresses !== sc.ingresses || stats.hosts !== sc.hosts) {
        throw new Error(`${sc.name}: expected ${sc.ingresses} Ingresses and ${sc.hosts} hosts redone, got ${JSON.stringify(stats)}`);
      }
      if (r >= CHANGE_WARMUP) times.push(dt);
    }
    const p99 = percentile(times, 99);
    if (sc.ingresses === 1) worst = Math.max(worst, p99);
    rows.push(`| ${sc.name} | ${ms(median(times))} ms | ${ms(p99)} ms | ${ms(Math.max(...times))} ms |`);
  }
  unsubscribe();

  // The result must be what a full translation of the same store gives.
  const full = translate(store, { ...OPTIONS, version });
  const count = (c: RoutingConfig) => {
    let n = 0;
    for (const _ of c.routes()) n++;
    return n;
  };
  let same = count(config) === count(full) && JSON.stringify(config.problems) === JSON.stringify(full.problems) && JSON.stringify(config.ingresses) === JSON.stringify(full.ingresses);
  for (let k = 0; k < REQUESTS && same; k += 7) {
    same = JSON.stringify(config.match(hosts[k] as string, paths[k] as string)) === JSON.stringify(full.match(hosts[k] as string, paths[k] as string));
  }
  const after = lookupRate(config, hosts, paths);

  const lines = [
    '',
    `Incremental translation (model/incremental.ts), ${CHANGE_RUNS} changes per row after ${CHANGE_WARMUP} unmeasured; time of translator.apply(), which includes compiling the new table:`,
    '',
    '| change | median | p99 | max (a GC pause or the core given to another process) |',
    '|---|---|---|---|',
    `| first apply (everything, as at start-up) | ${ms(firstMs)} ms | — | — |`,
    ...rows,
    '',
    '| measure | value | target |',
    '|---|---|---|',
    `| one-Ingress change, worst p99 above | ${ms(worst)} ms | < 5 ms ${worst < 5 ? 'ok' : 'MISSED'} |`,
    `| heap held by the translator (per-Ingress state, indexes and its config) | ${mib(heapHeld)} | — |`,
    `| incremental config equals a full translation (routes, problems, Ingresses, ${Math.ceil(REQUESTS / 7).toLocaleString('en')} lookups) | ${same ? 'yes' : 'NO'} | yes |`,
    `| lookups/s per CPU-second on the table after ${(scenarios.length * (CHANGE_RUNS + CHANGE_WARMUP)).toLocaleString('en')} changes (${after.cpuSeconds.toFixed(1)} s CPU) | ${Math.round(after.rate).toLocaleString('en')} | > 1,000,000 ${after.rate > 1_000_000 ? 'ok' : 'MISSED'} |`,
  ];
  console.log(lines.join('\n'));
  if (!same) process.exitCode = 1;
}

main();
