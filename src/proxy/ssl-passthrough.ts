// ingress-nginx's SSL passthrough (--enable-ssl-passthrough with the ssl-passthrough
// annotation) on the HTTPS listener: before the TLS server sees a connection, its ClientHello
// is read (client-hello.ts); when the SNI server name is a passthrough host of the current
// configuration, the connection is not decrypted but piped to an endpoint of that host's
// backend (the one the balancer picks, so endpoint changes apply at once), the ClientHello
// first, so the backend's own certificate is what the client sees. Any other connection gets
// its bytes put back and goes to the TLS server as before: it pays only for the peek.
//
// Where ingress-nginx runs a Go TCP proxy in front of nginx on port 443 and hands the other
// connections to nginx over a second loopback port, here the peek sits in the listener itself:
// no extra hop for terminated connections. It wraps the server's 'connection' listeners as
// proxy-protocol.ts does (call this first, then requireProxyProtocol: the PROXY header is read
// first, the ClientHello after it, and the PROXY source is the client address for the
// balancer and the global source lists).
//
// A tunnel: both directions piped with backpressure; a half-close is passed on (each side
// ends its write side when the other's read side ended); an error or a reset on either side
// destroys both; no traffic in either direction for `idleTimeoutMs` destroys both.

import net from 'node:net';
import type tls from 'node:tls';
import type { Route } from '../model/types.ts';
import { awaitClientHello } from './client-hello.ts';
import type { Upstream } from './upstreams.ts';

/** Time allowed for the ClientHello (the TLS handshake's own timeout starts after it). */
export const CLIENT_HELLO_TIMEOUT_MS = 10_000;
/** A tunnel with no traffic this long is closed (nginx stream proxy_timeout's default, 10m). */
export const PASSTHROUGH_IDLE_TIMEOUT_MS = 10 * 60_000;
/** Endpoints tried in all when connecting fails (nothing was sent to the client yet). */
const CONNECT_TRIES = 2;

/** How a passthrough connection ended up: piped, or closed for want of an endpoint. */
export type PassthroughOutcome = 'forwarded' | 'no-endpoint' | 'connect-failed' | 'denied';

/** What the listener asks the proxy (Proxy implements it). */
export interface PassthroughTargets {
  /** The route whose backend takes TLS connections for this SNI server name, or null: terminate. */
  passthroughRoute(serverName: string): Route | null;
  /** Whether the global source lists let this client address through (connection closed if not). */
  passthroughAllowed(clientIp: string): boolean;
  /** An endpoint of the route's backend, not `exclude` when another exists; null when it has none. */
  passthroughUpstream(route: Route, clientIp: string, exclude: Upstream | null): Upstream | null;
}

export interface SslPassthroughOptions {
  targets: PassthroughTargets;
  connectTimeoutMs: number;
  helloTimeoutMs?: number;
  idleTimeoutMs?: number;
  /** Each connection whose SNI named a passthrough host (metrics, debug logs). */
  onConnection?: (route: Route, outcome: PassthroughOutcome) => void;
}

export interface SslPassthrough {
  /** Open tunnels. */
  readonly size: number;
  /** Destroys every open tunnel (shutdown, after the grace period). */
  closeAll(): void;
}

/**
 * Puts the ClientHello peek in front of `server`'s 'connection' listeners. Call it after the
 * server is created and before requireProxyProtocol and listen.
 */
export function enableSslPassthrough(server: tls.Server, opts: SslPassthroughOptions): SslPassthrough {
  const listeners = server.listeners('connection') as ((socket: net.Socket) => void)[];
  server.removeAllListeners('connection');
  const helloTimeoutMs = opts.helloTimeoutMs ?? CLIENT_HELLO_TIMEOUT_MS;
  const idleTimeoutMs = opts.idleTimeoutMs ?? PASSTHROUGH_IDLE_TIMEOUT_MS;
  /** Each open tunnel's abort. */
  const tunnels = new Set<() => void>();

  const terminate = (socket: net.Socket, bytes: Buffer): void => {
    if (bytes.length > 0) socket.unshift(bytes);
    // the TLS socket reads the put-back bytes itself (see proxy-protocol.ts)
    for (const l of listeners) l.call(server, socket);
  };

  server.on('connection', (socket: net.Socket) => {
    awaitClientHello(socket, helloTimeoutMs, (peek, buf) => {
      const route = peek.kind === 'hello' && peek.serverName !== null ? opts.targets.passthroughRoute(peek.serverName) : null;
      if (route === null) {
        terminate(socket, buf);
        return;
      }
      const clientIp = socket.remoteAddress ?? '';
      if (!opts.targets.passthroughAllowed(clientIp)) {
        opts.onConnection?.(route, 'denied');
        socket.destroy();
        return;
      }
      connect(socket, buf, route, clientIp);
    });
  });

  /** Connects to an endpoint (another one once if that fails), then pipes. */
  function connect(client: net.Socket, hello: Buffer, route: Route, clientIp: string): void {
    let failed: Upstream | null = null;
    let tries = 0;
    // the client may leave (or the server be closed) while connecting
    const onClientGone = (): void => void upstream?.destroy();
    let upstream: net.Socket | null = null;
    client.on('error', onClientGone);
    client.on('close', onClientGone);
    const attempt = (): void => {
      const up = opts.targets.passthroughUpstream(route, clientIp, failed);
      if (up === null || up === failed) {
        finish(tries === 0 ? 'no-endpoint' : 'connect-failed');
        return;
      }
      tries++;
      const sock = net.connect({ host: up.endpoint.address, port: up.endpoint.port, allowHalfOpen: true });
      upstream = sock;
      const connectTimer = setTimeout(() => sock.destroy(new Error('connect timeout')), opts.connectTimeoutMs);
      connectTimer.unref();
      const onFail = (): void => {
        clearTimeout(connectTimer);
        sock.destroy();
        upstream = null;
        if (client.destroyed) return;
        if (tries < CONNECT_TRIES) {
          failed = up;
          attempt();
        } else {
          finish('connect-failed');
        }
      };
      sock.once('error', onFail);
      sock.once('connect', () => {
        clearTimeout(connectTimer);
        sock.removeListener('error', onFail);
        client.removeListener('error', onClientGone);
        client.removeListener('close', onClientGone);
        if (client.destroyed) {
          sock.destroy();
          return;
        }
        opts.onConnection?.(route, 'forwarded');
        pipe(client, sock, hello, up);
      });
    };
    const finish = (outcome: PassthroughOutcome): void => {
      client.removeListener('error', onClientGone);
      client.removeListener('close', onClientGone);
      opts.onConnection?.(route, outcome);
      client.destroy();
    };
    attempt();
  }

  function pipe(client: net.Socket, upstream: net.Socket, hello: Buffer, up: Upstream): void {
    const abort = (): void => {
      client.destroy();
      upstream.destroy();
    };
    tunnels.add(abort);
    up.inflight++; // least-conn counts tunnels as it counts upgraded connections
    let open = 2;
    const closed = (): void => {
      if (--open !== 0) return;
      tunnels.delete(abort);
      up.inflight--;
    };
    // a FIN from the client ends only its direction (the server socket's default would end both)
    client.allowHalfOpen = true;
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.setTimeout(idleTimeoutMs, abort);
    upstream.setTimeout(idleTimeoutMs, abort);
    client.on('error', abort);
    upstream.on('error', abort);
    // a side that closed cleanly lets the other flush what it still has, then end
    client.once('close', (hadError: boolean) => {
      if (hadError) upstream.destroy();
      else upstream.end();
      closed();
    });
    upstream.once('close', (hadError: boolean) => {
      if (hadError) client.destroy();
      else client.end();
      closed();
    });
    upstream.write(hello);
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
  }

  return {
    get size() {
      return tunnels.size;
    },
    closeAll() {
      for (const abort of tunnels) abort();
    },
  };
}
