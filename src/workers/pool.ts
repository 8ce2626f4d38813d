// Primary side of multi-core mode: forks the proxy workers (node:cluster, SCHED_NONE so each
// worker accepts its own connections), replicates the store to them, tracks what each one
// serves, replaces the ones that die (with backoff when they crash-loop), gathers their
// metrics and drains them on shutdown. The primary itself never listens for traffic. It also
// holds the TLS session ticket keys every worker uses (and rotates them), so sessions resume
// across workers.
//
// By default the workers share node:cluster's one listening socket: whichever worker is free
// first accepts the queued connections (64 opened at once were seen to split 61 / 3, but none
// waits for a busy worker). With --reuse-port each worker listens on a socket of its own with
// SO_REUSEPORT and the kernel hashes new connections evenly over them, busy or not. It is not
// the default: a connection hashed to a busy worker waits, and one queued for a worker that
// crashes is reset (on the 2-core rig the throughput figures did not tell the two modes apart
// beyond noise). Reuse-port sockets would also let a second Portico on the same port quietly
// take half the connections, so the primary first checks that the ports are free; and with
// port 0 (tests) the first worker picks the ports and the others follow it.

import cluster, { type Worker } from 'node:cluster';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { AggregatorRegistry, Counter, Gauge, type Registry } from 'prom-client';
import type { Store } from '../store/store.ts';
import type { Secret } from '../store/types.ts';
import type { Settings } from '../config/settings.ts';
import type { Logger, LogLevel } from '../observe/log.ts';
import { workerHeap } from './heap.ts';
import { TicketKeys, encodeTicketKeys } from './ticket-keys.ts';
import { ChangeFeed, isWorkerMessage, pack, type BatchMessage, type MetricsResponse, type PackedMessage, type PrimaryMessage, type WorkerMessage } from './protocol.ts';
import { SnapshotParts, type SnapshotReader } from './snapshot-parts.ts';
import { answerRate, RateLimitTable } from '../runtime/rate-limit-arbiter.ts';

/** How long a worker may take to apply a batch before it counts as lagging (not ready). */
export const ACK_LAG_MS = 1000;
/** Metrics only the primary reports (the workers' copies would be double counts). */
const CONTROL_PLANE_METRICS = new Set([
  'portico_config_reloads_total',
  'portico_config_reload_duration_seconds',
  'portico_config_last_reload_successful',
  'portico_config_last_reload_successful_timestamp_seconds',
  'portico_config_problems',
  'portico_tls_problems',
  'portico_watch_restarts_total',
  'portico_leader_election_status',
  'portico_backend_endpoints',
  'portico_acme_orders_total',
  'portico_ssl_expire_time_seconds',
  'nginx_ingress_controller_config_hash',
  'nginx_ingress_controller_config_last_reload_successful',
  'nginx_ingress_controller_config_last_reload_successful_timestamp_seconds',
  'nginx_ingress_controller_success',
  'nginx_ingress_controller_leader_election_status',
  'nginx_ingress_controller_ssl_expire_time_seconds',
]);

/**
 * Node's process metrics (prom-client's defaults): each worker's keep a `worker` label (its slot,
 * 0..N-1) and the primary's get worker="primary", so one hot or leaking worker stays visible
 * instead of vanishing in a sum.
 */
function isProcessMetric(name: string): boolean {
  return name.startsWith('process_') || name.startsWith('nodejs_');
}

/** The metrics of one process with its process metrics labelled by `worker`. */
function labelProcessMetrics(metrics: MetricsResponse['metrics'], worker: string): MetricsResponse['metrics'] {
  return metrics.map((m) => (isProcessMetric(m.name) ? { ...m, values: m.values.map((v) => ({ ...v, labels: { ...v.labels, worker } })) } : m));
}

interface Slot {
  index: number;
  worker: Worker | undefined;
  pid: number | undefined;
  ready: boolean;
  acked: number;
  startedAt: number;
  /** Consecutive short-lived runs, for the restart backoff. */
  crashes: number;
  restartTimer: NodeJS.Timeout | undefined;
}

export interface WorkerPoolOptions {
  count: number;
  store: Store;
  settings: Settings;
  logLevel: LogLevel;
  log: Logger;
  fallback: { certPem: string; keyPem: string };
  acme: boolean;
  /** The primary's own registry: worker gauges go there, and it is merged into /metrics. */
  registry: Registry;
  /** The worker entry module (default: ./worker-main next to this file). */
  exec?: string;
  /** How often the shared TLS session ticket keys change (default 12 h; tests shorten it). */
  ticketKeyRotationMs?: number;
}

/** Longest a worker started by applySettings may take to get ready. */
const REPLACE_READY_MS = 60_000;

export class WorkerPool {
  private readonly opts: WorkerPoolOptions;
  /** What workers run with: the options' settings, replaced by applySettings. */
  private settings: Settings;
  /** Workers replaced by applySettings and still draining (drained again on shutdown). */
  private readonly retiring = new Set<Worker>();
  /** Called when that worker says it is ready (applySettings waits for its replacements). */
  private readonly readyHooks = new Map<Worker, () => void>();
  /** One rolling replacement at a time; a newer request runs after it with the newest settings. */
  private rolling: Promise<void> = Promise.resolve();
  private readonly log: Logger;
  private readonly feed: ChangeFeed;
  private readonly slots: Slot[] = [];
  private readonly bySlot = new Map<Worker, Slot>();
  /** Batches sent and not yet acknowledged by every worker: [last seq, sent at]. */
  private inflight: [number, number][] = [];
  private challenges: Secret | null = null;
  private stopping = false;
  private metricsId = 0;
  private readonly metricsWaiters = new Map<number, { pending: Set<Worker>; results: { slot: number; metrics: MetricsResponse['metrics'] }[]; done: () => void }>();
  /** The request tables of limit-rps / limit-rpm, shared by the workers. */
  private readonly rateTable = new RateLimitTable();
  private readyWaiters: (() => void)[] = [];
  /** Set while start() waits: a worker that dies before every worker was ready fails the start. */
  private failStart: ((err: Error) => void) | undefined;
  private readonly restarts: Counter;
  private readonly ticketKeys: TicketKeys;
  private ports: { http: number; https: number } | undefined;
  /** Workers to fork once the first one has picked the ports (reuse-port with port 0). */
  private afterFirstReady: Slot[] | undefined;
  /** The snapshot being sent to starting workers (shared while any of them still reads it). */
  private snapshot: SnapshotParts | undefined;

  constructor(opts: WorkerPoolOptions) {
    this.opts = opts;
    this.settings = opts.settings;
    this.log = opts.log.child({ component: 'workers' });
    this.feed = new ChangeFeed({ store: opts.store, send: (b) => this.broadcast(b) });
    this.ticketKeys = new TicketKeys({
      ...(opts.ticketKeyRotationMs !== undefined ? { rotationMs: opts.ticketKeyRotationMs } : {}),
      onRotate: (keys) => {
        // Workers that are still starting get them too (after their init, in order).
        this.sendAll({ t: 'ticket-keys', keys: encodeTicketKeys(keys) });
        this.log.info('TLS session ticket keys rotated');
      },
    });
    for (let i = 0; i < opts.count; i++) {
      this.slots.push({ index: i, worker: undefined, pid: undefined, ready: false, acked: -1, startedAt: 0, crashes: 0, restartTimer: undefined });
    }
    const registers = [opts.registry];
    const readyGauge: Gauge = new Gauge({
      name: 'portico_workers_ready',
      help: 'Proxy worker processes listening and serving the current configuration',
      registers,
      collect: () => readyGauge.set(this.slots.filter((s) => s.ready).length),
    });
    new Gauge({
      name: 'portico_workers',
      help: 'Proxy worker processes configured (--workers)',
      registers,
    }).set(opts.count);
    this.restarts = new Counter({ name: 'portico_worker_restarts_total', help: 'Proxy worker processes replaced after they exited', registers });
  }

  /** Forks the workers and resolves when every one listens with the current store. */
  async start(timeoutMs = 30_000): Promise<void> {
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    const exec = this.opts.exec ?? fileURLToPath(new URL(`./worker-main${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));
    const heap = workerHeap(process.execArgv, process.env.NODE_OPTIONS, process.constrainedMemory(), this.opts.count);
    if (heap.oldSpaceMiB !== undefined) this.log.info('worker heap capped to a share of the memory limit', { oldSpaceMiB: heap.oldSpaceMiB, workers: this.opts.count });
    // 'advanced': a packed message (bytes) is copied into each worker's channel as it is.
    cluster.setupPrimary({ exec, args: [], silent: false, execArgv: heap.execArgv, serialization: 'advanced' });
    cluster.on('exit', (worker, code, signal) => this.onExit(worker, code, signal));
    const { reusePort, httpPort, httpsPort, bindAddress } = this.settings;
    if (reusePort) await assertPortsFree(bindAddress, [httpPort, httpsPort]);
    this.feed.start();
    this.ticketKeys.start();
    if (reusePort && (httpPort === 0 || httpsPort === 0)) {
      this.afterFirstReady = this.slots.slice(1);
      this.fork(this.slots[0]!);
    } else {
      for (const slot of this.slots) this.fork(slot);
    }
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`the proxy workers did not all start within ${timeoutMs} ms (see the worker logs above)`)), timeoutMs);
      const fail = (err: Error) => {
        clearTimeout(timer);
        this.failStart = undefined;
        reject(err);
      };
      this.failStart = fail;
      this.whenAllReady(() => {
        clearTimeout(timer);
        this.failStart = undefined;
        resolve();
      });
    });
  }

  /** Ports the workers listen on (they share them). */
  get listenPorts(): { http: number; https: number } {
    return this.ports ?? { http: 0, https: 0 };
  }

  /** Every worker listens and has applied every change (or is within ACK_LAG_MS of it). */
  ready(now = Date.now()): boolean {
    if (this.stopping) return false;
    for (const slot of this.slots) {
      if (!slot.ready) return false;
      const oldest = this.inflight.find(([seq]) => seq > slot.acked);
      if (oldest !== undefined && now - oldest[1] > ACK_LAG_MS) return false;
    }
    return true;
  }

  /** Why each worker that is not ready is not (empty when ready() would say true, or stopping). */
  notReady(now = Date.now()): string[] {
    const out: string[] = [];
    for (const slot of this.slots) {
      if (!slot.ready) {
        out.push(`worker ${slot.index + 1} is not serving (starting or restarting)`);
        continue;
      }
      const oldest = this.inflight.find(([seq]) => seq > slot.acked);
      if (oldest !== undefined && now - oldest[1] > ACK_LAG_MS) out.push(`worker ${slot.index + 1} has not applied the configuration of ${Math.round((now - oldest[1]) / 1000)} s ago`);
    }
    return out;
  }

  /** The ACME challenge Secret changed: every worker answers the new tokens. */
  setChallenges(secret: Secret | undefined): void {
    this.challenges = secret ? { metadata: secret.metadata, data: secret.data ?? {} } : null;
    this.sendAll({ t: 'challenges', secret: this.challenges });
  }

  /** New TLS session ticket keys for every worker now (the timer does this every interval). */
  rotateTicketKeys(): void {
    this.ticketKeys.rotate();
  }

  /** The metrics of every live worker (JSON, control-plane series dropped) for aggregation. */
  async workerMetrics(timeoutMs = 2000): Promise<MetricsResponse['metrics'][]> {
    const id = ++this.metricsId;
    const pending = new Set<Worker>();
    for (const slot of this.slots) if (slot.worker?.isConnected() && slot.ready) pending.add(slot.worker);
    if (pending.size === 0) return [];
    const results: { slot: number; metrics: MetricsResponse['metrics'] }[] = [];
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.metricsWaiters.set(id, { pending, results, done });
      for (const w of pending) this.send(w, { t: 'metrics-req', id });
    });
    this.metricsWaiters.delete(id);
    return results.map((r) => labelProcessMetrics(r.metrics.filter((m) => !CONTROL_PLANE_METRICS.has(m.name)), String(r.slot)));
  }

  /** /metrics: the workers' data-plane metrics and the primary's own, merged. */
  async render(): Promise<{ contentType: string; body: string }> {
    const own = labelProcessMetrics(await this.opts.registry.getMetricsAsJSON(), 'primary');
    const workers = await this.workerMetrics();
    const merged = AggregatorRegistry.aggregate([own, ...workers]);
    return { contentType: merged.contentType, body: await merged.metrics() };
  }

  /** Tells every worker to drain and waits for all to exit (killing stragglers after `graceMs` + 5 s). */
  async drain(delayMs: number, graceMs: number): Promise<void> {
    this.stopping = true;
    this.feed.flush();
    this.feed.stop();
    this.ticketKeys.stop();
    for (const slot of this.slots) if (slot.restartTimer) clearTimeout(slot.restartTimer);
    const live = [...this.slots.map((s) => s.worker), ...this.retiring].filter((w): w is Worker => w !== undefined && !w.isDead());
    this.log.info('draining workers', { workers: live.length, delayMs, graceMs });
    await Promise.all(
      live.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.isDead()) return resolve();
            const kill = setTimeout(() => {
              this.log.warn('worker did not finish draining; killing it', { worker: w.id, pid: w.process.pid });
              w.process.kill('SIGKILL');
            }, delayMs + graceMs + 5000);
            w.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            if (w.isConnected()) this.send(w, { t: 'drain', delayMs, graceMs });
            else w.process.kill('SIGTERM');
          }),
      ),
    );
  }

  /** The settings a worker runs with: with reuse-port, the ports the first worker picked. */
  private workerSettings(): Settings {
    const { settings } = this;
    if (!settings.reusePort || this.ports === undefined) return settings;
    return { ...settings, httpPort: this.ports.http, httpsPort: this.ports.https };
  }

  private whenAllReady(fn: () => void): void {
    if (this.slots.every((s) => s.ready)) fn();
    else this.readyWaiters.push(fn);
  }

  /**
   * Starts the slot's worker. `replacing`: the slot's current worker keeps serving until this
   * one is ready (applySettings), so the slot stays ready meanwhile.
   */
  private fork(slot: Slot, replacing = false): Worker {
    slot.restartTimer = undefined;
    if (!replacing) {
      slot.ready = false;
      slot.acked = -1;
    }
    slot.startedAt = Date.now();
    const worker = cluster.fork({ PORTICO_WORKER_INDEX: String(slot.index) });
    slot.worker = worker;
    slot.pid = worker.process.pid;
    this.bySlot.set(worker, slot);
    this.log.info('worker started', { worker: worker.id, pid: worker.process.pid });
    worker.on('message', (m: unknown) => {
      if (isWorkerMessage(m)) this.onMessage(worker, slot, m);
    });
    worker.on('error', (err: Error) => this.log.warn('worker channel error', { worker: worker.id, err }));
    return worker;
  }

  /**
   * New settings for the workers (ingress-nginx's ConfigMap edited: --nginx-configmap): each
   * worker in turn is replaced by one started with them, and drained once its replacement is
   * ready, so the pod keeps serving throughout (a slot whose new worker fails to start keeps
   * restarting it with the usual backoff, as a crashed worker). Resolves when every slot has
   * been replaced.
   */
  applySettings(settings: Settings): Promise<void> {
    this.settings = settings;
    this.rolling = this.rolling.then(() => this.replaceAll());
    return this.rolling;
  }

  private async replaceAll(): Promise<void> {
    const settings = this.settings;
    for (const slot of this.slots) {
      if (this.stopping) return;
      const old = slot.worker;
      if (old === undefined || old.isDead() || !slot.ready) continue; // a (re)starting slot forks with the new settings anyway
      const ready = new Promise<boolean>((resolve) => {
        const next = this.fork(slot, true);
        // bounded: a replacement that neither gets ready nor exits is killed (onExit restarts the slot)
        const timer = setTimeout(() => {
          this.log.error('a worker started with the new settings was not ready in time; killing it', { slot: slot.index + 1, ms: REPLACE_READY_MS });
          next.process.kill('SIGKILL');
        }, REPLACE_READY_MS);
        this.readyHooks.set(next, () => {
          clearTimeout(timer);
          resolve(true);
        });
        next.once('exit', () => {
          clearTimeout(timer);
          resolve(false);
        });
      });
      this.retiring.add(old);
      if (!(await ready)) {
        // the new one died before it was ready: onExit restarts the slot (new settings); the
        // old one is drained all the same, its slot is the new one's now
        this.log.warn('a worker started with the new settings exited before it was ready', { slot: slot.index + 1 });
      }
      old.once('exit', () => this.retiring.delete(old));
      if (old.isConnected()) this.send(old, { t: 'retire', graceMs: settings.shutdownGraceMs });
      else if (!old.isDead()) old.process.kill('SIGTERM');
    }
  }

  private onMessage(worker: Worker, slot: Slot, m: WorkerMessage): void {
    switch (m.t) {
      case 'hello':
        // The worker listens for messages now (anything sent earlier could be lost while its
        // modules load): what to run, then the store, then the challenge tokens.
        this.send(worker, {
          t: 'init',
          settings: this.workerSettings(),
          logLevel: this.opts.logLevel,
          fallback: this.opts.fallback,
          acme: this.opts.acme,
          ticketKeys: encodeTicketKeys(this.ticketKeys.current),
        });
        this.sendSnapshot(worker);
        if (this.opts.acme) this.send(worker, { t: 'challenges', secret: this.challenges });
        break;
      case 'ready': {
        const hook = this.readyHooks.get(worker);
        if (hook !== undefined) {
          this.readyHooks.delete(worker);
          hook();
        }
        if (slot.worker !== worker) break; // a worker being replaced (cannot happen: it is ready already)
        slot.ready = true;
        slot.acked = Math.max(slot.acked, m.seq);
        this.ports ??= { http: m.httpPort, https: m.httpsPort };
        this.log.info('worker ready', { worker: worker.id, pid: m.pid, seq: m.seq });
        if (this.afterFirstReady) {
          const rest = this.afterFirstReady;
          this.afterFirstReady = undefined;
          for (const s of rest) this.fork(s);
        }
        this.pruneInflight();
        if (this.slots.every((s) => s.ready)) {
          const waiters = this.readyWaiters;
          this.readyWaiters = [];
          for (const w of waiters) w();
        }
        break;
      }
      case 'ack':
        if (slot.worker !== worker) break; // the replaced worker's progress no longer counts
        slot.acked = Math.max(slot.acked, m.seq);
        this.pruneInflight();
        break;
      case 'rl-take':
      case 'rl-slot':
      case 'rl-release': {
        // limit-rps / limit-rpm / limit-connections: the pod's one table (runtime/rate-limit-arbiter.ts)
        const answer = answerRate(this.rateTable, worker.id, m);
        if (answer !== null && worker.isConnected()) this.send(worker, answer);
        break;
      }
      case 'metrics-res': {
        const waiter = this.metricsWaiters.get(m.id);
        if (!waiter || !waiter.pending.delete(worker)) break;
        waiter.results.push({ slot: slot.index, metrics: m.metrics });
        if (waiter.pending.size === 0) waiter.done();
        break;
      }
    }
  }

  private onExit(worker: Worker, code: number | null, signal: string | null): void {
    // its requests are gone: the limit-connections slots they held go back
    this.rateTable.releaseOwner(worker.id);
    const slot = this.bySlot.get(worker);
    if (!slot) return;
    this.bySlot.delete(worker);
    if (slot.worker !== worker) return;
    slot.worker = undefined;
    slot.ready = false;
    for (const waiter of this.metricsWaiters.values()) {
      if (waiter.pending.delete(worker) && waiter.pending.size === 0) waiter.done();
    }
    if (this.failStart) {
      this.log.error('worker exited before it was ready', { worker: worker.id, pid: slot.pid, code, signal });
      this.failStart(new Error(`proxy worker ${worker.id} exited (${signal ?? `code ${code}`}) before it was ready; its log lines above say why`));
      return;
    }
    if (this.stopping) {
      this.log.info('worker exited', { worker: worker.id, pid: slot.pid, code, signal });
      return;
    }
    const lived = Date.now() - slot.startedAt;
    slot.crashes = lived < 10_000 ? slot.crashes + 1 : 0;
    const delay = slot.crashes === 0 ? 0 : Math.min(10_000, 100 * 2 ** (slot.crashes - 1));
    this.restarts.inc();
    this.log.warn('worker exited unexpectedly; replacing it', { worker: worker.id, pid: slot.pid, code, signal, restartInMs: delay });
    slot.restartTimer = setTimeout(() => this.fork(slot), delay);
  }

  private broadcast(batch: BatchMessage): void {
    const last = batch.changes[batch.changes.length - 1];
    if (last === undefined) return;
    this.inflight.push([last.seq, Date.now()]);
    this.sendAll(batch);
    this.pruneInflight();
  }

  /** Drops batches every worker has acknowledged (workers being replaced get a snapshot). */
  private pruneInflight(): void {
    let min = Infinity;
    for (const s of this.slots) if (s.worker && s.ready) min = Math.min(min, s.acked);
    if (min === Infinity) min = this.feed.seq;
    while (this.inflight.length > 0 && this.inflight[0]![0] <= min) this.inflight.shift();
  }

  /** The same message to every connected worker, serialised once. */
  private sendAll(msg: Exclude<PrimaryMessage, PackedMessage>): void {
    let packed: PackedMessage | undefined;
    for (const slot of this.slots) if (slot.worker?.isConnected()) this.send(slot.worker, (packed ??= pack(msg)));
  }

  /**
   * The store as of now, in parts, one after the other as the channel takes them (serialising
   * them all at once would hold them all in memory at once). Workers that start together
   * share one serialisation (SnapshotParts).
   */
  private sendSnapshot(worker: Worker): void {
    if (this.snapshot?.active !== true || this.snapshot.seq !== this.feed.seq) {
      this.snapshot = new SnapshotParts(this.feed.seq, this.feed.snapshot());
    }
    const reader: SnapshotReader = this.snapshot.reader();
    const next = (err: Error | null): void => {
      const part = err === null && worker.isConnected() ? reader.next() : undefined;
      if (part === undefined) reader.close();
      else this.send(worker, part, next);
    };
    next(null);
  }

  /** `sent` runs once the channel has taken the message (or with the error that stopped it). */
  private send(worker: Worker, msg: PrimaryMessage, sent?: (err: Error | null) => void): void {
    try {
      if (sent === undefined) worker.send(msg);
      else worker.send(msg, sent);
    } catch (err) {
      // The channel closes as a worker dies; its 'exit' handler replaces it.
      this.log.debug('cannot message worker', { worker: worker.id, err: err as Error });
      sent?.(err as Error);
    }
  }
}

/**
 * Throws when one of the ports (0: any, skipped) cannot be bound: in use by another program, or
 * by another Portico whose reuse-port sockets ours would otherwise silently join.
 */
async function assertPortsFree(host: string, ports: readonly number[]): Promise<void> {
  for (const port of ports) {
    if (port === 0) continue;
    await new Promise<void>((resolve, reject) => {
      const probe = net.createServer();
      probe.once('error', (err: NodeJS.ErrnoException) =>
        reject(new Error(`cannot listen on ${host}:${port}: ${err.code === 'EADDRINUSE' ? 'the port is in use' : err.message}`)),
      );
      probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve()));
    });
  }
}
