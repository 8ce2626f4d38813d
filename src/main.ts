// Wiring only: settings → sources → store → reconciler/translation → proxy, endpoints on
// their own lane, health on its own port, and an orderly shutdown.

import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { parseSettings, SettingsError, usage, type Settings } from './config/settings.ts';
import { Store } from './store/store.ts';
import { translate } from './model/translate.ts';
import { EndpointIndex } from './endpoints/index.ts';
import { ManifestDirectorySource } from './sources/files/source.ts';
import { KubernetesSource } from './sources/kubernetes/source.ts';
import { KubeApi } from './sources/kubernetes/api.ts';
import { ClusterPublisher } from './cluster/publisher.ts';
import { Reconciler } from './reconcile/reconciler.ts';
import { Proxy, createHttpListener, DEFAULT_PROXY_SETTINGS } from './proxy/proxy.ts';
import { createHealthServer } from './observe/health.ts';
import { createLogger, type Logger } from './observe/log.ts';
import { AccessLog } from './observe/access-log.ts';
import { Metrics, metricsHandler } from './observe/metrics.ts';
import type { RequestInfo } from './proxy/proxy.ts';
import type { RoutingConfig } from './model/types.ts';

interface Source {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface RunningPortico {
  readonly httpPort: number;
  readonly healthPort: number;
  readonly store: Store;
  readonly reconciler: Reconciler;
  isReady(): boolean;
  /** Graceful stop: listeners close, in-flight requests get `graceMs` to finish. */
  close(graceMs?: number): Promise<void>;
}

export function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export async function startPortico(settings: Settings, log: Logger): Promise<RunningPortico> {
  const store = new Store();
  const endpoints = new EndpointIndex(store);
  const metrics = new Metrics();
  metrics.endpointSource(function* () {
    for (const key of endpoints.keys()) yield [key, endpoints.get(key).endpoints.length] as [string, number];
  });
  const reconciler = new Reconciler({
    store,
    log,
    translate: (snapshot, v) =>
      translate(snapshot, { controllerName: settings.controllerName, ingressClass: settings.ingressClass, version: v }),
    onSwap: (config, stats) => {
      log.info('configuration applied', { version: config.version, routes: countRoutes(config.routes()), problems: stats.problems, buildMs: round(stats.durationMs) });
      recordSwap(metrics, config, stats.durationMs);
      publisher?.onConfig(config);
    },
  });

  let ready = false;
  const servers: http.Server[] = [];
  const serveMetrics = metricsHandler(metrics);
  const separateMetrics = settings.metricsPort !== undefined;
  const healthServer = createHealthServer({ ready: () => ready, ...(separateMetrics ? {} : { extra: serveMetrics }) });
  const healthPort = await listen(healthServer, settings.healthPort, settings.bindAddress);
  servers.push(healthServer);
  log.info('listening', { listener: 'health', address: settings.bindAddress, port: healthPort });
  if (settings.metricsPort !== undefined) {
    const metricsServer = createHealthServer({ ready: () => ready, extra: serveMetrics });
    const port = await listen(metricsServer, settings.metricsPort, settings.bindAddress);
    servers.push(metricsServer);
    log.info('listening', { listener: 'metrics', address: settings.bindAddress, port });
  }

  let source: Source;
  let publisher: ClusterPublisher | undefined;
  if (settings.manifests !== undefined) {
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
    publisher = new ClusterPublisher({
      api,
      store,
      log,
      config: reconciler.current,
      electionId: settings.electionId,
      controllerName: settings.controllerName,
      publishService: settings.publishService,
      publishStatusAddresses: settings.publishStatusAddresses,
      onLeaderChange: (leading: boolean) => metrics.leader.set(leading ? 1 : 0),
    });
  }
  // Every kind has been read once before the first configuration is built: no half-empty
  // table is ever served.
  await source.start();
  reconciler.start();
  publisher?.start();

  const accessLog = settings.accessLog ? new AccessLog(process.stdout) : undefined;
  const proxy = new Proxy({
    config: reconciler.current,
    endpoints,
    log: log.child({ component: 'proxy' }),
    settings: {
      ...DEFAULT_PROXY_SETTINGS,
      connectTimeoutMs: settings.connectTimeoutMs,
      responseHeaderTimeoutMs: settings.responseHeaderTimeoutMs,
      idleTimeoutMs: settings.idleTimeoutMs,
      trustedProxies: settings.trustedProxies,
    },
    onRequestDone: requestDone(accessLog, metrics),
  });
  const httpServer = createHttpListener(proxy, { maxHeaderSize: settings.maxHeaderSize });
  metrics.watchListener('http', httpServer);
  const httpPort = await listen(httpServer, settings.httpPort, settings.bindAddress);
  log.info('listening', { listener: 'http', address: settings.bindAddress, port: httpPort });
  ready = true;

  let closing: Promise<void> | undefined;
  const close = (graceMs = settings.shutdownGraceMs): Promise<void> => {
    closing ??= (async () => {
      ready = false;
      await source.stop();
      reconciler.stop();
      await publisher?.stop();
      const closed = new Promise<void>((resolve) => httpServer.close(() => resolve()));
      httpServer.closeIdleConnections();
      const timer = setTimeout(() => httpServer.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(timer);
      await proxy.close(1000);
      for (const server of servers) await new Promise<void>((resolve) => server.close(() => resolve()));
    })();
    return closing;
  };

  return { httpPort, healthPort, store, reconciler, isReady: () => ready, close };
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
  let running: RunningPortico;
  try {
    running = await startPortico(parsed.settings, log);
  } catch (err) {
    log.error(`cannot start: ${(err as Error).message}`);
    process.exit(err instanceof SettingsError ? 2 : 1);
  }
  log.info('portico started', {
    version: version(),
    mode: parsed.settings.manifests !== undefined ? 'files' : 'kubernetes',
    ...(parsed.settings.manifests !== undefined ? { manifests: parsed.settings.manifests } : {}),
  });
  const stop = (signal: string) => {
    log.info('shutting down', { signal });
    running.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error('shutdown failed', { err: err as Error });
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

function listen(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(new Error(`cannot listen on ${host}:${port}: ${err.code === 'EADDRINUSE' ? 'the port is in use' : err.message}`));
    };
    server.once('error', onError);
    server.listen({ port, host, backlog: 4096 }, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function requestDone(accessLog: AccessLog | undefined, metrics: Metrics): (info: RequestInfo) => void {
  if (!accessLog) return metrics.record;
  return (info) => {
    metrics.record(info);
    accessLog.write(info);
  };
}

function recordSwap(metrics: Metrics, config: RoutingConfig, durationMs: number): void {
  metrics.reloads.inc();
  metrics.reloadDuration.observe(durationMs / 1000);
  metrics.lastReloadSuccess.set(1);
  metrics.lastReloadTimestamp.set(Date.now() / 1000);
  metrics.problems.reset();
  for (const p of config.problems) metrics.problems.inc({ reason: p.reason });
  metrics.retainIngresses(config.ingresses);
}

function countRoutes(routes: Iterable<unknown>): number {
  let n = 0;
  for (const _ of routes) n++;
  return n;
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
