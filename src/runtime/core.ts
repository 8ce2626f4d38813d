// What the control plane and the proxy share, in the single process, in the primary and in
// each worker: the store, the endpoint index, metrics, certificates and the reconciler that
// turns the store into routing configurations. The primary translates too (for status, Events
// and metrics), so it alone reports problems; workers build quietly.

import type { Settings } from '../config/settings.ts';
import { Store } from '../store/store.ts';
import { incrementalTranslate } from '../model/incremental.ts';
import { EndpointIndex } from '../endpoints/index.ts';
import type { ClusterPublisher } from '../cluster/publisher.ts';
import { Reconciler } from '../reconcile/reconciler.ts';
import { TlsManager } from '../tls/manager.ts';
import { ProblemLog } from '../observe/problem-log.ts';
import type { Logger } from '../observe/log.ts';
import { Metrics } from '../observe/metrics.ts';
import { compatIdentity } from '../observe/nginx-compat.ts';
import { hostname } from 'node:os';
import type { Problem } from '../model/types.ts';
import { clientAuthHosts } from '../tls/client-auth.ts';
import { cipherProfileHosts } from '../tls/cipher-hosts.ts';

/** What the control plane and the proxy share: the store and what is derived from it. */
export interface Core {
  readonly store: Store;
  readonly endpoints: EndpointIndex;
  readonly metrics: Metrics;
  readonly tls: TlsManager;
  readonly reconciler: Reconciler;
  setPublisher(publisher: ClusterPublisher): void;
  /**
   * Translates with `settings` from now on (an edited --nginx-configmap: --custom-http-errors),
   * rebuilding at once when that changes what translation reads.
   */
  applySettings(settings: Settings): void;
  stop(): void;
}

export interface CoreOptions {
  /**
   * Build without reporting configuration and TLS problems (no problem log lines, no TLS
   * problem metrics): a proxy worker, whose primary builds the same configuration and reports.
   */
  quietProblems?: boolean;
}

export async function buildCore(settings: Settings, log: Logger, fallback: { certPem: string; keyPem: string }, opts: CoreOptions = {}): Promise<Core> {
  const quiet = opts.quietProblems === true;
  const store = new Store();
  // a worker stays quiet: its primary loads the same slices and reports their problems
  const endpoints = new EndpointIndex(store, quiet ? {} : { log: log.child({ component: 'endpoints' }) });
  const metrics = new Metrics(
    settings.metricsCompat === 'ingress-nginx' ? { nginxCompat: compatIdentity(process.env, settings.controllerName, settings.electionId, hostname()) } : {},
  );
  metrics.endpointSource(function* () {
    for (const key of endpoints.keys()) yield [key, endpoints.get(key).endpoints.length] as [string, number];
  });
  if (!quiet) metrics.endpointProblemSource(() => endpoints.problems());

  // Certificates: a generated default unless --default-ssl-certificate names a Secret.
  const tlsProblems = new ProblemLog(log.child({ component: 'tls' }));
  let publisher: ClusterPublisher | undefined;
  const tls = new TlsManager({
    store,
    log: log.child({ component: 'tls' }),
    fallback,
    ...(settings.defaultSslCertificate ? { defaultSecret: settings.defaultSslCertificate } : {}),
    quietProblems: quiet,
    onProblems: (problems) => {
      if (quiet) return;
      tlsProblems.report(problems);
      metrics.setTlsProblems(problems);
      if (publisher?.elector.isLeader) publisher.events.record(problems);
    },
  });
  metrics.certificateSource(() => tls.inUse);

  // Configuration problems: logged once each while they last, by the process that reports.
  const configProblems = quiet ? undefined : new ProblemLog(log);
  const reconciler = new Reconciler({
    store,
    log,
    ...(configProblems ? { reportProblems: (problems: readonly Problem[]) => configProblems.report(problems) } : {}),
    translate: incrementalTranslate(translateOptions(settings)),
    onFailure: () => metrics.configFailed(),
    onSwap: (config, stats) => {
      tls.setBindings(config.tls, clientAuthHosts(config.routes()), cipherProfileHosts(config.virtualHosts?.() ?? []));
      metrics.configSwapped(config, stats.durationMs);
      publisher?.onConfig(config);
      // last: the lines about this configuration's problems (the reconciler's, the TLS
      // manager's) come before it, so a reader that sees it has seen them
      log.info('configuration applied', { version: config.version, changes: stats.changes, problems: stats.problems, buildMs: round(stats.durationMs) });
    },
  });

  let translating = JSON.stringify(translateOptions(settings));
  return {
    store,
    endpoints,
    metrics,
    tls,
    reconciler,
    setPublisher: (p) => {
      publisher = p;
    },
    applySettings: (next) => {
      const options = translateOptions(next);
      const text = JSON.stringify(options);
      if (text === translating) return;
      translating = text;
      reconciler.replaceTranslate(incrementalTranslate(options));
    },
    stop: () => {
      reconciler.stop();
      tls.stop();
    },
  };
}

/** What translation reads from the settings. */
function translateOptions(settings: Settings): Parameters<typeof incrementalTranslate>[0] {
  return {
    controllerName: settings.controllerName,
    ingressClass: settings.ingressClass,
    watchWithoutClass: settings.watchIngressWithoutClass,
    sslPassthrough: settings.sslPassthrough,
    ...(settings.defaultBackendService !== undefined ? { globalErrors: { service: settings.defaultBackendService, codes: settings.customHttpErrors } } : {}),
  };
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
