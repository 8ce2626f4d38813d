// Snapshot → RoutingConfig: the model's one entry point. Pure: the same snapshot and options
// give an equal config (same routes, same problems in the same order); no I/O, no clock.
//
//   1. class selection (ingress-class.ts): which Ingresses are ours;
//   2. one contribution per Ingress (ingress-processor.ts), independent of the others;
//   3. contributions sorted oldest first, merged per virtual host (builder.ts);
//   4. the lookup structure (route-table.ts).
// A malformed object costs only itself (or only its bad rule): every step records problems
// and carries on, and an unexpected exception while reading one Ingress is caught and
// reported against that Ingress.

import type { Snapshot } from '../store/store.ts';
import { buildVirtualHosts } from './builder.ts';
import { classSelector } from './ingress-class.ts';
import { compareAge, ingressRef, processIngress, type IngressContribution } from './ingress-processor.ts';
import { ProblemSink } from './problems.ts';
import { RouteTable } from './route-table.ts';
import { DEFAULT_POLICY, type ObjectRef, type RoutingConfig, type TlsBinding } from './types.ts';

export interface TranslateOptions {
  /** IngressClasses whose spec.controller equals this are ours, e.g. 'portico.dev/ingress-controller'. */
  controllerName: string;
  /** The --ingress-class flag, matched against the legacy `kubernetes.io/ingress.class` annotation. */
  ingressClass: string;
  /** Copied into RoutingConfig.version (default 0). */
  version?: number;
}

export function translate(snapshot: Snapshot, options: TranslateOptions): RoutingConfig {
  const sink = new ProblemSink();
  const selector = classSelector(snapshot.list('IngressClass'), options);

  const contributions: IngressContribution[] = [];
  for (const ingress of snapshot.list('Ingress')) {
    if (!selector.isOurs(ingress)) continue;
    try {
      contributions.push(processIngress(ingress, snapshot, sink));
    } catch (err) {
      // Defensive readers should make this unreachable; if not, one object still must not
      // take the others down.
      const ref = ingressRef(ingress);
      sink.add(ref, 'InvalidIngress', `the Ingress could not be read (${err instanceof Error ? err.message : String(err)}); it routes nothing`);
      contributions.push({ ref, created: Number.POSITIVE_INFINITY, policy: DEFAULT_POLICY, hosts: new Map(), defaultBackend: null });
    }
  }
  contributions.sort(compareAge);

  const { virtualHosts, defaultRoute } = buildVirtualHosts(contributions, sink);
  const ingresses: ObjectRef[] = contributions.map((c) => c.ref).sort(compareRefs);
  const tls = mergeTls(contributions, sink);
  return new RouteTable({ version: options.version ?? 0, virtualHosts, defaultRoute, problems: sink.sorted(), ingresses, tls });
}

/** One Secret per host: the oldest Ingress wins; a younger one naming another Secret gets a problem. */
function mergeTls(contributions: readonly IngressContribution[], sink: ProblemSink): TlsBinding[] {
  const byHost = new Map<string, TlsBinding>();
  for (const c of contributions) {
    if (c.tls === undefined) continue;
    for (const [host, secret] of c.tls) {
      const winner = byHost.get(host);
      if (winner === undefined) byHost.set(host, { host, secret, ingress: c.ref });
      else if (winner.secret !== secret) {
        sink.add(
          c.ref,
          'TLSConflict',
          `spec.tls names Secret ${secret} for ${host}, but the older Ingress ${winner.ingress.namespace}/${winner.ingress.name} already serves it with ${winner.secret}; that one is used`,
        );
      }
    }
  }
  return [...byHost.values()].sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
}

function compareRefs(a: ObjectRef, b: ObjectRef): number {
  if (a.namespace !== b.namespace) return a.namespace < b.namespace ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
