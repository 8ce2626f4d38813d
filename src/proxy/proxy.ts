// The request path: route → the decision ladder (ladder.ts) → balance → undici Pool.dispatch
// with a hand-written handler (exchange.ts) that streams the response to the client with
// back-pressure. No awaits, no per-request promises
// or Readables; every failure is answered (404/400/501/502/503/504) or, once the response has
// started, ends in destroying the client connection.
//
// Decisions (where the design left room):
// - Retry: once, only for GET/HEAD/OPTIONS/TRACE/PUT/DELETE without a body, only when no
//   response byte arrived and the error is connect refused/unreachable, connect timeout or a
//   reset/close of the upstream connection; on another endpoint when there is one (the same
//   one otherwise: a fresh connection fixes a keep-alive race). Round-robin retries do not
//   advance the shared rotation.
// - Status: header timeout and connect timeout → 504 ("upstream timeout"); refused/reset and
//   anything else before the response → 502. After the response started: client connection
//   destroyed. 1xx informational responses (103) are not relayed.
// - Transfer-Encoding other than plain `chunked` (e.g. `gzip, chunked`) → 501: undici re-frames
//   the body and the coding would reach the upstream undeclared. HTTP/1.0 + TE, CL + TE,
//   two Host headers, targets that are neither origin- nor absolute-form (`OPTIONS *`) → 400.
//   Absolute-form targets are routed by their authority, which replaces Host (RFC 9112 §3.2.2).
// - Local answers (4xx/5xx) carry X-Request-Id; 400s and answers to requests whose body was
//   not read close the connection instead of draining the body.
// - Client idle timeout (idleTimeoutMs): a periodic pass over exchanges in flight (progress =
//   request bytes read + response bytes passed on), not a timer per socket; waiting for the
//   upstream's response head is exempt (responseHeaderTimeoutMs answers 504 then).
// - RoutePolicy.sslRedirect (--ssl-redirect when the Ingress does not say): a plain-HTTP
//   request whose host has a TLS binding in the config
//   gets 308 to https://<host without port><same target> (not for /.well-known/acme-challenge/,
//   and before the endpoint check, like ingress-nginx). Upgrades too. forceSslRedirect does it
//   for any host. "Plain HTTP" is InboundHead.accessScheme: X-Forwarded-Proto from a trusted
//   proxy counts, so a load balancer terminating TLS in front causes no redirect loop.
// - Pools: one per endpoint key and upstream mode, created on first use, retired by a sweep
//   (every 10 s) once no current EndpointSet of a balancer in use holds the endpoint: close()
//   then destroy() after 30 s. Balancer state unused for 6 sweeps is dropped (its pools with it).
// - RoutePolicy.backendProtocol (upstreams.ts UpstreamMode): HTTP is HTTP/1.1 cleartext, the
//   default and the path tuned for speed; HTTPS is HTTP/1.1 over TLS with the route's SNI
//   (not the client's Host) and verification only when asked; GRPC/H2C is HTTP/2 cleartext
//   with prior knowledge; GRPCS HTTP/2 over TLS. For HTTP/2 upstreams `te: trailers` is sent
//   when the client sent it (TE is hop-by-hop otherwise). Response trailers are relayed to
//   HTTP/2 clients only (HTTP/1.1 clients never get trailers: gRPC needs HTTP/2 anyway). An
//   HTTP/2 upstream response carrying grpc-status in its head (gRPC "Trailers-Only") is held
//   and, when no body follows, sent to an HTTP/2 client as one HEADERS frame with END_STREAM.
//   HTTP/2 client requests have a body whenever their HEADERS frame did not end the stream
//   (gRPC sends no Content-Length).
//
// Where things live: this file routes (resolve), runs the ladder and the body-limit and
// endpoint steps, answers locally (local-answers.ts), reports, sweeps pools and closes;
// exchange.ts is the undici handler (dispatch, streaming, retries, error backends);
// live-exchanges.ts the client-side timeouts; upgrade.ts WebSocket upgrades, which climb the
// same ladder and write the same answers on their raw socket.

import type { IncomingMessage, ServerResponse } from 'node:http';
// the global `performance` is a lazy accessor on globalThis: each read costs a global IC miss
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { EndpointLookup } from '../endpoints/types.ts';
import { DEFAULT_POLICY, NO_FILTERS } from '../model/types.ts';
import type { Route, RoutingConfig } from '../model/types.ts';
import { declaredTooLarge } from './filters/body-limit.ts';
import { planOf, type PlanContext, type RequestPlan } from './plan.ts';
import { DEFAULT_LIMIT_STATUS, RateLimits, type RateArbiter } from './filters/rate-limit.ts';
import { ExternalAuthClient } from './auth-client.ts';
import { BasicAuthVerifier } from './filters/basic-auth.ts';
import { globalSourceRange, sourceAllowed } from './filters/source-range.ts';
import { routeToCanary } from './filters/canary.ts';
import { buildLocation } from './filters/redirect.ts';
import { MirrorClient } from './mirror-client.ts';
import { affinityCookie, newSessionKey, sessionCookie, sessionKey, sessionValue, stickySide, stickyUpstream } from './filters/affinity.ts';
import { hashKey } from './filters/hash-key.ts';
import type { Logger } from '../observe/log.ts';
import { Balancers } from './balancer.ts';
import type { BalancerState } from './balancer.ts';
import { parseCidrs } from '../values/cidr.ts';
import type { CidrMatcher } from '../values/cidr.ts';
import { requestBytes } from './headers.ts';
import { setErrorHeaders } from './filters/error-backend.ts';
import { beginTrace, traceRoute, type RequestTracer, type TraceContext } from './trace-context.ts';
import { scanInbound } from './inbound.ts';
import type { InboundHead } from './inbound.ts';
import type { MatchRequest } from '../model/predicates.ts';
import { DEFAULT_PROXY_SETTINGS } from './settings.ts';
import type { ProxySettings } from './settings.ts';
import { TlsHosts } from './tls-hosts.ts';
import { Upgrader } from './upgrade.ts';
import { PLAIN_HTTP, UpstreamModes, UpstreamRegistry } from './upstreams.ts';
import type { Upstream } from './upstreams.ts';
import { kExchange } from './exchange-mark.ts';
import type { MarkedRequest, MarkedResponse } from './exchange-mark.ts';
import { Exchange, PHASE_DONE, cutResponse, onResponseClose, type ExchangeOwner } from './exchange.ts';
import { LiveExchanges } from './live-exchanges.ts';
import { decide, settle, type LadderContext, type Resolved } from './ladder.ts';
import { answerHeaders, rejectBody, writeAnswer, LOCAL_RESPONSES, type LocalBody } from './local-answers.ts';
import { emptyRequestInfo, type RequestInfo } from './request-info.ts';

export { DEFAULT_PROXY_SETTINGS };
export type { ProxySettings };
export { createHttpListener, attachProxy, DEFAULT_MAX_HEADER_SIZE } from './listener.ts';
export type { ListenerOptions } from './listener.ts';
export { shouldUpgrade } from './upgrade.ts';
export type { ErrorKind, RequestInfo } from './request-info.ts';
export type { Resolved } from './ladder.ts';
export type { LocalBody } from './local-answers.ts';

const { R500, R503, R503_CLOSING, R413 } = LOCAL_RESPONSES;
const ACME_CHALLENGE_PREFIX = '/.well-known/acme-challenge/';

export interface ProxyDeps {
  config: () => RoutingConfig;
  endpoints: EndpointLookup;
  settings: ProxySettings;
  log: Logger;
  /**
   * Called once per finished request or upgrade, synchronously. Plain requests all share one
   * RequestInfo object that is refilled for the next request (no allocation per request):
   * read it during the call and copy what you keep.
   */
  onRequestDone?: (info: RequestInfo) => void;
  /** Tracing (--otlp-endpoint): spans per request and `traceparent` upstream (trace-context.ts). */
  tracer?: RequestTracer;
  /**
   * With workers: the primary's request tables for limit-rps / limit-rpm, so those limits hold
   * per pod (filters/rate-limit.ts); without it each worker enforces its share.
   */
  rateArbiter?: RateArbiter;
  /** Tuning for tests; defaults are fine in production. */
  internals?: Partial<ProxyInternals>;
}

export interface ProxyInternals {
  /** How often pools and balancer state are swept. */
  sweepIntervalMs: number;
  /** Sweeps without use after which a balancer state is dropped. */
  idleSweeps: number;
  /** Deadline for a retired pool's in-flight requests before it is destroyed. */
  drainDeadlineMs: number;
}

const DEFAULT_INTERNALS: ProxyInternals = { sweepIntervalMs: 10_000, idleSweeps: 6, drainDeadlineMs: 30_000 };

export class Proxy implements ExchangeOwner, LadderContext {
  readonly log: Logger;
  readonly settings: ProxySettings;
  /** settings.hsts, read per HTTPS response. */
  readonly hsts: string | null;
  /** ProxySettings.responseRequestId. */
  readonly responseRequestId: boolean;
  /** ProxySettings.bodyLimit: for routes without a limit of their own. */
  readonly bodyLimit: number;
  /** ProxySettings.httpRedirectCode. */
  readonly httpRedirectCode: number;
  /** ProxySettings.clientBodyBufferSize. */
  readonly bodyBufferSize: number;
  /** ProxySettings.sslRedirect / forceSslRedirect: for routes whose Ingress does not say. */
  private readonly sslRedirect: boolean;
  private readonly forceSslRedirect: boolean;
  closing = false;
  /**
   * A worker handing over to its replacement (data-plane.ts retire): requests are served as
   * ever, but HTTP/1.1 connections close after their answer, so their clients reconnect there.
   */
  retiring = false;
  private readonly getConfig: () => RoutingConfig;
  private readonly endpoints: EndpointLookup;
  private readonly onRequestDone: ((info: RequestInfo) => void) | null;
  private readonly tracer: RequestTracer | null;
  private readonly trusted: CidrMatcher;
  private readonly registry: UpstreamRegistry;
  private readonly modes = new UpstreamModes();
  private readonly balancers: Balancers;
  private readonly internals: ProxyInternals;
  private readonly upgrader: Upgrader;
  /** Global filters and the basic-auth verifier the route plans share. */
  private readonly planContext: PlanContext;
  /** Whether onRequestDone or a tracer is set (timing is measured only then). */
  readonly reporting: boolean;
  /** The RequestInfo handed to onRequestDone for plain requests, refilled each time. */
  private readonly info: RequestInfo = emptyRequestInfo();
  /** Exchanges between dispatch and the response's 'close' (client-side timeouts). */
  private readonly live: LiveExchanges;
  private sweepTimer: NodeJS.Timeout | null = null;
  /** mirror-target copies; created on the first. */
  mirrors: MirrorClient | null = null;
  private tlsHosts: TlsHosts | null = null;
  private tlsHostsOf: RoutingConfig | null = null;
  private sweepGen = 0;
  private active = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(deps: ProxyDeps) {
    this.getConfig = deps.config;
    this.endpoints = deps.endpoints;
    this.settings = { ...DEFAULT_PROXY_SETTINGS, ...deps.settings };
    this.log = deps.log;
    this.hsts = deps.settings.hsts ?? null;
    this.responseRequestId = this.settings.responseRequestId === true;
    this.bodyLimit = this.settings.bodyLimit ?? 0;
    this.httpRedirectCode = this.settings.httpRedirectCode ?? 308;
    this.bodyBufferSize = this.settings.clientBodyBufferSize ?? 0;
    this.sslRedirect = this.settings.sslRedirect ?? true;
    this.forceSslRedirect = this.settings.forceSslRedirect ?? false;
    this.onRequestDone = deps.onRequestDone ?? null;
    this.tracer = deps.tracer ?? null;
    this.trusted = parseCidrs(this.settings.trustedProxies);
    const sourceRange = globalSourceRange(this.settings.allowSourceRange ?? [], this.settings.denySourceRange ?? []);
    const globalAuth = this.settings.globalAuth ?? null;
    this.planContext = Object.freeze({
      sourceRange,
      verifier: new BasicAuthVerifier(),
      global: sourceRange.allow !== null || sourceRange.deny !== null || globalAuth !== null,
      rateLimits: new RateLimits({
        requestStatus: this.settings.limitReqStatusCode ?? DEFAULT_LIMIT_STATUS,
        connectionStatus: this.settings.limitConnStatusCode ?? DEFAULT_LIMIT_STATUS,
        shares: this.settings.rateLimitShares ?? 1,
        ...(deps.rateArbiter !== undefined ? { arbiter: deps.rateArbiter } : {}),
      }),
      // no pool or timer until a route with external auth sends its first subrequest
      externalAuth: new ExternalAuthClient({
        onFailure: (origin, reason) => this.log.warn('external auth service failed; its routes answer 500', { origin, reason }),
      }),
      globalAuth,
    });
    this.internals = { ...DEFAULT_INTERNALS, ...deps.internals };
    this.registry = new UpstreamRegistry(this.settings);
    this.balancers = new Balancers(this.registry);
    this.reporting = this.onRequestDone !== null || this.tracer !== null;
    this.upgrader = new Upgrader({
      settings: this.settings,
      log: this.log,
      trusted: this.trusted,
      resolve: (head) => this.resolve(head),
      ladder: this,
      mode: (route) => this.modes.of(route),
      tracer: this.tracer,
      onDone: (info) => this.report(info),
    });
    this.sweepTimer = setInterval(() => this.sweep(), this.internals.sweepIntervalMs);
    this.sweepTimer.unref();
    this.live = new LiveExchanges(this.settings);
  }

  unlinkLive(ex: Exchange): void {
    this.live.unlink(ex);
  }

  /** Serve one request. Never throws. */
  handle(req: IncomingMessage, res: ServerResponse, scheme: 'http' | 'https'): void {
    if (this.retiring && req.httpVersionMajor === 1) res.shouldKeepAlive = false;
    const ex = new Exchange(this, req, res, scheme);
    this.active++;
    (res as MarkedResponse)[kExchange] = ex;
    (req as MarkedRequest)[kExchange] = ex;
    res.on('close', onResponseClose);
    try {
      this.start(ex);
    } catch (err) {
      this.internalError(ex, err);
    }
  }

  private start(ex: Exchange): void {
    scanInbound(ex, ex.req, ex.scheme, this.trusted, this.settings.allowTrace === true);
    // An Upgrade we do not honour (not a WebSocket GET): Node's parser stops at such a request,
    // so anything pipelined behind it would never be answered. Close after this answer.
    if (ex.upgrade !== '' && ex.req.httpVersionMajor === 1) ex.res.shouldKeepAlive = false;
    if (ex.reject !== 0) {
      if (this.tracer !== null) ex.trace = beginTrace(ex.headers, this.tracer);
      ex.error = 'bad_request';
      this.respond(ex, rejectBody(ex.reject));
      return;
    }
    if (this.closing) {
      if (this.tracer !== null) ex.trace = beginTrace(ex.headers, this.tracer);
      ex.error = 'shutting_down';
      this.respond(ex, R503_CLOSING);
      return;
    }
    const r = this.resolve(ex);
    // traced once routed: the route's Ingress may turn tracing off or start its own trace
    if (this.tracer !== null) ex.trace = traceRoute(ex.headers, this.tracer, r.route);
    if (r.backend !== undefined) ex.backendKey = r.backend;
    if (r.setCookie !== undefined) ex.setCookie = r.setCookie;
    const d = decide(ex, r, this);
    if (d === null) this.forward(ex, r);
    else if (d instanceof Promise) this.awaitPlan(ex, r, d);
    else this.respond(ex, d, false, ex.answerHeaders);
  }

  /** The route's plan; null when it has none (no filters and no global ones). */
  planFor(route: Route): RequestPlan | null {
    const ctx = this.planContext;
    return route.filters !== NO_FILTERS || ctx.global ? planOf(route, ctx) : null;
  }

  /** A plan stage is waiting (authentication): forwards or answers once it decided. */
  private awaitPlan(ex: Exchange, r: Resolved, wait: Promise<number>): void {
    wait.then(
      (status) => {
        if (ex.clientGone || ex.res.destroyed) return; // closed while waiting: already accounted
        const answer = settle(ex, status);
        if (answer === null) this.forward(ex, r);
        else this.respond(ex, answer, false, ex.answerHeaders);
      },
      (err: unknown) => {
        this.log.error('proxy internal error', { err: err as Error, requestId: ex.requestId });
        ex.error = 'internal';
        if (!ex.res.headersSent && !ex.res.destroyed) this.respond(ex, R500);
      },
    ).catch((err: unknown) => this.internalError(ex, err));
  }

  /** A bug of ours while serving `ex`: 500 if nothing was sent yet, else the connection is cut. */
  private internalError(ex: Exchange, err: unknown): void {
    this.log.error('proxy internal error', { err: err as Error, requestId: ex.requestId });
    ex.error = 'internal';
    ex.phase = PHASE_DONE;
    if (!ex.res.headersSent) this.respond(ex, R500);
    else cutResponse(ex.res);
  }

  /** After the ladder let the request through: body limit, endpoint, dispatch. */
  private forward(ex: Exchange, r: Resolved): void {
    const plan = ex.plan;
    const limit = plan !== null && plan.bodyLimit >= 0 ? plan.bodyLimit : this.bodyLimit;
    if (ex.hasBody && limit > 0) {
      if (declaredTooLarge(ex.bodyLength, limit)) {
        ex.error = 'body_too_large';
        this.respond(ex, R413);
        return;
      }
      // Bodies without a declared length (HTTP/1.1 chunked, HTTP/2 streams) are counted as they
      // stream and cut at the limit: 413 before a response (an HTTP/2 stream then gets
      // RST_STREAM(NO_ERROR), so its client stops sending), else the stream or connection is
      // reset. To an HTTP/2 backend (GRPC, GRPCS, H2C) the upstream HTTP/2 stream is destroyed
      // before undici's abort, which alone can leave Node's HTTP/2 code spinning and sends the
      // backend no reset (h2-upstream-body.ts, bench/h2-abort-spin.ts).
      ex.bodyLimit = limit;
    }
    if (r.state === null || r.upstream === null || r.route === null) {
      ex.error = 'no_endpoints';
      this.respond(ex, R503);
      return;
    }
    ex.state = r.state;
    if (r.fallback === true) {
      // the Service has no endpoint: its default-backend gets the request as ingress-nginx
      // sends it there (X-Code: 503 ...), over plain HTTP, and never intercepts again
      setErrorHeaders(ex, ex.req.url ?? ex.url, r.route, 503, false);
      ex.intercepted = true;
    } else if (r.route.filters !== NO_FILTERS) {
      const f = r.route.filters;
      if (f.retry !== undefined) ex.retry = f.retry;
      if (f.errors !== undefined && f.errors.codes.length > 0) ex.errors = f.errors;
      if (f.responseRewrite !== undefined) ex.rewrite = f.responseRewrite;
      if (f.mirror !== undefined) ex.mirror = f.mirror;
      if (f.limitRate !== undefined) ex.limitRate = f.limitRate;
    }
    const mode = r.fallback === true ? PLAIN_HTTP : this.modes.of(r.route);
    if (mode !== PLAIN_HTTP) {
      ex.mode = mode;
      // gRPC needs `te: trailers` (RFC 9113 §8.2.2 allows exactly that value in HTTP/2)
      if (mode.h2 && ex.te) ex.headers.push('te', 'trailers');
    }
    this.live.link(ex);
    ex.begin(r.upstream);
  }

  /**
   * Route and pick an endpoint for a scanned request head. Plain-HTTP requests (by their
   * accessScheme) come back with `redirect` when the route's policy wants it: to a host the
   * config serves over TLS (sslRedirect), or to any host (forceSslRedirect); never for ACME
   * HTTP-01 challenge paths.
   */
  resolve(head: InboundHead & MatchRequest): Resolved {
    const cfg = this.getConfig();
    // the head is the request rules with predicates (method, headers, query) are checked against
    const route = cfg.match(head.host, head.path, head);
    if (route === null) return { route: null, state: null, upstream: null, redirect: false };
    // the scheme the client used: behind a trusted load balancer that terminated TLS, its
    // X-Forwarded-Proto (no redirect loop); ingress-nginx tests $pass_access_scheme alike
    if (head.accessScheme === 'http') {
      const policy = route.policy;
      if (policy.forceSslRedirect ?? this.forceSslRedirect) {
        if (!head.path.startsWith(ACME_CHALLENGE_PREFIX)) return { route, state: null, upstream: null, redirect: true };
      } else if ((policy.sslRedirect ?? this.sslRedirect) && cfg.tls.length > 0) {
        let tls = this.tlsHosts;
        if (this.tlsHostsOf !== cfg || tls === null) {
          tls = this.tlsHosts = new TlsHosts(cfg.tls);
          this.tlsHostsOf = cfg;
        }
        if (tls.has(head.host) && !head.path.startsWith(ACME_CHALLENGE_PREFIX)) {
          return { route, state: null, upstream: null, redirect: true };
        }
      }
    }
    const action = route.action;
    if (action.kind !== 'forward') return { route, state: null, upstream: null, redirect: false };
    // a rule with a canary (ingress-nginx canary Ingress) picks its backend per request, unless
    // its affinity cookie ties the client to one side (affinity-canary-behavior sticky)
    let key = route.backend.endpointsKey;
    let toCanary = false;
    let affinity = route.filters.affinity;
    // how the chosen backend's endpoints are picked without affinity: the canary backend has
    // its own (the canary Ingress's load-balance and upstream-hash-by, as in ingress-nginx)
    let loadBalance = route.policy.loadBalance;
    let hashBy = route.filters.hashBy;
    const canary = action.canary;
    if (canary !== undefined) {
      // legacy (ingress-nginx reads it on the canary Ingress; Portico on the primary's too): the
      // canary backend has no affinity, but a client the cookie ties to the primary stays there,
      // as ingress-nginx asks the primary's affinity first
      const legacy = canary.legacy === true || (affinity !== undefined && affinity.canaryBehavior === 'legacy');
      let side = affinity === undefined ? null : stickySide(affinity, head.headers, () => this.stateOf(canary.backend.endpointsKey), () => this.stateOf(route.backend.endpointsKey));
      if (side === 'canary' && legacy) side = null;
      toCanary = side === null ? routeToCanary(canary, head.headers, Math.random()) : side === 'canary';
      if (toCanary) {
        key = canary.backend.endpointsKey;
        if (legacy) affinity = undefined;
        loadBalance = canary.loadBalance ?? DEFAULT_POLICY.loadBalance;
        hashBy = canary.hashBy;
      }
    }
    const set = this.endpoints.get(key);
    if (set.endpoints.length === 0) {
      // ingress-nginx default-backend: requests go there while the Service has no endpoint
      const errors = route.filters.errors;
      const fb = errors === undefined ? null : this.errorUpstream(errors.backend.endpointsKey, head.clientIp);
      if (fb !== null) return { route, state: fb.state, upstream: fb.upstream, redirect: false, backend: errors!.backend.endpointsKey, fallback: true };
      return { route, state: null, upstream: null, redirect: false, backend: key };
    }
    const st = this.balancers.state(key, set);
    st.usedAt = this.sweepGen;
    if (affinity !== undefined && affinity.mode === undefined) {
      // balanced cookie affinity: the session key's hash over the endpoints; a new key (and
      // cookie) for a request without one
      const session = sessionKey(affinity, head.headers);
      if (session !== null) return { route, state: st, upstream: st.pick('ip-hash', session, null), redirect: false, backend: key };
      const fresh = newSessionKey();
      const up = st.pick('ip-hash', fresh, null);
      return { route, state: st, upstream: up, redirect: false, backend: key, setCookie: up === null ? undefined : sessionCookie(affinity, sessionValue(fresh, toCanary), head.headers) };
    }
    if (affinity !== undefined) {
      // persistent cookie affinity: the endpoint the cookie names, else a new pick the response pins
      const sticky = stickyUpstream(st, affinity, head.headers);
      if (sticky !== null) return { route, state: st, upstream: sticky, redirect: false, backend: key };
      const up = st.pick(loadBalance, head.clientIp, null);
      return { route, state: st, upstream: up, redirect: false, backend: key, setCookie: up === null ? undefined : affinityCookie(affinity, up, head.headers) };
    }
    if (hashBy !== undefined) {
      const k = hashKey(hashBy, head);
      const hashSubset = toCanary ? canary!.hashSubset : route.filters.hashSubset;
      return { route, state: st, upstream: hashSubset === undefined ? st.pick('ip-hash', k, null) : st.pickInSubset(k, hashSubset), redirect: false, backend: key };
    }
    return { route, state: st, upstream: st.pick(loadBalance, head.clientIp, null), redirect: false, backend: key };
  }

  // ---- ssl-passthrough (ssl-passthrough.ts asks these for each connection whose SNI it read) ----

  /**
   * The passthrough route of this SNI server name, or null: the connection is terminated. A
   * connection passed through skips every HTTP stage, so with --global-auth-url (which cannot
   * be asked without a request) only routes that opted out (enable-global-auth "false") pass.
   */
  passthroughRoute(serverName: string): Route | null {
    const route = this.getConfig().passthrough?.(serverName) ?? null;
    if (route === null || this.closing) return null;
    if (this.planContext.globalAuth !== null && route.filters.noGlobalAuth !== true) return null;
    return route;
  }

  /** --whitelist-source-range / --denylist-source-range on a passthrough connection's address. */
  passthroughAllowed(clientIp: string): boolean {
    const { allow, deny } = this.planContext.sourceRange;
    return (allow === null && deny === null) || sourceAllowed(clientIp, allow, deny);
  }

  /** An endpoint of the passthrough route's backend, by its load-balance setting. */
  passthroughUpstream(route: Route, clientIp: string, exclude: Upstream | null): Upstream | null {
    const key = route.backend.endpointsKey;
    const set = this.endpoints.get(key);
    if (set.endpoints.length === 0) return null;
    const st = this.balancers.state(key, set);
    st.usedAt = this.sweepGen;
    return st.pick(route.policy.loadBalance, clientIp, exclude);
  }

  /** The balancer state of a backend with endpoints, or null (affinity-canary-behavior's persistent tokens). */
  private stateOf(key: string): BalancerState | null {
    const set = this.endpoints.get(key);
    return set.endpoints.length === 0 ? null : this.balancers.state(key, set);
  }

  /**
   * An endpoint of a route's error backend (ingress-nginx default-backend) and its balancer
   * state, or null when that Service has none either.
   */
  errorUpstream(key: string, clientIp: string): { state: BalancerState; upstream: Upstream } | null {
    const set = this.endpoints.get(key);
    if (set.endpoints.length === 0) return null;
    const st = this.balancers.state(key, set);
    st.usedAt = this.sweepGen;
    const up = st.pick('round-robin', clientIp, null);
    return up === null ? null : { state: st, upstream: up };
  }

  /**
   * mirror-target: a copy of the request to the mirror (mirror-client.ts), with the headers
   * sent upstream, the mirror's Host, and the body when the route mirrors bodies and it was
   * read in full before dispatch. A streamed body is not copied: the copy is not sent.
   */
  mirrorCopy(ex: Exchange): void {
    const m = ex.mirror!;
    let body: Buffer | null = null;
    if (ex.hasBody && m.body) {
      if (ex.bufferedBody === null) return;
      body = ex.bufferedBody;
    }
    const headers: string[] = [];
    const src = ex.headers;
    for (let i = 0; i < src.length; i += 2) {
      const n = src[i]!.toLowerCase();
      if (n === 'host' || n === 'content-length' || n === 'transfer-encoding' || n === 'expect') continue;
      headers.push(n, src[i + 1]!);
    }
    headers.push('host', m.host);
    if (body !== null) headers.push('content-length', String(body.length));
    // $request_uri is the URI as the client sent it (before rewrite-target), as nginx's
    const path = buildLocation(m.path, { host: ex.host, url: ex.req.url ?? ex.url, path: ex.path }, ex.scheme);
    this.mirrors ??= new MirrorClient({ onFailure: (origin, reason) => this.log.warn('mirror failed; copies to it are lost', { origin, reason }) });
    this.mirrors.send(m.origin, path, ex.method, headers, body);
  }

  /** Answer locally with a small plain-text body (local-answers.ts). */
  respond(ex: Exchange, r: LocalBody, close = false, extra: readonly string[] | null = null): void {
    ex.phase = PHASE_DONE;
    writeAnswer(ex.req, ex.res, ex.hasBody, r, answerHeaders(r, ex.requestId, extra, ex.responseHeaders), close);
  }

  /** Called from the response's 'close'. */
  exchangeClosed(ex: Exchange): void {
    this.active--;
    if (this.reporting) {
      // one RequestInfo per proxy, refilled for every request (see ProxyDeps.onRequestDone)
      const info = this.info;
      const route = ex.route;
      info.method = ex.req.method ?? '';
      info.host = ex.host;
      info.path = ex.path;
      info.scheme = ex.scheme;
      info.status = ex.res.headersSent ? ex.res.statusCode : 0;
      info.bytesSent = ex.bytes;
      info.durationMs = performance.now() - ex.t0;
      info.upstreamHeaderMs = ex.upstreamHeaderMs < 0 ? null : ex.upstreamHeaderMs;
      info.upstream = ex.lastUpstream;
      info.attempts = ex.attempts;
      info.ingress = route === null ? null : route.ingress;
      info.routePath = route === null ? null : route.path;
      info.backend = route === null ? null : (ex.backendKey ?? route.backend.endpointsKey);
      info.requestId = ex.requestId;
      info.clientIp = ex.clientIp;
      info.error = ex.error;
      info.route = route;
      info.request = ex.req;
      info.requestBytes = requestBytes(ex.req, ex.bodyLength);
      info.upstreamStatus = ex.upstreamStatus === 0 ? null : ex.upstreamStatus;
      info.upstreamResponseMs = ex.upstreamEndMs < 0 ? null : ex.upstreamEndMs;
      if (this.onRequestDone !== null) this.report(info);
      if (ex.trace !== null) this.endTrace(ex.trace, info);
      // the request is not kept past the call (the record is reused)
      info.request = null;
      info.route = null;
    }
    if (this.active === 0 && this.idleWaiters.length > 0 && this.upgrader.open === 0) this.wakeIdle();
  }

  private endTrace(ctx: TraceContext, info: RequestInfo): void {
    try {
      this.tracer!.end(ctx, info);
    } catch (err) {
      this.log.error('tracer failed', { err: err as Error });
    }
  }

  private report(info: RequestInfo): void {
    const cb = this.onRequestDone;
    if (cb === null) return;
    try {
      cb(info);
    } catch (err) {
      this.log.warn('onRequestDone threw', { err });
    }
    if (info.upgrade && this.active === 0 && this.idleWaiters.length > 0 && this.upgrader.open === 0) this.wakeIdle();
  }

  private wakeIdle(): void {
    const w = this.idleWaiters;
    this.idleWaiters = [];
    for (const f of w) f();
  }

  /** Proxy an Upgrade request (WebSocket). Never throws. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, scheme: 'http' | 'https'): void {
    if (this.closing) {
      this.upgrader.refuseClosing(socket);
      return;
    }
    this.upgrader.handle(req, socket, head, scheme);
  }

  /** Requests in flight (plain) and upgraded connections open. */
  get inFlight(): { requests: number; upgrades: number } {
    return { requests: this.active, upgrades: this.upgrader.open };
  }

  /** Periodic: drop unused balancer state, retire pools of endpoints no set holds any more. */
  sweep(): void {
    this.sweepGen++;
    const live = new Set<string>();
    const states = this.balancers.states;
    for (const [key, st] of states) {
      const set = this.endpoints.get(key);
      let cur = st;
      if (set !== st.set) {
        cur = this.balancers.state(key, set);
        cur.usedAt = st.usedAt;
      }
      let busy = false;
      for (const u of cur.upstreams) if (u.inflight > 0) busy = true;
      if (!busy && this.sweepGen - cur.usedAt > this.internals.idleSweeps) {
        states.delete(key);
        continue;
      }
      for (const e of set.endpoints) live.add(e.key);
    }
    const n = this.registry.retireExcept(live, this.internals.drainDeadlineMs);
    if (n > 0 && this.log.enabled('debug')) this.log.debug('retired upstream pools', { count: n });
  }

  /** Number of upstream endpoints with state (for tests/metrics). */
  get upstreamCount(): number {
    return this.registry.size;
  }

  /** Number of undici pools: one per endpoint and upstream mode in use (for tests/metrics). */
  get poolCount(): number {
    return this.registry.poolCount;
  }

  /** Stop accepting work, wait for in-flight requests and upgrades up to the deadline, close pools. */
  async close(deadlineMs = 10_000): Promise<void> {
    this.closing = true;
    this.live.stop();
    if (this.sweepTimer !== null) {
      clearInterval(this.sweepTimer);
      this.sweepTimer = null;
    }
    const until = Date.now() + deadlineMs;
    if (this.active > 0 || this.upgrader.open > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, deadlineMs);
        this.idleWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    this.upgrader.destroyAll();
    await this.planContext.verifier?.close();
    await this.planContext.externalAuth?.close();
    await this.mirrors?.close();
    await this.registry.retireAll(Math.max(0, until - Date.now()));
  }
}
