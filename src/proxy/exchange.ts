// One client request and its response, which is also the undici dispatch handler: it sends
// the request to an endpoint (waiting for a connection slot, or first reading a small body in
// full), streams the upstream's response to the client with back-pressure, retries where the
// route's policy or Portico's own rule allows, hands a custom-http-errors status to the
// default backend, and answers failures (502/504, 408, 413, 503 busy) through its owner.
// Decisions about *whether* to forward are the ladder's (ladder.ts); Proxy wires the two.

// the global `performance` is a lazy accessor on globalThis: each read costs a global IC miss
import { performance } from 'node:perf_hooks';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { constants as h2constants } from 'node:http2';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { DEFAULT_POLICY, type ErrorBackend, type LoadBalanceAlgorithm, type Mirror, type ResponseRateLimit, type ResponseRewrite, type RetryPolicy, type Route } from '../model/types.ts';
import type { Logger } from '../observe/log.ts';
import type { BalancerState } from './balancer.ts';
import { BodyTooLarge, limitedBody } from './filters/body-limit.ts';
import { setErrorHeaders } from './filters/error-backend.ts';
import { rewriteResponseHeaders } from './filters/response-rewrite.ts';
import { repinCookie } from './filters/affinity.ts';
import { resetSink, watchSink } from './h2-upstream-body.ts';
import { mergeResponseHeaders, responseHeaders, trailersToRelay, type HeaderObject } from './headers.ts';
import type { LadderHead } from './ladder.ts';
import { LOCAL_RESPONSES, type LocalBody } from './local-answers.ts';
import type { RequestPlan } from './plan.ts';
import type { ErrorKind } from './request-info.ts';
import { cancelWait, type EndpointSlots, type SlotWaiter } from './slots.ts';
import type { TraceContext } from './trace-context.ts';
import { failureStatus, upstreamErrorKind } from './upstream-errors.ts';
import { PLAIN_HTTP, type Upstream, type UpstreamMode } from './upstreams.ts';
import { kExchange, type MarkedExchange, type MarkedRequest, type MarkedResponse } from './exchange-mark.ts';

const { R408, R413, R431, R400, R503_BUSY } = LOCAL_RESPONSES;

/** What an exchange needs from the proxy that runs it. */
export interface ExchangeOwner {
  readonly log: Logger;
  /** Whether requests are reported (timing is measured only then). */
  readonly reporting: boolean;
  /** ProxySettings.clientBodyBufferSize. */
  readonly bodyBufferSize: number;
  /** ProxySettings.responseRequestId. */
  readonly responseRequestId: boolean;
  /** ProxySettings.hsts, read per HTTPS response. */
  readonly hsts: string | null;
  /** The proxy is shutting down: no retries. */
  readonly closing: boolean;
  /** Answer locally (Proxy.respond). */
  respond(ex: Exchange, body: LocalBody, close?: boolean, extra?: readonly string[] | null): void;
  /** An endpoint of a route's error backend (default-backend), or null when it has none. */
  errorUpstream(key: string, clientIp: string): { state: BalancerState; upstream: Upstream } | null;
  /** The exchange left the list of exchanges in flight (idle detection). */
  unlinkLive(ex: Exchange): void;
  /** The response closed: account and report. */
  exchangeClosed(ex: Exchange): void;
  /** Sends the copy of a request its route mirrors (first attempt only). */
  mirrorCopy(ex: Exchange): void;
}

const CLIENT_GONE = new Error('client closed the connection');
/** Aborts an upstream answer that the route's default-backend replaces (custom-http-errors). */
const INTERCEPT = new Error('replacing this answer with the default backend\'s');
/** Listener for errors nobody else handles (watchH2Body). */
const NGHTTP2_INTERNAL_ERROR = h2constants.NGHTTP2_INTERNAL_ERROR;

function ignoreError(): void {}

/**
 * A response that cannot be completed any more (the upstream failed or the body was cut after
 * the head went out): HTTP/1.1 loses its connection; an HTTP/2 stream is reset with
 * INTERNAL_ERROR, which clients (gRPC's among them) take as a failed call, where the NO_ERROR
 * of a plain destroy() would leave some waiting for the rest until their deadline.
 */
export function cutResponse(res: ServerResponse): void {
  const stream = (res as unknown as { stream?: { close(code: number): void; destroyed: boolean } }).stream;
  if (stream !== undefined && !stream.destroyed) stream.close(NGHTTP2_INTERNAL_ERROR);
  else res.destroy();
}

/** Aborts an upstream response whose status the route retries (proxy-next-upstream http_<status>). */
const RETRY_ON_STATUS = new Error('retrying on another endpoint for this status');

// The response's 'close' listener is shared; the exchange hangs off the response.
/**
 * An HTTP/2 client reset its stream while its body was streaming upstream. Node then still
 * ends the request's readable side (what it had buffered, then 'end'), which would reach the
 * upstream as a whole body, only shorter; 'aborted' comes first (synchronously, with the
 * RST_STREAM), so the upstream request is aborted here, before that 'end'.
 */
function onClientStreamAborted(this: MarkedRequest): void {
  const ex = this[kExchange];
  if (ex !== undefined) (ex as Exchange).clientAborted();
}

export function onResponseClose(this: MarkedResponse): void {
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

export const PHASE_NEW = 0;
export const PHASE_WAITING = 1; // dispatched, no response yet
export const PHASE_STREAMING = 2; // response headers sent to the client
export const PHASE_DONE = 3; // upstream side finished (ok or not), or answered locally

/** One client request/response; also the undici dispatch handler. */
export class Exchange implements LadderHead, MarkedExchange, SlotWaiter, Dispatcher.DispatchHandler {
  readonly proxy: ExchangeOwner;
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
  /** The route's edits of the upstream's Location / Set-Cookie headers, or null. */
  rewrite: ResponseRewrite | null = null;
  /** Where the route sends a copy of the request (mirror-target), or null. */
  mirror: Mirror | null = null;
  /** The route's response bandwidth (limit-rate), or null. */
  limitRate: ResponseRateLimit | null = null;
  /** When the response body started (limit-rate), 0 before. */
  rateStart = 0;
  /** Pending while the upstream is paused to keep to limit-rate. */
  throttleTimer: NodeJS.Timeout | null = null;
  /** Sent to the error backend already (its answers are relayed, never intercepted again). */
  intercepted = false;
  /** The error backend endpoint an intercepted answer goes to, and the status it replaces. */
  interceptTo: { state: BalancerState; upstream: Upstream } | null = null;
  interceptCode = 0;
  // routing
  route: Route | null = null;
  /** The route's plan when it has one (ladder.ts), for its body limit. */
  plan: RequestPlan | null = null;
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
  /**
   * The request body as handed to undici while it streams (the request, or its body-limit
   * wrapper): undici pauses it while the upstream takes no more (live-exchanges.ts tells the
   * upstream's stall, proxy-send-timeout, from the client's, client-body-timeout, by it).
   */
  upstreamBody: Readable | null = null;
  /** A small body read in full before dispatch (ProxySettings.clientBodyBufferSize). */
  bufferedBody: Buffer | null = null;
  /** The HTTP/2 stream a streamed body is piped into (HTTP/2 backends; h2-upstream-body.ts). */
  h2Sink: Writable | null = null;
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

  /** MatchRequest.rawHeaders: the header lines as received, for rules with header predicates (a prototype getter). */
  get rawHeaders(): readonly string[] {
    return this.req.rawHeaders;
  }

  /** PlanHead.connection: the client socket (a prototype getter: no field on every exchange). */
  get connection(): Socket | null {
    return this.req.socket as Socket | null;
  }

  constructor(proxy: ExchangeOwner, req: IncomingMessage, res: ServerResponse, scheme: 'http' | 'https') {
    this.proxy = proxy;
    this.req = req;
    this.res = res;
    this.scheme = scheme;
    this.method = req.method ?? '';
    this.t0 = proxy.reporting ? performance.now() : 0;
  }

  onClose(): void {
    this.proxy.unlinkLive(this);
    if (this.throttleTimer !== null) {
      clearTimeout(this.throttleTimer);
      this.throttleTimer = null;
    }
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
      if (c !== null && this.phase !== PHASE_NEW) this.abortUpstream(c, CLIENT_GONE);
    }
    this.proxy.exchangeClosed(this);
  }

  // ---- dispatch -----------------------------------------------------------------------

  /**
   * Send the request to `up`: at once, or first reading a small body in full so that a slow
   * client holds no upstream connection while it uploads (ProxySettings.clientBodyBufferSize).
   */
  begin(up: Upstream): void {
    if (!this.hasBody) {
      this.dispatchTo(up);
      return;
    }
    // the route's proxy-request-buffering / client-body-buffer-size, else the global size
    const own = this.route!.filters.bodyBufferSize;
    const max = own === undefined ? this.proxy.bodyBufferSize : own;
    // a body already complete is read too when a mirror copies it (its bytes are still unread)
    if (max <= 0 || this.bodyLength < 0 || this.bodyLength > max || (this.req.complete && this.mirror === null)) {
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
    if (this.attempts > 1 && !this.intercepted) this.repin(up);
    else if (this.mirror !== null && this.attempts === 1) this.proxy.mirrorCopy(this);
    this.phase = PHASE_WAITING;
    this.controller = null;
    let opts = this.opts;
    const mode = this.mode;
    if (opts === null) {
      // TLS backends: the SNI is the mode's, not derived from the client's Host header
      // (undici would otherwise take it from Host, and reconnect whenever it changes).
      // Cleartext: the endpoint's host, which spares undici deriving a server name from Host
      // for every request (Upstream.hostname).
      const streamed = this.bufferedBody === null && this.hasBody ? (this.bodyLimit > 0 && this.bodyLength < 0 ? this.limitedBody() : this.req) : null;
      this.upstreamBody = streamed;
      if (streamed !== null && this.req.httpVersionMajor === 2) this.req.once('aborted', onClientStreamAborted);
      opts = this.opts = {
        path: this.url,
        method: this.req.method as Dispatcher.HttpMethod,
        headers: this.headers,
        body: this.bufferedBody ?? streamed,
        servername: mode.servername ?? up.hostname,
      };
      if (mode.h2 && opts.body !== null && !Buffer.isBuffer(opts.body)) this.watchH2Body(opts.body as Readable);
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

  /**
   * A body streamed to an HTTP/2 backend: its HTTP/2 stream is remembered for abortUpstream.
   * undici's HTTP/2 abort also destroys the body with its reason, even before it has piped it
   * (the client gone while the request waited for its stream): an HTTP/2 client's request emits
   * that error, so something must listen (an HTTP/1.1 IncomingMessage drops it then).
   */
  private watchH2Body(body: Readable): void {
    watchSink(body, (sink) => (this.h2Sink = sink));
    if (body === this.req && this.req.httpVersionMajor === 2) body.on('error', ignoreError);
  }

  /** Aborts the upstream request; a body still streaming to an HTTP/2 backend is reset first. */
  private abortUpstream(c: Dispatcher.DispatchController, err: Error): void {
    const sink = this.h2Sink;
    if (sink !== null) {
      this.h2Sink = null;
      resetSink(sink, err);
    }
    c.abort(err);
  }

  /** A retry went to `up`: with session-cookie-change-on-failure, the client is pinned there. */
  private repin(up: Upstream): void {
    const affinity = this.route === null ? undefined : this.route.filters.affinity;
    if (affinity === undefined || affinity.changeOnFailure !== true || this.state === null) return;
    const action = this.route!.action;
    const onCanary = action.kind === 'forward' && action.canary !== undefined && action.canary.backend.endpointsKey === this.backendKey;
    // affinity-canary-behavior legacy: the canary backend has no affinity (proxy.ts resolve)
    if (onCanary && (action.canary!.legacy === true || affinity.canaryBehavior === 'legacy')) return;
    const cookie = repinCookie(affinity, this.state, up, onCanary, this.headers);
    if (cookie !== null) this.setCookie = cookie;
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
    this.abandonUpload(new Error('client body timeout'), R408);
  }

  /**
   * The upstream took none of the request body for its send timeout (nginx proxy_send_timeout,
   * the route's proxy-send-timeout): 504 when nothing has been sent yet, else the connection is
   * cut; the upstream request is aborted either way.
   */
  sendTimedOut(): void {
    if (this.error === null) this.error = 'send_timeout';
    this.abandonUpload(new Error('upstream send timeout'), LOCAL_RESPONSES.R504);
  }

  private abandonUpload(reason: Error, answer: LocalBody): void {
    const c = this.controller;
    if (c !== null && this.phase !== PHASE_DONE) {
      this.phase = PHASE_DONE;
      this.abortUpstream(c, reason);
    }
    if (this.waitingFor !== null) {
      cancelWait(this);
      this.releaseUpstream();
    }
    const res = this.res;
    if (res.headersSent || res.destroyed) {
      cutResponse(res);
      return;
    }
    const sock = this.req.socket as Socket | null;
    this.proxy.respond(this, answer, true);
    // the client may still be sending: do not wait for it to stop, once the 408 is out
    if (this.req.httpVersionMajor === 1 && sock !== null) res.once('finish', () => sock.destroy());
  }

  /**
   * The request body cut at the route's limit: past it the upstream request is aborted (413
   * when no response has started, else the client stream is reset), whatever undici does with
   * a failed body stream. To an HTTP/2 backend its stream is reset first (h2-upstream-body.ts).
   */
  private limitedBody(): Readable {
    return limitedBody(this.req, this.bodyLimit, (err) => {
      if (this.error === null) this.error = 'body_too_large';
      const c = this.controller;
      if (c !== null && this.phase !== PHASE_DONE) this.abortUpstream(c, err);
      else if (this.phase === PHASE_STREAMING) cutResponse(this.res);
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
    // the body passed its limit while the request waited for a connection (limitedBody)
    else if (this.error === 'body_too_large') controller.abort(new BodyTooLarge(this.bodyLimit));
  }

  onResponseStart(controller: Dispatcher.DispatchController, status: number, parsed: HeaderObject): void {
    if (status < 200) return; // 1xx informational (103 Early Hints): not relayed
    if (this.tUp !== 0) this.upstreamHeaderMs = performance.now() - this.tUp;
    this.upstreamStatus = status;
    if (this.clientGone) {
      this.abortUpstream(controller, CLIENT_GONE);
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
        this.abortUpstream(controller, INTERCEPT);
        return;
      }
    }
    this.phase = PHASE_STREAMING;
    const res = this.res;
    try {
      const headers = responseHeaders(parsed, this.proxy.responseRequestId ? this.requestId : null);
      // the upstream's own headers only: our cookie and the route's headers are not edited
      if (this.rewrite !== null) rewriteResponseHeaders(headers, this.rewrite);
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
      this.abortUpstream(controller, err as Error);
    }
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.clientGone) return;
    this.bytes += chunk.length;
    if (this.limitRate !== null) this.throttle(controller);
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

  /**
   * limit-rate: when the body sent so far is ahead of `afterBytes + bytesPerSecond × elapsed`,
   * the upstream is paused for as long as the excess takes at that rate (nginx limit_rate).
   */
  private throttle(controller: Dispatcher.DispatchController): void {
    const lr = this.limitRate!;
    const now = performance.now();
    if (this.rateStart === 0) this.rateStart = now;
    const excess = this.bytes - lr.afterBytes - (lr.bytesPerSecond * (now - this.rateStart)) / 1000;
    if (excess <= 0 || this.throttleTimer !== null) return;
    const delay = (excess * 1000) / lr.bytesPerSecond;
    if (delay < 1) return;
    controller.pause();
    this.throttleTimer = setTimeout(() => {
      this.throttleTimer = null;
      const c = this.controller;
      // a client not reading yet resumes the upstream from its 'drain' instead
      if (c !== null && !this.clientGone && !this.res.writableNeedDrain) c.resume();
    }, delay);
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
        if (c !== null && !this.clientGone && this.throttleTimer === null) c.resume();
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
    // an abort undici started itself (its header or body timeout, a backend error) leaves the
    // HTTP/2 stream a body still streams into open: reset it, as our own aborts do
    const sink = this.h2Sink;
    if (sink !== null) {
      this.h2Sink = null;
      resetSink(sink, err);
    }
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
      cutResponse(res);
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
      const next = this.state.pick(this.loadBalance(), this.clientIp, failed);
      if (next !== null) {
        this.debug('retrying on another endpoint', err, failed);
        this.dispatchTo(next);
        return;
      }
    }
    this.error = kind;
    this.debug('upstream failed', err, failed);
    this.proxy.respond(this, failureStatus(kind) === 504 ? LOCAL_RESPONSES.R504 : LOCAL_RESPONSES.R502);
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
    return st.pick(this.loadBalance(), this.clientIp, failed);
  }

  /** The balancing of the backend this request went to: a canary backend has its own (proxy.ts resolve). */
  private loadBalance(): LoadBalanceAlgorithm {
    const route = this.route!;
    const action = route.action;
    if (action.kind === 'forward' && action.canary !== undefined && action.canary.backend.endpointsKey === this.backendKey) return action.canary.loadBalance ?? DEFAULT_POLICY.loadBalance;
    return route.policy.loadBalance;
  }

  private debug(msg: string, err: unknown, up: Upstream | null): void {
    const log = this.proxy.log;
    if (log.enabled('debug')) log.debug(msg, { err, requestId: this.requestId, upstream: up?.key ?? this.lastUpstream });
  }

  /** For the client-socket idle timeout: true while we legitimately wait on the upstream. */
  get awaitingUpstream(): boolean {
    return this.phase === PHASE_WAITING && this.req.complete;
  }

  /** The client's HTTP/2 stream was reset mid-upload (onClientStreamAborted): the upstream request is aborted. */
  clientAborted(): void {
    if (this.phase === PHASE_DONE || this.clientGone) return;
    this.clientGone = true;
    if (this.error === null) this.error = 'client_abort';
    const c = this.controller;
    // not started yet: onRequestStart aborts it as it starts
    if (c !== null) this.abortUpstream(c, CLIENT_GONE);
  }

  clientError(status: number): boolean {
    // a complete request: the parser failed on a later one pipelined behind it
    if (this.res.headersSent || this.phase === PHASE_DONE || this.req.complete) return false;
    this.error = 'bad_request';
    this.proxy.respond(this, status === 431 ? R431 : status === 408 ? R408 : R400, true);
    // from here on the upstream side must not touch the response
    this.clientGone = true;
    const c = this.controller;
    if (c !== null) this.abortUpstream(c, CLIENT_GONE);
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
