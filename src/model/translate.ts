// Snapshot → RoutingConfig: the model's full translation. Pure: the same snapshot and options
// give an equal config (same routes, same problems in the same order); no I/O, no clock.
//
//   1. class selection (ingress-class.ts): which Ingresses are ours;
//   2. one contribution per Ingress (ingress-processor.ts), independent of the others;
//   3. contributions sorted oldest first, merged per virtual host and per TLS host (builder.ts);
//   4. the lookup structure (route-table.ts).
// A malformed object costs only itself (or only its bad rule): every step records problems
// and carries on, and an unexpected exception while reading one Ingress is caught and
// reported against that Ingress.
//
// The running controller uses incremental.ts instead, which applies the same per-Ingress and
// per-host functions to what a change touches; this function is the reference it must agree
// with (test/model/incremental.test.ts).

import type { Snapshot } from '../store/store.ts';
import { buildTlsBinding, buildVirtualHosts, globalDefaultRoute } from './builder.ts';
import type { GlobalErrorBackend } from './error-backend-options.ts';
import { classSelector } from './ingress-class.ts';
import { compareAge, compareRefs, processIngressSafely, processOptions, type IngressContribution } from './ingress-processor.ts';
import { ProblemSink } from './problems.ts';
import { RouteTable } from './route-table.ts';
import type { ObjectRef, RoutingConfig, TlsBinding } from './types.ts';

export interface TranslateOptions {
  /** IngressClasses whose spec.controller equals this are ours, e.g. 'portico.dev/ingress-controller'. */
  controllerName: string;
  /** The --ingress-class flag, matched against the legacy `kubernetes.io/ingress.class` annotation. */
  ingressClass: string;
  /** --watch-ingress-without-class: Ingresses with no class at all are ours. Default false. */
  watchWithoutClass?: boolean;
  /** --enable-ssl-passthrough (default false): see ingress-processor.ts ProcessOptions. */
  sslPassthrough?: boolean;
  /** --default-backend-service (+ --custom-http-errors): see ingress-processor.ts ProcessOptions. */
  globalErrors?: GlobalErrorBackend;
  /** Copied into RoutingConfig.version (default 0). */
  version?: number;
}

export function translate(snapshot: Snapshot, options: TranslateOptions): RoutingConfig {
  const sink = new ProblemSink();
  const selector = classSelector(snapshot.list('IngressClass'), options);

  const contributions: IngressContribution[] = [];
  for (const ingress of snapshot.list('Ingress')) {
    if (!selector.isOurs(ingress)) continue;
    contributions.push(processIngressSafely(ingress, snapshot, sink, processOptions(options)));
  }
  contributions.sort(compareAge);

  const built = buildVirtualHosts(contributions, sink);
  const virtualHosts = built.virtualHosts;
  // an Ingress's spec.defaultBackend, else --default-backend-service
  const defaultRoute = built.defaultRoute ?? globalDefaultRoute(options.globalErrors, snapshot, sink);
  const ingresses: ObjectRef[] = contributions.map((c) => c.ref).sort(compareRefs);
  const tls = mergeTls(contributions, sink);
  return new RouteTable({ version: options.version ?? 0, virtualHosts, defaultRoute, problems: sink.sorted(), ingresses, tls });
}

/** One Secret per host: the oldest Ingress wins; a younger one naming another Secret gets a problem. */
function mergeTls(contributions: readonly IngressContribution[], sink: ProblemSink): TlsBinding[] {
  const byHost = new Map<string, IngressContribution[]>();
  for (const c of contributions) {
    if (c.tls === undefined) continue;
    for (const host of c.tls.keys()) {
      const list = byHost.get(host);
      if (list === undefined) byHost.set(host, [c]);
      else list.push(c);
    }
  }
  const out: TlsBinding[] = [];
  for (const [host, list] of byHost) {
    const binding = buildTlsBinding(host, list, sink);
    if (binding !== null) out.push(binding);
  }
  return out.sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
}
