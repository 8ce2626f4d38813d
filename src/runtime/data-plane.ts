// The proxy and its HTTP and HTTPS listeners, over a Core: in the single process, or in each
// worker.

import type http from 'node:http';
import net from 'node:net';
import type { Settings } from '../config/settings.ts';
import { Proxy, createHttpListener, DEFAULT_PROXY_SETTINGS, type RequestInfo } from '../proxy/proxy.ts';
import { createHttpsListener } from '../proxy/https-listener.ts';
import { startHandshakesByProfile } from '../proxy/cipher-profiles.ts';
import { requireProxyProtocol } from '../proxy/proxy-protocol.ts';
import type { RateArbiter } from '../proxy/filters/rate-limit.ts';
import { enableSslPassthrough, type SslPassthrough } from '../proxy/ssl-passthrough.ts';
import { parseCidrs } from '../values/cidr.ts';
import { globalExternalAuth } from '../model/external-auth-options.ts';
import { serveAcmeChallenge, type ChallengeLookup } from '../acme/challenges.ts';
import type { RequestLog } from './access-log.ts';
import type { Logger } from '../observe/log.ts';
import type { Metrics } from '../observe/metrics.ts';
import type { Core } from './core.ts';
import { closeServer, listen } from './listen.ts';
import { startTracing, type Tracing } from './tracing.ts';
import { version } from './version.ts';

export interface DataPlane {
  readonly httpPort: number;
  readonly httpsPort: number;
  /**
   * New connections are still accepted for `delayMs`; then listeners close, idle keep-alive
   * connections close, and in-flight requests get `graceMs` to finish.
   */
  drain(delayMs: number, graceMs: number): Promise<void>;
  /**
   * Hands over to a worker already listening on the same ports (one started with new
   * settings): stops accepting at once but keeps serving — no 503, unlike drain — with
   * `Connection: close` on HTTP/1.1 answers and GOAWAY to HTTP/2 clients, so clients move to
   * new connections; connections still open after `graceMs` are closed.
   */
  retire(graceMs: number): Promise<void>;
}

/**
 * The proxy and its HTTP and HTTPS listeners (in the single process, or in each worker).
 * `reusePort`: a worker's own SO_REUSEPORT socket on the shared port (see workers/pool.ts)
 * instead of node:cluster's one socket shared by every worker.
 */
export async function startDataPlane(
  core: Core,
  settings: Settings,
  log: Logger,
  challenges: ChallengeLookup | undefined,
  accessLog: RequestLog | undefined,
  opts: { reusePort?: boolean; rateArbiter?: RateArbiter } = {},
): Promise<DataPlane> {
  const { endpoints, metrics, tls, reconciler } = core;
  const tracing: Tracing | undefined = settings.otlpEndpoint !== '' ? await startTracing(settings, log.child({ component: 'tracing' }), version()) : undefined;
  const proxy = new Proxy({
    config: reconciler.current,
    endpoints,
    log: log.child({ component: 'proxy' }),
    settings: {
      ...DEFAULT_PROXY_SETTINGS,
      connectTimeoutMs: settings.connectTimeoutMs,
      responseHeaderTimeoutMs: settings.responseHeaderTimeoutMs,
      sendTimeoutMs: settings.sendTimeoutMs,
      idleTimeoutMs: settings.idleTimeoutMs,
      trustedProxies: settings.trustedProxies,
      allowSourceRange: settings.allowSourceRange,
      denySourceRange: settings.denySourceRange,
      globalAuth: globalExternalAuth(settings.globalAuth),
      responseRequestId: settings.responseRequestId,
      bodyLimit: settings.bodyLimit,
      httpRedirectCode: settings.httpRedirectCode,
      sslRedirect: settings.sslRedirect,
      forceSslRedirect: settings.forceSslRedirect,
      allowTrace: settings.allowTrace,
      limitReqStatusCode: settings.limitReqStatusCode,
      limitConnStatusCode: settings.limitConnStatusCode,
      rateLimitShares: Math.max(1, settings.workers),
      clientBodyTimeoutMs: settings.clientBodyTimeoutMs,
      clientBodyDeadlineMs: settings.clientBodyDeadlineMs,
      clientBodyBufferSize: settings.clientBodyBufferSize,
      upstreamQueueTimeoutMs: settings.upstreamQueueTimeoutMs,
      maxConnectionsPerEndpoint: settings.maxConnectionsPerEndpoint,
      backendCa: settings.backendCa ?? null,
      hsts: settings.hsts ? `max-age=${settings.hstsMaxAge}${settings.hstsIncludeSubdomains ? '; includeSubDomains' : ''}` : null,
    },
    ...(opts.rateArbiter !== undefined ? { rateArbiter: opts.rateArbiter } : {}),
    onRequestDone: requestDone(accessLog, settings.requestMetrics ? metrics : undefined),
    ...(tracing !== undefined ? { tracer: tracing.tracer } : {}),
  });
  metrics.mirrorSource(() => proxy.mirrors?.counts ?? null);
  const acmeChallenges = challenges;
  const intercept = acmeChallenges ? (req: http.IncomingMessage, res: http.ServerResponse) => serveAcmeChallenge(acmeChallenges, req, res) : undefined;
  const listenerOptions = { maxHeaderSize: settings.maxHeaderSize, ...(intercept ? { intercept } : {}) };

  const httpServer = createHttpListener(proxy, listenerOptions);
  const proxyProtocol = settings.useProxyProtocol
    ? {
        trusted: settings.proxyProtocolTrustedCidrs.length === 0 ? null : parseCidrs(settings.proxyProtocolTrustedCidrs),
        onRejected: (reason: 'invalid' | 'timeout') => log.debug('connection closed: no valid PROXY protocol header', { reason }),
      }
    : null;
  if (proxyProtocol !== null) requireProxyProtocol(httpServer, proxyProtocol);
  metrics.watchListener('http', httpServer);
  const reusePort = opts.reusePort === true;
  const httpPort = await listen(httpServer, settings.httpPort, settings.bindAddress, reusePort);
  log.info('listening', { listener: 'http', address: settings.bindAddress, port: httpPort });

  const https = createHttpsListener(proxy, { ...listenerOptions, tls: tls.serverOptions(), http2: settings.http2 });
  tls.attach(https.server);
  // hosts with ssl-ciphers / ssl-prefer-server-ciphers start their handshakes from their own
  // context; first, so that the passthrough peek and the PROXY header reader run before it
  startHandshakesByProfile(https.server, {
    active: () => tls.hasCipherProfiles(),
    contextFor: (name) => tls.profileFor(name),
    onUnavailable: () => log.error('cannot start TLS handshakes with per-host ciphers on this Node version; connections to hosts with ssl-ciphers or ssl-prefer-server-ciphers are refused'),
  });
  // before the PROXY header reader, so that it runs after it (each wraps the listeners it finds);
  // without the flag the listener is exactly as before: no peek
  const passthrough: SslPassthrough | null = settings.sslPassthrough
    ? enableSslPassthrough(https.server, {
        targets: proxy,
        connectTimeoutMs: settings.connectTimeoutMs,
        onConnection: (route, outcome) => {
          metrics.passthroughConnection(route.host, outcome);
          if (outcome !== 'forwarded') log.debug('ssl-passthrough connection closed', { host: route.host, backend: route.backend.endpointsKey, outcome });
        },
      })
    : null;
  if (proxyProtocol !== null) requireProxyProtocol(https.server, proxyProtocol);
  metrics.watchListener('https', https.server);
  const httpsPort = await listen(https.server, settings.httpsPort, settings.bindAddress, reusePort);
  log.info('listening', { listener: 'https', address: settings.bindAddress, port: httpsPort, http2: settings.http2, sslPassthrough: settings.sslPassthrough });

  const closeIdle = (): void => {
    httpServer.closeIdleConnections();
    https.closeIdleConnections();
  };
  const closeAll = (): void => {
    httpServer.closeAllConnections();
    https.closeAllConnections();
    passthrough?.closeAll();
  };
  const drain = async (delayMs: number, graceMs: number): Promise<void> => {
    if (delayMs > 0) await sleep(delayMs);
    const listeners = [closeServer(httpServer), closeServer(https.server)];
    closeIdle();
    // Keep-alive connections that carry a request now are closed after its response.
    const idleTimer = setInterval(closeIdle, 100);
    const killTimer = setTimeout(closeAll, graceMs);
    await Promise.all([...listeners, proxy.close(graceMs)]);
    clearInterval(idleTimer);
    clearTimeout(killTimer);
    await tracing?.shutdown();
  };
  const retire = async (graceMs: number): Promise<void> => {
    proxy.retiring = true;
    // stop accepting without http.Server#close's closing of idle connections: a connection
    // accepted a moment ago has no request yet and counts as idle, and its client would see it
    // closed without an answer
    const closed = Promise.all([closeListener(httpServer), closeListener(https.server)]);
    const started = Date.now();
    const idleTimer = setInterval(() => {
      // after a second, a connection without a request in progress has had time to send one
      if (Date.now() - started >= 1000) closeIdle();
    }, 100);
    const killTimer = setTimeout(closeAll, graceMs);
    await closed;
    clearInterval(idleTimer);
    clearTimeout(killTimer);
    await proxy.close(1000);
    await tracing?.shutdown();
  };
  return { httpPort, httpsPort, drain, retire };
}

function requestDone(accessLog: RequestLog | undefined, metrics: Metrics | undefined): ((info: RequestInfo) => void) | undefined {
  if (!metrics) return accessLog ? (info) => logged(info) && accessLog.write(info) : undefined;
  if (!accessLog) return metrics.record;
  return (info) => {
    metrics.record(info);
    if (logged(info)) accessLog.write(info);
  };
}

/** Whether the exchange goes to the access log: not when its Ingress says enable-access-log "false". */
function logged(info: RequestInfo): boolean {
  const route = info.route;
  return route === null || route.filters.accessLog !== false;
}

/** Stops accepting; resolves when the server's last connection has closed. */
function closeListener(server: net.Server): Promise<void> {
  return new Promise((resolve) => net.Server.prototype.close.call(server, () => resolve()));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
