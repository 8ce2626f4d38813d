// "Why did this request go there?" for one URL against a routing configuration: the virtual
// host the Host header selects, every rule of that host in match order with whether it
// matches the (normalised) path, the rule that wins and why, what it does (forward, redirect,
// direct answer, HTTPS redirect), its filters, the backend (the canary's when the headers
// select it) with its endpoints, and the certificate binding SNI would find.
//
// The winner is always the routing table's own answer (RouteTable.match, the proxy's lookup);
// the candidate list restates the match rules (Exact, element-wise Prefix, regex in order)
// only to show what else was considered. Pure: no I/O; `portico explain` and the running
// program's /debug/explain both call it.

import type { EndpointLookup } from '../endpoints/types.ts';
import { prefixKey } from '../model/paths.ts';
import { describePredicates, predicatesHold, type MatchRequest } from '../model/predicates.ts';
import type { RouteTable } from '../model/route-table.ts';
import { NO_FILTERS, type Backend, type Route, type RouteFilters, type TlsBinding } from '../model/types.ts';
import { routeToCanary } from '../proxy/filters/canary.ts';
import { needsNormalising, normalisePath } from '../proxy/normalize-path.ts';
import { hostname, TlsHosts } from '../proxy/tls-hosts.ts';

export interface ExplainRequest {
  /** `http://host[:port]/path?query` or `https://...`. */
  readonly url: string;
  /** Request headers (name, value), e.g. for canary rules and rules with header matches. */
  readonly headers?: readonly (readonly [string, string])[];
  /** The request method, for rules with a method match; default GET (what a browser or curl sends). */
  readonly method?: string;
  /** The proxy's --ssl-redirect / --force-ssl-redirect, for routes whose Ingress does not say (default true / false). */
  readonly redirects?: { readonly sslRedirect: boolean; readonly forceSslRedirect: boolean };
}

export interface RuleView {
  readonly ingress: string;
  readonly path: string;
  readonly pathType: string;
  /** The regex the rule matches with, on regex hosts. */
  readonly regex?: string;
  /** The rule's method, header and query matches in words (predicates.ts), when it has any. */
  readonly predicates?: string;
  /** Whether the path matches (and, with predicates, the request satisfies them). */
  readonly matches: boolean;
  /** Only on the winner: why it won over the other matches. */
  readonly chosen?: string;
}

export interface Explanation {
  readonly request: { readonly scheme: string; readonly host: string; readonly path: string; readonly query: string; readonly method?: string };
  /** How the path was normalised before matching, when it was. */
  readonly normalised?: string;
  /** The request is refused before routing (400), with why. */
  readonly refused?: string;
  /** The virtual host that the Host header selects (`*.example.com`, '' for rules without host), or null. */
  readonly virtualHost: string | null;
  /** The rules of that host in match order. */
  readonly candidates: readonly RuleView[];
  /** The route that serves the request, or null (404). */
  readonly route: { readonly ingress: string; readonly path: string; readonly pathType: string; readonly kind: 'rule' | 'host default backend' | 'default backend' } | null;
  readonly why: string;
  /** What the proxy does with the request. */
  readonly outcome: string;
  readonly filters: readonly string[];
  readonly backend: { readonly service: string; readonly port: string; readonly endpointsKey: string; readonly canary: boolean } | null;
  readonly endpoints: readonly { readonly address: string; readonly port: number; readonly terminating: boolean }[];
  /**
   * ssl-passthrough: an https request's TLS connection is piped undecrypted to this backend
   * (the host's "/" rule): no rule, filter or certificate of Portico applies to it.
   */
  readonly passthrough?: { readonly service: string; readonly port: string; readonly endpointsKey: string };
  /** The certificate binding SNI `host` finds, or null (the default certificate). */
  readonly tls: { readonly host: string; readonly secret: string; readonly ingress: string } | null;
  /**
   * https: the host's own handshake settings (ssl-ciphers, ssl-prefer-server-ciphers), with
   * or without a spec.tls; absent: the listener's.
   */
  readonly handshake?: { readonly ciphers?: string; readonly honorCipherOrder?: boolean; readonly ingress: string };
}

const ref = (r: Route): string => `${r.ingress.namespace}/${r.ingress.name}`;

/** Whether `route` matches `path` by its own rule (Exact, element-wise Prefix, or its regex). */
export function ruleMatches(route: Route, path: string): boolean {
  if (route.regex !== null) return route.regex.test(path);
  if (route.pathType === 'Exact') return path === route.path;
  const key = prefixKey(route.path);
  if (key === '') return true;
  return path === key || (path.startsWith(key) && path.charCodeAt(key.length) === 47) || prefixKey(path) === key;
}

/** The filter slots a route has, in words. */
export function filterNames(f: RouteFilters): string[] {
  if (f === NO_FILTERS) return [];
  const out: string[] = [];
  if (f.clientCert !== undefined) out.push(`client certificates (${f.clientCert.verify}, CA from Secret ${f.clientCert.secret})`);
  if (f.cors !== undefined) out.push(`cors (origins ${f.cors.origins === '*' ? '*' : f.cors.origins.join(', ')})`);
  if (f.sourceRange !== undefined) out.push(`source addresses (${[f.sourceRange.deny ? `deny ${f.sourceRange.deny.join(', ')}` : '', f.sourceRange.allow ? `allow ${f.sourceRange.allow.join(', ')}` : ''].filter((x) => x !== '').join('; ')})`);
  const rl = f.rateLimit;
  if (rl !== undefined) out.push(`rate limit (${[rl.rps > 0 ? `${rl.rps}/s` : '', rl.rpm > 0 ? `${rl.rpm}/min` : '', rl.connections > 0 ? `${rl.connections} at once` : ''].filter((x) => x !== '').join(', ')} per client)`);
  if (f.basicAuth !== undefined) out.push(`basic auth (realm "${f.basicAuth.realm}", ${f.basicAuth.users.length} users)`);
  if (f.externalAuth !== undefined) out.push(`external auth (${f.externalAuth.url})`);
  if (f.noGlobalAuth === true) out.push('no global auth (enable-global-auth: "false")');
  if (f.bodyLimit !== undefined) out.push(`body limit ${f.bodyLimit === 0 ? 'none' : `${f.bodyLimit} bytes`}`);
  if (f.rewrite !== undefined) out.push('rewrite-target');
  if (f.upstreamHost !== undefined) out.push(`upstream Host ${f.upstreamHost}`);
  if (f.forwardedPrefix !== undefined) out.push(`X-Forwarded-Prefix ${f.forwardedPrefix}`);
  if (f.timeouts !== undefined) out.push(`timeouts ${JSON.stringify(f.timeouts)}`);
  if (f.appRoot !== undefined) out.push(`app-root ${f.appRoot}`);
  if (f.affinity !== undefined) out.push(`cookie affinity (${f.affinity.name})`);
  if (f.hashBy !== undefined) out.push(f.hashSubset === undefined ? 'upstream-hash-by' : `upstream-hash-by (subsets of ${f.hashSubset}, in turn)`);
  if (f.retry !== undefined) out.push(`retry (tries ${f.retry.tries})`);
  if (f.backendTls !== undefined) out.push(`backend TLS from Secret ${f.backendTls.secret}`);
  const hs = f.backendTlsHandshake;
  if (hs !== undefined) out.push(`backend TLS ${[hs.minVersion === undefined ? '' : hs.minVersion === hs.maxVersion ? hs.minVersion : `${hs.minVersion}-${hs.maxVersion}`, hs.ciphers === undefined ? '' : `ciphers ${hs.ciphers}`].filter((x) => x !== '').join(', ')}`);
  if (f.errors !== undefined) out.push(`default-backend ${f.errors.backend.namespace}/${f.errors.backend.service}${f.errors.codes.length > 0 ? ` for ${f.errors.codes.join(', ')}` : ''}`);
  if (f.satisfy === 'any') out.push('satisfy any (one passing access check is enough)');
  if (f.customHeaders !== undefined) out.push(`response headers from ConfigMap ${f.customHeaders.configMap}`);
  const rw = f.responseRewrite;
  if (rw !== undefined) {
    const parts = [rw.redirect ? `Location ${rw.redirect.from} → ${rw.redirect.to}` : '', rw.cookiePath ? `cookie path ${rw.cookiePath.from} → ${rw.cookiePath.to}` : '', rw.cookieDomain ? `cookie domain ${rw.cookieDomain.from} → ${rw.cookieDomain.to}` : ''];
    out.push(`response rewrite (${parts.filter((x) => x !== '').join('; ')})`);
  }
  if (f.mirror !== undefined) out.push(`mirror to ${f.mirror.origin}${f.mirror.body ? '' : ' (without bodies)'}`);
  if (f.limitRate !== undefined) out.push(`limit-rate ${f.limitRate.bytesPerSecond / 1024} KiB/s after ${f.limitRate.afterBytes / 1024} KiB`);
  if (f.tracing !== undefined) out.push(f.tracing.enabled ? `tracing${f.tracing.trustIncoming ? '' : ' (own trace)'}${f.tracing.operationName !== '' ? ` as "${f.tracing.operationName}"` : ''}` : 'not traced');
  if (f.accessLog === false) out.push('not in the access log');
  // slots this list does not know yet still show up, by name
  const known = new Set(['externalAuth', 'noGlobalAuth', 'clientCert', 'rateLimit', 'backendTls', 'backendTlsHandshake', 'cors', 'sourceRange', 'basicAuth', 'bodyLimit', 'rewrite', 'upstreamHost', 'forwardedPrefix', 'timeouts', 'appRoot', 'affinity', 'hashBy', 'hashSubset', 'retry', 'errors', 'satisfy', 'customHeaders', 'responseRewrite', 'mirror', 'limitRate', 'tracing', 'accessLog']);
  for (const k of Object.keys(f)) if (!known.has(k)) out.push(k);
  return out;
}

function flatHeaders(headers: readonly (readonly [string, string])[]): string[] {
  const out: string[] = [];
  for (const [k, v] of headers) out.push(k, v);
  return out;
}

/** The binding SNI `host` would find (exact first, then the wildcard one level up). */
function tlsFor(bindings: readonly TlsBinding[], host: string): TlsBinding | null {
  const h = hostname(host);
  const exact = bindings.find((b) => b.host === h);
  if (exact !== undefined) return exact;
  const dot = h.indexOf('.');
  return dot > 0 ? (bindings.find((b) => b.host === `*.${h.slice(dot + 1)}`) ?? null) : null;
}

export function explain(config: RouteTable, endpoints: EndpointLookup, req: ExplainRequest): Explanation {
  let url: URL;
  try {
    url = new URL(req.url);
  } catch {
    throw new Error(`"${req.url}" is not a URL such as http://shop.example.com/cart`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`"${req.url}": only http:// and https:// URLs are routed`);
  const scheme = url.protocol.slice(0, -1);
  const headers = flatHeaders(req.headers ?? []);
  let hostHeader = url.host;
  for (let i = 0; i + 1 < headers.length; i += 2) if (headers[i]!.toLowerCase() === 'host') hostHeader = headers[i + 1]!;
  // the raw path as sent (URL would resolve dot segments itself)
  const afterAuthority = req.url.replace(/^[a-z]+:\/\/[^/?#]*/i, '');
  const rawPath = afterAuthority.split(/[?#]/)[0] || '/';
  const query = url.search;
  let path = rawPath;
  let normalised: string | undefined;
  if (needsNormalising(rawPath)) {
    const n = normalisePath(rawPath);
    if (n === null) {
      return {
        request: { scheme, host: hostHeader, path: rawPath, query },
        refused: 'a dot segment with parameters (`..;`) has no safe normal form: Portico answers 400',
        virtualHost: null,
        candidates: [],
        route: null,
        why: 'refused before routing',
        outcome: '400 bad request',
        filters: [],
        backend: null,
        endpoints: [],
        tls: null,
      };
    }
    if (n !== rawPath) normalised = n;
    path = n;
  }

  const vh = config.virtualHostFor(hostHeader);
  const candidates: RuleView[] = [];
  // what rules with method, header or query matches are checked against, as the proxy does
  const request: MatchRequest = { method: (req.method ?? 'GET').toUpperCase(), url: path + query, rawHeaders: headers };
  const route = config.match(hostHeader, path, request);
  let kind: 'rule' | 'host default backend' | 'default backend' = 'rule';
  let why: string;
  if (vh !== null) {
    for (const r of vh.routes) {
      const p = r.predicates;
      const matches = ruleMatches(r, path) && (p === undefined || predicatesHold(p, request));
      candidates.push({ ingress: ref(r), path: r.path, pathType: r.pathType, ...(r.regex !== null ? { regex: `^${r.regex.source}` } : {}), ...(p !== undefined ? { predicates: describePredicates(p) } : {}), matches });
    }
  }
  const winnerAt = route === null || vh === null ? -1 : vh.routes.indexOf(route);
  if (route === null) {
    why = vh === null ? `no rule serves host "${hostname(hostHeader)}" and no Ingress has a default backend` : `no rule of host "${vh.host}" matches ${path} and there is no default backend`;
  } else if (winnerAt >= 0) {
    const matching = candidates.filter((c) => c.matches).length;
    why = vh!.regex === true
      ? `host "${vh!.host}" has regex paths (use-regex or rewrite-target): rules are tried longest first and the first that matches wins`
      : route.pathType === 'Exact'
        ? 'an Exact rule for this path wins over any Prefix rule'
        : matching > 1
          ? 'the longest Prefix that matches element by element wins'
          : 'the only rule that matches';
    // rules of the winner's path with method, header or query matches: which of them won
    const samePath = (r: Route): boolean => r !== route && (r.pathType === 'Exact') === (route.pathType === 'Exact') && (r.pathType === 'Exact' ? r.path === route.path : prefixKey(r.path) === prefixKey(route.path));
    if (vh!.regex !== true && vh!.routes.some((r) => samePath(r) && (r.predicates !== undefined || route.predicates !== undefined))) {
      why += '; of the rules of this path, the first in precedence order whose method, header and query matches hold (a method match first, then more header matches, then more query matches, then age)';
    }
    if (route.alias === true) why += ` (through server-alias of "${route.host}")`;
    candidates[winnerAt] = { ...candidates[winnerAt]!, chosen: why };
  } else if (vh !== null && vh.fallback === route) {
    kind = 'host default backend';
    why = `no rule of host "${vh.host}" matches: the spec.defaultBackend of an Ingress of that host serves it`;
  } else {
    kind = 'default backend';
    // no Ingress has a spec.defaultBackend: --default-backend-service's route (its ref is the Service)
    const by = route.ingress.kind === 'Service' ? `--default-backend-service (Service ${route.ingress.namespace}/${route.ingress.name}) serves it` : "the oldest Ingress's spec.defaultBackend serves it";
    why = vh === null ? `no rule serves host "${hostname(hostHeader)}": ${by}` : `no rule matches: ${by}`;
  }

  let outcome = 'forward';
  let backend: Backend | null = null;
  let canary = false;
  if (route === null) outcome = '404 not found';
  else {
    const action = route.action;
    const tlsHosts = new TlsHosts(config.tls);
    // an Ingress without the annotations gets the proxy's flags (given by a running Portico;
    // offline, their defaults: --ssl-redirect true, --force-ssl-redirect false)
    const force = route.policy.forceSslRedirect ?? req.redirects?.forceSslRedirect ?? false;
    if (scheme === 'http' && (force || ((route.policy.sslRedirect ?? req.redirects?.sslRedirect ?? true) && tlsHosts.has(hostHeader))) && !path.startsWith('/.well-known/acme-challenge/')) {
      outcome = `redirect to https://${hostname(hostHeader)}${path}${query} (ssl-redirect${force ? ', force-ssl-redirect' : ''})`;
    } else if (action.kind === 'direct') outcome = `answered by Portico: ${action.status} ${action.body}`;
    else if (action.kind === 'redirect') outcome = `redirect ${action.status} (${action.wwwAlias === true ? 'from-to-www-redirect' : 'permanent/temporal-redirect'})`;
    else if (route.filters.appRoot !== undefined && path === '/') outcome = `redirect 302 to ${route.filters.appRoot} (app-root)`;
    else {
      backend = route.backend;
      if (action.canary !== undefined) {
        // the weight is a dice roll per request: only header and cookie rules decide here
        canary = routeToCanary({ ...action.canary, weight: 0 }, headers, 0);
        if (canary) backend = action.canary.backend;
        outcome = canary ? 'forward to the canary (its header or cookie rule selects it)' : `forward (canary takes ${action.canary.weight} of ${action.canary.weightTotal} other requests by weight)`;
      }
    }
  }
  const set = backend === null ? [] : endpoints.get(backend.endpointsKey).endpoints;
  const tls = scheme === 'https' ? tlsFor(config.tls, hostHeader) : null;
  const pass = scheme === 'https' ? config.passthrough(hostname(hostHeader)) : null;
  const hs = scheme === 'https' ? vh?.handshake : undefined;
  return {
    ...(pass === null ? {} : { passthrough: { service: `${pass.backend.namespace}/${pass.backend.service}`, port: String(pass.backend.servicePort), endpointsKey: pass.backend.endpointsKey } }),
    request: { scheme, host: hostHeader, path: rawPath, query, ...(request.method !== 'GET' ? { method: request.method } : {}) },
    ...(normalised !== undefined ? { normalised } : {}),
    virtualHost: vh === null ? null : vh.host,
    candidates,
    route: route === null ? null : { ingress: ref(route), path: route.path, pathType: route.pathType, kind },
    why,
    outcome: backend !== null && set.length === 0 ? `${outcome}; but the Service has no ready endpoint: 503${route?.filters.errors !== undefined ? ' (or its default-backend)' : ''}` : outcome,
    filters: route === null ? [] : filterNames(route.filters),
    backend: backend === null ? null : { service: `${backend.namespace}/${backend.service}`, port: String(backend.servicePort), endpointsKey: backend.endpointsKey, canary },
    endpoints: set.map((e) => ({ address: e.address, port: e.port, terminating: e.terminating })),
    tls: tls === null ? null : { host: tls.host, secret: tls.secret, ingress: `${tls.ingress.namespace}/${tls.ingress.name}` },
    ...(hs === undefined
      ? {}
      : {
          handshake: {
            ...(hs.ciphers === undefined ? {} : { ciphers: hs.ciphers }),
            ...(hs.honorCipherOrder === undefined ? {} : { honorCipherOrder: hs.honorCipherOrder }),
            ingress: `${hs.ingress.namespace}/${hs.ingress.name}`,
          },
        }),
  };
}

/** The explanation for people, a few lines. */
export function renderExplanation(e: Explanation): string {
  const lines: string[] = [];
  lines.push(`Request: ${e.request.method !== undefined && e.request.method !== 'GET' ? `${e.request.method} ` : ''}${e.request.scheme}://${e.request.host}${e.request.path}${e.request.query}`);
  if (e.normalised !== undefined) lines.push(`Path matched as: ${e.normalised} (normalised)`);
  if (e.refused !== undefined) {
    lines.push(`Refused: ${e.refused}`);
    return lines.join('\n') + '\n';
  }
  lines.push(`Virtual host: ${e.virtualHost === null ? '(none)' : e.virtualHost === '' ? '(rules without host)' : e.virtualHost}`);
  if (e.candidates.length > 0) {
    lines.push(e.candidates.some((c) => c.regex !== undefined) ? 'Rules of the host (regex paths), in match order:' : 'Rules of the host (the longest matching path wins):');
    for (const c of e.candidates) lines.push(`  ${c.chosen !== undefined ? '=>' : c.matches ? ' +' : '  '} ${c.pathType} ${c.regex ?? c.path}${c.predicates !== undefined ? ` [${c.predicates}]` : ''}  (${c.ingress})${c.matches ? '' : '  no match'}`);
  }
  lines.push(`Route: ${e.route === null ? '(none)' : `${e.route.ingress} ${e.route.pathType} ${e.route.path} [${e.route.kind}]`}`);
  lines.push(`Why: ${e.why}`);
  if (e.passthrough !== undefined) {
    lines.push(`Passthrough: the TLS connection goes undecrypted to Service ${e.passthrough.service} port ${e.passthrough.port} (ssl-passthrough); the route below is what plain-HTTP requests and TLS without SNI get`);
  }
  lines.push(`Outcome: ${e.outcome}`);
  if (e.filters.length > 0) lines.push(`Filters: ${e.filters.join('; ')}`);
  if (e.backend !== null) {
    lines.push(`Backend: Service ${e.backend.service} port ${e.backend.port}${e.backend.canary ? ' (canary)' : ''}`);
    lines.push(`Endpoints: ${e.endpoints.length === 0 ? '(none ready)' : e.endpoints.map((p) => `${p.address}:${p.port}${p.terminating ? ' (terminating)' : ''}`).join(', ')}`);
  }
  if (e.request.scheme === 'https') lines.push(`Certificate: ${e.tls === null ? 'the default certificate (no spec.tls names this host)' : `Secret ${e.tls.secret} (spec.tls of ${e.tls.ingress}, host ${e.tls.host})`}`);
  if (e.handshake !== undefined) {
    const order = (e.handshake.honorCipherOrder ?? e.handshake.ciphers !== undefined) ? "the server's order" : "the client's order";
    lines.push(`Handshake: ${e.handshake.ciphers === undefined ? "the listener's ciphers" : `ciphers ${e.handshake.ciphers}`}, ${order} (ssl-ciphers, ssl-prefer-server-ciphers of ${e.handshake.ingress})`);
  }
  return lines.join('\n') + '\n';
}
