// The request path: route → balance → undici Pool.dispatch with a hand-written handler that
// streams the response to the client with back-pressure. No awaits, no per-request promises
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
// - RoutePolicy.sslRedirect: a plain-HTTP request whose host has a TLS binding in the config
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

import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
// the global `performance` is a lazy accessor on globalThis: each read costs a global IC miss
import { performance } from 'node:perf_hooks';
import type { Socket } from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { EndpointLookup } from '../endpoints/types.ts';
import { NO_FILTERS } from '../model/types.ts';
import type { DirectResponseAction, ErrorBackend, ObjectRef, RetryPolicy, Route, RoutingConfig } from '../model/types.ts';
import { BodyTooLarge, declaredTooLarge, limitedBody } from './filters/body-limit.ts';
import { planOf, refusalKind, runPlan, runPlanWaiting, type PlanContext, type RequestPlan } from './plan.ts';
import { DEFAULT_LIMIT_STATUS, RateLimits } from './filters/rate-limit.ts';
import { ExternalAuthClient } from './auth-client.ts';
import { BasicAuthVerifier } from './filters/basic-auth.ts';
import { globalSourceRange } from './filters/source-range.ts';
import { redirectFor } from './filters/redirect.ts';
import { chooseBackend } from './filters/canary.ts';
import { affinityCookie, stickyUpstream } from './filters/affinity.ts';
import { hashKey } from './filters/hash-key.ts';
import type { Logger } from '../observe/log.ts';
import { Balancers } from './balancer.ts';
import type { BalancerState } from './balancer.ts';
import { parseCidrs } from '../values/cidr.ts';
import type { CidrMatcher } from '../values/cidr.ts';
import { mergeResponseHeaders, requestBytes, responseHeaders, trailersToRelay } from './headers.ts';
import { setErrorHeaders } from './filters/error-backend.ts';
import { beginTrace, type RequestTracer, type TraceContext } from './trace-context.ts';
import type { HeaderObject } from './headers.ts';
import { scanInbound } from './inbound.ts';
import type { InboundHead } from './inbound.ts';
import { DEFAULT_PROXY_SETTINGS } from './settings.ts';
import type { ProxySettings } from './settings.ts';
import { TlsHosts, hostname } from './tls-hosts.ts';
import { Upgrader } from './upgrade.ts';
import { PLAIN_HTTP, UpstreamModes, UpstreamRegistry } from './upstreams.ts';
import type { Upstream, UpstreamMode } from './upstreams.ts';
import { kClosing, kExchange } from './exchange-mark.ts';
import { cancelWait } from './slots.ts';
import type { EndpointSlots, SlotWaiter } from './slots.ts';
import type { ClosingSocket, MarkedExchange, MarkedRequest, MarkedResponse } from './exchange-mark.ts';

export { DEFAULT_PROXY_SETTINGS };
export type { ProxySettings };
export { createHttpListener, attachProxy, DEFAULT_MAX_HEADER_SIZE } from './listener.ts';
export type { ListenerOptions } from './listener.ts';
export { shouldUpgrade } from './upgrade.ts';

/** Why a request did not end in a complete upstream response. */
export type ErrorKind =
  | 'bad_request' // 400/501 answered by us
  | 'no_route' // 404
  | 'no_endpoints' // 503
  | 'direct' // answered by the rule's direct response (e.g. 503 for an access control not enforced)
  | 'rate_limited' // limit-rps / limit-rpm refused it (--limit-req-status-code)
  | 'connection_limited' // limit-connections refused it (--limit-conn-status-code)
  | 'body_too_large' // 413: the request body is over the route's limit
  | 'access_denied' // 403 (source address) or 401 (basic authentication) from the route's filters
  | 'shutting_down' // 503 during close()
  | 'connect' // refused / unreachable → 502
  | 'connect_timeout' // → 504
  | 'reset' // upstream closed/reset before a response → 502
  | 'headers_timeout' // → 504
  | 'body_timeout' // upstream stalled mid-body → client connection destroyed
  | 'upstream_error' // anything else from the upstream side
  | 'client_abort' // the client went away first
  | 'client_timeout' // the client connection was idle too long (stalled upload, not reading), or its body took too long (408)
  | 'upstream_busy' // 503: no upstream connection came free within --upstream-queue-timeout
  | 'internal'; // a bug of ours, answered 500

export interface RequestInfo {
  method: string;
  /** Host header as received ('' when absent). */
  host: string;
  /** Path without query. */
  path: string;
  scheme: 'http' | 'https';
  /** Status sent to the client (0 if none was sent). */
  status: number;
  /** Response body bytes passed to the client socket (upstream bodies; not local error pages). */
  bytesSent: number;
  durationMs: number;
  /**
   * Upstream time from dispatching the request to its response headers (for the first attempt
   * from the request's arrival: it is dispatched in the same tick, microseconds later); null
   * without a response.
   */
  upstreamHeaderMs: number | null;
  /** `ip:port` of the last endpoint tried, null when none was. */
  upstream: string | null;
  /** Number of upstream attempts (2 when retried). */
  attempts: number;
  /** The Ingress that owns the matched route, null when none matched. */
  ingress: ObjectRef | null;
  /** The matched route's path ('' for default backends), null when none matched. */
  routePath: string | null;
  /** The backend's endpointsKey (`namespace/service:port`), null when none matched. */
  backend: string | null;
  requestId: string;
  clientIp: string;
  /** true for Upgrade (WebSocket) exchanges; duration then spans the whole connection. */
  upgrade: boolean;
  error: ErrorKind | null;
  /** The matched route (its identity keys the metrics' label cache), null when none matched. */
  route: Route | null;
  /**
   * The client's request, valid during onRequestDone only: what the access log reads for its
   * optional fields (headers, query string, TLS), so the proxy computes none of them.
   */
  request: IncomingMessage | null;
  /**
   * Request line + headers (as `name: value` lines) + the declared Content-Length, in bytes: what
   * nginx's $request_length counts. A streamed body without Content-Length is not counted.
   */
  requestBytes: number;
  /** Status of the upstream's response (last attempt), null without one. */
  upstreamStatus: number | null;
  /** Upstream time from dispatching the request (last attempt) to the end of its response, null when it did not end. */
  upstreamResponseMs: number | null;
}


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

// ---- local responses ---------------------------------------------------------------------

export interface LocalBody {
  status: number;
  body: Buffer;
  length: string;
  /** Extra response headers (flat list), e.g. Allow for 405. */
  extra?: readonly string[];
}
function localBody(status: number, text: string, extra?: readonly string[]): LocalBody {
  const body = Buffer.from(text + '\n');
  return extra === undefined ? { status, body, length: String(body.length) } : { status, body, length: String(body.length), extra };
}
const R400 = localBody(400, 'bad request');
const R405 = localBody(405, 'method not allowed', ['allow', 'GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH']);
const R408 = localBody(408, 'request timeout');
const R431 = localBody(431, 'request header fields too large');
const R404 = localBody(404, 'not found');
const R500 = localBody(500, 'internal error');
const R501 = localBody(501, 'not implemented');
const R502 = localBody(502, 'bad gateway');
const R503 = localBody(503, 'no endpoints available');
const R503_CLOSING = localBody(503, 'shutting down');
const R503_BUSY = localBody(503, 'upstream busy');
const R504 = localBody(504, 'gateway timeout');
const R413 = localBody(413, 'request entity too large');
const R308 = localBody(308, 'permanent redirect');
const R401 = localBody(401, 'unauthorized');
const R403 = localBody(403, 'forbidden');
const R503_FILTER = localBody(503, 'service unavailable');
const ACME_CHALLENGE_PREFIX = '/.well-known/acme-challenge/';

const redirectBodies = new Map<number, LocalBody>();
/** The body of a redirect answer: the status's reason phrase, made once per status. */
function redirectBody(status: number): LocalBody {
  let b = redirectBodies.get(status);
  if (b === undefined) {
    b = localBody(status, (STATUS_CODES[status] ?? 'redirect').toLowerCase());
    redirectBodies.set(status, b);
  }
  return b;
}

const directBodies = new WeakMap<DirectResponseAction, LocalBody>();
/** A rule's direct response as a local answer, made once per action of a config. */
export function directBody(action: DirectResponseAction): LocalBody {
  let b = directBodies.get(action);
  if (b === undefined) {
    b = localBody(action.status, action.body);
    directBodies.set(action, b);
  }
  return b;
}

/** The answer for InboundHead.reject. */
function rejectBody(status: number): LocalBody {
  return status === 501 ? R501 : status === 405 ? R405 : R400;
}

export const LOCAL_RESPONSES = { R503_BUSY, R400, R401, R403, R405, R408, R413, R431, R404, R500, R501, R502, R503, R503_CLOSING, R504 } as const;
const planBodies = new Map<number, LocalBody>([[401, R401], [403, R403], [413, R413], [503, R503_FILTER], [500, R500], [400, R400]]);
/**
 * The local answer for a status a plan's stage returned: any status from 200 to 599 (a CORS
 * preflight's 204, a sign-in 302, a rate limit's 429 ...), its reason phrase as the body;
 * none for 204 and 304, which have no body.
 */
function planAnswer(status: number): LocalBody {
  let b = planBodies.get(status);
  if (b === undefined) {
    if (status < 200 || status > 599) return R500;
    b = status === 204 || status === 304
      ? { status, body: Buffer.alloc(0), length: '0' }
      : localBody(status, (STATUS_CODES[status] ?? 'error').toLowerCase());
    planBodies.set(status, b);
  }
  return b;
}

const CLIENT_GONE = new Error('client closed the connection');
/** Aborts an upstream answer that the route's default-backend replaces (custom-http-errors). */
const INTERCEPT = new Error('replacing this answer with the default backend\'s');

/** Aborts an upstream response whose status the route retries (proxy-next-upstream http_<status>). */
const RETRY_ON_STATUS = new Error('retrying on another endpoint for this status');

// The response's 'close' listener is shared; the exchange hangs off the response.
function onResponseClose(this: MarkedResponse): void {
  const ex = this[kExchange];
  if (ex !== undefined) (ex as Exchange).onClose();
}

// First body chunks held back until the end of the tick (one write with the headers for
// small responses), flushed by one microtask per batch.
let flushQueue: Exchange[] = [];
let flushQueued = false;
function flushAll(): void {
  const q = flushQueue;
  flushQueue = [];
  flushQueued = false;
  for (let i = 0; i < q.length; i++) q[i]!.flush();
}

// Methods that may be replayed (RFC 9110 §9.2.2 idempotent), when they carry no body.
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** Upstream error → what happened (decides retry and status). */
export function upstreamErrorKind(err: unknown): ErrorKind {
  const code = (err as { code?: unknown } | null)?.code;
  switch (code) {
    case 'ECONNREFUSED':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EHOSTDOWN':
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'connect';
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'ETIMEDOUT':
      return 'connect_timeout';
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
      // 101 to a request that asked for no upgrade: the upstream answered, wrongly. Not a
      // reset, so never replayed (the request did reach it): 502
      if ((err as Error).message === 'bad upgrade') return 'upstream_error';
      return 'reset';
    case 'UND_ERR_CLOSED':
    case 'UND_ERR_DESTROYED':
      return 'reset';
    case 'UND_ERR_HEADERS_TIMEOUT':
      return 'headers_timeout';
    case 'UND_ERR_BODY_TIMEOUT':
      return 'body_timeout';
    case 'UND_ERR_ABORTED':
      return 'client_abort';
    default:
      return 'upstream_error';
  }
}


const PHASE_NEW = 0;
const PHASE_WAITING = 1; // dispatched, no response yet
const PHASE_STREAMING = 2; // response headers sent to the client
const PHASE_DONE = 3; // upstream side finished (ok or not), or answered locally

/** One client request/response; also the undici dispatch handler. */
class Exchange implements InboundHead, MarkedExchange, SlotWaiter, Dispatcher.DispatchHandler {
  readonly proxy: Proxy;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly scheme: 'http' | 'https';
  readonly t0: number;
  /** When the last upstream attempt was dispatched (only measured when reporting; t0 for the first). */
  tUp = 0;
  /** Upstream time to response headers, -1 until known. */
  upstreamHeaderMs = -1;
  /** Upstream time to the end of its response, -1 until known. */
  upstreamEndMs = -1;
  /** The upstream's response status, 0 until one arrived. */
  upstreamStatus = 0;
  // InboundHead
  host = '';
  url = '';
  path = '';
  hasBody = false;
  bodyLength = -1;
  /** Streamed bodies (no Content-Length) are cut past this many bytes; 0: no limit. */
  bodyLimit = 0;
  reject = 0;
  requestId = '';
  clientIp = '';
  accessScheme = '';
  headers: string[] = [];
  upgrade = '';
  te = false;
  readonly method: string;
  // PlanHead outputs (plan.ts): null unless a stage set them
  answerHeaders: string[] | null = null;
  responseHeaders: string[] | null = null;
  onDone: (() => void) | null = null;
  refusal?: 'rate_limited' | 'connection_limited';
  /** The request's span when it is traced (trace-context.ts), else null. */
  trace: TraceContext | null = null;
  /** The route's proxy-next-upstream policy, or null for Portico's own retry rule. */
  retry: RetryPolicy | null = null;
  /** When the first attempt was dispatched (only with a retry policy that has a timeout). */
  firstAt = 0;
  /** The endpoint a response with a retryable status is retried on (set in onResponseStart). */
  retryNext: Upstream | null = null;
  /** The route's custom-http-errors and their backend, or null. */
  errors: ErrorBackend | null = null;
  /** Sent to the error backend already (its answers are relayed, never intercepted again). */
  intercepted = false;
  /** The error backend endpoint an intercepted answer goes to, and the status it replaces. */
  interceptTo: { state: BalancerState; upstream: Upstream } | null = null;
  interceptCode = 0;
  // routing
  route: Route | null = null;
  /** The endpointsKey of the backend chosen (the route's, or its canary's); null before one is. */
  backendKey: string | null = null;
  /** Set-Cookie added to the upstream's response (cookie affinity), or null. */
  setCookie: string | null = null;
  mode: UpstreamMode = PLAIN_HTTP;
  state: BalancerState | null = null;
  upstream: Upstream | null = null;
  lastUpstream: string | null = null;
  attempts = 0;
  opts: (Dispatcher.DispatchOptions & { servername: string }) | null = null;
  // upstream connection slots (slots.ts): the slots held, the ones waited for, and the pool
  // the request goes to once admitted
  slot: EndpointSlots | null = null;
  /** The slot was taken (or is waited for) as an upload (slots.ts). */
  slotUpload = false;
  waitingFor: EndpointSlots | null = null;
  waitPool: Dispatcher | null = null;
  waitedMs = 0;
  /** Time the request body has been arriving (sweep ticks), for the body deadline. */
  uploadMs = 0;
  /** A small body read in full before dispatch (ProxySettings.clientBodyBufferSize). */
  bufferedBody: Buffer | null = null;
  // response
  controller: Dispatcher.DispatchController | null = null;
  phase = PHASE_NEW;
  clientGone = false;
  pending: Buffer | null = null;
  flushScheduled = false;
  onDrain: (() => void) | null = null;
  bytes = 0;
  error: ErrorKind | null = null;
  /**
   * gRPC "Trailers-Only" response (grpc-status in the HTTP/2 response head) for an HTTP/2
   * client: the head is held until a body byte or the end, so that an empty response goes out
   * as one HEADERS frame with END_STREAM, as gRPC clients require.
   */
  heldHead: string[] | null = null;
  heldStatus = 0;
  // idle detection (Proxy.idleSweep); intrusive list of exchanges in flight
  progress = -1;
  stalledMs = 0;
  prevLive: Exchange | null = null;
  nextLive: Exchange | null = null;
  inLive = false;

  /** PlanHead.connection: the client socket (a prototype getter: no field on every exchange). */
  get connection(): Socket | null {
    return this.req.socket as Socket | null;
  }

  constructor(proxy: Proxy, req: IncomingMessage, res: ServerResponse, scheme: 'http' | 'https') {
    this.proxy = proxy;
    this.req = req;
    this.res = res;
    this.scheme = scheme;
    this.method = req.method ?? '';
    this.t0 = proxy.reporting ? performance.now() : 0;
  }

  onClose(): void {
    this.proxy.unlinkLive(this);
    const done = this.onDone;
    if (done !== null) {
      this.onDone = null;
      done();
    }
    if (this.waitingFor !== null) {
      cancelWait(this);
      this.releaseUpstream();
    }
    if (this.phase !== PHASE_DONE) {
      this.clientGone = true;
      if (this.error === null) this.error = 'client_abort';
      this.pending = null;
      const c = this.controller;
      if (c !== null && this.phase !== PHASE_NEW) c.abort(CLIENT_GONE);
    }
    this.proxy.exchangeClosed(this);
  }

  // ---- dispatch -----------------------------------------------------------------------

  /**
   * Send the request to `up`: at once, or first reading a small body in full so that a slow
   * client holds no upstream connection while it uploads (ProxySettings.clientBodyBufferSize).
   */
  begin(up: Upstream): void {
    const max = this.proxy.bodyBufferSize;
    if (!this.hasBody || max <= 0 || this.bodyLength < 0 || this.bodyLength > max || this.req.complete) {
      this.dispatchTo(up);
      return;
    }
    const req = this.req;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.once('end', () => {
      if (this.clientGone || this.phase !== PHASE_NEW) return;
      this.bufferedBody = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      this.dispatchTo(up);
    });
  }

  dispatchTo(up: Upstream): void {
    this.upstream = up;
    up.inflight++;
    this.attempts++;
    if (this.attempts === 1 && this.retry !== null && this.retry.timeoutMs > 0) this.firstAt = performance.now();
    this.lastUpstream = up.key;
    this.phase = PHASE_WAITING;
    this.controller = null;
    let opts = this.opts;
    const mode = this.mode;
    if (opts === null) {
      // TLS backends: the SNI is the mode's, not derived from the client's Host header
      // (undici would otherwise take it from Host, and reconnect whenever it changes).
      // Cleartext: the endpoint's host, which spares undici deriving a server name from Host
      // for every request (Upstream.hostname).
      opts = this.opts = {
        path: this.url,
        method: this.req.method as Dispatcher.HttpMethod,
        headers: this.headers,
        body: this.bufferedBody ?? (this.hasBody ? (this.bodyLimit > 0 && this.bodyLength < 0 ? this.limitedBody() : this.req) : null),
        servername: mode.servername ?? up.hostname,
      };
      // ingress-nginx proxy-read-timeout: the response head and each pause in its body
      const readMs = this.route!.filters.timeouts?.readMs;
      if (readMs !== undefined) {
        opts.headersTimeout = readMs;
        opts.bodyTimeout = readMs;
      }
    } else if (mode.servername === null) {
      opts.servername = up.hostname; // a retry may go to another endpoint
    }
    // the first attempt goes out in the tick the request arrived in: one clock read fewer
    if (this.t0 !== 0) this.tUp = this.attempts === 1 ? this.t0 : performance.now();
    let pool: Dispatcher;
    try {
      pool = mode === PLAIN_HTTP ? up.getPool() : up.poolFor(mode);
    } catch (err) {
      // an address undici cannot parse (the endpoint index drops them; this is the backstop):
      // a connect failure, so another endpoint or 502, never 500
      this.onResponseError(null, Object.assign(new Error('unusable endpoint address', { cause: err }), { code: 'EADDRNOTAVAIL' }));
      return;
    }
    if (!mode.h2) {
      // HTTP/1.1 pools: at most one request per connection, so a bounded wait for a slot
      // instead of undici's unbounded queue (slots.ts); a body still streaming from the
      // client is an upload, which may hold at most half of them
      const upload = this.hasBody && this.bufferedBody === null && !this.req.complete;
      this.slotUpload = upload;
      if (!up.slots.acquire(this, upload)) {
        this.waitPool = pool;
        this.waitedMs = 0;
        return;
      }
      this.slot = up.slots;
    }
    pool.dispatch(opts, this);
  }

  /** SlotWaiter: a connection slot of the upstream came free for this request. */
  admitted(): void {
    const pool = this.waitPool;
    this.waitPool = null;
    const up = this.upstream;
    if (pool === null || up === null || this.opts === null) {
      up?.slots.release(this.slotUpload);
      return;
    }
    this.slot = up.slots;
    pool.dispatch(this.opts, this);
  }

  /** Waited longer than --upstream-queue-timeout for a connection: 503. */
  queueTimedOut(): void {
    cancelWait(this);
    this.waitPool = null;
    this.releaseUpstream();
    this.error = 'upstream_busy';
    this.proxy.respond(this, R503_BUSY);
  }

  /**
   * The request body paused too long or took too long in all: 408 when nothing has been sent
   * yet (as nginx's client_body_timeout), else the connection is cut; the upstream request is
   * aborted either way.
   */
  uploadTimedOut(): void {
    if (this.error === null) this.error = 'client_timeout';
    const c = this.controller;
    if (c !== null && this.phase !== PHASE_DONE) {
      this.phase = PHASE_DONE;
      c.abort(new Error('client body timeout'));
    }
    if (this.waitingFor !== null) {
      cancelWait(this);
      this.releaseUpstream();
    }
    const res = this.res;
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    const sock = this.req.socket as Socket | null;
    this.proxy.respond(this, R408, true);
    // the client may still be sending: do not wait for it to stop, once the 408 is out
    if (this.req.httpVersionMajor === 1 && sock !== null) res.once('finish', () => sock.destroy());
  }

  /**
   * The request body cut at the route's limit: past it the upstream request is aborted (413
   * when no response has started, else the client stream is reset), whatever undici does with
   * a failed body stream.
   */
  private limitedBody(): Readable {
    return limitedBody(this.req, this.bodyLimit, (err) => {
      if (this.error === null) this.error = 'body_too_large';
      const c = this.controller;
      if (c !== null && this.phase !== PHASE_DONE) c.abort(err);
      else if (this.phase === PHASE_STREAMING) this.res.destroy();
    });
  }

  releaseUpstream(): Upstream | null {
    const up = this.upstream;
    if (up !== null) {
      up.inflight--;
      this.upstream = null;
    }
    const slot = this.slot;
    if (slot !== null) {
      this.slot = null;
      slot.release(this.slotUpload);
    }
    return up;
  }

  // ---- undici handler -----------------------------------------------------------------

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.clientGone) controller.abort(CLIENT_GONE);
  }

  onResponseStart(controller: Dispatcher.DispatchController, status: number, parsed: HeaderObject): void {
    if (status < 200) return; // 1xx informational (103 Early Hints): not relayed
    if (this.tUp !== 0) this.upstreamHeaderMs = performance.now() - this.tUp;
    this.upstreamStatus = status;
    if (this.clientGone) {
      controller.abort(CLIENT_GONE);
      return;
    }
    const retry = this.retry;
    if (retry !== null && retry.statuses.length > 0 && retry.statuses.includes(status)) {
      // proxy-next-upstream http_<status>: this answer is dropped and the request goes to the
      // next endpoint, unless no attempt is left (then this answer is relayed, as nginx does)
      const next = this.retryTarget(this.upstream);
      if (next !== null) {
        this.retryNext = next;
        controller.abort(RETRY_ON_STATUS);
        return;
      }
    }
    const errors = this.errors;
    if (errors !== null && !this.intercepted && errors.codes.includes(status) && (!this.hasBody || this.bufferedBody !== null)) {
      // custom-http-errors: this answer is replaced by the default-backend's (when it has an
      // endpoint; else relayed); a streamed request body cannot be sent again, so never then
      const to = this.proxy.errorUpstream(errors.backend.endpointsKey, this.clientIp);
      if (to !== null) {
        this.interceptTo = to;
        this.interceptCode = status;
        controller.abort(INTERCEPT);
        return;
      }
    }
    this.phase = PHASE_STREAMING;
    const res = this.res;
    try {
      const headers = responseHeaders(parsed, this.proxy.responseRequestId ? this.requestId : null);
      if (this.setCookie !== null) headers.push('set-cookie', this.setCookie);
      if (this.responseHeaders !== null) mergeResponseHeaders(headers, this.responseHeaders);
      const hsts = this.proxy.hsts;
      if (hsts !== null && this.scheme === 'https' && parsed['strict-transport-security'] === undefined) headers.push('strict-transport-security', hsts);
      // gRPC Trailers-Only from an HTTP/2 upstream (whose rawHeaders is an object, not a list)
      if (parsed['grpc-status'] !== undefined && this.req.httpVersionMajor === 2 && !Array.isArray(controller.rawHeaders)) {
        this.heldHead = headers;
        this.heldStatus = status;
        return;
      }
      res.writeHead(status, headers);
    } catch (err) {
      // an upstream header Node refuses to send: answer 502 (nothing has been written yet)
      this.debug('invalid upstream response header', err, null);
      this.phase = PHASE_WAITING;
      controller.abort(err as Error);
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.clientGone) return;
    this.bytes += chunk.length;
    const res = this.res;
    if (this.heldHead !== null) this.writeHeldHead();
    if (this.pending === null && !this.flushScheduled) {
      // hold the first chunk until the end of this tick: a small response then goes out in
      // one write together with its headers (res.end(chunk) corks the socket)
      this.pending = chunk;
      this.flushScheduled = true;
      flushQueue.push(this);
      if (!flushQueued) {
        flushQueued = true;
        queueMicrotask(flushAll);
      }
      return;
    }
    const p = this.pending;
    if (p !== null) {
      this.pending = null;
      res.write(p);
    }
    if (!res.write(chunk)) this.pauseFor(controller);
  }

  flush(): void {
    const p = this.pending;
    if (p !== null && this.phase === PHASE_STREAMING && !this.clientGone) {
      this.pending = null;
      if (!this.res.write(p) && this.controller !== null) this.pauseFor(this.controller);
    }
  }

  private pauseFor(controller: Dispatcher.DispatchController): void {
    controller.pause();
    let d = this.onDrain;
    if (d === null) {
      d = this.onDrain = () => {
        const c = this.controller;
        if (c !== null && !this.clientGone) c.resume();
      };
    }
    this.res.once('drain', d);
  }

  onResponseEnd(_controller: Dispatcher.DispatchController, trailers: HeaderObject): void {
    if (this.tUp !== 0) this.upstreamEndMs = performance.now() - this.tUp;
    this.releaseUpstream();
    this.phase = PHASE_DONE;
    if (this.clientGone) return;
    if (this.req.httpVersionMajor === 2) {
      // trailers (gRPC status) reach HTTP/2 clients; HTTP/1.1 clients do not get them
      if (this.heldHead !== null) {
        this.endTrailersOnly(trailers);
        return;
      }
      this.relayTrailers(trailers);
    }
    const p = this.pending;
    this.pending = null;
    if (p !== null) this.res.end(p);
    else this.res.end();
  }

  private writeHeldHead(): void {
    const head = this.heldHead!;
    this.heldHead = null;
    this.res.writeHead(this.heldStatus, head);
  }

  /** The held head as the whole response: HEADERS with END_STREAM (gRPC Trailers-Only). */
  private endTrailersOnly(trailers: HeaderObject): void {
    const head = this.heldHead!;
    this.heldHead = null;
    const res = this.res;
    try {
      // the compatibility API sends headers set this way together with END_STREAM on end()
      res.statusCode = this.heldStatus;
      const grouped = new Map<string, string[]>();
      for (let i = 0; i < head.length; i += 2) {
        const name = head[i]!.toLowerCase();
        const list = grouped.get(name);
        if (list === undefined) grouped.set(name, [head[i + 1]!]);
        else list.push(head[i + 1]!);
      }
      const extra = trailersToRelay(trailers);
      if (extra !== null) for (const [name, value] of Object.entries(extra)) grouped.set(name, Array.isArray(value) ? value : [value]);
      for (const [name, values] of grouped) res.setHeader(name, values.length === 1 ? values[0]! : values);
    } catch (err) {
      this.debug('invalid upstream response header', err, null);
      res.destroy();
      return;
    }
    res.end();
  }

  private relayTrailers(trailers: HeaderObject): void {
    const t = trailersToRelay(trailers);
    if (t === null) return;
    try {
      this.res.addTrailers(t);
    } catch (err) {
      this.debug('invalid upstream trailer', err, null);
    }
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, err: Error): void {
    const failed = this.releaseUpstream();
    if (this.phase === PHASE_DONE) return; // answered locally already (client error)
    const to = this.interceptTo;
    if (err === INTERCEPT && to !== null) {
      this.interceptTo = null;
      this.debug('sending the error answer to the default backend', err, failed);
      queueMicrotask(() => {
        if (this.clientGone || this.phase === PHASE_DONE || this.route === null) return;
        setErrorHeaders(this, this.req.url ?? this.url, this.route, this.interceptCode, true);
        this.intercepted = true;
        this.retry = null;
        this.state = to.state;
        this.backendKey = this.errors!.backend.endpointsKey;
        this.mode = PLAIN_HTTP;
        this.opts = null;
        this.dispatchTo(to.upstream);
      });
      return;
    }
    const retryNext = this.retryNext;
    if (err === RETRY_ON_STATUS && retryNext !== null) {
      this.retryNext = null;
      this.debug('retrying on another endpoint after its status', err, failed);
      // not from inside the aborting call: the next dispatch starts on a settled handler
      queueMicrotask(() => {
        if (this.clientGone || this.phase === PHASE_DONE) return;
        this.dispatchTo(retryNext);
      });
      return;
    }
    const wasStreaming = this.phase === PHASE_STREAMING;
    this.phase = PHASE_DONE;
    if (this.clientGone) return;
    const kind = upstreamErrorKind(err);
    const res = this.res;
    this.pending = null;
    this.heldHead = null;
    const tooLarge = err instanceof BodyTooLarge || (err as { cause?: unknown }).cause instanceof BodyTooLarge || this.error === 'body_too_large';
    if (tooLarge && !wasStreaming && !res.headersSent) {
      this.error = 'body_too_large';
      this.proxy.respond(this, R413, true);
      return;
    }
    if (wasStreaming || res.headersSent) {
      // can't change the status any more: cut the client connection so it sees a failure
      this.error = tooLarge ? 'body_too_large' : kind;
      this.debug('upstream failed mid-response', err, failed);
      res.destroy();
      return;
    }
    const policy = this.retry;
    if (policy !== null) {
      // proxy-next-upstream: its conditions, tries, timeout and methods (retryTarget)
      const wanted =
        kind === 'connect' || kind === 'reset' ? policy.error
        : kind === 'connect_timeout' || kind === 'headers_timeout' ? policy.timeout
        : kind === 'upstream_error' ? policy.invalidHeader
        : false;
      const next = wanted ? this.retryTarget(failed) : null;
      if (next !== null) {
        this.debug('retrying on another endpoint', err, failed);
        this.dispatchTo(next);
        return;
      }
    } else if (
      (kind === 'connect' || kind === 'connect_timeout' || kind === 'reset') &&
      this.attempts < 2 &&
      !this.hasBody &&
      IDEMPOTENT.has(this.req.method ?? '') &&
      !this.proxy.closing &&
      this.state !== null &&
      this.route !== null
    ) {
      const next = this.state.pick(this.route.policy.loadBalance, this.clientIp, failed);
      if (next !== null) {
        this.debug('retrying on another endpoint', err, failed);
        this.dispatchTo(next);
        return;
      }
    }
    this.error = kind;
    this.debug('upstream failed', err, failed);
    this.proxy.respond(this, kind === 'headers_timeout' || kind === 'connect_timeout' ? R504 : R502);
  }

  /**
   * The endpoint for another attempt under the route's retry policy, or null when none is
   * allowed: attempts used up, a body that cannot be sent again (only a body read in full
   * before the first attempt can), a non-idempotent method without non_idempotent, the
   * policy's timeout passed, or the proxy closing.
   */
  private retryTarget(failed: Upstream | null): Upstream | null {
    const policy = this.retry;
    const st = this.state;
    const route = this.route;
    if (policy === null || st === null || route === null || this.proxy.closing) return null;
    const max = policy.tries === 0 ? Math.max(st.upstreams.length, 2) : policy.tries;
    if (this.attempts >= max) return null;
    if (this.hasBody && this.bufferedBody === null) return null;
    if (!policy.nonIdempotent && !IDEMPOTENT.has(this.method)) return null;
    if (policy.timeoutMs > 0 && performance.now() - this.firstAt >= policy.timeoutMs) return null;
    return st.pick(route.policy.loadBalance, this.clientIp, failed);
  }

  private debug(msg: string, err: unknown, up: Upstream | null): void {
    const log = this.proxy.log;
    if (log.enabled('debug')) log.debug(msg, { err, requestId: this.requestId, upstream: up?.key ?? this.lastUpstream });
  }

  /** For the client-socket idle timeout: true while we legitimately wait on the upstream. */
  get awaitingUpstream(): boolean {
    return this.phase === PHASE_WAITING && this.req.complete;
  }

  clientError(status: number): boolean {
    // a complete request: the parser failed on a later one pipelined behind it
    if (this.res.headersSent || this.phase === PHASE_DONE || this.req.complete) return false;
    this.error = 'bad_request';
    this.proxy.respond(this, status === 431 ? R431 : status === 408 ? R408 : R400, true);
    // from here on the upstream side must not touch the response
    this.clientGone = true;
    const c = this.controller;
    if (c !== null) c.abort(CLIENT_GONE);
    return true;
  }

  idleTimedOut(): void {
    if (this.error !== null) return;
    // streaming and not paused by us: the upstream went quiet; otherwise the client did
    // (stalled upload, or not reading the response)
    const c = this.controller;
    this.error = this.phase === PHASE_STREAMING && c !== null && !c.paused ? 'body_timeout' : 'client_timeout';
  }
}

export class Proxy {
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
  closing = false;
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
  /** Whether onRequestDone is set (timing is measured only then). */
  readonly reporting: boolean;
  /** The RequestInfo handed to onRequestDone for plain requests, refilled each time. */
  private readonly info: RequestInfo = {
    method: '',
    host: '',
    path: '',
    scheme: 'http',
    status: 0,
    bytesSent: 0,
    durationMs: 0,
    upstreamHeaderMs: null,
    upstream: null,
    attempts: 0,
    ingress: null,
    routePath: null,
    backend: null,
    requestId: '',
    clientIp: '',
    upgrade: false,
    error: null,
    route: null,
    request: null,
    requestBytes: 0,
    upstreamStatus: null,
    upstreamResponseMs: null,
  };
  /**
   * Exchanges between dispatch and the response's 'close' (idle detection), as an intrusive
   * doubly-linked list: a Set with this much churn made young exchanges survive scavenges
   * (GC time ×4 under load, measured).
   */
  private liveHead: Exchange | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private readonly idleTickMs: number;
  private sweepTimer: NodeJS.Timeout | null = null;
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
    this.upgrader = new Upgrader({
      settings: this.settings,
      log: this.log,
      trusted: this.trusted,
      resolve: (head) => this.resolve(head),
      mode: (route) => this.modes.of(route),
      plan: (route) => this.planFor(route),
      onDone: (info) => this.report(info),
    });
    this.reporting = this.onRequestDone !== null || this.tracer !== null;
    this.sweepTimer = setInterval(() => this.sweep(), this.internals.sweepIntervalMs);
    this.sweepTimer.unref();
    // Client-side idle timeout without a timer per socket: a periodic pass over the
    // exchanges in flight compares a progress counter (request bytes read + response bytes
    // passed on). Waiting for response headers is the upstream header timeout's business.
    // The same pass times out uploads (client body timeout and deadline) and waits for an
    // upstream connection, so it ticks at a quarter of the shortest of those limits.
    const st = this.settings;
    let shortest = 1000 * 4;
    for (const ms of [st.idleTimeoutMs, st.clientBodyTimeoutMs ?? 0, st.clientBodyDeadlineMs ?? 0, st.upstreamQueueTimeoutMs ?? 0]) {
      if (ms > 0 && ms < shortest) shortest = ms;
    }
    this.idleTickMs = Math.max(10, Math.floor(shortest / 4));
    if (st.idleTimeoutMs > 0 || (st.clientBodyTimeoutMs ?? 0) > 0 || (st.clientBodyDeadlineMs ?? 0) > 0 || (st.upstreamQueueTimeoutMs ?? 0) > 0) {
      this.idleTimer = setInterval(() => this.idleSweep(), this.idleTickMs);
      this.idleTimer.unref();
    }
  }

  private linkLive(ex: Exchange): void {
    const head = this.liveHead;
    ex.nextLive = head;
    ex.prevLive = null;
    if (head !== null) head.prevLive = ex;
    this.liveHead = ex;
    ex.inLive = true;
  }

  unlinkLive(ex: Exchange): void {
    if (!ex.inLive) return;
    ex.inLive = false;
    const prev = ex.prevLive;
    const next = ex.nextLive;
    if (prev !== null) prev.nextLive = next;
    else this.liveHead = next;
    if (next !== null) next.prevLive = prev;
    ex.prevLive = null;
    ex.nextLive = null;
  }

  private idleSweep(): void {
    const st = this.settings;
    const limit = st.idleTimeoutMs;
    // --idle-timeout covers uploads too ("either way"): the shorter of the two applies to them
    const bt = st.clientBodyTimeoutMs ?? 0;
    const bodyLimit = bt > 0 && (limit <= 0 || bt < limit) ? bt : limit;
    const bodyDeadline = st.clientBodyDeadlineMs ?? 0;
    const queueLimit = st.upstreamQueueTimeoutMs ?? 0;
    const tick = this.idleTickMs;
    for (let ex = this.liveHead, next: Exchange | null = null; ex !== null; ex = next) {
      next = ex.nextLive;
      if (ex.waitingFor !== null) {
        // waiting for an upstream connection: the queue timeout's business, not the client's
        ex.waitedMs += tick;
        ex.stalledMs = 0;
        if (queueLimit > 0 && ex.waitedMs >= queueLimit) {
          this.unlinkLive(ex);
          ex.queueTimedOut();
        }
        continue;
      }
      if (ex.awaitingUpstream) {
        ex.stalledMs = 0;
        continue;
      }
      const sock = ex.req.socket;
      if (sock === null) continue;
      // the body limits hold until the upstream answers: a response under way (gRPC streaming,
      // long uploads the application accepted) is the idle timeout's business only
      const uploading = ex.hasBody && !ex.req.complete && (ex.phase === PHASE_NEW || ex.phase === PHASE_WAITING);
      if (uploading) {
        ex.uploadMs += tick;
        if (bodyDeadline > 0 && ex.uploadMs >= bodyDeadline) {
          this.unlinkLive(ex);
          ex.uploadTimedOut();
          continue;
        }
      }
      const p = sock.bytesRead + ex.bytes;
      if (p !== ex.progress) {
        ex.progress = p;
        ex.stalledMs = 0;
        continue;
      }
      ex.stalledMs += tick;
      if (uploading && bodyLimit > 0) {
        if (ex.stalledMs >= bodyLimit) {
          this.unlinkLive(ex);
          ex.uploadTimedOut();
        }
        continue;
      }
      if (limit > 0 && ex.stalledMs >= limit) {
        this.unlinkLive(ex);
        ex.idleTimedOut();
        sock.destroy();
      }
    }
  }

  /** Serve one request. Never throws. */
  handle(req: IncomingMessage, res: ServerResponse, scheme: 'http' | 'https'): void {
    const ex = new Exchange(this, req, res, scheme);
    this.active++;
    (res as MarkedResponse)[kExchange] = ex;
    (req as MarkedRequest)[kExchange] = ex;
    res.on('close', onResponseClose);
    try {
      this.start(ex);
    } catch (err) {
      this.log.error('proxy internal error', { err, requestId: ex.requestId });
      ex.error = 'internal';
      ex.phase = PHASE_DONE;
      if (!res.headersSent) this.respond(ex, R500);
      else res.destroy();
    }
  }

  private start(ex: Exchange): void {
    scanInbound(ex, ex.req, ex.scheme, this.trusted, this.settings.allowTrace === true);
    if (this.tracer !== null) ex.trace = beginTrace(ex.headers, this.tracer);
    // An Upgrade we do not honour (not a WebSocket GET): Node's parser stops at such a request,
    // so anything pipelined behind it would never be answered. Close after this answer.
    if (ex.upgrade !== '' && ex.req.httpVersionMajor === 1) ex.res.shouldKeepAlive = false;
    if (ex.reject !== 0) {
      ex.error = 'bad_request';
      this.respond(ex, rejectBody(ex.reject));
      return;
    }
    if (this.closing) {
      ex.error = 'shutting_down';
      this.respond(ex, R503_CLOSING);
      return;
    }
    const r = this.resolve(ex);
    if (r.route === null) {
      ex.error = 'no_route';
      this.respond(ex, R404);
      return;
    }
    ex.route = r.route;
    if (r.backend !== undefined) ex.backendKey = r.backend;
    if (r.setCookie !== undefined) ex.setCookie = r.setCookie;
    if (r.redirect) {
      this.redirectToHttps(ex);
      return;
    }
    const route = r.route;
    const action = route.action;
    if (action.kind === 'direct') {
      ex.error = 'direct';
      this.respond(ex, directBody(action));
      return;
    }
    if (action.kind === 'redirect' || (route.filters !== NO_FILTERS && route.filters.appRoot !== undefined)) {
      const to = redirectFor(route, ex, ex.scheme);
      if (to !== null) {
        // from-to-www twins answer with --http-redirect-code, as ingress-nginx's redirect servers
        this.redirect(ex, action.kind === 'redirect' && action.wwwAlias === true ? this.httpRedirectCode : to.status, to.location);
        return;
      }
    }
    let limit = this.bodyLimit;
    const plan = this.planFor(route);
    if (plan !== null) {
      if (!plan.sync) {
        this.startWaiting(ex, r, plan);
        return;
      }
      const status = runPlan(plan, ex);
      if (status !== 0) {
        this.refuseByPlan(ex, plan, status);
        return;
      }
      if (plan.bodyLimit >= 0) limit = plan.bodyLimit;
    }
    this.forward(ex, r, limit);
  }

  /** The route's plan; null when it has none (no filters and no global ones). */
  private planFor(route: Route): RequestPlan | null {
    const ctx = this.planContext;
    return route.filters !== NO_FILTERS || ctx.global ? planOf(route, ctx) : null;
  }

  /** A plan with a stage that may wait (basic auth): forwards once it let the request through. */
  private startWaiting(ex: Exchange, r: Resolved, plan: RequestPlan): void {
    const limit = plan.bodyLimit >= 0 ? plan.bodyLimit : this.bodyLimit;
    const result = runPlanWaiting(plan, ex);
    if (typeof result === 'number') {
      if (result !== 0) this.refuseByPlan(ex, plan, result);
      else this.forward(ex, r, limit);
      return;
    }
    result.then(
      (status) => {
        if (ex.clientGone || ex.res.destroyed) return; // closed while waiting: already accounted
        if (status !== 0) this.refuseByPlan(ex, plan, status);
        else this.forward(ex, r, limit);
      },
      (err: unknown) => {
        this.log.error('proxy internal error', { err: err as Error, requestId: ex.requestId });
        ex.error = 'internal';
        if (!ex.res.headersSent && !ex.res.destroyed) this.respond(ex, R500);
      },
    ).catch((err: unknown) => {
      // forward() threw: answer as handle() does for synchronous failures
      this.log.error('proxy internal error', { err: err as Error, requestId: ex.requestId });
      ex.error = 'internal';
      ex.phase = PHASE_DONE;
      if (!ex.res.headersSent) this.respond(ex, R500);
      else ex.res.destroy();
    });
  }

  /**
   * Answers the status a plan's stage returned: 401 with the route's challenge, and any
   * headers the stages left for the answer (PlanHead.answerHeaders).
   */
  private refuseByPlan(ex: Exchange, plan: RequestPlan, status: number): void {
    ex.error = refusalKind(ex, status);
    let extra = ex.answerHeaders;
    if (status === 401 && plan.challenge !== '') extra = extra === null ? ['www-authenticate', plan.challenge] : [...extra, 'www-authenticate', plan.challenge];
    this.respond(ex, planAnswer(status), false, extra);
  }

  /** The rest of start(): body limit, endpoint, dispatch. */
  private forward(ex: Exchange, r: Resolved, limit: number): void {
    if (ex.hasBody && limit > 0) {
      if (declaredTooLarge(ex.bodyLength, limit)) {
        ex.error = 'body_too_large';
        this.respond(ex, R413);
        return;
      }
      // Bodies without a declared length are counted as they stream: HTTP/1.1 chunked only.
      // HTTP/2 streams (gRPC) are not cut mid-stream yet: aborting one while its client still
      // sends left the stream spinning (measured in test/grpc); a declared length is enforced.
      if (ex.req.httpVersionMajor === 1) ex.bodyLimit = limit;
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
    }
    const mode = r.fallback === true ? PLAIN_HTTP : this.modes.of(r.route);
    if (mode !== PLAIN_HTTP) {
      ex.mode = mode;
      // gRPC needs `te: trailers` (RFC 9113 §8.2.2 allows exactly that value in HTTP/2)
      if (mode.h2 && ex.te) ex.headers.push('te', 'trailers');
    }
    this.linkLive(ex);
    ex.begin(r.upstream);
  }

  /**
   * Route and pick an endpoint for a scanned request head. Plain-HTTP requests (by their
   * accessScheme) come back with `redirect` when the route's policy wants it: to a host the
   * config serves over TLS (sslRedirect), or to any host (forceSslRedirect); never for ACME
   * HTTP-01 challenge paths.
   */
  private resolve(head: InboundHead): Resolved {
    const cfg = this.getConfig();
    const route = cfg.match(head.host, head.path);
    if (route === null) return { route: null, state: null, upstream: null, redirect: false };
    // the scheme the client used: behind a trusted load balancer that terminated TLS, its
    // X-Forwarded-Proto (no redirect loop); ingress-nginx tests $pass_access_scheme alike
    if (head.accessScheme === 'http') {
      const policy = route.policy;
      if (policy.forceSslRedirect) {
        if (!head.path.startsWith(ACME_CHALLENGE_PREFIX)) return { route, state: null, upstream: null, redirect: true };
      } else if (policy.sslRedirect && cfg.tls.length > 0) {
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
    // a rule with a canary (ingress-nginx canary Ingress) picks its backend per request
    const key = action.canary === undefined ? route.backend.endpointsKey : chooseBackend(route.backend, action.canary, head.headers).endpointsKey;
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
    const affinity = route.filters.affinity;
    if (affinity !== undefined) {
      // cookie affinity: the endpoint the cookie names, else a new pick that the response pins
      const sticky = stickyUpstream(st, affinity, head.headers);
      if (sticky !== null) return { route, state: st, upstream: sticky, redirect: false, backend: key };
      const up = st.pick(route.policy.loadBalance, head.clientIp, null);
      return { route, state: st, upstream: up, redirect: false, backend: key, setCookie: up === null ? undefined : affinityCookie(affinity, up) };
    }
    const hashBy = route.filters.hashBy;
    if (hashBy !== undefined) return { route, state: st, upstream: st.pick('ip-hash', hashKey(hashBy, head), null), redirect: false, backend: key };
    return { route, state: st, upstream: st.pick(route.policy.loadBalance, head.clientIp, null), redirect: false, backend: key };
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

  /** The same URL over HTTPS, with --http-redirect-code (308 by default: method and body kept). */
  private redirectToHttps(ex: Exchange): void {
    this.redirect(ex, this.httpRedirectCode, 'https://' + hostname(ex.host) + ex.url);
  }

  /** A redirect answer with a one-line body. */
  private redirect(ex: Exchange, status: number, location: string): void {
    ex.phase = PHASE_DONE;
    const res = ex.res;
    const body = status === 308 ? R308 : redirectBody(status);
    const headers = [
      'location', location,
      'content-type', 'text/plain; charset=utf-8',
      'content-length', body.length,
      'x-request-id', ex.requestId,
    ];
    if (ex.hasBody && !ex.req.complete && ex.req.httpVersionMajor === 1) headers.push('connection', 'close');
    res.writeHead(status, headers);
    res.end(body.body);
  }

  /** Answer locally with a small plain-text body. */
  respond(ex: Exchange, r: LocalBody, close = false, extra: readonly string[] | null = null): void {
    ex.phase = PHASE_DONE;
    const res = ex.res;
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    const headers = ['content-type', 'text/plain; charset=utf-8', 'content-length', r.length, 'x-request-id', ex.requestId];
    if (r.extra !== undefined) headers.push(...r.extra);
    if (extra !== null) headers.push(...extra);
    if (ex.responseHeaders !== null) headers.push(...ex.responseHeaders);
    // an unread request body is not drained: close the connection after the answer instead
    const unread = ex.hasBody && !ex.req.complete;
    if ((close || r.status === 400 || unread) && ex.req.httpVersionMajor === 1) {
      headers.push('connection', 'close');
      const sock = ex.req.socket as ClosingSocket | null;
      if (sock !== null) sock[kClosing] = true;
    }
    res.writeHead(r.status, headers);
    if (unread && ex.req.httpVersionMajor === 2) {
      // HTTP/2: once the answer is out, reset the stream with NO_ERROR so the client stops
      // sending the body nobody reads (RFC 9113 §8.1); otherwise flow control stalls it
      // and the stream never closes
      res.end(r.body);
      closeStream(ex.req);
      return;
    }
    res.end(r.body);
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
      this.upgrader.refuse(socket, 503, 'shutting down', '');
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
    if (this.idleTimer !== null) {
      clearInterval(this.idleTimer);
      this.idleTimer = null;
    }
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
    await this.registry.retireAll(Math.max(0, until - Date.now()));
  }
}

/** RST_STREAM(NO_ERROR) for an HTTP/2 compat request whose body will not be read. */
function closeStream(req: IncomingMessage): void {
  const stream = (req as unknown as { stream?: { closed: boolean; close(code?: number): void } }).stream;
  if (stream !== undefined && !stream.closed) stream.close(0 /* NGHTTP2_NO_ERROR */);
}

interface Resolved {
  route: Route | null;
  state: BalancerState | null;
  upstream: Upstream | null;
  /** Answer with a redirect to HTTPS instead of proxying. */
  redirect: boolean;
  /** The endpointsKey chosen (the route's backend, or its canary's); absent when none was. */
  backend?: string;
  /** A Set-Cookie value for the response (cookie affinity with a new pick). */
  setCookie?: string | undefined;
  /** The route's Service has no endpoint: this is its default-backend (ingress-nginx default-backend). */
  fallback?: true;
}

export type { Resolved };
