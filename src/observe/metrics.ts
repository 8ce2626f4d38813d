// Prometheus metrics. Names follow what ingress-nginx and Traefik users already query
// (requests, request_duration_seconds, config_last_reload_successful, …) under `portico_`.
//
// The request path touches no prom-client object: a finished request finds its counter cell
// through two identity lookups (the route's Ingress reference, then its backend string) and
// an array slot for method × status class, then adds plain numbers, including the duration
// histograms' buckets (batched-histogram.ts). prom-client gets the counts when Prometheus
// scrapes. Label values are bounded: the Ingress and
// Service names and the status class, never the raw URL. Series of Ingresses that are gone
// are removed after each configuration swap.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { BatchedHistogram } from './batched-histogram.ts';
import type { HistogramSeries } from './batched-histogram.ts';
import type http from 'node:http';
import type net from 'node:net';

/** What the metrics need to know about one finished request (a subset of the proxy's RequestInfo). */
export interface RequestSample {
  method: string;
  status: number;
  bytesSent: number;
  durationMs: number;
  upstreamHeaderMs: number | null;
  attempts: number;
  ingress: { namespace: string; name: string } | null;
  backend: string | null;
  error: string | null;
  upgrade: boolean;
}

/** What configSwapped needs of a RoutingConfig. */
export interface SwapSummary {
  problems: readonly { reason: string }[];
  ingresses: readonly { namespace: string; name: string }[];
}

interface Cell {
  labels: { namespace: string; ingress: string; service: string; method: string; status: string };
  requests: number;
  bytes: number;
  duration: HistogramSeries;
  upstreamHeader: HistogramSeries;
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE', 'OTHER'];
const METHOD_INDEX = new Map(METHODS.slice(0, -1).map((m, i) => [m, i]));
/** Status classes 0 (no response) and 1xx..9xx: ten slots per method. */
const CLASSES = 10;
/** Stand-in identity for requests that matched no Ingress. */
const NO_INGRESS = { namespace: '', name: '' };
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class Metrics {
  readonly registry = new Registry();
  private readonly cells = new Map<string, Cell>();
  private readonly requests: Counter<'namespace' | 'ingress' | 'service' | 'method' | 'status'>;
  private readonly responseBytes: Counter<'namespace' | 'ingress' | 'service'>;
  private readonly duration: BatchedHistogram<'namespace' | 'ingress'>;
  private readonly upstreamHeader: BatchedHistogram<'namespace' | 'ingress'>;
  /** Ingress reference → backend → cells by method × status class (a cache over `cells`). */
  private cellCache = new WeakMap<object, Map<string, (Cell | undefined)[]>>();
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
  readonly endpoints: Gauge<'backend'>;
  readonly endpointProblems: Gauge<'reason'>;
  readonly openConnections: Gauge<'listener'>;
  readonly acmeOrders: Counter<'result'>;
  readonly certificateExpiry: Gauge<'host' | 'secret'>;
  private certificates: () => Iterable<{ host: string; secret: string; notAfter: Date }> = () => [];
  private readonly listeners = new Map<string, net.Server>();
  private latestConfig: SwapSummary | undefined;
  private configTimer: NodeJS.Timeout | undefined;
  private endpointCounts: () => Iterable<[string, number]> = () => [];
  private endpointProblemList: () => Iterable<{ reason: string }> = () => [];

  constructor(opts: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'portico_requests_total',
      help: 'Requests answered, by Ingress, Service, method and status class',
      labelNames: ['namespace', 'ingress', 'service', 'method', 'status'],
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
      labelNames: ['namespace', 'ingress'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.upstreamHeader = new BatchedHistogram({
      name: 'portico_upstream_header_duration_seconds',
      help: 'Upstream time from sending the request to its response headers',
      labelNames: ['namespace', 'ingress'],
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
  }

  /** The TLS manager's current problems (a full list each time). */
  setTlsProblems(problems: readonly { reason: string }[]): void {
    this.tlsProblems.reset();
    for (const p of problems) this.tlsProblems.inc({ reason: p.reason });
  }

  certificateSource(fn: () => Iterable<{ host: string; secret: string; notAfter: Date }>): void {
    this.certificates = fn;
  }

  /** Hot path: called once per finished request. */
  readonly record = (s: RequestSample): void => {
    const cell = this.cellFor(s);
    cell.requests++;
    cell.bytes += s.bytesSent;
    if (!s.upgrade) {
      cell.duration.observe(s.durationMs / 1000);
      if (s.upstreamHeaderMs !== null) cell.upstreamHeader.observe(s.upstreamHeaderMs / 1000);
    }
    if (s.error !== null && s.error !== 'client_abort') this.upstreamErrors.inc({ kind: s.error });
    if (s.attempts > 1) this.retries.inc();
  };

  private cellFor(s: RequestSample): Cell {
    const ref = s.ingress ?? NO_INGRESS;
    const backend = s.backend ?? '';
    let byBackend = this.cellCache.get(ref);
    if (byBackend === undefined) {
      byBackend = new Map();
      this.cellCache.set(ref, byBackend);
    }
    let slots = byBackend.get(backend);
    if (slots === undefined) {
      slots = new Array<Cell | undefined>(METHODS.length * CLASSES);
      byBackend.set(backend, slots);
    }
    const m = METHOD_INDEX.get(s.method) ?? METHODS.length - 1;
    const c = s.status === 0 ? 0 : Math.min(CLASSES - 1, Math.floor(s.status / 100));
    const slot = m * CLASSES + c;
    let cell = slots[slot];
    if (cell === undefined) {
      cell = slots[slot] = this.cellOf(ref.namespace, ref.name, backend === '' ? '' : serviceOf(backend), METHODS[m]!, c === 0 ? '0' : `${c}xx`);
    }
    return cell;
  }

  /** The cell for a label set (found or created); the slow path behind cellFor's cache. */
  private cellOf(namespace: string, ingress: string, service: string, method: string, status: string): Cell {
    const key = `${namespace}\0${ingress}\0${service}\0${method}\0${status}`;
    let cell = this.cells.get(key);
    if (cell === undefined) {
      cell = {
        labels: { namespace, ingress, service, method, status },
        requests: 0,
        bytes: 0,
        duration: this.duration.series({ namespace, ingress }),
        upstreamHeader: this.upstreamHeader.series({ namespace, ingress }),
      };
      this.cells.set(key, cell);
    }
    return cell;
  }

  watchListener(name: string, server: net.Server): void {
    this.listeners.set(name, server);
  }

  endpointSource(fn: () => Iterable<[string, number]>): void {
    this.endpointCounts = fn;
  }

  /** The endpoint index's current problems, read at scrape time. */
  endpointProblemSource(fn: () => Iterable<{ reason: string }>): void {
    this.endpointProblemList = fn;
  }

  /**
   * After every configuration swap. Counters move at once; the per-problem gauge and the
   * removal of deleted Ingresses' series walk whole lists, so they run at most once a second
   * (trailing): at 10,000 Ingresses a swap must not pay for them each time.
   */
  configSwapped(config: SwapSummary, durationMs: number): void {
    this.reloads.inc();
    this.reloadDuration.observe(durationMs / 1000);
    this.lastReloadSuccess.set(1);
    this.lastReloadTimestamp.set(Date.now() / 1000);
    this.latestConfig = config;
    if (this.configTimer === undefined) {
      this.configTimer = setTimeout(() => {
        this.configTimer = undefined;
        const c = this.latestConfig;
        if (c === undefined) return;
        this.problems.reset();
        for (const p of c.problems) this.problems.inc({ reason: p.reason });
        this.retainIngresses(c.ingresses);
      }, 1000);
      this.configTimer.unref();
    }
  }

  /** After a swap: drop the series of Ingresses that no longer exist. */
  retainIngresses(live: Iterable<{ namespace: string; name: string }>): void {
    this.flush();
    const keep = new Set<string>();
    for (const r of live) keep.add(`${r.namespace}\0${r.name}`);
    // cached cells may be deleted below; the cache refills from `cells` on demand
    this.cellCache = new WeakMap();
    for (const [key, cell] of this.cells) {
      const { namespace, ingress, service } = cell.labels;
      if (ingress === '' || keep.has(`${namespace}\0${ingress}`)) continue;
      this.cells.delete(key);
      this.requests.remove(cell.labels);
      this.responseBytes.remove({ namespace, ingress, service });
      this.duration.remove({ namespace, ingress });
      this.upstreamHeader.remove({ namespace, ingress });
    }
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** Moves the aggregated counts into prom-client (at scrape time). */
  private flush(): void {
    for (const cell of this.cells.values()) {
      if (cell.requests > 0) {
        this.requests.inc(cell.labels, cell.requests);
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
