// Wiring only: settings → sources → store → reconciler/translation → proxy, endpoints on
// their own lane, health on its own port, and an orderly shutdown.
// With --workers N the same pieces are split across processes: the primary runs the sources,
// the store, leader work, ACME and health/metrics (createControlPlane, no proxy listeners);
// each worker (src/workers/) runs a replica store fed by the primary, its own translation and
// the proxy (startDataPlane). What both compose, buildCore and startDataPlane, is in
// src/runtime/, so the workers never import this file: only the entry points do.

import type http from 'node:http';
import { envName, parseSettings, SettingsError, usage, type Settings } from './config/settings.ts';
import { nginxConfigMapFlags } from './config/nginx-configmap.ts';
import { readConfigMapOnce } from './sources/configmap-once.ts';
import { watchNginxConfigMap, type DriftReport } from './runtime/nginx-configmap-watch.ts';
import { ManifestDirectorySource } from './sources/files/source.ts';
import { KubernetesSource } from './sources/kubernetes/source.ts';
import { KubeApi } from './sources/kubernetes/api.ts';
import { ClusterPublisher, podNamespace } from './cluster/publisher.ts';
import type { Store } from './store/store.ts';
import type { Reconciler } from './reconcile/reconciler.ts';
import { generateSelfSigned } from './tls/default-certificate.ts';
// acme/challenges.ts only: the ACME client (acme-client with axios, ~35 MiB of RSS) is loaded
// when --acme is on (loadAcme), so other deployments and the proxy workers never pay for it.
import { ChallengeStore } from './acme/challenges.ts';
import type { AcmeManager } from './acme/manager.ts';
import type { Secret } from './store/types.ts';
import { WorkerPool } from './workers/pool.ts';
import { createHealthServer, readinessOf, type Readiness } from './observe/health.ts';
import { createLogger, type Logger } from './observe/log.ts';
import { metricsHandler } from './observe/metrics.ts';
import { debugHandler, firstOf, type DebugSource } from './runtime/debug-endpoints.ts';
import { version } from './runtime/version.ts';
import { buildCore, type Core } from './runtime/core.ts';
import { startDataPlane } from './runtime/data-plane.ts';
import { createAccessLog } from './runtime/access-log.ts';
import { ForwardingChallengeStore } from './runtime/challenges.ts';
import { closeServer, listen } from './runtime/listen.ts';

interface Source {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** What has not been read in full yet (for /readyz). */
  unread(): string[];
}

export interface RunningPortico {
  readonly httpPort: number;
  readonly httpsPort: number;
  readonly healthPort: number;
  readonly store: Store;
  readonly reconciler: Reconciler;
  isReady(): boolean;
  /**
   * Graceful stop: /readyz fails at once; new connections are still accepted for `delayMs`
   * (load balancers and endpoint lists catch up); then listeners close, idle keep-alive
   * connections close, and in-flight requests get `graceMs` to finish.
   */
  close(opts?: { delayMs?: number; graceMs?: number }): Promise<void>;
}

export { version };

/** What main() lends a running Portico. */
export interface StartHooks {
  /** The settings again with an edited --nginx-configmap ConfigMap's data (workers apply it live). */
  withConfigMap?: (data: Readonly<Record<string, string>>) => Settings;
}

export async function startPortico(settings: Settings, log: Logger, hooks: StartHooks = {}): Promise<RunningPortico> {
  if (settings.workers > 0) return startPrimary(settings, log, hooks);
  const core = await buildCore(settings, log, await generateSelfSigned());
  const { store, metrics, reconciler } = core;

  let ready = false;
  let stopping = false;
  let control: ControlPlane | undefined;
  const readiness = (): Readiness =>
    readinessOf([
      syncCheck(control),
      { name: 'config', ok: ready, message: ready ? '' : 'the first configuration is not serving yet' },
      { name: 'shutdown', ok: !stopping, message: stopping ? 'shutting down' : '' },
    ]);
  const health = await startHealth(settings, log, readiness, metricsHandler(metrics), { config: reconciler.current, endpoints: core.endpoints });
  control = createControlPlane(core, settings, log, await loadAcme(settings));
  await control.start();

  const accessLog = createAccessLog(settings, process.stdout);
  const data = await startDataPlane(core, settings, log, control.challenges, accessLog);
  ready = true;

  let closing: Promise<void> | undefined;
  const close = (opts: { delayMs?: number; graceMs?: number } = {}): Promise<void> => {
    closing ??= (async () => {
      const delayMs = opts.delayMs ?? settings.shutdownDelayMs;
      const graceMs = opts.graceMs ?? settings.shutdownGraceMs;
      ready = false;
      stopping = true;
      log.info('draining', { delayMs, graceMs });
      await data.drain(delayMs, graceMs);
      await control.stop();
      core.stop();
      accessLog?.flush();
      await health.close();
    })();
    return closing;
  };

  return { httpPort: data.httpPort, httpsPort: data.httpsPort, healthPort: health.port, store, reconciler, isReady: () => readiness().ready, close };
}

/**
 * Multi-core mode, the primary: sources, store, leader election, status, Events, ACME and
 * health/metrics here; the proxy in `settings.workers` worker processes fed with the store.
 */
async function startPrimary(settings: Settings, log: Logger, hooks: StartHooks): Promise<RunningPortico> {
  const fallback = await generateSelfSigned();
  const core = await buildCore(settings, log, fallback);
  const { store, metrics, reconciler } = core;
  let pool: WorkerPool | undefined;
  let synced = false;
  let stopping = false;
  let control: ControlPlane | undefined;
  const readiness = (): Readiness => {
    const workers = pool === undefined ? ['workers are not started yet'] : pool.notReady();
    return readinessOf([
      syncCheck(control, synced),
      { name: 'workers', ok: workers.length === 0, message: workers.join('; ') },
      { name: 'shutdown', ok: !stopping, message: stopping ? 'shutting down' : '' },
    ]);
  };
  const isReady = (): boolean => readiness().ready;
  const serveMetrics = metricsHandler({ render: () => (pool ? pool.render() : metrics.render()) });
  // the settings in force: an edited --nginx-configmap ConfigMap changes them
  let current = settings;
  const health = await startHealth(settings, log, readiness, serveMetrics, { config: reconciler.current, endpoints: core.endpoints }, () => current);
  // an edited --nginx-configmap ConfigMap: the workers are replaced one by one with its settings,
  // and this process's own copy of the configuration (status, /debug/*) is built with them
  const applyLive =
    hooks.withConfigMap === undefined
      ? undefined
      : (data: Readonly<Record<string, string>>): boolean => {
          if (pool === undefined || stopping) return false;
          let next: Settings;
          try {
            next = hooks.withConfigMap!(data);
          } catch (err) {
            log.warn('ingress-nginx ConfigMap: its keys do not make valid settings together; the workers keep theirs', { err: err as Error });
            return false;
          }
          current = next;
          core.applySettings(next);
          void pool.applySettings(next).then(
            () => log.info('ingress-nginx ConfigMap applied: every worker runs with it now', { workers: settings.workers }),
            (err: unknown) => log.error('ingress-nginx ConfigMap: replacing the workers failed', { err: err as Error }),
          );
          return true;
        };
  control = createControlPlane(core, settings, log, await loadAcme(settings), (secret) => pool?.setChallenges(secret), applyLive);
  try {
    await control.start();
    synced = true;
    pool = new WorkerPool({
      count: settings.workers,
      store,
      settings,
      logLevel: settings.logLevel,
      log,
      fallback,
      acme: control.challenges !== undefined,
      registry: metrics.registry,
    });
    await pool.start();
  } catch (err) {
    stopping = true;
    await pool?.drain(0, 1000);
    await control.stop();
    core.stop();
    await health.close();
    throw err;
  }
  const workers = pool;

  let closing: Promise<void> | undefined;
  const close = (opts: { delayMs?: number; graceMs?: number } = {}): Promise<void> => {
    closing ??= (async () => {
      const delayMs = opts.delayMs ?? settings.shutdownDelayMs;
      const graceMs = opts.graceMs ?? settings.shutdownGraceMs;
      stopping = true;
      log.info('draining', { delayMs, graceMs, workers: settings.workers });
      await workers.drain(delayMs, graceMs);
      // The Lease is released only now, after the last worker stopped serving.
      await control.stop();
      core.stop();
      await health.close();
    })();
    return closing;
  };
  const ports = workers.listenPorts;
  return { httpPort: ports.http, httpsPort: ports.https, healthPort: health.port, store, reconciler, isReady, close };
}

/** /readyz's check that every kind has been read (and the first configuration built, `started`). */
function syncCheck(control: ControlPlane | undefined, started = true): { name: string; ok: boolean; message: string } {
  const pending = control === undefined ? ['the sources are not started yet'] : control.pending();
  if (pending.length > 0) return { name: 'sync', ok: false, message: `not read in full yet: ${pending.join(', ')}` };
  return started ? { name: 'sync', ok: true, message: '' } : { name: 'sync', ok: false, message: 'the first configuration is not built yet' };
}

interface ControlPlane {
  readonly challenges: ChallengeStore | undefined;
  /** What the source has not read in full yet. */
  pending(): string[];
  /** Reads every kind once, then builds the first configuration and starts the leader work. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

type AcmeManagerClass = typeof AcmeManager;

/** The ACME manager's class when --acme is on (loading acme-client), else undefined. */
async function loadAcme(settings: Settings): Promise<AcmeManagerClass | undefined> {
  return settings.acme ? (await import('./acme/manager.ts')).AcmeManager : undefined;
}

function createControlPlane(
  core: Core,
  settings: Settings,
  log: Logger,
  Acme: AcmeManagerClass | undefined,
  forwardChallenges?: (secret: Secret | undefined) => void,
  /** Applies an edited --nginx-configmap ConfigMap's data live; false when it cannot (then it is reported). */
  applyConfigMap?: (data: Readonly<Record<string, string>>) => boolean,
): ControlPlane {
  const { store, metrics, tls, reconciler } = core;
  let publisher: ClusterPublisher | undefined;
  let source: Source;
  let challenges: ChallengeStore | undefined;
  let acme: AcmeManager | undefined;
  if (settings.manifests !== undefined) {
    if (settings.acme) throw new SettingsError('--acme needs Kubernetes mode (certificates and challenges live in Secrets); remove --manifests or --acme');
    source = new ManifestDirectorySource({ dir: settings.manifests, store, log: log.child({ source: 'files' }) });
  } else {
    const api = KubeApi.load(settings.kubeconfig);
    source = new KubernetesSource({
      api,
      store,
      log: log.child({ source: 'kubernetes' }),
      namespaces: settings.watchNamespaces,
      onRestart: (kind: string) => metrics.watchRestarts.inc({ resource: kind }),
    });
    if (settings.acme && Acme !== undefined) {
      const challengeOptions = { api, namespace: podNamespace(), log: log.child({ component: 'acme' }) };
      challenges = forwardChallenges ? new ForwardingChallengeStore({ ...challengeOptions, forward: forwardChallenges }) : new ChallengeStore(challengeOptions);
      acme = new Acme({
        api,
        store,
        log: log.child({ component: 'acme' }),
        challenges,
        routing: reconciler.current,
        settings: { namespace: podNamespace(), directoryUrl: settings.acmeDirectory, email: settings.acmeEmail, caBundlePath: settings.acmeCaBundle },
        onOrder: (e) => {
          metrics.acmeOrders.inc({ result: e.result });
          if (e.result === 'issued' || e.result === 'failed') {
            const outcome = e.result === 'failed' ? 'failed' : e.reason === 'missing' ? 'issued' : 'renewed';
            publisher?.recordCertificate({ namespace: e.namespace, name: e.secretName }, e.hosts, outcome, e.error);
          }
        },
      });
    }
    publisher = new ClusterPublisher({
      api,
      store,
      log,
      config: reconciler.current,
      electionId: settings.electionId,
      controllerName: settings.controllerName,
      publishService: settings.publishService,
      publishStatusAddresses: settings.publishStatusAddresses,
      updateStatus: settings.updateStatus,
      onLeaderChange: (leading: boolean) => {
        metrics.leader.set(leading ? 1 : 0);
        acme?.setLeading(leading);
        if (leading) publisher?.events.record(tls.currentProblems);
      },
    });
    core.setPublisher(publisher);
  }
  const unwatchConfigMap =
    settings.nginxConfigMap !== undefined && settings.nginxConfigMapApplied !== undefined
      ? watchNginxConfigMap(store, settings.nginxConfigMap, settings.nginxConfigMapApplied, (d) => {
          if (d.data !== null && applyConfigMap?.(d.data) === true) {
            // the workers take it: nothing is left unapplied
            metrics.nginxConfigMapChanged.set(0);
            log.info('ingress-nginx ConfigMap changed: replacing the workers with its settings, one at a time', { configMap: `${d.ref.namespace}/${d.ref.name}`, keys: d.keys });
            return;
          }
          const hint = d.deleted
            ? 'a deleted ConfigMap is not taken as empty: edit it, or restart the Portico pods to start without it'
            : applyConfigMap === undefined
              ? 'Portico runs as one process (--workers 0), which cannot change these settings under its listeners: restart the Portico pods to apply it (kubectl rollout restart on its Deployment or DaemonSet), or run with --workers auto or 1 or more to have edits applied live'
              : 'its values do not make valid settings together (see the warning before this one): fix the ConfigMap, and the next edit is applied';
          reportConfigMapDrift(d, hint, log, metrics, publisher);
        })
      : undefined;
  return {
    challenges,
    pending: () => source.unread(),
    async start() {
      // Every kind has been read once before the first configuration is built: no half-empty
      // table is ever served.
      await source.start();
      if (challenges) {
        challenges.start();
        await challenges.whenSynced();
      }
      reconciler.start();
      acme?.start();
      publisher?.start();
    },
    async stop() {
      unwatchConfigMap?.();
      acme?.stop();
      await challenges?.stop();
      await publisher?.stop();
      await source.stop();
    },
  };
}

/** An edit of the --nginx-configmap ConfigMap after the start: said, since it is not applied. */
function reportConfigMapDrift(d: DriftReport, hint: string, log: Logger, metrics: Core['metrics'], publisher: ClusterPublisher | undefined): void {
  const where = `${d.ref.namespace}/${d.ref.name}`;
  if (d.keys.length === 0 && !d.deleted) {
    metrics.nginxConfigMapChanged.set(0);
    log.info('ingress-nginx ConfigMap matches what was applied at start again', { configMap: where });
    return;
  }
  metrics.nginxConfigMapChanged.set(1);
  const what = d.deleted ? 'was deleted' : `changed (${d.keys.join(', ')})`;
  const message = `ingress-nginx ConfigMap ${where} ${what} since Portico started; Portico keeps the values it applied last: ${hint}`;
  log.warn(message, { configMap: where, keys: d.keys, deleted: d.deleted });
  if (publisher?.elector.isLeader) publisher.events.recordEvent({ kind: 'ConfigMap', namespace: d.ref.namespace, name: d.ref.name }, 'Warning', 'ConfigMapNotApplied', message);
}

async function startHealth(
  settings: Settings,
  log: Logger,
  readiness: () => Readiness,
  serveMetrics: (req: http.IncomingMessage, res: http.ServerResponse) => boolean,
  debug: DebugSource,
  /** The settings in force now, for what the debug endpoints say (default: `settings`). */
  current: () => Settings = () => settings,
): Promise<{ port: number; close(): Promise<void> }> {
  const closers: (() => Promise<void>)[] = [];
  const separateMetrics = settings.metricsPort !== undefined;
  // --debug-endpoints: /debug/* on the health port only, never on the metrics port
  const handlers = [...(separateMetrics ? [] : [serveMetrics]), ...(settings.debugEndpoints ? [debugHandler({ ...debug, redirects: () => ({ sslRedirect: current().sslRedirect, forceSslRedirect: current().forceSslRedirect }) })] : [])];
  const healthServer = createHealthServer({ readiness, ...(handlers.length > 0 ? { extra: firstOf(...handlers) } : {}) });
  const port = await listen(healthServer, settings.healthPort, settings.bindAddress);
  closers.push(() => closeServer(healthServer));
  log.info('listening', { listener: 'health', address: settings.bindAddress, port });
  if (settings.metricsPort !== undefined) {
    const metricsServer = createHealthServer({ readiness, extra: serveMetrics });
    const metricsPort = await listen(metricsServer, settings.metricsPort, settings.bindAddress);
    closers.push(() => closeServer(metricsServer));
    log.info('listening', { listener: 'metrics', address: settings.bindAddress, port: metricsPort });
  }
  return {
    port,
    close: async () => {
      for (const c of closers) await c();
    },
  };
}

/**
 * --nginx-configmap: the settings again, with the keys of ingress-nginx's ConfigMap that have a
 * Portico flag applied after the command line; each key's fate is logged. A ConfigMap that
 * does not exist or cannot be read stops the start (exit 1), as a missing kubeconfig does.
 */
async function applyNginxConfigMap(
  argv: readonly string[],
  settings: Settings,
  ref: { namespace: string; name: string },
  log: Logger,
): Promise<ReturnType<typeof parseSettings>> {
  const where = `${ref.namespace}/${ref.name}`;
  let data: Record<string, string> | null;
  try {
    data = await readConfigMapOnce(settings, ref.namespace, ref.name);
  } catch (err) {
    throw new Error(`--nginx-configmap ${where} could not be read: ${(err as Error).message}`);
  }
  if (data === null) throw new Error(`--nginx-configmap ${where} does not exist${settings.manifests !== undefined ? ` in ${settings.manifests}` : ''}`);
  return settingsWithConfigMap(argv, data, where, log);
}

/** The command line's settings with the ConfigMap's `data` applied over them; each key's fate is logged. */
function settingsWithConfigMap(argv: readonly string[], data: Readonly<Record<string, string>>, where: string, log: Logger): ReturnType<typeof parseSettings> {
  const isSet = (flag: string): boolean =>
    argv.some((a) => a === `--${flag}` || a.startsWith(`--${flag}=`)) || (process.env[envName(flag)] ?? '') !== '';
  const outcome = nginxConfigMapFlags(data, (extra) => parseSettings([...argv, ...extra]), isSet);
  for (const k of outcome.invalid) log.warn('ingress-nginx ConfigMap key not applied: invalid value', { configMap: where, key: k.key, reason: k.message });
  for (const k of outcome.unsupported) log.warn('ingress-nginx ConfigMap key not supported', { configMap: where, key: k.key, reason: k.note });
  log.info('ingress-nginx ConfigMap applied', {
    configMap: where,
    applied: outcome.applied.map((a) => `${a.key} → --${a.flag}`),
    ignored: outcome.ignored.map((i) => `${i.key}: ${i.note}`),
    unsupported: outcome.unsupported.length,
    invalid: outcome.invalid.length,
  });
  const applied = parseSettings([...argv, ...outcome.args]);
  return { ...applied, settings: { ...applied.settings, nginxConfigMapApplied: data } };
}

/** The CLI: parse flags, start, stop cleanly on SIGTERM/SIGINT. */
export async function main(argv: readonly string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseSettings(argv);
  } catch (err) {
    if (err instanceof SettingsError) {
      process.stderr.write(`portico: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  if (parsed.help) {
    process.stdout.write(usage());
    return;
  }
  if (parsed.version) {
    process.stdout.write(`portico ${version()}\n`);
    return;
  }
  const log = createLogger(parsed.settings.logLevel);
  if (parsed.settings.nginxConfigMap !== undefined) {
    try {
      parsed = await applyNginxConfigMap(argv, parsed.settings, parsed.settings.nginxConfigMap, log);
    } catch (err) {
      log.error(`cannot start: ${(err as Error).message}`);
      process.exit(err instanceof SettingsError ? 2 : 1);
    }
  }
  let running: RunningPortico;
  try {
    const ref = parsed.settings.nginxConfigMap;
    const hooks: StartHooks =
      ref === undefined
        ? {}
        : { withConfigMap: (data) => ({ ...settingsWithConfigMap(argv, data, `${ref.namespace}/${ref.name}`, log).settings, nginxConfigMapApplied: data }) };
    running = await startPortico(parsed.settings, log, hooks);
  } catch (err) {
    log.error(`cannot start: ${(err as Error).message}`);
    process.exit(err instanceof SettingsError ? 2 : 1);
  }
  log.info('portico started', {
    version: version(),
    mode: parsed.settings.manifests !== undefined ? 'files' : 'kubernetes',
    workers: parsed.settings.workers,
    ...(parsed.settings.manifests !== undefined ? { manifests: parsed.settings.manifests } : {}),
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      // A repeated SIGTERM changes nothing (the drain is under way); a second Ctrl-C forces.
      if (signal === 'SIGINT') process.exit(130);
      return;
    }
    stopping = true;
    log.info('shutting down', { signal });
    running.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error('shutdown failed', { err: err as Error });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}
