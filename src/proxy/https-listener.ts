// The HTTPS listener: one TLS server (SNI picks the certificate, ALPN picks the protocol),
// whose connections go to an HTTP/1.1 server or an HTTP/2 server by the negotiated protocol.
// Both hand requests to the same Proxy.handle — there is one proxy implementation, not two.
// Upgrades (WebSocket) work on HTTP/1.1 connections. The upstream side is whatever the route's
// backend protocol says (HTTP/1.1 unless `portico.dev/backend-protocol` asks for TLS or HTTP/2);
// gRPC clients come in here (h2 through ALPN) and reach GRPC/GRPCS backends, trailers included.

import http2 from 'node:http2';
import tls from 'node:tls';
import type http from 'node:http';
import type { Socket } from 'node:net';
import type { Proxy } from './proxy.ts';
import { createHttpListener, type ListenerOptions } from './listener.ts';
import { adoptProxiedAddress } from './proxy-protocol.ts';

export interface HttpsListenerOptions extends ListenerOptions {
  /** From TlsManager.serverOptions(): certificates, SNI callback, protocol and cipher settings. */
  tls: tls.TlsOptions;
  /** Offer HTTP/2 through ALPN (default true). */
  http2?: boolean;
  /** Time a TLS handshake may take (default 10 s). */
  handshakeTimeoutMs?: number;
  /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS (default 128, as nginx's http2_max_concurrent_streams). */
  maxConcurrentStreams?: number;
  /**
   * Streams of one HTTP/2 connection whose request body is still arriving and that have no
   * response yet (default 32): past it, a new stream with a body is refused (RST_STREAM
   * REFUSED_STREAM, which clients may retry). One connection could otherwise hold 128 upstream
   * connections with stalled bodies. Streams already answered (gRPC streaming calls, once
   * their response head is out) do not count.
   */
  maxUploadingStreams?: number;
}

const kUploading = Symbol('portico.uploadingStreams');
const kTls = Symbol('portico.tls');
/**
 * An HTTP/2 connection's TLS version and cipher, set as `tls` on each of its requests: what the
 * access log (observe/access-log-format.ts, AccessLogRequest.tls) reads for HTTP/2.
 */
export interface TlsSummary {
  version: string | null;
  cipher: string | null;
}
interface CountedSession {
  [kUploading]?: Set<http2.ServerHttp2Stream>;
  [kTls]?: TlsSummary;
}

/** Drop streams that finished or got their response head; what is left still counts. */
function prune(set: Set<http2.ServerHttp2Stream>): void {
  for (const st of set) if (st.closed || st.headersSent) set.delete(st);
}

export interface HttpsListener {
  /** The listening server (call listen() on it). */
  server: tls.Server;
  /** Closes idle HTTP/1.1 keep-alive connections and asks HTTP/2 clients to go away (GOAWAY). */
  closeIdleConnections(): void;
  /** Destroys every connection. */
  closeAllConnections(): void;
}

export function createHttpsListener(proxy: Proxy, opts: HttpsListenerOptions): HttpsListener {
  const h1 = createHttpListener(proxy, { ...opts, scheme: 'https' });
  const offerH2 = opts.http2 !== false;
  const sessions = new Set<http2.ServerHttp2Session>();
  const h2 = http2.createServer({
    maxSessionMemory: 32,
    // A header block as large as HTTP/1.1 allows, no larger.
    settings: { maxConcurrentStreams: opts.maxConcurrentStreams ?? 128, maxHeaderListSize: opts.maxHeaderSize ?? 16 * 1024 },
  });
  const maxUploading = opts.maxUploadingStreams ?? 32;
  h2.on('session', (session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    // the handshake is done: its version and cipher, read once per connection, for the access
    // log (by the time a request is logged its stream no longer reaches the session)
    const socket = session.socket as Partial<tls.TLSSocket>;
    (session as http2.ServerHttp2Session & CountedSession)[kTls] = {
      version: socket.getProtocol?.() ?? null,
      cipher: socket.getCipher?.()?.name ?? null,
    };
  });
  h2.on('request', (req, res) => {
    const ireq = req as unknown as http.IncomingMessage & { tls?: TlsSummary };
    const ires = res as unknown as http.ServerResponse;
    const stream = req.stream;
    const tlsSummary = (stream.session as (http2.ServerHttp2Session & CountedSession) | undefined)?.[kTls];
    if (tlsSummary !== undefined) ireq.tls = tlsSummary;
    if (!stream.endAfterHeaders) {
      const session = stream.session as (http2.ServerHttp2Session & CountedSession) | undefined;
      if (session !== undefined) {
        let set = session[kUploading];
        if (set === undefined) set = session[kUploading] = new Set();
        if (set.size >= maxUploading) prune(set); // answered streams are only found when it matters
        if (set.size >= maxUploading) {
          stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
          return;
        }
        const uploading = set;
        uploading.add(stream);
        const done = (): void => void uploading.delete(stream);
        req.once('end', done);
        stream.once('close', done);
      }
    }
    if (opts.intercept?.(ireq, ires)) return;
    proxy.handle(ireq, ires, 'https');
  });
  h2.on('sessionError', () => {});

  const server = tls.createServer({
    ...opts.tls,
    ALPNProtocols: offerH2 ? ['h2', 'http/1.1'] : ['http/1.1'],
    handshakeTimeout: opts.handshakeTimeoutMs ?? 10_000,
  });
  server.on('secureConnection', (socket: tls.TLSSocket) => {
    // a PROXY protocol source on the raw socket (proxy-protocol.ts) is the client address
    adoptProxiedAddress(socket);
    if (socket.alpnProtocol === 'h2') h2.emit('connection', socket);
    else h1.emit('connection', socket as unknown as Socket);
  });
  // Handshake failures (scanners, old clients, unknown CAs on the client side) are routine.
  server.on('tlsClientError', (_err, socket) => socket.destroy());
  server.on('close', () => {
    h1.close();
    h2.close();
  });

  return {
    server,
    closeIdleConnections() {
      h1.closeIdleConnections();
      for (const s of sessions) s.close();
    },
    closeAllConnections() {
      h1.closeAllConnections();
      for (const s of sessions) s.destroy();
    },
  };
}
