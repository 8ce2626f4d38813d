// One Ingress → its contribution to the routing config: routes grouped by host, its default
// backend, its policy. Pure and independent of every other Ingress (it reads only the
// Services it names), so the incremental translator (incremental.ts) caches contributions
// per Ingress and only re-merges the hosts they touch.
// Merging (conflicts between Ingresses, fallbacks) happens in builder.ts.

import type { Snapshot } from '../store/store.ts';
import { parsePolicy, unenforcedAccessControls } from './annotations.ts';
import { readAccessOptions } from './access-options.ts';
import { readCorsOptions } from './cors-options.ts';
import { readResponseRewriteOptions } from './response-rewrite-options.ts';
import { readMirrorOptions } from './mirror-options.ts';
import { readLimitRateOptions } from './limit-rate-options.ts';
import { readTracingOptions } from './tracing-options.ts';
import { readRetryOptions } from './retry-options.ts';
import { readErrorBackendOptions, type GlobalErrorBackend } from './error-backend-options.ts';
import { BACKEND_TLS_DENIED, readBackendTlsHandshake, readBackendTlsSecret } from './backend-tls-options.ts';
import { readClientCertOptions } from './client-cert-options.ts';
import { readServerCipherOptions, type ServerCipherOptions } from './tls-cipher-options.ts';
import { readRateLimitOptions } from './rate-limit-options.ts';
import { DENIED_EXTERNAL_AUTH, readExternalAuthOptions } from './external-auth-options.ts';
import { readCustomHeadersOptions } from './custom-headers-options.ts';
import { isCanary, readCanaryOptions, type CanaryOptions } from './canary-options.ts';
import { checkNoEffectValues } from './no-effect-options.ts';
import { readRedirectOptions, wwwRedirect, wwwTwin } from './redirect-options.ts';
import { readRouteOptions, readServerAliases, readServiceUpstream, shapeRule, withFilters } from './route-options.ts';
import { BackendResolver } from './backend.ts';
import { readPassthroughOption } from './passthrough-options.ts';
import { parseRuleHost } from './host.ts';
import { parsePath, parsePathType } from './paths.ts';
import type { ProblemReason, ProblemSink } from './problems.ts';
import { describe, field, isDict, isInvalid } from './read.ts';
import { DEFAULT_POLICY, FORWARD, NO_FILTERS, type Backend, type ClientCertPolicy, type ObjectRef, type Route, type RouteAction, type RouteFilters, type RoutePolicy } from './types.ts';

export interface IngressContribution {
  readonly ref: ObjectRef;
  /** creationTimestamp in ms; +Infinity when missing or unreadable (objects from files). */
  readonly created: number;
  readonly policy: RoutePolicy;
  /** What every route of this Ingress does: FORWARD, or a 503 while an access control is not enforced. */
  readonly action: RouteAction;
  /** Filters of its default backend (and of rules that need no rewrite). */
  readonly filters: RouteFilters;
  /**
   * Every valid host this Ingress has a rule for ('' for rules without host), with the routes
   * of those rules in spec order. A host may map to no routes (a rule with only a host): it
   * still counts for the per-host default backend.
   */
  readonly hosts: ReadonlyMap<string, readonly Route[]>;
  /** spec.defaultBackend, resolved; null when absent or unusable. */
  readonly defaultBackend: Backend | null;
  /** spec.tls: host → `namespace/secretName`, in spec order (the first entry naming a host wins). */
  readonly tls?: ReadonlyMap<string, string>;
  /** ssl-ciphers / ssl-prefer-server-ciphers for the hosts of its rules, spec.tls or not (the oldest Ingress of a host that sets one decides, builder.ts applyHandshake). */
  readonly serverCiphers?: ServerCipherOptions;
  /** Set for a canary Ingress: its rules join the primary rules with the same host and path. */
  readonly canary?: CanaryOptions;
  /**
   * auth-tls-*: client certificates for its hosts ('denied': set but unusable). The host's
   * oldest Ingress that sets it decides for every rule of the host (builder.ts).
   */
  readonly clientCert?: ClientCertPolicy | 'denied';
  /**
   * server-alias: the host whose rules its alias hosts copy. Canary Ingresses of that host
   * apply on the aliases too (builder.ts), as an alias is a server_name of the same server.
   */
  readonly aliasSource?: string;
  /**
   * ssl-passthrough "true": its hosts are passthrough hosts (builder.ts applyPassthrough);
   * 'disabled' without --enable-ssl-passthrough (terminated, proxied to the backend over HTTPS).
   */
  readonly sslPassthrough?: 'enabled' | 'disabled';
}

/** What the processor needs to know about the proxy's flags. */
export interface ProcessOptions {
  /** --enable-ssl-passthrough: without it, ssl-passthrough is a problem (the hosts are terminated). */
  sslPassthrough?: boolean;
  /** --default-backend-service (+ --custom-http-errors): the error backend of Ingresses without default-backend. */
  globalErrors?: GlobalErrorBackend;
}

/** What the Ingress processor is told of the flags (translate options hold more). */
export function processOptions(options: { sslPassthrough?: boolean; globalErrors?: GlobalErrorBackend }): ProcessOptions {
  return { sslPassthrough: options.sslPassthrough === true, ...(options.globalErrors !== undefined ? { globalErrors: options.globalErrors } : {}) };
}

export function ingressRef(ingress: unknown): ObjectRef {
  const meta = field(ingress, 'metadata');
  const namespace = field(meta, 'namespace');
  const name = field(meta, 'name');
  return Object.freeze({
    kind: 'Ingress',
    namespace: typeof namespace === 'string' ? namespace : '',
    name: typeof name === 'string' ? name : '',
  });
}

function creationTime(ingress: unknown): number {
  const ts = field(field(ingress, 'metadata'), 'creationTimestamp');
  const ms = typeof ts === 'string' ? Date.parse(ts) : NaN;
  return Number.isNaN(ms) ? Number.POSITIVE_INFINITY : ms;
}

/** Oldest first; ties (and unknown ages) broken by namespace, then name. */
export function compareAge(a: Pick<IngressContribution, 'created' | 'ref'>, b: Pick<IngressContribution, 'created' | 'ref'>): number {
  if (a.created !== b.created) return a.created < b.created ? -1 : 1;
  if (a.ref.namespace !== b.ref.namespace) return a.ref.namespace < b.ref.namespace ? -1 : 1;
  if (a.ref.name !== b.ref.name) return a.ref.name < b.ref.name ? -1 : 1;
  return 0;
}

/** By namespace, then name. */
export function compareRefs(a: ObjectRef, b: ObjectRef): number {
  if (a.namespace !== b.namespace) return a.namespace < b.namespace ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * processIngress, but an unexpected exception while reading the Ingress is reported against it
 * (it then routes nothing) instead of thrown. Defensive readers should make that unreachable;
 * if not, one object still must not take the others down.
 */
export function processIngressSafely(ingress: unknown, snapshot: Snapshot, sink: ProblemSink, opts: ProcessOptions = {}): IngressContribution {
  try {
    return processIngress(ingress, snapshot, sink, opts);
  } catch (err) {
    const ref = ingressRef(ingress);
    sink.add(ref, 'InvalidIngress', `the Ingress could not be read (${err instanceof Error ? err.message : String(err)}); it routes nothing`);
    return { ref, created: Number.POSITIVE_INFINITY, policy: DEFAULT_POLICY, action: FORWARD, filters: NO_FILTERS, hosts: new Map(), defaultBackend: null };
  }
}

function hostWords(host: string): string {
  return host === '' ? 'the rule without host' : `host "${host}"`;
}

export function processIngress(ingress: unknown, snapshot: Snapshot, sink: ProblemSink, opts: ProcessOptions = {}): IngressContribution {
  const ref = ingressRef(ingress);
  const report = (reason: ProblemReason, message: string): void => sink.add(ref, reason, message);
  const created = creationTime(ingress);
  const annotations = field(field(ingress, 'metadata'), 'annotations');
  const policy = parsePolicy(annotations, report);
  const access = readAccessOptions(annotations, snapshot, ref.namespace, report);
  const externalAuth = readExternalAuthOptions(annotations, report, snapshot, ref.namespace);
  const customHeaders = readCustomHeadersOptions(annotations, snapshot, ref.namespace, report);
  const unenforced = accessAction(unenforcedAccessControls(annotations, report), report, access.denied ?? externalAuth.denied ?? customHeaders.denied);
  const redirects = readRedirectOptions(annotations, report);
  checkNoEffectValues(annotations, report);
  const backendTls = readBackendTlsSecret(annotations, snapshot, ref.namespace, report);
  if (backendTls !== undefined && policy.backendProtocol !== 'HTTPS' && policy.backendProtocol !== 'GRPCS') {
    report('InvalidAnnotation', `proxy-ssl-secret has no effect with backend-protocol ${policy.backendProtocol}: it applies to HTTPS and GRPCS backends`);
  }
  let backendTlsHandshake = readBackendTlsHandshake(annotations, report);
  if (backendTlsHandshake !== undefined && policy.backendProtocol !== 'HTTPS' && policy.backendProtocol !== 'GRPCS') {
    backendTlsHandshake = undefined;
    report('InvalidAnnotation', `proxy-ssl-ciphers and proxy-ssl-protocols have no effect with backend-protocol ${policy.backendProtocol}: they apply to HTTPS and GRPCS backends`);
  }
  // a 503 (an access control not enforced, or a broken one, or an unusable proxy-ssl-secret)
  // wins over a redirect: never opens anything
  const denied = unenforced === FORWARD && backendTls === 'denied' ? BACKEND_TLS_DENIED : unenforced;
  const action = denied === FORWARD && redirects.redirect !== null ? redirects.redirect : denied;
  const backends = new BackendResolver(snapshot, ref.namespace, readServiceUpstream(annotations, report));
  const cors = readCorsOptions(annotations, report);
  const retry = readRetryOptions(annotations, report);
  const responseRewrite = isDict(annotations) ? readResponseRewriteOptions(annotations, report) : undefined;
  const mirror = isDict(annotations) ? readMirrorOptions(annotations, report) : undefined;
  const limitRate = isDict(annotations) ? readLimitRateOptions(annotations, report) : undefined;
  const tracing = isDict(annotations) ? readTracingOptions(annotations, report) : undefined;
  const errors = readErrorBackendOptions(annotations, snapshot, ref.namespace, backends, report, opts.globalErrors);
  const read = withFilters(withFilters(readRouteOptions(annotations, report), readRateLimitOptions(annotations, ref, report)), {
    ...access.filters,
    ...externalAuth.filters,
    ...(cors === undefined ? {} : { cors }),
    ...(retry === undefined ? {} : { retry }),
    ...(responseRewrite === undefined ? {} : { responseRewrite }),
    ...(mirror === undefined ? {} : { mirror }),
    ...(limitRate === undefined ? {} : { limitRate }),
    ...(tracing === undefined ? {} : { tracing }),
    ...(errors === undefined ? {} : { errors }),
    ...(backendTls === undefined || backendTls === 'denied' ? {} : { backendTls }),
    ...(backendTlsHandshake === undefined ? {} : { backendTlsHandshake }),
    ...(customHeaders.customHeaders === undefined ? {} : { customHeaders: customHeaders.customHeaders }),
  });
  const options = redirects.appRoot === '' ? read : { ...read, shared: Object.freeze({ ...read.shared, appRoot: redirects.appRoot }) };
  const hosts = new Map<string, Route[]>();

  const spec = field(ingress, 'spec');
  if (!isDict(spec)) {
    report('InvalidIngress', `spec is ${describe(spec)}; the Ingress needs a spec with rules or a defaultBackend, so it routes nothing`);
    return { ref, created, policy, action, filters: options.shared, hosts, defaultBackend: null };
  }
  // A canary Ingress's rules join their primaries' rules (builder.ts); it has no default
  // backend or TLS of its own, as in ingress-nginx, where a canary shares its primary's server.
  const canary = isCanary(annotations, report) ? readCanaryOptions(annotations as Record<string, unknown>, report) : undefined;

  let defaultBackend: Backend | null = null;
  if (canary === undefined && spec.defaultBackend !== undefined && spec.defaultBackend !== null) {
    const r = backends.resolve(spec.defaultBackend, '', null);
    if (r.ok) {
      defaultBackend = r.backend;
      if (r.warning) report(r.warning.reason, r.warning.message);
    } else {
      report(r.reason, `${r.message}; the default backend is ignored`);
    }
  }

  const rules = spec.rules;
  if (rules !== undefined && rules !== null && !Array.isArray(rules)) {
    report('InvalidIngress', `spec.rules is ${describe(rules)}, not a list of rules; no rule of this Ingress is used`);
  } else if (Array.isArray(rules)) {
    for (let i = 0; i < rules.length; i++) processRule(rules[i], i);
  }
  if (canary !== undefined) {
    // server-level settings are the primary Ingresses' (ingress-nginx skips canaries for them)
    if (readServerCipherOptions(annotations, report) !== undefined) report('InvalidAnnotation', 'ssl-ciphers and ssl-prefer-server-ciphers of a canary Ingress are ignored: the Ingresses without the canary annotation set them for their hosts');
    return { ref, created, policy, action, filters: options.shared, hosts, defaultBackend: null, canary };
  }
  if (redirects.fromToWww) addWwwTwins(hosts, ref);
  const aliases = readServerAliases(annotations, report);
  const aliasSource = aliases === null ? undefined : addServerAliases(aliases, hosts, report);
  const tls = processTls(spec.tls, ref, hosts, report);
  const clientCert = readClientCertOptions(annotations, snapshot, ref.namespace, report);
  const out: IngressContribution = tls === undefined
    ? { ref, created, policy, action, filters: options.shared, hosts, defaultBackend }
    : { ref, created, policy, action, filters: options.shared, hosts, defaultBackend, tls };
  const withAliases = aliasSource === undefined ? out : { ...out, aliasSource };
  const withCiphers = withServerCiphers(withAliases, readServerCipherOptions(annotations, report), report);
  const withCert = clientCert === undefined ? withCiphers : { ...withCiphers, clientCert };
  if (!isDict(annotations) || !readPassthroughOption(annotations, report)) return withCert;
  if (opts.sslPassthrough === true) return { ...withCert, sslPassthrough: 'enabled' };
  report(
    'UnsupportedAnnotation',
    'ssl-passthrough needs the flag --enable-ssl-passthrough (off by default, as in ingress-nginx); until it is set Portico terminates TLS for the hosts of this Ingress and proxies their requests to the backend over HTTPS',
  );
  return { ...withCert, sslPassthrough: 'disabled' };

  // Positions such as `spec.rules[0].http.paths[2]` are spelled out only for a problem.
  function processRule(rule: unknown, i: number): void {
    const at = (): string => `spec.rules[${i}]`;
    if (!isDict(rule)) {
      report('InvalidRule', `${at()} is ${describe(rule)}, not a rule with host and http.paths; it is skipped`);
      return;
    }
    const host = parseRuleHost(rule.host);
    if (isInvalid(host)) {
      report('InvalidHost', `${at()}: ${host.invalid}; the rule is skipped`);
      return;
    }
    let routes = hosts.get(host);
    if (routes === undefined) {
      routes = [];
      hosts.set(host, routes);
    }
    const http = rule.http;
    if (http === undefined || http === null) return; // a host-only rule: served by the default backend
    const paths = field(http, 'paths');
    if (!Array.isArray(paths) || paths.length === 0) {
      report('InvalidRule', `${at()} (${hostWords(host)}) has http but ${Array.isArray(paths) ? 'an empty' : 'no'} list of paths; add http.paths or remove http`);
      return;
    }
    for (let j = 0; j < paths.length; j++) {
      const route = processPath(paths[j], host, i, j);
      if (route !== null) routes.push(route);
    }
  }

  function processPath(p: unknown, host: string, i: number, j: number): Route | null {
    const at = (): string => `spec.rules[${i}].http.paths[${j}] (${hostWords(host)})`;
    if (!isDict(p)) {
      report('InvalidRule', `${at()} is ${describe(p)}, not a path with a backend; it is skipped`);
      return null;
    }
    const pathType = parsePathType(p.pathType);
    if (isInvalid(pathType)) {
      report('InvalidPathType', `${at()}: ${pathType.invalid}; the path is skipped`);
      return null;
    }
    const path = parsePath(p.path, pathType);
    if (isInvalid(path)) {
      report('InvalidPath', `${at()}: ${path.invalid}; the path is skipped`);
      return null;
    }
    const shape = shapeRule(options, path, action, at(), report);
    if (shape === null) return null;
    let ruleAction = shape.action;
    if (shape.filters.externalAuth?.originUsesHost === true && (host === '' || host.startsWith('*.')) && ruleAction === FORWARD) {
      // $host in the auth service's host part: with a wildcard or no host, the client would choose where the auth request goes
      report('InvalidAnnotation', `${at()}: auth-url names $host in its host part, which only rules with an exact host may do (the client would choose the auth service); the path answers 503`);
      ruleAction = DENIED_EXTERNAL_AUTH;
    }
    const b = backends.resolve(p.backend, host, path);
    if (!b.ok) {
      report(b.reason, `${b.message}; the path is skipped`);
      return null;
    }
    if (b.warning) report(b.warning.reason, b.warning.message);
    return { host, path, pathType, backend: b.backend, policy, action: ruleAction, filters: shape.filters, regex: shape.regex, ingress: ref };
  }
}

/**
 * spec.tls → host → Secret. An entry without hosts covers every host of this Ingress's rules
 * (what ingress-nginx users expect from a one-line `tls: [{secretName: x}]`). Hosts follow
 * the rule-host syntax; the Secret is always in the Ingress's namespace.
 */
function processTls(
  raw: unknown,
  ref: ObjectRef,
  ruleHosts: ReadonlyMap<string, readonly Route[]>,
  report: (reason: ProblemReason, message: string) => void,
): Map<string, string> | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw)) {
    report('InvalidTLS', `spec.tls is ${describe(raw)}, not a list; TLS is not configured for this Ingress`);
    return undefined;
  }
  const out = new Map<string, string>();
  for (let i = 0; i < raw.length; i++) {
    const entry: unknown = raw[i];
    const at = `spec.tls[${i}]`;
    const secretName = field(entry, 'secretName');
    if (typeof secretName !== 'string' || secretName === '') {
      report('InvalidTLS', `${at} has no secretName; its hosts are served with the default certificate`);
      continue;
    }
    const rawHosts = field(entry, 'hosts');
    let hosts: unknown[];
    if (rawHosts === undefined || rawHosts === null) hosts = [...ruleHosts.keys()].filter((h) => h !== '');
    else if (Array.isArray(rawHosts)) hosts = rawHosts;
    else {
      report('InvalidTLS', `${at}.hosts is ${describe(rawHosts)}, not a list of host names; the entry is skipped`);
      continue;
    }
    for (const h of hosts) {
      const host = parseRuleHost(h);
      if (isInvalid(host) || host === '') {
        report('InvalidTLS', `${at}.hosts: ${isInvalid(host) ? host.invalid : 'an empty host'}; that host gets no TLS`);
        continue;
      }
      if (!out.has(host)) out.set(host, `${ref.namespace}/${secretName}`);
    }
  }
  return out;
}

/**
 * ssl-ciphers / ssl-prefer-server-ciphers go with every host of the Ingress's rules, as
 * ingress-nginx's server-level ssl_ciphers: spec.tls or not (a host without one is served on
 * 443 with the default certificate). The builder picks the oldest Ingress per host
 * (builder.ts applyHandshake). Rules without host have no SNI name to match, so an Ingress
 * with only those is told its settings reach no handshake.
 */
function withServerCiphers(c: IngressContribution, options: ServerCipherOptions | undefined, report: (reason: ProblemReason, message: string) => void): IngressContribution {
  if (options === undefined) return c;
  if (![...c.hosts.keys()].some((h) => h !== '')) {
    report('InvalidAnnotation', 'ssl-ciphers and ssl-prefer-server-ciphers apply to the hosts of the rules (handshakes are matched by their SNI name), and this Ingress has no rule with a host; they have no effect');
    return c;
  }
  return { ...c, serverCiphers: options };
}

/**
 * FORWARD, or — when the Ingress asks for access controls Portico does not enforce — a 503
 * for every rule: serving it would open what its owner closed.
 */
function accessAction(unenforced: readonly string[], report: (reason: ProblemReason, message: string) => void, denied: RouteAction | null): RouteAction {
  if (unenforced.length === 0) return denied ?? FORWARD;
  report(
    'AccessControlNotEnforced',
    `every rule of this Ingress answers 503 because Portico cannot enforce ${unenforced.map((k) => `"${k}"`).join(', ')}; remove ${unenforced.length === 1 ? 'that annotation' : 'those annotations'} or move the Ingress to a controller that enforces ${unenforced.length === 1 ? 'it' : 'them'}`,
  );
  return Object.freeze({
    kind: 'direct',
    status: 503,
    body: 'service unavailable: this route has access controls Portico does not enforce',
  });
}

/**
 * ingress-nginx from-to-www-redirect: each rule host's www / non-www twin redirects (308) to
 * it. The builder drops a twin's redirect where another rule defines that host.
 */
function addWwwTwins(hosts: Map<string, Route[]>, ref: ObjectRef): void {
  for (const [host, routes] of [...hosts]) {
    const twin = wwwTwin(host);
    const model = routes[0];
    if (twin === null || model === undefined || hosts.has(twin)) continue;
    hosts.set(twin, [
      { host: twin, path: '/', pathType: 'Prefix', backend: model.backend, policy: model.policy, action: wwwRedirect(host), filters: NO_FILTERS, regex: null, ingress: ref },
    ]);
  }
}

/**
 * ingress-nginx server-alias: each alias serves copies of the rules of the Ingress's host (the
 * first one with rules, when it has several); the builder replaces them with copies of every
 * rule of that host, other Ingresses' included, as an alias is a server_name of the host's
 * server. An alias another Ingress defines as a rule host yields to it (builder.ts), as
 * ingress-nginx skips such an alias.
 */
function addServerAliases(aliases: { key: string; names: string[] }, hosts: Map<string, Route[]>, report: (reason: ProblemReason, message: string) => void): string | undefined {
  const withRules = [...hosts].filter(([h, routes]) => h !== '' && routes.length > 0);
  const source = withRules[0];
  if (source === undefined) {
    report('InvalidAnnotation', `Annotation "${aliases.key}" needs a rule with a host and paths to copy; no alias is served`);
    return undefined;
  }
  if (withRules.length > 1) report('InvalidAnnotation', `Annotation "${aliases.key}": the Ingress has rules for several hosts; the aliases serve those of "${source[0]}"`);
  for (const name of aliases.names) {
    const host = parseRuleHost(name);
    if (isInvalid(host) || host === '') {
      report('InvalidAnnotation', `Annotation "${aliases.key}": ${isInvalid(host) ? host.invalid : 'an empty host'}; that alias is not served`);
      continue;
    }
    if (hosts.has(host)) continue; // already a rule host of this Ingress
    hosts.set(host, source[1].map((r) => ({ ...r, host, alias: true as const })));
  }
  return source[0];
}
