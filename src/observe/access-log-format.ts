// What an access log line says: the fields chosen with --access-log-fields (names in
// config/access-log-fields.ts; a test keeps both lists equal), read from the proxy's record of
// a finished request. Fields that need the request itself (headers, query string, TLS) are read
// from it here, only when chosen, so the proxy computes none of them per request.

import type { IncomingMessage } from 'node:http';

/** The request, as much of it as the access log reads (valid during the call only). */
export type AccessLogRequest = Pick<IncomingMessage, 'rawHeaders' | 'url' | 'httpVersion' | 'httpVersionMajor' | 'socket'> & {
  /**
   * HTTP/2: the connection's TLS version and cipher, set by the HTTPS listener when the request
   * arrives (proxy/https-listener.ts): once the stream is closed it no longer reaches its
   * session, and the request's `socket` stand-in does not pass TLS methods on.
   */
  tls?: { version: string | null; cipher: string | null };
};

/** What the proxy reports of a finished request (structurally, a subset of proxy's RequestInfo). */
export interface AccessLogRecord {
  method: string;
  host: string;
  path: string;
  scheme: 'http' | 'https';
  status: number;
  bytesSent: number;
  requestBytes: number;
  durationMs: number;
  upstreamStatus: number | null;
  upstreamHeaderMs: number | null;
  upstreamResponseMs: number | null;
  upstream: string | null;
  attempts: number;
  ingress: { namespace: string; name: string } | null;
  routePath: string | null;
  backend: string | null;
  requestId: string;
  clientIp: string;
  upgrade: boolean;
  error: string | null;
  request: AccessLogRequest | null;
}

type Writer = (r: AccessLogRecord) => unknown;

/** Every field's writer, in the default order. */
export const FIELD_WRITERS: Readonly<Record<string, Writer>> = {
  method: (r) => r.method,
  host: (r) => r.host,
  path: (r) => r.path,
  query: (r) => queryOf(r.request),
  protocol: (r) => protocolOf(r.request),
  scheme: (r) => r.scheme,
  status: (r) => r.status,
  bytesSent: (r) => r.bytesSent,
  requestBytes: (r) => r.requestBytes,
  durationMs: (r) => r.durationMs,
  upstreamStatus: (r) => r.upstreamStatus,
  upstreamHeaderMs: (r) => r.upstreamHeaderMs,
  upstreamResponseMs: (r) => r.upstreamResponseMs,
  upstream: (r) => r.upstream,
  attempts: (r) => r.attempts,
  ingress: (r) => (r.ingress === null ? null : { namespace: r.ingress.namespace, name: r.ingress.name }),
  routePath: (r) => r.routePath,
  backend: (r) => r.backend,
  requestId: (r) => r.requestId,
  clientIp: (r) => r.clientIp,
  userAgent: (r) => header(r.request, 'user-agent'),
  referer: (r) => header(r.request, 'referer'),
  tlsVersion: (r) => (r.request?.tls !== undefined ? r.request.tls.version : (tlsOf(r.request)?.getProtocol() ?? null)),
  tlsCipher: (r) => (r.request?.tls !== undefined ? r.request.tls.cipher : (tlsOf(r.request)?.getCipher()?.name ?? null)),
  upgrade: (r) => r.upgrade,
  error: (r) => r.error,
};

/** The entry for a record: an object with the chosen fields in order. Throws on an unknown name. */
export function compileFormat(fields: readonly string[]): (r: AccessLogRecord) => Record<string, unknown> {
  const writers: [string, Writer][] = fields.map((f) => {
    const w = FIELD_WRITERS[f];
    if (w === undefined) throw new Error(`unknown access log field "${f}"`);
    return [f, w];
  });
  return (r) => {
    const entry: Record<string, unknown> = {};
    for (const [name, w] of writers) entry[name] = w(r);
    return entry;
  };
}

/** The first value of a request header (case-insensitive), null when absent. */
function header(req: AccessLogRequest | null, lowerName: string): string | null {
  if (req === null) return null;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i]!;
    if (n.length === lowerName.length && n.toLowerCase() === lowerName) return raw[i + 1]!;
  }
  return null;
}

function queryOf(req: AccessLogRequest | null): string | null {
  const url = req?.url;
  if (url === undefined) return null;
  const q = url.indexOf('?');
  return q < 0 ? '' : url.slice(q + 1);
}

function protocolOf(req: AccessLogRequest | null): string | null {
  if (req === null) return null;
  return req.httpVersionMajor === 2 ? 'HTTP/2' : `HTTP/${req.httpVersion}`;
}

interface TlsInfo {
  getProtocol(): string | null;
  getCipher(): { name: string } | undefined;
}

/** The TLS socket under an HTTP/1 request, or null (plain HTTP, HTTP/2). */
function tlsOf(req: AccessLogRequest | null): TlsInfo | null {
  if (req === null || req.httpVersionMajor === 2) return null;
  const sock = req.socket as Partial<TlsInfo> | null | undefined;
  if (sock === null || sock === undefined || typeof sock.getProtocol !== 'function' || typeof sock.getCipher !== 'function') return null;
  return sock as TlsInfo;
}
