// node:http listener wiring for the proxy. `attachProxy` installs the same behaviour on any
// http/https server (the TLS listener can reuse it).

import http from 'node:http';
import type https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Proxy } from './proxy.ts';
import { kClosing, kExchange } from './exchange-mark.ts';
import type { ClosingSocket, MarkedRequest } from './exchange-mark.ts';
import { shouldUpgrade } from './upgrade.ts';

export interface ListenerOptions {
  /** Max bytes of request line + headers; above → 431. Default 16 KiB. */
  maxHeaderSize?: number;
  /** Idle time of a client keep-alive connection between requests. Default 65 s (above cloud LB idle timeouts). */
  keepAliveTimeoutMs?: number;
  /** Whole-request deadline (headers + body). Default 0 = off: stalls are caught by idleTimeoutMs instead. */
  requestTimeoutMs?: number;
  /** Time to receive the request head. Default keepAliveTimeoutMs + 1 s (Node needs it above keep-alive). */
  headersTimeoutMs?: number;
  /**
   * Called first for every request (e.g. `serveAcmeChallenge`); returns true when it answered
   * the request itself, which then does not reach the proxy.
   */
  intercept?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
  /** The scheme requests arrive with (X-Forwarded-Proto); 'https' when TLS is terminated in front. */
  scheme?: 'http' | 'https';
}

export const DEFAULT_MAX_HEADER_SIZE = 16 * 1024;

export function createHttpListener(proxy: Proxy, opts: ListenerOptions = {}): http.Server {
  const keepAlive = opts.keepAliveTimeoutMs ?? 65_000;
  const intercept = opts.intercept;
  const scheme = opts.scheme ?? 'http';
  const server = http.createServer(
    {
      maxHeaderSize: opts.maxHeaderSize ?? DEFAULT_MAX_HEADER_SIZE,
      insecureHTTPParser: false,
      requireHostHeader: true,
      joinDuplicateHeaders: false,
      shouldUpgradeCallback: shouldUpgrade,
      keepAliveTimeout: keepAlive,
      headersTimeout: opts.headersTimeoutMs ?? keepAlive + 1000,
      requestTimeout: opts.requestTimeoutMs ?? 0,
    },
    intercept === undefined
      ? (req, res) => {
          if (req.httpVersionMajor !== 1) versionNotSupported(res);
          else if ((req.socket as ClosingSocket)[kClosing] !== true) proxy.handle(req, res, scheme);
          // else: pipelined behind an answer that closes the connection: never served
        }
      : (req, res) => {
          if (req.httpVersionMajor !== 1) {
            versionNotSupported(res);
            return;
          }
          if ((req.socket as ClosingSocket)[kClosing] === true) return;
          let done = false;
          try {
            done = intercept(req, res);
          } catch (err) {
            proxy.log.error('request intercept failed', { err: err as Error });
          }
          if (!done) proxy.handle(req, res, scheme);
        },
  );
  attachProxy(server, proxy, scheme);
  return server;
}

/**
 * Install upgrade, client-error, CONNECT and idle-timeout handling. The caller routes
 * 'request' to `proxy.handle(req, res, scheme)` and should create the server with
 * `shouldUpgradeCallback: shouldUpgrade` (else non-WebSocket upgrades get 400).
 */
export function attachProxy(server: http.Server | https.Server, proxy: Proxy, scheme: 'http' | 'https'): void {
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    if (req.httpVersionMajor !== 1) {
      socket.on('error', () => socket.destroy());
      socket.end(rawError(505));
      return;
    }
    proxy.upgrade(req, socket, head, scheme);
  });
  server.on('clientError', onClientError);
  server.on('connect', onConnectMethod);
  // The idle timeout of client connections with a request in flight is the proxy's (one
  // periodic pass, no timer per socket); idle keep-alive connections are Node's
  // (keepAliveTimeout), slow request heads too (headersTimeout).
}

interface ServerSocket extends Socket {
  /** The response Node is currently writing on this socket (node:http internal). */
  _httpMessage?: object | null;
  /** The socket's HTTP parser and the request it last began to read (node:http internals). */
  parser?: { incoming?: MarkedRequest | null } | null;
}

const STATUS_LINE: Record<number, string> = {
  400: '400 Bad Request',
  405: '405 Method Not Allowed',
  408: '408 Request Timeout',
  431: '431 Request Header Fields Too Large',
  505: '505 HTTP Version Not Supported',
};

/**
 * A request line claiming HTTP/2.0 on an HTTP/1 connection (llhttp accepts the version for
 * the h2c preface): HTTP/2 is not spoken here, so RFC 9110 §15.6.6's 505, and the connection
 * closes — what follows is not HTTP/1 either.
 */
function versionNotSupported(res: http.ServerResponse): void {
  const body = 'http version not supported\n';
  res.shouldKeepAlive = false;
  res.writeHead(505, { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(body.length), connection: 'close' });
  res.end(body);
}

function rawError(status: number): string {
  const body = STATUS_LINE[status]!.slice(4).toLowerCase() + '\n';
  return (
    `HTTP/1.1 ${STATUS_LINE[status]}\r\n` +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    `Content-Length: ${body.length}\r\n` +
    'Connection: close\r\n\r\n' +
    body
  );
}

function onClientError(err: Error & { code?: string }, socket: Duplex): void {
  const s = socket as ServerSocket;
  const busy = s._httpMessage !== undefined && s._httpMessage !== null;
  const status =
    err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  if (busy && s.writable && err.code !== 'ECONNRESET') {
    // a request is in progress (its body failed to parse): answer through its response
    const ex = s.parser?.incoming?.[kExchange];
    if (ex !== undefined && ex.clientError(status)) return;
  }
  if (err.code === 'ECONNRESET' || !s.writable || busy) {
    s.destroy();
    return;
  }
  s.write(rawError(status));
  if (typeof s.destroySoon === 'function') s.destroySoon();
  else s.end();
}

function onConnectMethod(_req: http.IncomingMessage, socket: Duplex): void {
  socket.on('error', () => socket.destroy());
  const s = socket as Socket;
  if (!s.writable) {
    s.destroy();
    return;
  }
  s.write(rawError(405).replace('\r\n\r\n', '\r\nAllow: GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH, TRACE\r\n\r\n'));
  if (typeof s.destroySoon === 'function') s.destroySoon();
  else s.end();
}
