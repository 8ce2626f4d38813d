// Header handling on flat raw arrays ([name, value, name, value, ...]), never on the lazily
// built `req.headers` object. Header names are classified once per distinct spelling and
// cached (bounded), so the per-request cost is one Map lookup per header line.

import crypto from 'node:crypto';
import type { IncomingMessage } from 'node:http';

// Header classes.
export const H_FORWARD = 0;
/** Hop-by-hop: dropped both ways. */
export const H_HOP = 1;
export const H_HOST = 2;
export const H_XFF = 3;
export const H_CONNECTION = 4;
export const H_CONTENT_LENGTH = 5;
export const H_TRANSFER_ENCODING = 6;
/** Dropped on requests only (Node answers 100-continue itself; undici refuses `expect`). */
export const H_EXPECT = 7;
export const H_XF_PROTO = 8;
export const H_XF_HOST = 9;
export const H_XF_PORT = 10;
/** X-Real-IP: we set it on requests; forwarded unchanged on responses. */
export const H_REAL_IP = 11;
export const H_REQUEST_ID = 12;

const CLASSES = new Map<string, number>([
  ['keep-alive', H_HOP],
  ['proxy-connection', H_HOP],
  ['te', H_HOP],
  ['trailer', H_HOP],
  ['upgrade', H_HOP],
  ['proxy-authorization', H_HOP],
  ['proxy-authenticate', H_HOP],
  // httpoxy (CVE-2016-5385): CGI-style upstreams turn `Proxy:` into HTTP_PROXY, their
  // outbound proxy. No legitimate request carries it.
  ['proxy', H_HOP],
  ['host', H_HOST],
  ['x-forwarded-for', H_XFF],
  ['connection', H_CONNECTION],
  ['content-length', H_CONTENT_LENGTH],
  ['transfer-encoding', H_TRANSFER_ENCODING],
  ['expect', H_EXPECT],
  ['x-forwarded-proto', H_XF_PROTO],
  ['x-forwarded-host', H_XF_HOST],
  ['x-forwarded-port', H_XF_PORT],
  ['x-real-ip', H_REAL_IP],
  ['x-request-id', H_REQUEST_ID],
]);

const CACHE_MAX = 2048;
const cache = new Map<string, number>();

/** Class of a header name as received (any case). */
export function classify(name: string): number {
  const hit = cache.get(name);
  if (hit !== undefined) return hit;
  const c = CLASSES.get(name.toLowerCase()) ?? H_FORWARD;
  if (cache.size < CACHE_MAX) cache.set(name, c);
  return c;
}

/**
 * Lower-case names listed in a Connection header, minus `close`/`keep-alive`/`upgrade`
 * (which are not header names we forward anyway); null when there are none (the common case).
 */
export function connectionTokens(value: string): Set<string> | null {
  if (value.length <= 10) {
    const v = value.toLowerCase();
    if (v === 'keep-alive' || v === 'close' || v === 'upgrade') return null;
  }
  let set: Set<string> | null = null;
  for (const t of value.toLowerCase().split(',')) {
    const s = t.trim();
    if (s !== '' && s !== 'close' && s !== 'keep-alive' && s !== 'upgrade') {
      if (set === null) set = new Set();
      set.add(s);
    }
  }
  return set;
}

/** Remove every forwardable header whose name is in `tokens` from a flat list (rare path). */
export function dropNamed(flat: string[], tokens: Set<string>): string[] {
  const kept: string[] = [];
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i]!;
    if (classify(name) === H_FORWARD && tokens.has(name.toLowerCase())) continue;
    kept.push(name, flat[i + 1]!);
  }
  return kept;
}

/** Parsed headers as undici hands them to a dispatch handler: lower-case names, repeated fields as arrays. */
export type HeaderObject = Record<string, string | string[] | undefined>;

/**
 * Upstream response headers → flat list for `writeHead`: hop-by-hop fields (and those a
 * Connection header names) and Transfer-Encoding removed. With a `requestId`
 * (ProxySettings.responseRequestId) the upstream's X-Request-Id is replaced by it; with null
 * the upstream's passes unchanged. Content-Length is kept (Node then does not chunk); repeated
 * fields (Set-Cookie) stay separate lines.
 *
 * Reads undici's parsed header object, not the raw list: undici builds that object for every
 * response anyway, so its strings are already there, while converting the raw Buffers again
 * cost two Buffer#toString calls per header line (about 3 % of a small request's
 * instructions). Names therefore go out in lower case, as HTTP/2 requires and as Envoy and
 * HAProxy send them over HTTP/1.1 too (field names are case-insensitive, RFC 9110 §5.1).
 */
export function responseHeaders(headers: HeaderObject, requestId: string | null): string[] {
  const out: string[] = [];
  let conn: Set<string> | null = null;
  for (const name in headers) {
    const v = headers[name];
    if (v === undefined || name.charCodeAt(0) === 58 /* : */) continue;
    const c = classify(name);
    if (c === H_HOP || c === H_TRANSFER_ENCODING || (c === H_REQUEST_ID && requestId !== null)) continue;
    if (c === H_CONNECTION) {
      // HTTP/2 has no connection-specific fields; a misbehaving peer's are dropped all the same
      const values = typeof v === 'string' ? [v] : v;
      for (const value of values) {
        const t = connectionTokens(value);
        if (t === null) continue;
        if (conn === null) conn = t;
        else for (const x of t) conn.add(x);
      }
      continue;
    }
    if (typeof v === 'string') out.push(name, v);
    else for (const x of v) out.push(name, x);
  }
  if (requestId !== null) out.push('x-request-id', requestId);
  return conn === null ? out : dropNamed(out, conn);
}

/**
 * Adds a route's own response headers (PlanHead.responseHeaders, lower-case names) to an
 * upstream response's list: each replaces the upstream's headers of that name, as nginx's
 * more_set_headers does, except Vary and Set-Cookie, which add to the upstream's.
 */
export function mergeResponseHeaders(out: string[], ours: readonly string[]): void {
  for (let i = 0; i < out.length; i += 2) {
    const name = out[i]!;
    if (name === 'vary' || name === 'set-cookie') continue;
    for (let j = 0; j < ours.length; j += 2) {
      if (ours[j] === name) {
        out.splice(i, 2);
        i -= 2;
        break;
      }
    }
  }
  for (let j = 0; j < ours.length; j++) out.push(ours[j]!);
}

/**
 * Upstream trailers worth relaying to an HTTP/2 client (gRPC's grpc-status, grpc-message,
 * ...): pseudo-headers, hop-by-hop and framing fields dropped; null when nothing is left
 * (the usual case: an empty object).
 */
export function trailersToRelay(trailers: HeaderObject | null | undefined): Record<string, string | string[]> | null {
  if (trailers === null || trailers === undefined) return null;
  let out: Record<string, string | string[]> | null = null;
  for (const name in trailers) {
    const v = trailers[name];
    if (v === undefined || name.charCodeAt(0) === 58 /* : */) continue;
    const c = classify(name);
    if (c !== H_FORWARD && c !== H_REAL_IP) continue;
    if (out === null) out = {};
    out[name.toLowerCase()] = v;
  }
  return out;
}

// ---- request ids -------------------------------------------------------------------------

const ID_MAX = 200;

/** A well-formed inbound X-Request-Id: 1..200 characters of [A-Za-z0-9._-]. */
export function isValidRequestId(s: string): boolean {
  const n = s.length;
  if (n === 0 || n > ID_MAX) return false;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (
      !(
        (c >= 97 && c <= 122) || // a-z
        (c >= 65 && c <= 90) || // A-Z
        (c >= 48 && c <= 57) || // 0-9
        c === 45 || // -
        c === 46 || // .
        c === 95 // _
      )
    ) {
      return false;
    }
  }
  return true;
}

// Random per-process prefix (unique across replicas and restarts in practice) + a counter.
const ID_PREFIX = crypto.randomBytes(9).toString('base64url').replace(/[^A-Za-z0-9]/g, 'x') + '-';
let idCounter = 0;

/** A new request id: `<12 random chars>-<counter base 36>`. */
export function newRequestId(): string {
  idCounter = (idCounter + 1) % Number.MAX_SAFE_INTEGER;
  return ID_PREFIX + idCounter.toString(36);
}

/** RequestInfo.requestBytes of a request: its head as text, and the declared body length. */
export function requestBytes(req: Pick<IncomingMessage, 'rawHeaders' | 'method' | 'url'>, bodyLength: number): number {
  const raw = req.rawHeaders;
  // "METHOD URL HTTP/1.1\r\n" ... "\r\n"
  let n = (req.method?.length ?? 0) + (req.url?.length ?? 0) + 14;
  for (let i = 0; i < raw.length; i++) n += raw[i]!.length + 2;
  return bodyLength > 0 ? n + bodyLength : n;
}
