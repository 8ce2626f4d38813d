// --metrics-compat ingress-nginx: the same traffic and control-plane figures under the names and
// labels ingress-nginx exports (internal/ingress/metric/collectors in its repository), so its
// Grafana dashboards and the alert rules teams already have keep working after the move.
//
// Per request, a Metrics cell (metrics.ts) holds one CompatCell: its label object is built once,
// when the cell is created; recording is bucket searches on plain numbers, as for Portico's own
// series. Control-plane series are set where Portico's are (Metrics.configSwapped, leader,
// certificates) or read at scrape time.
//
// Differences from ingress-nginx, on purpose (README "Metrics"): `method` is one of ten values
// (unknown methods are OTHER) instead of the raw method; `host` is bounded as Portico's own
// (configured hosts, anything else `_other`) where ingress-nginx drops or keeps undefined hosts
// by flag; `canary` is always empty; a request the client gave up on before any response is
// status 499, as nginx logs it. There is no equivalent, so no series, for nginx's
// reading/writing/waiting connection states, its admission webhook, orphan Ingress and
// ssl_certificate_info.

import { Counter, Gauge, type Registry } from 'prom-client';
import { BatchedHistogram, type HistogramSeries } from './batched-histogram.ts';

export const COMPAT_PREFIX = 'nginx_ingress_controller_';

/** Who this controller is, as ingress-nginx's constant labels say it. */
export interface CompatIdentity {
  /** $POD_NAMESPACE, else `default` (as ingress-nginx). */
  controllerNamespace: string;
  /** The IngressClass controller value (--controller-name), as ingress-nginx's `controller_class`. */
  controllerClass: string;
  /** $POD_NAME, else the host name. */
  controllerPod: string;
  /** The leader-election Lease name (--election-id): leader_election_status's `name`. */
  electionId: string;
}

export function compatIdentity(env: NodeJS.ProcessEnv, controllerClass: string, electionId: string, hostname: string): CompatIdentity {
  return {
    controllerNamespace: env.POD_NAMESPACE || 'default',
    controllerClass,
    controllerPod: env.POD_NAME || hostname,
    electionId,
  };
}

const REQUEST_LABELS = [
  'controller_namespace',
  'controller_class',
  'controller_pod',
  'namespace',
  'ingress',
  'service',
  'canary',
  'path',
  'host',
  'method',
  'status',
] as const;
type RequestLabel = (typeof REQUEST_LABELS)[number];
const CONTROLLER_LABELS = ['controller_namespace', 'controller_class', 'controller_pod'] as const;
type ControllerLabel = (typeof CONTROLLER_LABELS)[number];

// ingress-nginx's defaults (--time-buckets, --length-buckets, --size-buckets)
const TIME_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const LENGTH_BUCKETS = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
const SIZE_BUCKETS = [10, 100, 1000, 10000, 100000, 1000000, 10000000];

/** One request label set's series. */
export interface CompatCell {
  readonly labels: Record<RequestLabel, string>;
  requests: number;
  readonly duration: HistogramSeries;
  readonly responseDuration: HistogramSeries;
  readonly headerDuration: HistogramSeries;
  readonly requestSize: HistogramSeries;
  readonly responseSize: HistogramSeries;
  readonly bytesSent: HistogramSeries;
}

export class NginxCompatMetrics {
  private readonly controller: Record<ControllerLabel, string>;
  private readonly electionId: string;
  private readonly requests: Counter<RequestLabel>;
  private readonly duration: BatchedHistogram<RequestLabel>;
  private readonly responseDuration: BatchedHistogram<RequestLabel>;
  private readonly headerDuration: BatchedHistogram<RequestLabel>;
  private readonly requestSize: BatchedHistogram<RequestLabel>;
  private readonly responseSize: BatchedHistogram<RequestLabel>;
  private readonly bytesSent: BatchedHistogram<RequestLabel>;
  private readonly configHash: Gauge<ControllerLabel>;
  private readonly lastReloadSuccess: Gauge<ControllerLabel>;
  private readonly lastReloadTimestamp: Gauge<ControllerLabel>;
  private readonly reloads: Counter<ControllerLabel>;
  private readonly leader: Gauge<ControllerLabel | 'name'>;
  private readonly cells: CompatCell[] = [];
  private acceptedConnections = 0;
  private processRequests = 0;

  constructor(
    identity: CompatIdentity,
    registry: Registry,
    sources: {
      certificates: () => Iterable<{ host: string; secret: string; notAfter: Date }>;
      openConnections: () => Promise<number>;
      leader: () => Promise<number>;
      flush: () => void;
    },
  ) {
    this.controller = { controller_namespace: identity.controllerNamespace, controller_class: identity.controllerClass, controller_pod: identity.controllerPod };
    this.electionId = identity.electionId;
    const registers = [registry];
    const n = (name: string) => COMPAT_PREFIX + name;
    this.requests = new Counter({ name: n('requests'), help: 'The total number of client requests', labelNames: REQUEST_LABELS, registers, collect: () => this.flushRequests(sources.flush) });
    const histogram = (name: string, help: string, buckets: readonly number[]) => new BatchedHistogram({ name: n(name), help, labelNames: REQUEST_LABELS, buckets, registers });
    this.duration = histogram('request_duration_seconds', 'The request processing time in seconds', TIME_BUCKETS);
    this.responseDuration = histogram('response_duration_seconds', 'The time spent on receiving the response from the upstream server', TIME_BUCKETS);
    this.headerDuration = histogram('header_duration_seconds', 'The time spent on receiving first header from the upstream server', TIME_BUCKETS);
    this.requestSize = histogram('request_size', 'The request length (including request line, header, and request body)', LENGTH_BUCKETS);
    this.responseSize = histogram('response_size', 'The response length (including request line, header, and request body)', LENGTH_BUCKETS);
    this.bytesSent = histogram('bytes_sent', 'DEPRECATED The number of bytes sent to a client', SIZE_BUCKETS);
    const controllerGauge = (name: string, help: string) => new Gauge({ name: n(name), help, labelNames: CONTROLLER_LABELS, registers });
    this.configHash = controllerGauge('config_hash', 'Running configuration hash actually running (Portico: the configuration version)');
    this.lastReloadSuccess = controllerGauge('config_last_reload_successful', 'Whether the last configuration reload attempt was successful');
    this.lastReloadTimestamp = controllerGauge('config_last_reload_successful_timestamp_seconds', 'Timestamp of the last successful configuration reload.');
    this.reloads = new Counter({ name: n('success'), help: 'Cumulative number of Ingress controller reload operations', labelNames: CONTROLLER_LABELS, registers });
    this.reloads.inc(this.controller, 0);
    this.leader = new Gauge({
      name: n('leader_election_status'),
      help: 'Gauge reporting status of the leader election, 0 indicates follower, 1 indicates leader',
      labelNames: [...CONTROLLER_LABELS, 'name'],
      registers,
      collect: async () => this.leader.set({ ...this.controller, name: this.electionId }, await sources.leader()),
    });
    const sslExpiry: Gauge<'namespace' | 'class' | 'host' | 'secret_name'> = new Gauge({
      name: n('ssl_expire_time_seconds'),
      help: 'Number of seconds since 1970 to the SSL Certificate expire',
      labelNames: ['namespace', 'class', 'host', 'secret_name'],
      registers,
      collect: () => {
        sslExpiry.reset();
        for (const c of sources.certificates()) {
          const slash = c.secret.indexOf('/');
          sslExpiry.set({ namespace: c.secret.slice(0, slash), class: identity.controllerClass, host: c.host, secret_name: c.secret.slice(slash + 1) }, c.notAfter.getTime() / 1000);
        }
      },
    });
    const connections: Gauge<ControllerLabel | 'state'> = new Gauge({
      name: n('nginx_process_connections'),
      help: 'current number of client connections with state {active} (Portico: open client connections on the HTTP and HTTPS listeners)',
      labelNames: [...CONTROLLER_LABELS, 'state'],
      registers,
      collect: async () => connections.set({ ...this.controller, state: 'active' }, await sources.openConnections()),
    });
    const connectionsTotal: Counter<ControllerLabel | 'state'> = new Counter({
      name: n('nginx_process_connections_total'),
      help: 'total number of connections with state {accepted, handled}',
      labelNames: [...CONTROLLER_LABELS, 'state'],
      registers,
      collect: () => {
        connectionsTotal.reset();
        connectionsTotal.inc({ ...this.controller, state: 'accepted' }, this.acceptedConnections);
        connectionsTotal.inc({ ...this.controller, state: 'handled' }, this.acceptedConnections);
      },
    });
    const processRequests: Counter<ControllerLabel> = new Counter({
      name: n('nginx_process_requests_total'),
      help: 'total number of client requests',
      labelNames: CONTROLLER_LABELS,
      registers,
      collect: () => {
        processRequests.reset();
        processRequests.inc(this.controller, this.processRequests);
      },
    });
    // the process figures of this process (nginx's are summed over its processes; /metrics with
    // --workers sums these over Portico's)
    const memory: Gauge<ControllerLabel> = new Gauge({
      name: n('nginx_process_resident_memory_bytes'),
      help: 'number of bytes of memory in use',
      labelNames: CONTROLLER_LABELS,
      registers,
      collect: () => memory.set(this.controller, process.memoryUsage.rss()),
    });
    const cpu: Counter<ControllerLabel> = new Counter({
      name: n('nginx_process_cpu_seconds_total'),
      help: 'Cpu usage in seconds',
      labelNames: CONTROLLER_LABELS,
      registers,
      collect: () => {
        const u = process.cpuUsage();
        cpu.reset();
        cpu.inc(this.controller, (u.user + u.system) / 1e6);
      },
    });
    const procs: Gauge<ControllerLabel> = new Gauge({ name: n('nginx_process_num_procs'), help: 'number of processes', labelNames: CONTROLLER_LABELS, registers, collect: () => procs.set(this.controller, 1) });
  }

  /** A request label set's series; `status` '0' (no response sent) is nginx's 499. */
  cell(labels: { namespace: string; ingress: string; service: string; path: string; host: string; method: string; status: string }): CompatCell {
    // in REQUEST_LABELS order, which is the order Prometheus text shows them in
    const full: Record<RequestLabel, string> = {
      ...this.controller,
      namespace: labels.namespace,
      ingress: labels.ingress,
      service: labels.service,
      canary: '',
      path: labels.path,
      host: labels.host,
      method: labels.method,
      status: labels.status === '0' ? '499' : labels.status,
    };
    const cell: CompatCell = {
      labels: full,
      requests: 0,
      duration: this.duration.series(full),
      responseDuration: this.responseDuration.series(full),
      headerDuration: this.headerDuration.series(full),
      requestSize: this.requestSize.series(full),
      responseSize: this.responseSize.series(full),
      bytesSent: this.bytesSent.series(full),
    };
    this.cells.push(cell);
    return cell;
  }

  /** Stops exporting cells (those of Ingresses that are gone). */
  forget(gone: ReadonlySet<CompatCell>): void {
    if (gone.size === 0) return;
    let kept = 0;
    for (const c of this.cells) {
      if (gone.has(c)) {
        this.requests.remove(c.labels);
        for (const h of [this.duration, this.responseDuration, this.headerDuration, this.requestSize, this.responseSize, this.bytesSent]) h.remove(c.labels);
      } else {
        this.cells[kept++] = c;
      }
    }
    this.cells.length = kept;
  }

  connectionAccepted(): void {
    this.acceptedConnections++;
  }

  configApplied(version: number, nowSeconds: number): void {
    this.configHash.set(this.controller, version);
    this.lastReloadSuccess.set(this.controller, 1);
    this.lastReloadTimestamp.set(this.controller, nowSeconds);
    this.reloads.inc(this.controller);
  }

  configFailed(): void {
    this.lastReloadSuccess.set(this.controller, 0);
  }

  private flushRequests(flushCells: () => void): void {
    flushCells();
    for (const c of this.cells) {
      if (c.requests > 0) {
        this.requests.inc(c.labels, c.requests);
        this.processRequests += c.requests;
        c.requests = 0;
      }
    }
  }
}

/** Observes one request into a compat cell (the hot path, with --metrics-compat ingress-nginx). */
export function recordCompat(c: CompatCell, seconds: number, upstreamHeaderMs: number | null, upstreamResponseMs: number | null, requestBytes: number, responseBytes: number): void {
  c.duration.observe(seconds);
  if (upstreamHeaderMs !== null) c.headerDuration.observe(upstreamHeaderMs / 1000);
  if (upstreamResponseMs !== null) c.responseDuration.observe(upstreamResponseMs / 1000);
  c.requestSize.observe(requestBytes);
  c.responseSize.observe(responseBytes);
  c.bytesSent.observe(responseBytes);
}
