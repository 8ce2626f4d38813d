// PROXY protocol (HAProxy's, versions 1 and 2) on inbound connections, as nginx's
// `listen ... proxy_protocol` (ingress-nginx use-proxy-protocol): every connection must begin
// with a PROXY header; one that does not, or whose header is malformed or incomplete after
// HEADER_TIMEOUT_MS, is closed without an answer (nginx does the same: with proxy_protocol on,
// the header is required from everyone).
//
// The header's source address becomes the connection's remoteAddress (so X-Forwarded-For,
// X-Real-IP, source address lists and ip-hash all see the client) when the peer is in
// --proxy-protocol-trusted-cidrs (nginx's set_real_ip_from; ingress-nginx's proxy-real-ip-cidr,
// default every address). From another peer the header is still required and consumed, but
// the peer stays the client address. `LOCAL` (v2) and `UNKNOWN` (v1) headers — load-balancer
// health checks — keep the peer too.
//
// It works on any net.Server whose 'connection' listeners set up the protocol (http.Server,
// tls.Server): they are moved behind the header reader, so the server's own bookkeeping
// (connection counts, close, metrics) is unchanged. Bytes read past the header are put back
// on the socket before the server sees it (TLS reads a socket's buffered bytes first).

import type net from 'node:net';
import tls from 'node:tls';
import { normalizeIp, type CidrMatcher } from '../values/cidr.ts';

/** Time allowed for the header (ingress-nginx proxy-protocol-header-timeout: 5s). */
export const HEADER_TIMEOUT_MS = 5000;
/** v1 headers are at most 107 bytes; v2 headers here at most this (addresses plus TLVs). */
const V2_MAX = 16 + 2048;
const V1_MAX = 107;
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** What a complete header says: the source, or null to keep the peer (LOCAL, UNKNOWN, UNSPEC). */
export interface ProxyHeader {
  readonly source: { address: string; port: number } | null;
  /** Bytes the header took. */
  readonly length: number;
}

/** The header at the start of `buf`; 'more' when it may still complete; 'invalid' when it cannot. */
export function parseProxyHeader(buf: Buffer): ProxyHeader | 'more' | 'invalid' {
  if (buf.length === 0) return 'more';
  if (buf[0] === 0x0d) return parseV2(buf);
  if (buf[0] === 0x50 /* P */) return parseV1(buf);
  return 'invalid';
}

function parseV1(buf: Buffer): ProxyHeader | 'more' | 'invalid' {
  const prefix = 'PROXY ';
  const n = Math.min(buf.length, prefix.length);
  if (buf.toString('latin1', 0, n) !== prefix.slice(0, n)) return 'invalid';
  const end = buf.indexOf('\r\n', 0, 'latin1');
  if (end === -1) return buf.length >= V1_MAX ? 'invalid' : 'more';
  if (end + 2 > V1_MAX) return 'invalid';
  const parts = buf.toString('latin1', 0, end).split(' ');
  if (parts[1] === 'UNKNOWN') return { source: null, length: end + 2 };
  if (parts.length !== 6 || (parts[1] !== 'TCP4' && parts[1] !== 'TCP6')) return 'invalid';
  const [, family, src, dst, sport, dport] = parts as [string, string, string, string, string, string];
  const v4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
  const okAddress = (a: string): boolean => (family === 'TCP4' ? v4.test(a) : /^[0-9a-fA-F:.]{2,45}$/.test(a) && a.includes(':'));
  const okPort = (p: string): boolean => /^(0|[1-9]\d{0,4})$/.test(p) && Number(p) <= 65535;
  if (!okAddress(src) || !okAddress(dst) || !okPort(sport) || !okPort(dport)) return 'invalid';
  return { source: { address: src.toLowerCase(), port: Number(sport) }, length: end + 2 };
}

function parseV2(buf: Buffer): ProxyHeader | 'more' | 'invalid' {
  const n = Math.min(buf.length, V2_SIGNATURE.length);
  if (!buf.subarray(0, n).equals(V2_SIGNATURE.subarray(0, n))) return 'invalid';
  if (buf.length < 16) return 'more';
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return 'invalid';
  const command = verCmd & 0x0f;
  if (command > 1) return 'invalid';
  const family = buf[13]!;
  const len = buf.readUInt16BE(14);
  if (16 + len > V2_MAX) return 'invalid';
  if (buf.length < 16 + len) return 'more';
  const length = 16 + len;
  if (command === 0) return { source: null, length }; // LOCAL: the LB's own connection
  switch (family) {
    case 0x11: // TCP over IPv4
    case 0x12: // UDP over IPv4 (nginx accepts the address the same way)
      if (len < 12) return 'invalid';
      return { source: { address: `${buf[16]}.${buf[17]}.${buf[18]}.${buf[19]}`, port: buf.readUInt16BE(24) }, length };
    case 0x21:
    case 0x22: {
      if (len < 36) return 'invalid';
      const groups: string[] = [];
      for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(16 + i * 2).toString(16));
      return { source: { address: compressV6(groups), port: buf.readUInt16BE(48) }, length };
    }
    case 0x00: // UNSPEC
      return { source: null, length };
    default:
      return 'invalid'; // AF_UNIX and unknown families carry no client address for HTTP
  }
}

/** RFC 5952 text of eight hex groups (longest zero run as ::; IPv4-mapped as ::ffff:a.b.c.d). */
function compressV6(groups: string[]): string {
  if (groups.slice(0, 5).every((g) => g === '0') && groups[5] === 'ffff') {
    const hi = parseInt(groups[6]!, 16);
    const lo = parseInt(groups[7]!, 16);
    return `::ffff:${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best === -1) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

export interface ProxyProtocolOptions {
  /** Peers whose header's source is believed; null: every peer (ingress-nginx's default 0.0.0.0/0). */
  trusted: CidrMatcher | null;
  headerTimeoutMs?: number;
  /** Called for each connection closed for a missing or malformed header (metrics, debug logs). */
  onRejected?: (reason: 'invalid' | 'timeout') => void;
}

/**
 * Makes `server` require a PROXY header on every connection before its own 'connection'
 * listeners (HTTP parser, TLS handshake) see the socket. Call it after the server is created
 * and before it listens.
 */
export function requireProxyProtocol(server: net.Server, opts: ProxyProtocolOptions): void {
  const listeners = server.listeners('connection') as ((socket: net.Socket) => void)[];
  server.removeAllListeners('connection');
  const timeoutMs = opts.headerTimeoutMs ?? HEADER_TIMEOUT_MS;
  // A TLS socket takes over the raw socket's handle and drains its buffered bytes itself;
  // resuming the raw socket then would steal the handshake's bytes (measured: it hangs).
  const resume = !(server instanceof tls.Server);
  server.on('connection', (socket: net.Socket) => {
    let buf: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => reject('timeout'), timeoutMs);
    timer.unref();
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
    };
    const reject = (reason: 'invalid' | 'timeout'): void => {
      cleanup();
      opts.onRejected?.(reason);
      socket.destroy();
    };
    const onError = (): void => {
      cleanup();
      socket.destroy();
    };
    const onClose = (): void => cleanup();
    const onData = (chunk: Buffer): void => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const header = parseProxyHeader(buf);
      if (header === 'more') {
        if (buf.length > V2_MAX) reject('invalid');
        return;
      }
      if (header === 'invalid') {
        reject('invalid');
        return;
      }
      cleanup();
      socket.pause();
      const rest = buf.subarray(header.length);
      if (rest.length > 0) socket.unshift(rest);
      const peer = socket.remoteAddress ?? '';
      if (header.source !== null && (opts.trusted === null || opts.trusted.contains(peer))) {
        // an own property shadows net.Socket's getter: every reader (inbound scan, access
        // log, TLS socket below) sees the client
        Object.defineProperty(socket, 'remoteAddress', { value: normalizeIp(header.source.address), configurable: true, enumerable: true });
        Object.defineProperty(socket, 'remotePort', { value: header.source.port, configurable: true, enumerable: true });
      }
      for (const l of listeners) l.call(server, socket);
      // the HTTP parser reads the put-back bytes as 'data'; a TLS socket drains them itself
      if (resume) socket.resume();
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('close', onClose);
  });
}

/**
 * For a TLS socket made over a raw socket that carried a PROXY header: the client address the
 * header gave (call it from 'secureConnection'; requests read the TLS socket's address).
 */
export function adoptProxiedAddress(tlsSocket: net.Socket): void {
  const parent = (tlsSocket as net.Socket & { _parent?: net.Socket | null })._parent;
  if (parent === undefined || parent === null || !Object.prototype.hasOwnProperty.call(parent, 'remoteAddress')) return;
  Object.defineProperty(tlsSocket, 'remoteAddress', { value: parent.remoteAddress, configurable: true, enumerable: true });
  Object.defineProperty(tlsSocket, 'remotePort', { value: parent.remotePort, configurable: true, enumerable: true });
}
