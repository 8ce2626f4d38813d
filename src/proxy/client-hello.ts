// The SNI server name of a TLS ClientHello, read from the first bytes of a connection before
// any TLS library sees them (ssl-passthrough.ts). Only what is needed is parsed — record
// headers, the handshake header, and the ClientHello up to its server_name extension — and
// every length is checked against what was received: bytes from the network are never
// trusted. A ClientHello may arrive split over several TCP segments (the caller calls again
// with more bytes) and over several TLS records (large ones: post-quantum key shares, many
// extensions); both are read, up to MAX_CLIENT_HELLO_BYTES in all.
//
// RFC 8446 §5.1 (records), §4.1.2 (ClientHello), RFC 6066 §3 (server_name).

import type net from 'node:net';

/** Bytes read at most before deciding (records included): a ClientHello larger than this is not passed through. */
export const MAX_CLIENT_HELLO_BYTES = 16 * 1024 + 5;

const RECORD_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
const EXTENSION_SERVER_NAME = 0;
const NAME_TYPE_HOST = 0;
/** RFC 8446: a record's plaintext is at most 2^14 bytes. */
const MAX_RECORD = 16 * 1024;
/**
 * Records a ClientHello may span here (real ones take one or two: records carry up to 16 KiB);
 * beyond it the hello is not read ('invalid': the TLS server takes the connection as usual), so
 * one split into many tiny records cannot make each new segment cost more.
 */
export const MAX_HELLO_RECORDS = 8;

export type ClientHelloPeek =
  /** More bytes are needed (and may still come within the limit). */
  | { readonly kind: 'more' }
  /** A complete ClientHello: its host_name, lower case without a trailing dot, or null for none (or one that is not a DNS name). */
  | { readonly kind: 'hello'; readonly serverName: string | null }
  /** Not a ClientHello this parser reads (another protocol, malformed, or too large). */
  | { readonly kind: 'invalid' };

const MORE: ClientHelloPeek = Object.freeze({ kind: 'more' });
const INVALID: ClientHelloPeek = Object.freeze({ kind: 'invalid' });
const NO_NAME: ClientHelloPeek = Object.freeze({ kind: 'hello', serverName: null });

/** What the bytes received so far (from the connection's first byte) say. */
export function peekClientHello(buf: Buffer): ClientHelloPeek {
  // the handshake message's bytes, gathered from the records' fragments
  const fragments: Buffer[] = [];
  let gathered = 0;
  let off = 0;
  let msgLen = -1;
  for (;;) {
    if (buf.length < off + 5) return off + 5 > MAX_CLIENT_HELLO_BYTES ? INVALID : earlyCheck(buf, off);
    if (buf[off] !== RECORD_HANDSHAKE || buf[off + 1] !== 3) return INVALID;
    const len = buf.readUInt16BE(off + 3);
    if (len === 0 || len > MAX_RECORD) return INVALID;
    if (off + 5 + len > MAX_CLIENT_HELLO_BYTES) return INVALID;
    if (buf.length < off + 5 + len) return MORE;
    if (fragments.length === MAX_HELLO_RECORDS) return INVALID;
    fragments.push(buf.subarray(off + 5, off + 5 + len));
    gathered += len;
    off += 5 + len;
    if (gathered < 4) continue;
    if (msgLen < 0) {
      // the handshake header, from the first fragments (copied once the message is whole only)
      const head = fragments.length === 1 ? (fragments[0] as Buffer) : Buffer.concat(fragments, 4);
      if (head[0] !== HANDSHAKE_CLIENT_HELLO) return INVALID;
      msgLen = (head[1]! << 16) | (head[2]! << 8) | head[3]!;
      if (4 + msgLen > MAX_CLIENT_HELLO_BYTES) return INVALID;
    }
    if (gathered < 4 + msgLen) continue;
    const hs = fragments.length === 1 ? (fragments[0] as Buffer) : Buffer.concat(fragments, gathered);
    return parseClientHello(hs.subarray(4, 4 + msgLen));
  }
}

/**
 * A connection's first bytes, gathered for peekClientHello without copying all of them again
 * on every segment (a client sending its hello a byte at a time must not cost the square of
 * its length): the first chunk is used as it is, later ones go into a buffer that doubles.
 */
export class HelloBytes {
  private store: Buffer | null = null;
  private first: Buffer | null = null;
  private length = 0;

  /** Adds `chunk`; the bytes so far (a view: valid until the next add). */
  add(chunk: Buffer): Buffer {
    if (this.length === 0 && this.store === null) {
      this.first = chunk;
      this.length = chunk.length;
      return chunk;
    }
    const need = this.length + chunk.length;
    if (this.store === null || need > this.store.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, Math.min(2 * need, MAX_CLIENT_HELLO_BYTES + 1)));
      if (this.store !== null) this.store.copy(grown, 0, 0, this.length);
      else if (this.first !== null) this.first.copy(grown, 0);
      this.store = grown;
      this.first = null;
    }
    chunk.copy(this.store, this.length);
    this.length = need;
    return this.store.subarray(0, this.length);
  }
}

/** Before a record header is complete: 'invalid' as soon as its first bytes cannot start one. */
function earlyCheck(buf: Buffer, off: number): ClientHelloPeek {
  if (buf.length > off && buf[off] !== RECORD_HANDSHAKE) return INVALID;
  if (buf.length > off + 1 && buf[off + 1] !== 3) return INVALID;
  return MORE;
}

/** The ClientHello body (after the 4-byte handshake header). */
function parseClientHello(b: Buffer): ClientHelloPeek {
  let p = 2 + 32; // legacy_version, random
  if (b.length < p + 1) return INVALID;
  const sessionId = b[p]!;
  if (sessionId > 32) return INVALID;
  p += 1 + sessionId;
  if (b.length < p + 2) return INVALID;
  const suites = b.readUInt16BE(p);
  if (suites === 0 || suites % 2 !== 0) return INVALID;
  p += 2 + suites;
  if (b.length < p + 1) return INVALID;
  const compression = b[p]!;
  if (compression === 0) return INVALID;
  p += 1 + compression;
  if (p === b.length) return NO_NAME; // no extensions at all (old clients)
  if (b.length < p + 2) return INVALID;
  const end = p + 2 + b.readUInt16BE(p);
  if (end > b.length) return INVALID;
  p += 2;
  while (p + 4 <= end) {
    const type = b.readUInt16BE(p);
    const len = b.readUInt16BE(p + 2);
    p += 4;
    if (p + len > end) return INVALID;
    if (type === EXTENSION_SERVER_NAME) return serverName(b.subarray(p, p + len));
    p += len;
  }
  return p === end ? NO_NAME : INVALID;
}

/** The server_name extension's data: the first host_name entry. */
function serverName(ext: Buffer): ClientHelloPeek {
  if (ext.length < 2) return INVALID;
  const end = 2 + ext.readUInt16BE(0);
  if (end > ext.length) return INVALID;
  let p = 2;
  while (p + 3 <= end) {
    const type = ext[p]!;
    const len = ext.readUInt16BE(p + 1);
    p += 3;
    if (p + len > end) return INVALID;
    if (type === NAME_TYPE_HOST) {
      const name = dnsName(ext.toString('latin1', p, p + len));
      return name === null ? NO_NAME : { kind: 'hello', serverName: name };
    }
    p += len;
  }
  return NO_NAME;
}

const LABELS = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

/** A host name as configured hosts are written (lower case, no trailing dot), or null. */
function dnsName(raw: string): string | null {
  const name = (raw.endsWith('.') ? raw.slice(0, -1) : raw).toLowerCase();
  return name.length > 0 && name.length <= 253 && LABELS.test(name) ? name : null;
}

/**
 * Reads `socket`'s first bytes until they say what they are (a ClientHello with its server
 * name, or not one this parser reads), then pauses the socket and calls `decide` with the
 * answer and every byte read (to be put back or passed on): the one waiting loop of the
 * listener's peeks (ssl-passthrough.ts, cipher-profiles.ts). A socket that sends nothing
 * usable within `timeoutMs`, or fails, is destroyed.
 */
export function awaitClientHello(socket: net.Socket, timeoutMs: number, decide: (peek: ClientHelloPeek, bytes: Buffer) => void): void {
  const bytes = new HelloBytes();
  const timer = setTimeout(() => {
    cleanup();
    socket.destroy();
  }, timeoutMs);
  timer.unref();
  const cleanup = (): void => {
    clearTimeout(timer);
    socket.removeListener('data', onData);
    socket.removeListener('error', onError);
    socket.removeListener('close', cleanup);
  };
  const onError = (): void => {
    cleanup();
    socket.destroy();
  };
  const onData = (chunk: Buffer): void => {
    const buf = bytes.add(chunk);
    const peek = peekClientHello(buf);
    if (peek.kind === 'more' && buf.length <= MAX_CLIENT_HELLO_BYTES) return;
    cleanup();
    socket.pause();
    decide(peek.kind === 'more' ? INVALID : peek, buf);
  };
  socket.on('data', onData);
  socket.on('error', onError);
  socket.on('close', cleanup);
  // after a PROXY header the socket was paused; a fresh one starts flowing here either way
  socket.resume();
}
