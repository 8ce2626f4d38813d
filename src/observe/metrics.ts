// Prometheus metrics. Names follow what ingress-nginx and Traefik users already query
// (requests, request_duration_seconds, config_last_reload_successful, …) under `portico_`;
// with --metrics-compat ingress-nginx the traffic and control-plane figures are also exported
// under ingress-nginx's own names and labels (nginx-compat.ts).
//
// The request path touches no prom-client object: a finished request finds its cell through
// identity lookups (the matched route, then the host label, the backend string, and status ×
// method as one small integer), then adds plain numbers, including the histograms' buckets
// (batched-histogram.ts). Label strings are built once, when a cell is first used. prom-client
// gets the counts when Prometheus scrapes.
//
// Label values are bounded, never the raw URL or Host header: Ingress and Service names; the
// route's configured host (a request that matched a rule without host, or no rule, is labelled
// with its Host header only when that is a host of the current configuration, else `_other`);
// ten method values; the status code as sent (0: none was). Series of Ingresses that are gone
// are removed after each configuration swap.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { BatchedHistogram } from './batched-histogram.ts';
import type { HistogramSeries } from './batched-histogram.ts';
import { NginxCompatMetrics, recordCompat, type CompatCell, type CompatIdentity } from './nginx-compat.ts';
import type { Route } from '../model/types.ts';
import type http from 'node:http';
import type net from 'node:net';

/** What the metrics need to know about one finished request (a subset of the proxy's RequestInfo). */
export interface RequestSample {
  method: string;
  /** The Host header as received. */
  host: string;
  status: number;
  bytesSent: number;
  requestBytes: number;
  durationMs: number;
  upstreamHeaderMs: number | null;
  upstreamResponseMs: number | null;
  attempts: number;
  /** The matched route: its identity keys the cache, its host and path are labels. */
  route: Pick<Route, 'host' | 'path'> | null;
  ingress: { namespace: string; name: string } | null;
  backend: string | null;
  error: string | null;
  upgrade: boolean;
}

/** What configSwapped needs of a RoutingConfig. */
export interface SwapSummary {
  version?: number;
  problems: readonly { reason: string }[];
  ingresses: readonly { namespace: string; name: string }[];
  /** Every route: their hosts bound the `host` label of requests that matched no host. */
  routes?: () => Iterable<{ host: string }>;
}

/** The `host` label of requests whose Host is not a configured host. */
export const OTHER_HOST = '_other';

interface CellLabels {
  namespace: string;
  ingress: string;
  service: string;
  host: string;
  path: string;
  method: string;
  status: string;
}

/** One (route, host label, backend, method, status): counts, and the series it adds to. */
interface Cell {
  labels: CellLabels;
  requests: number;
  bytes: number;
  duration: HistogramSeries;
  requestSize: HistogramSeries;
  responseSize: HistogramSeries;
  upstreamHeader: HistogramSeries;
  upstreamResponse: HistogramSeries;
  compat: CompatCell | null;
}

/**
 * A route's cells: host label → backend → (status × 16 + method) → cell, and the last one used,
 * which most requests on a route hit again (same host, backend, method and status): then the
 * lookup is one WeakMap get and three comparisons.
 */
interface RouteCells {
  byHost: Map<string, Map<string, Map<number, Cell>>>;
  lastHost: string;
  lastBackend: string;
  lastKey: number;
  last: Cell | null;
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE', 'OTHER'];
const METHOD_INDEX = new Map(METHODS.slice(0, -1).map((m, i) => [m, i]));
/** Stand-in identity for requests that matched no route. */
const NO_ROUTE = { host: '', path: '' };
const NO_INGRESS = { namespace: '', name: '' };
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Bytes: 100 B .. 100 MiB. */
const SIZE_BUCKETS = [100, 1000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000];

type RequestLabel = 'namespace' | 'ingress' | 'service' | 'host' | 'method' | 'status';
type DurationLabel = 'namespace' | 'ingress' | 'service' | 'method' | 'status';
type ServiceLabel = 'namespace' | 'ingress' | 'service';

export interface MetricsOptions {
  defaultMetrics?: boolean;
  /** --metrics-compat ingress-nginx: who this controller is, for ingress-nginx's labels. */
  nginxCompat?: CompatIdentity;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly cells = new Map<string, Cell>();
  private readonly requests: Counter<RequestLabel>;
  private readonly responseBytes: Counter<ServiceLabel>;
  private readonly duration: BatchedHistogram<DurationLabel>;
  private readonly requestSize: BatchedHistogram<ServiceLabel>;
  private readonly responseSize: BatchedHistogram<ServiceLabel>;
  private readonly upstreamHeader: BatchedHistogram<ServiceLabel>;
  private readonly upstreamResponse: BatchedHistogram<ServiceLabel>;
  /** Route (or NO_ROUTE) → its cells (a cache over `cells`). */
  private cellCache = new WeakMap<object, RouteCells>();
  /** The current configuration's hosts (lower case), for requests that matched no host. */
  private hosts: ReadonlySet<string> = new Set();
  private readonly compat: NginxCompatMetrics | null;
  readonly tlsProblems: Gauge<'reason'>;
  private readonly upstreamErrors: Counter<'kind'>;
  private readonly retries: Counter;
  readonly reloads: Counter;
  readonly reloadDuration: Histogram;
  readonly lastReloadSuccess: Gauge;
  readonly lastReloadTimestamp: Gauge;
  readonly problems: Gauge<'reason'>;
  readonly watchRestarts: Counter<'resource'>;
  readonly leader: Gauge;
  /** mirror-target copies by result, read from the proxy's counts at scrape time. */
  readonly mirrorCopies: Counter;
  private mirrorCounts: (() => { sent: number; failed: number; dropped: number } | null) | null = null;
  private readonly mirrorSeen = { sent: 0, failed: 0, dropped: 0 };
  /** 1 while the --nginx-configmap ConfigMap differs from what was applied at start. */
  readonly nginxConfigMapChanged: Gauge;
  readonly endpoints: Gauge<'backend'>;
  readonly endpointProblems: Gauge<'reason'>;
  readonly openConnections: Gauge<'listener'>;
  readonly acmeOrders: Counter<'result'>;
  /** ssl-passthrough connections by the passthrough host (a configured rule host) and outcome. */
  private readonly passthroughConnections: Counter<'host' | 'outcome'>;
  readonly certificateExpiry: Gauge<'host' | 'secret'>;
  private certificates: () => Iterable<{ host: string; secret: string; notAfter: Date }> = () => [];
  private readonly listeners = new Map<string, net.Server>();
  private latestConfig: SwapSummary | undefined;
  private configTimer: NodeJS.Timeout | undefined;
  private endpointCounts: () => Iterable<[string, number]> = () => [];
  private endpointProblemList: () => Iterable<{ reason: string }> = () => [];

  constructor(opts: MetricsOptions = {}) {
    const registers = [this.registry];
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'portico_requests_total',
      help: 'Requests answered, by Ingress, Service, host, method and status code (0: no response was sent)',
      labelNames: ['namespace', 'ingress', 'service', 'host', 'method', 'status'],
      registers,
      collect: () => this.flush(),
    });
    this.responseBytes = new Counter({
      name: 'portico_response_bytes_total',
      help: 'Response body bytes sent to clients',
      labelNames: ['namespace', 'ingress', 'service'],
      registers,
    });
    this.duration = new BatchedHistogram({
      name: 'portico_request_duration_seconds',
      help: 'Time from the request to the end of the response',
      labelNames: ['namespace', 'ingress', 'service', 'method', 'status'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.requestSize = new BatchedHistogram({
      name: 'portico_request_size_bytes',
      help: 'Request line, headers and declared body length',
      labelNames: ['namespace', 'ingress', 'service'],
      buckets: SIZE_BUCKETS,
      registers,
    });
    this.responseSize = new BatchedHistogram({
      name: 'portico_response_size_bytes',
      help: 'Response body bytes sent to the client',
      labelNames: ['namespace', 'ingress', 'service'],
      buckets: SIZE_BUCKETS,
      registers,
    });
    this.upstreamHeader = new BatchedHistogram({
      name: 'portico_upstream_header_duration_seconds',
      help: 'Upstream time from sending the request to its response headers',
      labelNames: ['namespace', 'ingress', 'service'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.upstreamResponse = new BatchedHistogram({
      name: 'portico_upstream_response_duration_seconds',
      help: 'Upstream time from sending the request to the end of its response',
      labelNames: ['namespace', 'ingress', 'service'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.tlsProblems = new Gauge({ name: 'portico_tls_problems', help: 'Hosts whose certificate Secret is unusable or mismatched, by reason', labelNames: ['reason'], registers });
    this.upstreamErrors = new Counter({ name: 'portico_upstream_errors_total', help: 'Requests that did not get a complete upstream response, by kind', labelNames: ['kind'], registers });
    this.retries = new Counter({ name: 'portico_upstream_retries_total', help: 'Requests retried on another endpoint', registers });
    this.reloads = new Counter({ name: 'portico_config_reloads_total', help: 'Routing configurations built and swapped in', registers });
    this.reloadDuration = new Histogram({
      name: 'portico_config_reload_duration_seconds',
      help: 'Time to translate the store into a routing configuration',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.lastReloadSuccess = new Gauge({ name: 'portico_config_last_reload_successful', help: '1 when the last configuration build succeeded', registers });
    this.lastReloadTimestamp = new Gauge({ name: 'portico_config_last_reload_successful_timestamp_seconds', help: 'When the last configuration was swapped in', registers });
    this.problems = new Gauge({ name: 'portico_config_problems', help: 'Problems in the current configuration, by reason', labelNames: ['reason'], registers });
    this.watchRestarts = new Counter({ name: 'portico_watch_restarts_total', help: 'Kubernetes watches restarted after a failure, by resource', labelNames: ['resource'], registers });
    this.leader = new Gauge({ name: 'portico_leader_election_status', help: '1 while this replica is the leader', registers });
    this.mirrorCopies = new Counter({
      name: 'portico_mirror_requests_total',
      help: 'Copies of requests for mirror-target: sent (answered, any status), failed (no answer: refused, reset, timeout) or dropped (too many copies in flight)',
      labelNames: ['result'],
      registers,
      collect: () => {
        const now = this.mirrorCounts?.() ?? null;
        if (now === null) return;
        for (const result of ['sent', 'failed', 'dropped'] as const) {
          const delta = now[result] - this.mirrorSeen[result];
          if (delta > 0) this.mirrorCopies.inc({ result }, delta);
          this.mirrorSeen[result] = now[result];
        }
      },
    });
    this.nginxConfigMapChanged = new Gauge({
      name: 'portico_nginx_configmap_changed',
      help: '1 while the --nginx-configmap ConfigMap differs from what this process applied at start (restart to apply it)',
      registers,
    });
    this.endpoints = new Gauge({
      name: 'portico_backend_endpoints',
      help: 'Endpoints in use per backend (namespace/service:port)',
      labelNames: ['backend'],
      registers,
      collect: () => {
        this.endpoints.reset();
        for (const [backend, n] of this.endpointCounts()) this.endpoints.set({ backend }, n);
      },
    });
    // a gauge, not a counter: slices are re-read on every relist, and what an operator needs is
    // how many are broken now (the log names them)
    this.endpointProblems = new Gauge({
      name: 'portico_endpoint_problems',
      help: 'EndpointSlices with endpoints Portico cannot use (invalid addresses, FQDN or unknown addressType), by reason',
      labelNames: ['reason'],
      registers,
      collect: () => {
        this.endpointProblems.reset();
        for (const p of this.endpointProblemList()) this.endpointProblems.inc({ reason: p.reason });
      },
    });
    this.passthroughConnections = new Counter({
      name: 'portico_ssl_passthrough_connections_total',
      help: 'TLS connections whose SNI named an ssl-passthrough host, by host and outcome (forwarded, no-endpoint, connect-failed, denied)',
      labelNames: ['host', 'outcome'],
      registers,
    });
    this.acmeOrders = new Counter({ name: 'portico_acme_orders_total', help: 'ACME certificate orders by result', labelNames: ['result'], registers });
    this.certificateExpiry = new Gauge({
      name: 'portico_ssl_expire_time_seconds',
      help: 'Expiry (Unix time) of the certificate served for each TLS host',
      labelNames: ['host', 'secret'],
      registers,
      collect: () => {
        this.certificateExpiry.reset();
        for (const c of this.certificates()) this.certificateExpiry.set({ host: c.host, secret: c.secret }, c.notAfter.getTime() / 1000);
      },
    });
    this.openConnections = new Gauge({
      name: 'portico_open_connections',
      help: 'Open client connections by listener',
      labelNames: ['listener'],
      registers,
      collect: async () => {
        for (const [name, server] of this.listeners) {
          const n = await new Promise<number>((resolve) => server.getConnections((err, count) => resolve(err ? 0 : count)));
          this.openConnections.set({ listener: name }, n);
        }
      },
    });
    this.compat = opts.nginxCompat
      ? new NginxCompatMetrics(opts.nginxCompat, this.registry, {
          certificates: () => this.certificates(),
          openConnections: () => this.connectionCount(),
          leader: async () => (await this.leader.get()).values[0]?.value ?? 0,
          flush: () => this.flush(),
        })
      : null;
  }

  /** The TLS manager's current problems (a full list each time). */
  setTlsProblems(problems: readonly { reason: string }[]): void {
    this.tlsProblems.reset();
    for (const p of problems) this.tlsProblems.inc({ reason: p.reason });
  }

  /** The proxy's mirror copy counts (null until its first copy), read at scrape time. */
  mirrorSource(fn: () => { sent: number; failed: number; dropped: number } | null): void {
    this.mirrorCounts = fn;
  }

  certificateSource(fn: () => Iterable<{ host: string; secret: string; notAfter: Date }>): void {
    this.certificates = fn;
  }

  /** Hot path: called once per finished request. */
  readonly record = (s: RequestSample): void => {
    const route = s.route;
    const host = route !== null && route.host !== '' ? route.host : this.hostLabel(s.host);
    const backend = s.backend ?? '';
    const method = s.method;
    const m = method === 'GET' ? 0 : (METHOD_INDEX.get(method) ?? METHODS.length - 1);
    const key = s.status * 16 + m;
    const rc = this.cellCache.get(route ?? NO_ROUTE);
    let cell: Cell | undefined;
    if (rc !== undefined && rc.lastKey === key && rc.lastHost === host && rc.lastBackend === backend) cell = rc.last!;
    else {
      cell = (rc === undefined ? undefined : cachedCell(rc, host, backend, key)) ?? this.newCell(s, host, backend, key);
      // newCell made the route's entry if there was none
      const entry = rc ?? this.cellCache.get(route ?? NO_ROUTE)!;
      entry.lastHost = host;
      entry.lastBackend = backend;
      entry.lastKey = key;
      entry.last = cell;
    }
    cell.requests++;
    cell.bytes += s.bytesSent;
    const compat = cell.compat;
    if (compat !== null) compat.requests++;
    if (!s.upgrade) {
      const seconds = s.durationMs / 1000;
      cell.duration.observe(seconds);
      cell.requestSize.observe(s.requestBytes);
      cell.responseSize.observe(s.bytesSent);
      if (s.upstreamHeaderMs !== null) cell.upstreamHeader.observe(s.upstreamHeaderMs / 1000);
      if (s.upstreamResponseMs !== null) cell.upstreamResponse.observe(s.upstreamResponseMs / 1000);
      if (compat !== null) recordCompat(compat, seconds, s.upstreamHeaderMs, s.upstreamResponseMs, s.requestBytes, s.bytesSent);
    }
    if (s.error !== null && s.error !== 'client_abort') this.upstreamErrors.inc({ kind: s.error });
    if (s.attempts > 1) this.retries.inc();
  };

  /** The `host` label of a request that matched no configured host: its Host if configured, else OTHER_HOST. */
  private hostLabel(header: string): string {
    if (header === '') return OTHER_HOST;
    let h = header.toLowerCase();
    const colon = h.lastIndexOf(':');
    if (colon > h.lastIndexOf(']')) h = h.slice(0, colon);
    return this.hosts.has(h) ? h : OTHER_HOST;
  }


  /** The slow path: finds or creates the cell for a label set, and caches it for the route. */
  private newCell(s: RequestSample, host: string, backend: string, key: number): Cell {
    const ref = s.ingress ?? NO_INGRESS;
    const labels: CellLabels = {
      namespace: ref.namespace,
      ingress: ref.name,
      service: backend === '' ? '' : serviceOf(backend),
      host,
      path: s.route?.path ?? '',
      method: METHODS[key % 16]!,
      status: String(Math.floor(key / 16)),
    };
    const id = `${labels.namespace}\0${labels.ingress}\0${labels.service}\0${host}\0${labels.path}\0${labels.method}\0${labels.status}`;
    let cell = this.cells.get(id);
    if (cell === undefined) {
      const { namespace, ingress, service, method, status } = labels;
      const perService = { namespace, ingress, service };
      cell = {
        labels,
        requests: 0,
        bytes: 0,
        duration: this.duration.series({ namespace, ingress, service, method, status }),
        requestSize: this.requestSize.series(perService),
        responseSize: this.responseSize.series(perService),
        upstreamHeader: this.upstreamHeader.series(perService),
        upstreamResponse: this.upstreamResponse.series(perService),
        compat: this.compat === null ? null : this.compat.cell(labels),
      };
      this.cells.set(id, cell);
    }
    const routeKey = s.route ?? NO_ROUTE;
    let rc = this.cellCache.get(routeKey);
    if (rc === undefined) this.cellCache.set(routeKey, (rc = { byHost: new Map(), lastHost: '', lastBackend: '', lastKey: -1, last: null }));
    const byHost = rc.byHost;
    let byBackend = byHost.get(host);
    if (byBackend === undefined) byHost.set(host, (byBackend = new Map()));
    let byKey = byBackend.get(backend);
    if (byKey === undefined) byBackend.set(backend, (byKey = new Map()));
    byKey.set(key, cell);
    return cell;
  }

  /** One connection for a passthrough host (proxy/ssl-passthrough.ts). */
  passthroughConnection(host: string, outcome: string): void {
    this.passthroughConnections.inc({ host, outcome });
  }

  watchListener(name: string, server: net.Server): void {
    this.listeners.set(name, server);
    const compat = this.compat;
    if (compat !== null) server.on('connection', () => compat.connectionAccepted());
  }

  private async connectionCount(): Promise<number> {
    let total = 0;
    for (const server of this.listeners.values()) total += await new Promise<number>((resolve) => server.getConnections((err, count) => resolve(err ? 0 : count)));
    return total;
  }

  endpointSource(fn: () => Iterable<[string, number]>): void {
    this.endpointCounts = fn;
  }

  /** The endpoint index's current problems, read at scrape time. */
  endpointProblemSource(fn: () => Iterable<{ reason: string }>): void {
    this.endpointProblemList = fn;
  }

  /**
   * After every configuration swap. Counters move at once; the per-problem gauge, the host set
   * and the removal of deleted Ingresses' series walk whole lists, so they run at most once a
   * second (trailing): at 10,000 Ingresses a swap must not pay for them each time.
   */
  configSwapped(config: SwapSummary, durationMs: number): void {
    this.reloads.inc();
    this.reloadDuration.observe(durationMs / 1000);
    this.lastReloadSuccess.set(1);
    const now = Date.now() / 1000;
    this.lastReloadTimestamp.set(now);
    this.compat?.configApplied(config.version ?? 0, now);
    this.latestConfig = config;
    if (this.configTimer === undefined) {
      this.configTimer = setTimeout(() => {
        this.configTimer = undefined;
        const c = this.latestConfig;
        if (c === undefined) return;
        this.problems.reset();
        for (const p of c.problems) this.problems.inc({ reason: p.reason });
        if (c.routes !== undefined) this.setHosts(c.routes());
        this.retainIngresses(c.ingresses);
      }, 1000);
      this.configTimer.unref();
    }
  }

  /** A build failed; the previous configuration is still served (config_last_reload_successful 0 until the next swap). */
  configFailed(): void {
    this.lastReloadSuccess.set(0);
    this.compat?.configFailed();
  }

  /** The configured hosts (wildcards and '' are not Host headers, so they never match one). */
  setHosts(routes: Iterable<{ host: string }>): void {
    const hosts = new Set<string>();
    for (const r of routes) if (r.host !== '' && !r.host.startsWith('*')) hosts.add(r.host);
    this.hosts = hosts;
    // cells cached under a host label that is no longer right are found again
    this.cellCache = new WeakMap();
  }

  /** After a swap: drop the series of Ingresses that no longer exist. */
  retainIngresses(live: Iterable<{ namespace: string; name: string }>): void {
    this.flush();
    const keep = new Set<string>();
    for (const r of live) keep.add(`${r.namespace}\0${r.name}`);
    // cached cells may be deleted below; the cache refills from `cells` on demand
    this.cellCache = new WeakMap();
    const goneCompat = new Set<CompatCell>();
    for (const [key, cell] of this.cells) {
      const { namespace, ingress, service, host, method, status } = cell.labels;
      if (ingress === '' || keep.has(`${namespace}\0${ingress}`)) continue;
      this.cells.delete(key);
      this.requests.remove({ namespace, ingress, service, host, method, status });
      this.responseBytes.remove({ namespace, ingress, service });
      this.duration.remove({ namespace, ingress, service, method, status });
      for (const h of [this.requestSize, this.responseSize, this.upstreamHeader, this.upstreamResponse]) h.remove({ namespace, ingress, service });
      if (cell.compat !== null) goneCompat.add(cell.compat);
    }
    this.compat?.forget(goneCompat);
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** Moves the aggregated counts into prom-client (at scrape time). */
  private flush(): void {
    for (const cell of this.cells.values()) {
      if (cell.requests > 0) {
        const { namespace, ingress, service, host, method, status } = cell.labels;
        this.requests.inc({ namespace, ingress, service, host, method, status }, cell.requests);
        cell.requests = 0;
      }
      if (cell.bytes > 0) {
        const { namespace, ingress, service } = cell.labels;
        this.responseBytes.inc({ namespace, ingress, service }, cell.bytes);
        cell.bytes = 0;
      }
    }
  }
}

function cachedCell(rc: RouteCells, host: string, backend: string, key: number): Cell | undefined {
  return rc.byHost.get(host)?.get(backend)?.get(key);
}

/** `namespace/service:port` → `service`. */
function serviceOf(backend: string): string {
  const slash = backend.indexOf('/');
  const colon = backend.lastIndexOf(':');
  return backend.slice(slash + 1, colon > slash ? colon : backend.length);
}

/** What /metrics shows: one process's Metrics, or (with workers) every process's merged. */
export interface MetricsSource {
  render(): Promise<{ contentType: string; body: string }>;
}

/** Serves GET /metrics; returns false for other paths (for sharing the health server). */
export function metricsHandler(source: MetricsSource): (req: http.IncomingMessage, res: http.ServerResponse) => boolean {
  return (req, res) => {
    if ((req.url ?? '').split('?')[0] !== '/metrics') return false;
    source.render().then(
      ({ contentType, body }) => {
        res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
        res.end(body);
      },
      (err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`metrics failed: ${(err as Error).message}\n`);
      },
    );
    return true;
  };
}
