// One pass over req.rawHeaders: finds what routing needs (Host), builds the upstream header
// list (hop-by-hop dropped, X-Forwarded-* / X-Real-IP / X-Request-Id set), and notes framing.

import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { CidrMatcher } from '../values/cidr.ts';
import { needsNormalising, normalisePath } from './normalize-path.ts';
import { normalizeIp } from '../values/cidr.ts';
import {
  H_CONNECTION,
  H_CONTENT_LENGTH,
  H_FORWARD,
  H_HOST,
  H_REQUEST_ID,
  H_TRANSFER_ENCODING,
  H_XFF,
  H_XF_HOST,
  H_XF_PORT,
  H_XF_PROTO,
  classify,
  connectionTokens,
  dropNamed,
  isValidRequestId,
  newRequestId,
} from './headers.ts';

/** What the scan fills in. Exchange (plain requests) and upgrade contexts implement it. */
export interface InboundHead {
  /** Host header as received ('' when absent); authority for absolute-form targets. */
  host: string;
  /**
   * Request target sent upstream (origin-form, with query): its path is `path`, the query is
   * the client's as sent.
   */
  url: string;
  /** Path without query, normalised (normalize-path.ts): what routing matches. */
  path: string;
  /** The request has a body (framed by Content-Length > 0 or Transfer-Encoding). */
  hasBody: boolean;
  /** The declared Content-Length, -1 when there is none (chunked, HTTP/2 without one, no body). */
  bodyLength: number;
  /** 0, or the status to answer instead of proxying (400, 405, 501). */
  reject: number;
  requestId: string;
  /**
   * The scheme the client used: the listener's, or X-Forwarded-Proto (`http` / `https`) when
   * the peer is a trusted proxy (a load balancer terminating TLS). HTTPS redirects test this,
   * as ingress-nginx tests $pass_access_scheme.
   */
  accessScheme: string;
  /** Client IP (X-Real-IP value): the peer, or the rightmost untrusted XFF entry behind a trusted proxy. */
  clientIp: string;
  /** Upstream header list, flat. */
  headers: string[];
  /** Value of the Upgrade header ('' when none); not forwarded in `headers`. */
  upgrade: string;
  /**
   * The client sent `TE: trailers`. TE is hop-by-hop and never in `headers`; the proxy adds
   * `te: trailers` back for HTTP/2 upstreams, where gRPC requires it.
   */
  te: boolean;
}

/**
 * Fill `out` from `req`. Never throws on client input: problems set `out.reject`.
 * `scheme` is the listener's; `trusted` the trusted-proxy matcher; TRACE is refused (405)
 * unless `allowTrace`.
 */
export function scanInbound(
  out: InboundHead,
  req: IncomingMessage,
  scheme: string,
  trusted: CidrMatcher,
  allowTrace = false,
): void {
  const raw = req.rawHeaders;
  const headers: string[] = [];
  let host: string | null = null;
  let authority = false;
  let xff: string | null = null;
  let xfProto: string | null = null;
  let xfHost: string | null = null;
  let xfPort: string | null = null;
  let inboundId: string | null = null;
  let conn: Set<string> | null = null;
  let hasBody = false;
  let reject = 0;
  let sawLength = false;
  let bodyLength = -1;
  let sawChunked = false;
  let te = false;
  out.upgrade = '';

  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    switch (classify(name)) {
      case H_FORWARD:
        if (name.charCodeAt(0) === 58 /* : */) {
          // HTTP/2 pseudo-headers: :authority is the Host; :method, :path, :scheme are
          // already req.method / req.url and must not travel upstream as headers.
          if (name === ':authority' && host === null) {
            host = value;
            authority = true;
            headers.push('host', value);
          }
          break;
        }
        headers.push(name, value);
        break;
      case H_HOST:
        if (authority) {
          // RFC 9113 §8.3.1: a Host beside :authority must say the same
          if (value.toLowerCase() !== (host ?? '').toLowerCase()) reject = 400;
        } else if (host !== null) reject = 400; // RFC 9112 §3.2: more than one Host
        else {
          host = value;
          headers.push(name, value);
        }
        break;
      case H_XFF:
        xff = xff === null ? value : xff + ', ' + value;
        break;
      case H_CONNECTION: {
        const t = connectionTokens(value);
        if (t !== null) {
          if (conn === null) conn = t;
          else for (const x of t) conn.add(x);
        }
        break;
      }
      case H_CONTENT_LENGTH:
        // llhttp already refuses duplicates and bad values; keep the first only, to be safe
        if (!sawLength) {
          sawLength = true;
          bodyLength = Number(value);
          if (value !== '0') hasBody = true;
          headers.push(name, value);
        }
        break;
      case H_TRANSFER_ENCODING:
        // llhttp refuses codings that do not end in chunked; other codings before it
        // (`gzip, chunked`) would reach the upstream undeclared once undici re-frames: 501
        hasBody = true;
        sawChunked = true;
        if (value !== 'chunked' && value.trim().toLowerCase() !== 'chunked') reject = reject || 501;
        break;
      case H_XF_PROTO:
        if (xfProto === null) xfProto = value;
        break;
      case H_XF_HOST:
        if (xfHost === null) xfHost = value;
        break;
      case H_XF_PORT:
        if (xfPort === null) xfPort = value;
        break;
      case H_REQUEST_ID:
        if (inboundId === null) inboundId = value;
        break;
      default:
        // H_HOP, H_EXPECT, H_REAL_IP: dropped
        if (name.length === 7) {
          if (name.toLowerCase() === 'upgrade') out.upgrade = value;
        } else if (name.length === 2 && value.toLowerCase().indexOf('trailers') !== -1 && name.toLowerCase() === 'te') {
          te = true;
        }
        break;
    }
  }

  if (req.httpVersionMajor === 2 && !sawLength) {
    // HTTP/2 frames bodies itself (gRPC sends no Content-Length): a body follows unless the
    // HEADERS frame ended the stream
    hasBody = !(req as unknown as { stream?: { endAfterHeaders?: boolean } }).stream?.endAfterHeaders;
  }

  if (sawChunked) {
    // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing;
    // CL together with TE: llhttp rejects it already, belt and braces
    if (sawLength || (req.httpVersionMajor === 1 && req.httpVersionMinor === 0)) reject = 400;
  }

  // request target
  let url = req.url ?? '/';
  if (url.charCodeAt(0) !== 47 /* / */) {
    const abs = absoluteForm(url);
    if (abs === null) {
      reject = reject || 400;
    } else {
      url = abs.url;
      // RFC 9112 §3.2.2: the authority of an absolute-form target replaces Host
      if (host !== null) {
        for (let i = 0; i < headers.length; i += 2) {
          if (classify(headers[i]!) === H_HOST) headers[i + 1] = abs.authority;
        }
      } else {
        headers.push('host', abs.authority);
      }
      host = abs.authority;
    }
  }
  const q = url.indexOf('?');
  let path = q === -1 ? url : url.slice(0, q);
  if (needsNormalising(path)) {
    // route on, and forward, the normalised path (normalize-path.ts); the query is kept as sent
    const normal = normalisePath(path);
    if (normal === null) reject = reject || 400; // `..;`: see normalize-path.ts
    else if (normal !== path) {
      path = normal;
      url = q === -1 ? normal : normal + url.slice(q);
    }
  }
  out.url = url;
  out.path = path;
  // `Host: a, b` (two hosts folded into one line, or a list) and other characters no
  // authority has: which host would route it is a guess, and a guess is an attack surface
  if (host !== null && !validAuthority(host)) reject = reject || 400;
  // TRACE echoes the request (cookies, auth headers) back: refused unless asked for
  if (!allowTrace && req.method === 'TRACE') reject = reject || 405;
  out.host = host ?? '';
  out.hasBody = hasBody;
  out.bodyLength = bodyLength;
  out.reject = reject;
  out.te = te;

  // forwarded headers
  const sock = req.socket;
  const peerRaw = sock.remoteAddress ?? '';
  const peer = normalizeIp(peerRaw);
  const isTrusted = !trusted.empty && trusted.contains(peerRaw);
  const id = inboundId !== null && isValidRequestId(inboundId) ? inboundId : newRequestId();
  out.requestId = id;
  let clientIp = peer;
  let accessScheme = scheme;
  if (isTrusted) {
    if (xff !== null) clientIp = rightmostUntrusted(xff, trusted, peer);
    if (xfProto !== null) {
      const p = xfProto.trim().toLowerCase();
      if (p === 'https' || p === 'http') accessScheme = p;
    }
    headers.push('x-forwarded-for', xff === null ? peer : xff + ', ' + peer);
    headers.push('x-forwarded-proto', xfProto ?? scheme);
    if (xfHost !== null) headers.push('x-forwarded-host', xfHost);
    else if (host !== null) headers.push('x-forwarded-host', host);
    headers.push('x-forwarded-port', xfPort ?? localPort(sock), 'x-real-ip', clientIp, 'x-request-id', id);
  } else if (host !== null) {
    // the usual case in one push: each push is a builtin call here (six of them cost ~0.5 %)
    headers.push(
      'x-forwarded-for', peer,
      'x-forwarded-proto', scheme,
      'x-forwarded-host', host,
      'x-forwarded-port', localPort(sock),
      'x-real-ip', peer,
      'x-request-id', id,
    );
  } else {
    headers.push('x-forwarded-for', peer, 'x-forwarded-proto', scheme, 'x-forwarded-port', localPort(sock), 'x-real-ip', peer, 'x-request-id', id);
  }
  out.clientIp = clientIp;
  out.accessScheme = accessScheme;

  out.headers = conn === null ? headers : dropNamed(headers, conn);
}

// The listener's port, as a string, cached on the net.Server: `socket.localPort` costs a
// getsockname() per connection (noticeable with one request per connection).
const kPort = Symbol('portico.port');
interface ServerWithPort {
  [kPort]?: string;
}
function localPort(sock: Socket): string {
  const srv = (sock as Socket & { server?: ServerWithPort | null }).server;
  if (srv !== undefined && srv !== null) {
    const cached = srv[kPort];
    if (cached !== undefined) return cached;
    const port = sock.localPort === undefined ? '' : String(sock.localPort);
    srv[kPort] = port;
    return port;
  }
  return sock.localPort === undefined ? '' : String(sock.localPort);
}

/**
 * False for a Host value with a character no host[:port] has: list separators, whitespace,
 * and URL delimiters (`/`, `\`, `?`, `#`, `@`). Node already refuses control characters.
 */
function validAuthority(host: string): boolean {
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (c === 44 /* , */ || c === 32 || c === 9 || c === 47 /* / */ || c === 92 /* \ */ || c === 63 /* ? */ || c === 35 /* # */ || c === 64 /* @ */) {
      return false;
    }
  }
  return true;
}

function rightmostUntrusted(xff: string, trusted: CidrMatcher, peer: string): string {
  const parts = xff.split(',');
  let leftmost = peer;
  for (let i = parts.length - 1; i >= 0; i--) {
    const p = parts[i]!.trim();
    if (p === '') continue;
    if (!isIpLiteral(p)) return peer; // garbage in the chain: trust nothing beyond the peer
    leftmost = p;
    if (!trusted.contains(p)) return normalizeIp(p);
  }
  return normalizeIp(leftmost);
}

function isIpLiteral(s: string): boolean {
  // cheap shape check; the CIDR matcher does the real parsing
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 58) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70) || c === 46)) return false;
  }
  return s.length > 0;
}

/** `http://authority/path?q` → parts; null for anything else (e.g. `*`). */
function absoluteForm(url: string): { authority: string; url: string } | null {
  const lower = url.slice(0, 8).toLowerCase();
  let start: number;
  if (lower.startsWith('http://')) start = 7;
  else if (lower.startsWith('https://')) start = 8;
  else return null;
  let end = url.length;
  for (let i = start; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c === 47 || c === 63 || c === 35) {
      end = i;
      break;
    }
  }
  const authority = url.slice(start, end);
  if (authority === '' || authority.indexOf('@') !== -1) return null;
  let rest = url.slice(end);
  const hash = rest.indexOf('#');
  if (hash !== -1) rest = rest.slice(0, hash);
  if (rest === '') rest = '/';
  else if (rest.charCodeAt(0) === 63) rest = '/' + rest;
  return { authority, url: rest };
}
