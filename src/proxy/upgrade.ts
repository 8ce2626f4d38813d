// Upgrade requests (WebSocket) go through http-proxy-3's `ws()`, which relays the upstream's
// 101 *and* its refusals (401/404/426 ...) unchanged, then pipes the two sockets.
//
// Only `GET` + `Upgrade: websocket` is upgraded. Listeners made by createHttpListener pass
// `shouldUpgrade` as Node's `shouldUpgradeCallback`, so any other Upgrade token (h2c, ...) never
// reaches this file: Node serves it as a plain HTTP/1.1 request and the proxy strips the
// Upgrade header (RFC 9110 §7.8 lets a server ignore Upgrade). A server that does not install
// the callback gets 400 here for those.
//
// TLS backends (HTTPS/GRPCS) get the upgrade over TLS (an https.Agent per upstream mode carries
// SNI, verification and CAs); cleartext HTTP/2 backends (GRPC/H2C) get it as HTTP/1.1 on the
// same port, like before: there is no WebSocket over h2c here.
//
// Open upgraded connections count toward least-conn (Upstream.inflight) until the client
// socket closes. They have no idle timeout (WebSocket apps ping), and are not retried on
// connect errors (http-proxy-3 ends the client socket after its error callback) → 502/504.

import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createRequire } from 'node:module';
import type { ProxyServer } from 'http-proxy-3';
import type { Logger } from '../observe/log.ts';
import type { Route } from '../model/types.ts';
import type { RequestPlan } from './plan.ts';
import type { CidrMatcher } from '../values/cidr.ts';
import { scanInbound } from './inbound.ts';
import { requestBytes } from './headers.ts';
import type { InboundHead } from './inbound.ts';
import type { MatchRequest } from '../model/predicates.ts';
import { decide, settle, type LadderContext, type LadderHead, type Resolved } from './ladder.ts';
import { answerHeaders, LOCAL_RESPONSES, writeRawAnswer, type LocalBody } from './local-answers.ts';
import type { ErrorKind, RequestInfo } from './request-info.ts';
import type { ProxySettings } from './settings.ts';
import { beginTrace, traceRoute, type RequestTracer, type TraceContext } from './trace-context.ts';
import { failureStatus, upstreamErrorKind } from './upstream-errors.ts';
import { backendTlsOptions } from './upstreams.ts';
import type { Upstream, UpstreamMode } from './upstreams.ts';

const { R400, R500, R503, R503_CLOSING, R502, R504 } = LOCAL_RESPONSES;

export interface UpgraderDeps {
  settings: ProxySettings;
  log: Logger;
  trusted: CidrMatcher;
  resolve: (head: InboundHead & MatchRequest) => Resolved;
  /** The decision ladder's context: the same as plain requests'. */
  ladder: LadderContext;
  /** How the route's endpoints are reached (protocol, TLS). */
  mode: (route: Route) => UpstreamMode;
  /** Tracing (--otlp-endpoint): an upgrade is one span, from the request to the socket's close. */
  tracer: RequestTracer | null;
  onDone: (info: RequestInfo) => void;
}

/** For `http.createServer({ shouldUpgradeCallback })`: upgrade only `GET` + `Upgrade: websocket`. */
export function shouldUpgrade(req: IncomingMessage): boolean {
  if (req.method !== 'GET') return false;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i]!;
    if (n.length === 7 && n.toLowerCase() === 'upgrade') {
      return raw[i + 1]!.trim().toLowerCase() === 'websocket';
    }
  }
  return false;
}

class UpgradeCtx implements LadderHead {
  host = '';
  url = '';
  path = '';
  hasBody = false;
  bodyLength = -1;
  reject = 0;
  requestId = '';
  clientIp = '';
  accessScheme = '';
  headers: string[] = [];
  upgrade = '';
  te = false;
  readonly t0 = performance.now();
  readonly scheme: 'http' | 'https';
  readonly method: string;
  route: Route | null = null;
  plan: RequestPlan | null = null;
  /** The endpointsKey chosen (the route's backend or its canary's), null before one is. */
  backendKey: string | null = null;
  trace: TraceContext | null = null;
  upstream: Upstream | null = null;
  status = 0;
  responded = false;
  error: ErrorKind | null = null;
  bytesSent = 0;
  answerHeaders: string[] | null = null;
  /** Not sent: a 101 carries no CORS or other response headers of ours. */
  responseHeaders: string[] | null = null;
  onDone: (() => void) | null = null;
  refusal?: 'rate_limited' | 'connection_limited';
  req: IncomingMessage | null = null;
  connection: Socket | null = null;

  /** MatchRequest.rawHeaders: the header lines as received (rules with header predicates read them). */
  get rawHeaders(): readonly string[] {
    return this.req === null ? NO_HEADERS : this.req.rawHeaders;
  }

  constructor(scheme: 'http' | 'https', method: string) {
    this.scheme = scheme;
    this.method = method;
  }
}

const NO_HEADERS: readonly string[] = Object.freeze([]);

const HOP_RESPONSE = ['keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'proxy-authenticate'];

export class Upgrader {
  /** Open upgrade exchanges (client sockets not yet closed). */
  open = 0;
  private readonly deps: UpgraderDeps;
  /** http-proxy-3's server, created on the first upgrade (see proxyServer()). */
  private server_: ProxyServer | null = null;
  private readonly ctxByReq = new WeakMap<IncomingMessage, UpgradeCtx>();
  private readonly sockets = new Set<Duplex>();
  /** Agents for TLS upstream modes, by mode key (no keep-alive: one socket per upgrade). */
  private readonly agents = new Map<string, https.Agent>();

  constructor(deps: UpgraderDeps) {
    this.deps = deps;
  }

  /**
   * http-proxy-3 (with its dependencies about 15 MiB of RSS) is loaded and set up on the first
   * WebSocket upgrade, not at start: the control-plane process of --workers never proxies, and
   * many deployments never see an upgrade.
   */
  private proxyServer(): ProxyServer {
    if (this.server_ !== null) return this.server_;
    const server = (this.server_ = loadHttpProxy().createProxyServer({
      xfwd: false, // we set X-Forwarded-* ourselves (trusted-proxy aware)
      prependPath: false,
      changeOrigin: false,
      connectTimeout: this.deps.settings.connectTimeoutMs,
    }));
    // errors of client sockets after the handshake land here (never let them throw)
    server.on('error', (err: Error, _req: IncomingMessage, res: unknown) => {
      this.deps.log.debug('websocket proxy error', { err });
      const s = res as Duplex | undefined;
      if (s !== undefined && typeof s.destroy === 'function') s.destroy();
    });
    server.on('proxyReqWs', (proxyReq: http.ClientRequest, req: IncomingMessage) => {
      const ctx = this.ctxByReq.get(req);
      if (ctx === undefined) return;
      const timeout = this.deps.settings.responseHeaderTimeoutMs;
      proxyReq.setTimeout(timeout, () => {
        const e = new Error('upstream response header timeout') as Error & { code: string };
        e.code = 'UND_ERR_HEADERS_TIMEOUT';
        proxyReq.destroy(e);
      });
      // registered before http-proxy-3's own listeners, so these run first
      proxyReq.once('upgrade', (proxyRes: IncomingMessage) => {
        proxyReq.setTimeout(0);
        ctx.responded = true;
        ctx.status = 101;
        if (this.deps.settings.responseRequestId === true) proxyRes.headers['x-request-id'] = ctx.requestId;
      });
      proxyReq.once('response', (proxyRes: IncomingMessage) => {
        proxyReq.setTimeout(0);
        ctx.responded = true;
        ctx.status = proxyRes.statusCode ?? 0;
        const h = proxyRes.headers;
        for (const name of HOP_RESPONSE) delete h[name];
        h['connection'] = 'close'; // http-proxy-3 closes the socket after relaying
        if (this.deps.settings.responseRequestId === true) h['x-request-id'] = ctx.requestId;
      });
    });
    return server;
  }

  handle(req: IncomingMessage, socket: Duplex, head: Buffer, scheme: 'http' | 'https'): void {
    socket.on('error', onSocketError);
    const ctx = new UpgradeCtx(scheme, req.method ?? '');
    ctx.req = req;
    ctx.connection = req.socket;
    try {
      this.start(ctx, req, socket, head);
    } catch (err) {
      this.deps.log.error('upgrade internal error', { err, requestId: ctx.requestId });
      ctx.error = 'internal';
      this.answer(ctx, socket, R500);
    }
  }

  private start(ctx: UpgradeCtx, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const deps = this.deps;
    scanInbound(ctx, req, ctx.scheme, deps.trusted);
    if (ctx.reject !== 0 || req.method !== 'GET' || ctx.upgrade.trim().toLowerCase() !== 'websocket') {
      if (deps.tracer !== null) ctx.trace = beginTrace(ctx.headers, deps.tracer);
      ctx.error = 'bad_request';
      this.answer(ctx, socket, R400);
      return;
    }
    const r = deps.resolve(ctx);
    if (deps.tracer !== null) ctx.trace = traceRoute(ctx.headers, deps.tracer, r.route);
    if (r.backend !== undefined) ctx.backendKey = r.backend;
    const d = decide(ctx, r, deps.ladder);
    if (d === null) {
      this.connect(ctx, req, socket, head, r);
      return;
    }
    if (!(d instanceof Promise)) {
      this.answer(ctx, socket, d);
      return;
    }
    d.then(
      (status) => {
        if (socket.destroyed) {
          ctx.error = 'client_abort';
          this.report(ctx, 0);
          return;
        }
        const answer = settle(ctx, status);
        if (answer === null) this.connect(ctx, req, socket, head, r);
        else this.answer(ctx, socket, answer);
      },
      (err: unknown) => {
        deps.log.error('upgrade internal error', { err: err as Error, requestId: ctx.requestId });
        ctx.error = 'internal';
        this.answer(ctx, socket, R500);
      },
    ).catch((err: unknown) => {
      deps.log.error('upgrade internal error', { err: err as Error, requestId: ctx.requestId });
      socket.destroy();
    });
  }

  /** Answers locally on the raw socket, closes it and reports the exchange. */
  private answer(ctx: UpgradeCtx, socket: Duplex, body: LocalBody): void {
    writeRawAnswer(socket, body, answerHeaders(body, ctx.requestId, ctx.answerHeaders, ctx.responseHeaders));
    this.report(ctx, body.status);
  }

  /** Refuses an upgrade before it was scanned (the proxy is shutting down). */
  refuseClosing(socket: Duplex): void {
    writeRawAnswer(socket, R503_CLOSING, answerHeaders(R503_CLOSING, '', null, null));
  }

  /** After the plan let the upgrade through: pick the endpoint's connection and relay. */
  private connect(ctx: UpgradeCtx, req: IncomingMessage, socket: Duplex, head: Buffer, r: Resolved): void {
    const deps = this.deps;
    const up = r.upstream;
    if (r.route === null || up === null) {
      ctx.error = 'no_endpoints';
      this.answer(ctx, socket, R503);
      return;
    }
    // upstream request headers: ours (hop-by-hop stripped, X-Forwarded-* set) + the upgrade pair
    const h: Record<string, string | string[]> = {};
    const flat = ctx.headers;
    for (let i = 0; i < flat.length; i += 2) {
      const name = flat[i]!;
      const key = name.toLowerCase();
      const prev = h[key];
      if (prev === undefined) h[key] = flat[i + 1]!;
      else if (Array.isArray(prev)) prev.push(flat[i + 1]!);
      else h[key] = [prev, flat[i + 1]!];
    }
    h['connection'] = 'Upgrade';
    h['upgrade'] = ctx.upgrade;
    req.headers = h as http.IncomingHttpHeaders;
    // http-proxy-3 sends req.url: make it the target routing used (normalised path, rewrites)
    req.url = ctx.url;

    ctx.upstream = up;
    up.inflight++;
    this.open++;
    this.sockets.add(socket);
    socket.once('close', () => {
      up.inflight--;
      this.open--;
      this.sockets.delete(socket);
      this.report(ctx, ctx.status);
    });
    this.ctxByReq.set(req, ctx);
    const mode = deps.mode(r.route);
    const target = mode.tls ? { target: 'https://' + up.key, secure: mode.verify, agent: this.agentFor(mode) } : { target: up.origin };
    this.proxyServer().ws(req, socket as Socket, head, target, (err: Error) => {
      const kind = upstreamErrorKind(err);
      if (ctx.error === null) ctx.error = kind;
      if (!ctx.responded) {
        ctx.responded = true;
        const body = failureStatus(kind) === 504 ? R504 : R502;
        ctx.status = body.status;
        deps.log.debug('websocket upstream failed', { err, requestId: ctx.requestId, upstream: up.key });
        // written now: http-proxy-3 calls socket.destroySoon() right after this callback
        writeRawAnswer(socket, body, answerHeaders(body, ctx.requestId, null, ctx.responseHeaders));
      } else {
        socket.destroy();
      }
    });
  }

  private agentFor(mode: UpstreamMode): https.Agent {
    let a = this.agents.get(mode.key);
    if (a === undefined) {
      // agent options take precedence over the request's, so the SNI is the mode's and not
      // derived from the client's Host header
      a = new https.Agent({ keepAlive: false, ...backendTlsOptions(mode, this.deps.settings.backendCa ?? null) });
      this.agents.set(mode.key, a);
    }
    return a;
  }

  /** The exchange ended (answered, or its socket closed): run onDone, end its span, report it. */
  private report(ctx: UpgradeCtx, status: number): void {
    const done = ctx.onDone;
    if (done !== null) {
      ctx.onDone = null;
      done();
    }
    const route = ctx.route;
    const info: RequestInfo = {
      method: ctx.method,
      host: ctx.host,
      path: ctx.path,
      scheme: ctx.scheme,
      status,
      bytesSent: 0,
      durationMs: performance.now() - ctx.t0,
      upstreamHeaderMs: null,
      upstream: ctx.upstream === null ? null : ctx.upstream.key,
      attempts: ctx.upstream === null ? 0 : 1,
      ingress: route === null ? null : route.ingress,
      routePath: route === null ? null : route.path,
      backend: route === null ? null : (ctx.backendKey ?? route.backend.endpointsKey),
      requestId: ctx.requestId,
      clientIp: ctx.clientIp,
      upgrade: true,
      error: ctx.error,
      route,
      request: ctx.req,
      requestBytes: ctx.req === null ? 0 : requestBytes(ctx.req, 0),
      upstreamStatus: status === 101 ? 101 : null,
      upstreamResponseMs: null,
    };
    const tracer = this.deps.tracer;
    if (ctx.trace !== null && tracer !== null) {
      try {
        tracer.end(ctx.trace, info);
      } catch (err) {
        this.deps.log.error('tracer failed', { err: err as Error });
      }
    }
    this.deps.onDone(info);
  }

  destroyAll(): void {
    for (const s of this.sockets) s.destroy();
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
  }
}

function onSocketError(this: Duplex): void {
  this.destroy();
}

let httpProxy: typeof import('http-proxy-3') | undefined;
function loadHttpProxy(): typeof import('http-proxy-3') {
  httpProxy ??= createRequire(import.meta.url)('http-proxy-3') as typeof import('http-proxy-3');
  return httpProxy;
}
