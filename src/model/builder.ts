// Merges Ingress contributions into virtual hosts, TLS hosts and the global default backend.
// Everything here is decided per host, from the contributions that name that host, in age
// order (oldest first): so the result does not depend on the order objects were listed, and
// the incremental translator (incremental.ts) rebuilds only the hosts a change touches and
// reuses every other VirtualHost as it is. translate.ts applies the same functions to all.

import type { IngressContribution } from './ingress-processor.ts';
import { isPrefixType, prefixKey } from './paths.ts';
import { pathRegex } from './route-options.ts';
import { ProblemSink } from './problems.ts';
import { samePredicates } from './predicates.ts';
import type { HostHandshake, VirtualHost } from './virtual-host.ts';
import { DEFAULT_POLICY, FORWARD, NO_FILTERS, type Backend, type ClientCertPolicy, type ObjectRef, type Route, type TlsBinding } from './types.ts';
import { globalBackend, type GlobalErrorBackend } from './error-backend-options.ts';
import type { Snapshot } from '../store/store.ts';
import { DENIED_CLIENT_CERT } from './client-cert-options.ts';

interface Winner {
  route: Route;
  from: IngressContribution;
}

function refWords(ref: ObjectRef): string {
  return ref.namespace === '' ? ref.name : `${ref.namespace}/${ref.name}`;
}

function precedenceWords(winner: IngressContribution, loser: IngressContribution): string {
  if (winner.created < loser.created) return 'which is older and takes precedence';
  if (winner.created === Number.POSITIVE_INFINITY) return 'which takes precedence (no creationTimestamp to compare: first by namespace/name)';
  return 'which takes precedence (same creation time, first by namespace/name)';
}

function backendWords(b: Backend): string {
  const port = typeof b.servicePort === 'number' ? `port ${b.servicePort}` : `port "${b.servicePort}"`;
  return `Service ${b.namespace === '' ? '' : `${b.namespace}/`}${b.service} ${port}`;
}

function hostWords(host: string): string {
  return host === '' ? 'requests without a matching host' : `host "${host}"`;
}

/**
 * A canary Ingress's rule joins the primary rule with the same path and kind of match: that
 * rule then sends some of its requests to the canary's backend (ingress-nginx canary). Without
 * a primary, or when an older canary already joined it, the canary rule is ignored.
 */
function joinCanary(host: string, route: Route, c: IngressContribution, routes: Route[], sink: ProblemSink): void {
  const canary = c.canary!;
  const isPrefix = isPrefixType(route.pathType);
  const key = isPrefix ? prefixKey(route.path) : route.path;
  const i = routes.findIndex((r) => isPrefixType(r.pathType) === isPrefix && (isPrefix ? prefixKey(r.path) : r.path) === key);
  const where = `path "${route.path}" (${route.pathType}) of ${host === '' ? 'the rules without host' : `host "${host}"`}`;
  if (i < 0) {
    sink.add(c.ref, 'CanaryWithoutPrimary', `${where}: no Ingress without the canary annotation serves it, so this canary rule is ignored`);
    return;
  }
  const primary = routes[i] as Route;
  if (primary.action.kind !== 'forward') return; // a redirect or a 503 stays what it is
  if (primary.action.canary !== undefined) {
    sink.add(c.ref, 'RuleConflict', `${where} already has a canary from Ingress ${refWords(primary.action.canary.ingress)}; only one canary per rule is used, this one is ignored`);
    return;
  }
  // the canary backend is balanced by the canary Ingress's own load-balance and
  // upstream-hash-by, as ingress-nginx gives each backend its own balancer
  const f = route.filters;
  const balance = {
    ...(route.policy.loadBalance === DEFAULT_POLICY.loadBalance ? {} : { loadBalance: route.policy.loadBalance }),
    ...(f.hashBy === undefined ? {} : { hashBy: f.hashBy }),
    ...(f.hashSubset === undefined ? {} : { hashSubset: f.hashSubset }),
  };
  routes[i] = {
    ...primary,
    action: Object.freeze({ kind: 'forward', canary: Object.freeze({ ...canary, ...balance, backend: route.backend, ingress: c.ref }) }),
  };
}

/** A route under a host name of its Ingress's aliases (from-to-www twin, server-alias). */
function isWwwAlias(route: Route): boolean {
  return route.alias === true || (route.action.kind === 'redirect' && route.action.wwwAlias === true);
}

/** A default-backend route: no path of its own; serves what no rule matched. */
function fallbackRoute(host: string, c: IngressContribution, backend: Backend): Route {
  return { host, path: '', pathType: 'Prefix', backend, policy: c.policy, action: c.action, filters: c.filters, regex: null, ingress: c.ref };
}

/**
 * One virtual host from the contributions that name it, oldest first. On the same host, path
 * and kind of match (Exact, or Prefix/ImplementationSpecific which match alike) the oldest
 * Ingress wins and every later one gets a RuleConflict for that path only.
 */
export function buildVirtualHost(
  host: string,
  contributions: readonly IngressContribution[],
  sink: ProblemSink,
  /** The contributions naming another host (server-alias sources: their canaries apply here too). */
  contributionsOf: (host: string) => readonly IngressContribution[] = () => [],
): VirtualHost {
  const routes: Route[] = [];
  const from: IngressContribution[] = []; // parallel to routes: who added each
  let fallback: Winner | null = null;
  let count = 0;
  for (const c of contributions) count += c.hosts.get(host)?.length ?? 0;
  // Winners by match key, one map per kind of match (Exact; Prefix and ImplementationSpecific
  // match alike). Most hosts have a handful of rules: then comparing with each winner so far
  // is cheaper than building two maps.
  const exact = count > 8 ? new Map<string, number>() : null;
  const prefix = count > 8 ? new Map<string, number>() : null;
  // aliases (from-to-www twins, server-alias) yield to any real rule of the host, and to an
  // older Ingress's aliases
  const hasReal = contributions.some((c) => c.hosts.get(host)?.some((r) => !isWwwAlias(r)) === true);
  let aliasTaken: IngressContribution | null = null;
  const canaries: Winner[] = [];
  for (const c of contributions) {
    for (const route of c.hosts.get(host) ?? []) {
      if (c.canary !== undefined) {
        canaries.push({ route, from: c });
        continue;
      }
      if (isWwwAlias(route)) {
        // the first Ingress's aliases only: its rules, not a mix of several Ingresses'
        if (hasReal || (aliasTaken !== null && aliasTaken !== c)) {
          // a www twin yields quietly (ingress-nginx too); a server-alias the user named is
          // reported, so an alias that serves nothing is never a silent surprise
          if (route.alias === true) {
            sink.add(c.ref, 'RuleConflict', `server-alias "${host}" is not served for this Ingress: ${hasReal ? 'an Ingress defines it as a rule host, whose rules it serves' : `Ingress ${refWords(aliasTaken!.ref)}, ${precedenceWords(aliasTaken!, c)}, also names it as an alias and keeps it`}`);
          }
          continue;
        }
        aliasTaken = c;
      }
      const isPrefix = isPrefixType(route.pathType);
      const key = isPrefix ? prefixKey(route.path) : route.path;
      const index = isPrefix ? prefix : exact;
      let won = -1;
      if (index !== null) {
        won = index.get(key) ?? -1;
      } else {
        for (let i = 0; i < routes.length; i++) {
          const r = routes[i] as Route;
          if (isPrefixType(r.pathType) === isPrefix && (isPrefix ? prefixKey(r.path) : r.path) === key) {
            won = i;
            break;
          }
        }
      }
      if (won >= 0 && (route.predicates !== undefined || (routes[won] as Route).predicates !== undefined)) {
        // request predicates (method, headers, query): rules of one path with different
        // predicates are different rules (path-table.ts tries them in precedence order); only
        // the same path with the same predicates is a conflict
        won = -1;
        for (let i = 0; i < routes.length; i++) {
          const r = routes[i] as Route;
          if (isPrefixType(r.pathType) === isPrefix && (isPrefix ? prefixKey(r.path) : r.path) === key && samePredicates(r.predicates, route.predicates)) {
            won = i;
            break;
          }
        }
      }
      if (won < 0) {
        if (index !== null && !index.has(key)) index.set(key, routes.length);
        routes.push(route);
        from.push(c);
        continue;
      }
      const winner = routes[won] as Route;
      const winnerFrom = from[won] as IngressContribution;
      const what = `path "${route.path}" (${route.pathType}) of ${host === '' ? 'the rules without host' : `host "${host}"`}`;
      sink.add(
        c.ref,
        'RuleConflict',
        winnerFrom === c
          ? `${what} is defined more than once in this Ingress (as "${winner.path}" ${winner.pathType}); the first one is used`
          : `${what} is also defined by Ingress ${refWords(winnerFrom.ref)}, ${precedenceWords(winnerFrom, c)}; this path is ignored until the conflict is removed`,
      );
    }
    const backend = c.defaultBackend;
    if (backend === null) continue;
    if (fallback === null) {
      fallback = { route: fallbackRoute(host, c, backend), from: c };
    } else if (fallback.route.backend.endpointsKey !== backend.endpointsKey) {
      sink.add(
        c.ref,
        'DefaultBackendConflict',
        `spec.defaultBackend (${backendWords(backend)}) is not used for unmatched paths of ${hostWords(host)}: Ingress ${refWords(fallback.from.ref)}, ${precedenceWords(fallback.from, c)}, also has rules for this host and its default backend (${backendWords(fallback.route.backend)}) is used`,
      );
    }
  }
  for (const { route, from: c } of canaries) joinCanary(host, route, c, routes, sink);
  // server-alias: in ingress-nginx an alias is one more server_name of the aliased host's
  // server, so it serves every rule of that host, whichever Ingress added it, with its canaries
  // and its default backend (problems about them are the aliased host's to report)
  const source = aliasTaken === null || hasReal || aliasTaken.hosts.get(host)?.[0]?.alias !== true ? undefined : aliasTaken.aliasSource;
  if (source !== undefined) {
    // ingress-nginx takes a host's aliases from the first Ingress (oldest) that names some
    const sources = contributionsOf(source);
    const first = sources.find((c) => c.aliasSource === source && c.canary === undefined);
    if (first !== undefined && first !== aliasTaken) {
      sink.add(aliasTaken!.ref, 'RuleConflict', `server-alias "${host}" is not served: Ingress ${refWords(first.ref)}, ${precedenceWords(first, aliasTaken!)}, names the aliases of host "${source}" (as in ingress-nginx, only the first Ingress's aliases of a host count)`);
      return { host, routes: [], fallback: null, regex: false };
    }
    const of = buildVirtualHost(source, sources, new ProblemSink(), contributionsOf);
    if (of.routes.length > 0) {
      const copy = (r: Route): Route => ({ ...r, host, alias: true as const });
      const aliased: VirtualHost = { host, routes: of.routes.map(copy), fallback: of.fallback !== null ? copy(of.fallback) : (fallback?.route ?? null), regex: of.regex };
      return applyHandshake(applyPassthrough(applyClientCert(aliased, contributions, sink), contributions, sink), contributions, aliasTaken, hasReal, sink);
    }
  }
  const vh: VirtualHost = !routes.some((r) => r.regex !== null)
    ? { host, routes, fallback: fallback?.route ?? null, regex: false }
    : { host, routes: regexRoutes(host, routes, from, sink), fallback: fallback?.route ?? null, regex: true };
  return applyHandshake(applyPassthrough(applyClientCert(vh, contributions, sink), contributions, sink), contributions, aliasTaken, hasReal, sink);
}

/**
 * ssl-ciphers and ssl-prefer-server-ciphers are a property of the host, as ingress-nginx's
 * server-level ssl_ciphers / ssl_prefer_server_ciphers: each is taken from the oldest Ingress
 * with rules for the host that sets it, whether or not any spec.tls names the host (ingress-nginx
 * serves such a host on 443 with the default certificate, and its handshakes use them); a
 * younger Ingress with another value gets a TLSConflict. Canaries do not count (ingress-nginx
 * skips them for server settings), nor do from-to-www-redirect twins (separate redirect
 * servers there, with the listener's settings); a server-alias counts where its copies serve
 * the host (an alias is a name of the Ingress's server). Rules without host are left out:
 * handshakes are matched by their SNI name, and names without a host of their own keep the
 * listener's settings.
 */
function applyHandshake(vh: VirtualHost, contributions: readonly IngressContribution[], aliasTaken: IngressContribution | null, hasReal: boolean, sink: ProblemSink): VirtualHost {
  if (vh.host === '') return vh;
  let ciphersFrom: IngressContribution | null = null;
  let preferFrom: IngressContribution | null = null;
  for (const c of contributions) {
    const own = c.serverCiphers;
    if (own === undefined || c.canary !== undefined) continue;
    const routes = c.hosts.get(vh.host);
    if (routes === undefined) continue;
    const serves = routes.length === 0 || routes.some((r) => !isWwwAlias(r)) || (!hasReal && c === aliasTaken && routes.some((r) => r.alias === true));
    if (!serves) continue;
    if (own.ciphers !== undefined) {
      if (ciphersFrom === null) ciphersFrom = c;
      else if (ciphersFrom.serverCiphers?.ciphers !== own.ciphers) {
        sink.add(c.ref, 'TLSConflict', `ssl-ciphers applies to a whole host; ${vh.host} takes it from Ingress ${refWords(ciphersFrom.ref)}, ${precedenceWords(ciphersFrom, c)}, and this Ingress's is ignored there`);
      }
    }
    if (own.preferServerCiphers !== undefined) {
      if (preferFrom === null) preferFrom = c;
      else if (preferFrom.serverCiphers?.preferServerCiphers !== own.preferServerCiphers) {
        sink.add(c.ref, 'TLSConflict', `ssl-prefer-server-ciphers applies to a whole host; ${vh.host} takes it from Ingress ${refWords(preferFrom.ref)}, ${precedenceWords(preferFrom, c)}, and this Ingress's is ignored there`);
      }
    }
  }
  const from = ciphersFrom ?? preferFrom;
  if (from === null) return vh;
  const ciphers = ciphersFrom?.serverCiphers?.ciphers;
  const honor = preferFrom?.serverCiphers?.preferServerCiphers;
  const handshake: HostHandshake = Object.freeze({
    ...(ciphers === undefined ? {} : { ciphers }),
    ...(honor === undefined ? {} : { honorCipherOrder: honor }),
    ingress: from.ref,
  });
  return { ...vh, handshake };
}

/** The host with its routes to this backend speaking HTTPS (the backend terminates TLS itself). */
function overHttps(vh: VirtualHost, endpointsKey: string): VirtualHost {
  const tls = (r: Route): Route =>
    r.backend.endpointsKey !== endpointsKey || r.policy.backendProtocol === 'HTTPS' || r.policy.backendProtocol === 'GRPCS'
      ? r
      : { ...r, policy: Object.freeze({ ...r.policy, backendProtocol: 'HTTPS' as const }) };
  return { ...vh, routes: vh.routes.map(tls), fallback: vh.fallback === null ? null : tls(vh.fallback) };
}

/** Filter slots that restrict who reaches a backend: a passthrough connection would skip them. */
const ACCESS_SLOTS = ['sourceRange', 'basicAuth', 'externalAuth', 'clientCert'] as const;

/**
 * ingress-nginx ssl-passthrough is a property of the host (any Ingress of the host that sets
 * it, canaries aside). TLS connections for the host go to the backend of its `/` rule, or
 * without one to the host's default backend (spec.defaultBackend), as ingress-nginx takes its
 * server's root location; other paths are reached only over plain HTTP. As in ingress-nginx,
 * the requests of the host that do reach Portico (plain HTTP; TLS without SNI) are proxied to
 * that backend over HTTPS, since it terminates TLS itself. Portico keeps one rule of its own:
 * access controls are never skipped, so a `/` rule with any (or answering 503) is not passed
 * through, and its TLS is terminated as for every host.
 */
function applyPassthrough(vh: VirtualHost, contributions: readonly IngressContribution[], sink: ProblemSink): VirtualHost {
  const owner = contributions.find((c) => c.sslPassthrough !== undefined && c.canary === undefined && c.hosts.has(vh.host));
  if (owner === undefined) return vh;
  // without --enable-ssl-passthrough the processor said so; the host is only proxied over HTTPS
  const enabled = owner.sslPassthrough === 'enabled';
  if (vh.host === '') {
    if (!enabled) return vh;
    sink.add(owner.ref, 'InvalidAnnotation', 'ssl-passthrough applies to rules with a host (TLS connections are matched by their SNI server name); the rules without host are served as usual');
    return vh;
  }
  const real = vh.routes.filter((r) => !isWwwAlias(r));
  if (real.length === 0 && vh.fallback === null) {
    // a server-alias of a passthrough host: ingress-nginx passes only the host's own name
    // through, and the alias's requests go to the same backend over HTTPS
    const aliasRoot = vh.routes.find((r) => r.alias === true && r.path === '/');
    return aliasRoot === undefined ? vh : overHttps(vh, aliasRoot.backend.endpointsKey);
  }
  const root = real.find((r) => r.path === '/' && isPrefixType(r.pathType)) ?? real.find((r) => r.path === '/') ?? vh.fallback;
  if (root === null || root === undefined) {
    if (!enabled) return vh;
    sink.add(owner.ref, 'InvalidAnnotation', `ssl-passthrough: ${hostWords(vh.host)} has no rule for path "/" and no default backend, so there is no backend to pass TLS connections to; its TLS is terminated by Portico`);
    return vh;
  }
  for (const r of enabled ? real : []) {
    if (r === root || r.path === '/') continue;
    sink.add(owner.ref, 'InvalidAnnotation', `ssl-passthrough: path "${r.path}" of ${hostWords(vh.host)} is served only over plain HTTP; TLS connections for the host all go to the backend of "/" (${backendWords(root.backend)})`);
  }
  const out = overHttps(vh, root.backend.endpointsKey);
  const passRoute = root === vh.fallback ? out.fallback! : (out.routes[vh.routes.indexOf(root)] as Route);
  if (!enabled) return out;
  const guards = ACCESS_SLOTS.filter((slot) => passRoute.filters[slot] !== undefined);
  if (passRoute.action.kind === 'direct' || guards.length !== 0) {
    const why = guards.length !== 0 ? `has access controls (${guards.join(', ')}) that a connection passed through would skip` : `answers ${passRoute.action.kind === 'direct' ? passRoute.action.status : ''} (an access control Portico cannot enforce, or a broken one)`;
    sink.add(owner.ref, 'InvalidAnnotation', `ssl-passthrough: the "/" rule of ${hostWords(vh.host)} ${why}; its TLS is terminated by Portico, so they apply`);
    return out;
  }
  // as ingress-nginx: passthrough works at the TCP level, where the rule's other annotations
  // (rewrites, redirects, timeouts, canaries, ...) have nothing to act on
  const ignored: string[] = Object.keys(passRoute.filters);
  if (passRoute.action.kind === 'redirect') ignored.push('redirect');
  if (passRoute.action.kind === 'forward' && passRoute.action.canary !== undefined) ignored.push('canary');
  if (ignored.length !== 0) {
    sink.add(owner.ref, 'InvalidAnnotation', `ssl-passthrough: the annotations of the "/" rule of ${hostWords(vh.host)} (${ignored.join(', ')}) apply only to its requests over plain HTTP; TLS connections are passed to the backend as they are`);
  }
  return { ...out, passthrough: passRoute };
}

/**
 * Client certificates are a property of the host, as ingress-nginx's server-level
 * ssl_verify_client: the oldest Ingress of the host that sets auth-tls-secret decides for
 * every rule and the default backend of the host, other Ingresses' included. When that
 * setting is unusable, the whole host answers 503 (ingress-nginx: 403 for the server).
 */
function applyClientCert(vh: VirtualHost, contributions: readonly IngressContribution[], sink: ProblemSink): VirtualHost {
  let owner: IngressContribution | null = null;
  for (const c of contributions) {
    if (c.clientCert === undefined || c.canary !== undefined || !c.hosts.has(vh.host)) continue;
    if (owner === null) owner = c;
    else if (owner.clientCert !== 'denied' && (c.clientCert === 'denied' || c.clientCert.key !== owner.clientCert!.key || !sameOptions(c.clientCert, owner.clientCert!))) {
      sink.add(
        c.ref,
        'RuleConflict',
        `client certificate settings (auth-tls-*) apply to a whole host; ${hostWords(vh.host)} takes them from Ingress ${refWords(owner.ref)}, which is older, and this Ingress's are ignored there`,
      );
    }
  }
  if (owner === null) return vh;
  const policy = owner.clientCert!;
  const apply = (r: Route): Route =>
    policy === 'denied'
      ? { ...r, action: DENIED_CLIENT_CERT }
      : { ...r, filters: Object.freeze({ ...r.filters, clientCert: policy }) };
  return { ...vh, routes: vh.routes.map(apply), fallback: vh.fallback === null ? null : apply(vh.fallback) };
}

/** The per-request options besides what the handshake verifies. */
function sameOptions(a: ClientCertPolicy, b: ClientCertPolicy): boolean {
  return a.errorPage === b.errorPage && a.passCertificate === b.passCertificate && (a.matchCn?.source ?? null) === (b.matchCn?.source ?? null);
}

/**
 * A host where any rule is a regex (use-regex, or a rewrite on any Ingress of the host) has
 * every path read as one, as ingress-nginx writes every location of such a server as
 * `~* "^<path>"`: the rules of other Ingresses too, which surprises migrators, so Portico does
 * the same rather than differ silently. Longest path first, first match wins; equal lengths
 * keep their precedence (oldest Ingress first, then spec order).
 */
function regexRoutes(host: string, routes: readonly Route[], from: readonly IngressContribution[], sink: ProblemSink): Route[] {
  const out: Route[] = [];
  for (let i = 0; i < routes.length; i++) {
    const route = routes[i] as Route;
    if (route.regex !== null) {
      out.push(route);
      continue;
    }
    const regex = pathRegex(route.path);
    if ('invalid' in regex) {
      sink.add(
        (from[i] as IngressContribution).ref,
        'InvalidPath',
        `path "${route.path}" of ${host === '' ? 'the rules without host' : `host "${host}"`} is read as a regular expression (another Ingress of this host uses use-regex or rewrite-target), but ${regex.invalid}; the path is skipped`,
      );
      continue;
    }
    out.push({ ...route, regex });
  }
  // Array.prototype.sort is stable
  return out.sort((a, b) => b.path.length - a.path.length);
}

export interface BuiltHosts {
  virtualHosts: VirtualHost[];
  defaultRoute: Route | null;
}

/** Every virtual host plus the global default backend. `contributions` must be oldest first. */
export function buildVirtualHosts(contributions: readonly IngressContribution[], sink: ProblemSink): BuiltHosts {
  const byHost = new Map<string, IngressContribution[]>();
  for (const c of contributions) {
    for (const host of c.hosts.keys()) {
      const list = byHost.get(host);
      if (list === undefined) byHost.set(host, [c]);
      else list.push(c);
    }
  }

  const virtualHosts: VirtualHost[] = [];
  for (const [host, list] of byHost) {
    const vh = buildVirtualHost(host, list, sink, (h) => byHost.get(h) ?? []);
    // A host that ended with neither routes nor a fallback (all its paths invalid) is left
    // out, so it does not hide a wildcard or host-less rule that would have served it.
    if (vh.fallback !== null || vh.routes.length !== 0) virtualHosts.push(vh);
  }
  return { virtualHosts, defaultRoute: buildDefaultRoute(contributions, sink) };
}

/** The oldest Ingress with a default backend serves requests that match no host at all. */
export function buildDefaultRoute(contributions: readonly IngressContribution[], sink: ProblemSink): Route | null {
  let winner: Winner | null = null;
  for (const c of contributions) {
    const backend = c.defaultBackend;
    if (backend === null) continue;
    if (winner === null) {
      winner = { route: fallbackRoute('', c, backend), from: c };
      continue;
    }
    if (winner.route.backend.endpointsKey === backend.endpointsKey) continue;
    const own = [...c.hosts.keys()].map((h) => (h === '' ? '(no host)' : h));
    sink.add(
      c.ref,
      'DefaultBackendConflict',
      `spec.defaultBackend (${backendWords(backend)}) is not used for requests that match no host: Ingress ${refWords(winner.from.ref)}, ${precedenceWords(winner.from, c)}, also sets one (${backendWords(winner.route.backend)}); ${own.length === 0 ? 'this Ingress has no rules, so its default backend is not used at all' : `it still applies to unmatched paths of this Ingress's own hosts (${own.join(', ')}) unless an older Ingress on the same host sets one`}`,
    );
  }
  return winner?.route ?? null;
}

/**
 * Requests that match no host, when no Ingress has a spec.defaultBackend: the Service of
 * --default-backend-service on its first port (ingress-nginx's default backend, which answers
 * them itself: typically a 404 page), or null without the flag. A Service that does not exist
 * or has no port is a problem (on the Service) and such requests get Portico's own 404.
 */
export function globalDefaultRoute(global: GlobalErrorBackend | undefined, snapshot: Snapshot, sink: ProblemSink): Route | null {
  if (global === undefined) return null;
  const ref: ObjectRef = { kind: 'Service', namespace: global.service.namespace, name: global.service.name };
  const backend = globalBackend(global.service, snapshot);
  if (backend === null) {
    const exists = snapshot.get('Service', `${ref.namespace}/${ref.name}`) !== undefined;
    sink.add(ref, exists ? 'ServicePortNotFound' : 'ServiceNotFound', `--default-backend-service names Service ${ref.namespace}/${ref.name}, which ${exists ? 'has no port' : 'does not exist'}; requests that match no host get Portico's own 404, and custom-http-errors of Ingresses without default-backend are not intercepted`);
    return null;
  }
  return Object.freeze({ host: '', path: '', pathType: 'Prefix', backend, policy: DEFAULT_POLICY, action: FORWARD, filters: NO_FILTERS, regex: null, ingress: ref });
}

/**
 * The certificate of one TLS host from the contributions whose spec.tls names it, oldest
 * first: the oldest Ingress wins; a younger one naming another Secret gets a TLSConflict.
 */
export function buildTlsBinding(host: string, contributions: readonly IngressContribution[], sink: ProblemSink): TlsBinding | null {
  let winner: TlsBinding | null = null;
  for (const c of contributions) {
    const secret = c.tls?.get(host);
    if (secret === undefined) continue;
    if (winner === null) winner = { host, secret, ingress: c.ref };
    else if (winner.secret !== secret) {
      sink.add(
        c.ref,
        'TLSConflict',
        `spec.tls names Secret ${secret} for ${host}, but the older Ingress ${winner.ingress.namespace}/${winner.ingress.name} already serves it with ${winner.secret}; that one is used`,
      );
    }
  }
  return winner;
}
