// CIDRs: the one parser of an entry (parseCidr: the flags check theirs with it) and matching
// for trusted-proxy decisions. Lists are parsed once (at settings time); matching a peer
// address is a few integer comparisons plus a bounded per-matcher cache.
//
// Every address is held as four unsigned 32-bit words of an IPv6 address; IPv4 addresses
// (and CIDRs) live in the IPv4-mapped range ::ffff:0:0/96, so `10.0.0.0/8` also matches the
// `::ffff:10.1.2.3` form that a dual-stack listener reports.

import net from 'node:net';

/** Four 32-bit words, most significant first. */
export type Ip128 = readonly [number, number, number, number];

interface Range {
  readonly words: Ip128;
  readonly masks: Ip128;
}

export interface CidrMatcher {
  /** True when the list is empty: callers may skip the whole trusted-proxy logic. */
  readonly empty: boolean;
  /** Whether `ip` (IPv4, IPv6, IPv4-mapped IPv6; optional `%zone`) is inside a listed range. Never throws. */
  contains(ip: string): boolean;
}

const CACHE_MAX = 4096;

class Matcher implements CidrMatcher {
  readonly empty: boolean;
  private readonly ranges: readonly Range[];
  private readonly cache = new Map<string, boolean>();

  constructor(ranges: readonly Range[]) {
    this.ranges = ranges;
    this.empty = ranges.length === 0;
  }

  contains(ip: string): boolean {
    if (this.empty) return false;
    const hit = this.cache.get(ip);
    if (hit !== undefined) return hit;
    const words = parseIp(ip);
    let found = false;
    if (words !== null) {
      for (const r of this.ranges) {
        if (
          ((words[0] & r.masks[0]) >>> 0) === r.words[0] &&
          ((words[1] & r.masks[1]) >>> 0) === r.words[1] &&
          ((words[2] & r.masks[2]) >>> 0) === r.words[2] &&
          ((words[3] & r.masks[3]) >>> 0) === r.words[3]
        ) {
          found = true;
          break;
        }
      }
    }
    if (this.cache.size >= CACHE_MAX) this.cache.clear();
    this.cache.set(ip, found);
    return found;
  }
}

/** One CIDR (`10.0.0.0/8`, `fd00::/8`) or bare address (a single host), as written. */
export interface Cidr {
  /** The address part, with its `%zone` if it had one. */
  readonly address: string;
  /** Prefix length; a bare address has the whole address (32 or 128). */
  readonly prefix: number;
  readonly family: 4 | 6;
}

/** One entry (no surrounding spaces); undefined when it is neither an address nor a CIDR. */
export function parseCidr(text: string): Cidr | undefined {
  const cidr = readCidr(text);
  return typeof cidr === 'string' ? undefined : cidr;
}

/** The entry, or why it is not one. */
function readCidr(entry: string): Cidr | string {
  const slash = entry.indexOf('/');
  const address = slash === -1 ? entry : entry.slice(0, slash);
  // node's isIP also decides which `%zone` suffixes are allowed (IPv6 only, not empty).
  const family = net.isIP(address);
  if ((family !== 4 && family !== 6) || parseIp(address) === null) return 'bad address';
  const max = family === 4 ? 32 : 128;
  if (slash === -1) return { address, prefix: max, family };
  const lenText = entry.slice(slash + 1);
  if (!/^\d{1,3}$/.test(lenText)) return 'bad prefix length';
  const prefix = Number(lenText);
  if (prefix > max) return `prefix length above ${max}`;
  return { address, prefix, family };
}

/**
 * Parse a list of CIDRs (`10.0.0.0/8`, `fd00::/8`, `::ffff:10.0.0.0/104`) or bare addresses
 * (a single host). Throws an Error naming the first invalid entry: call it at settings time.
 */
export function parseCidrs(list: readonly string[]): CidrMatcher {
  const ranges: Range[] = [];
  for (const raw of list) {
    const entry = raw.trim();
    if (entry === '') continue;
    const cidr = readCidr(entry);
    if (typeof cidr === 'string') throw new Error(`invalid CIDR ${JSON.stringify(raw)}: ${cidr}`);
    const words = parseIp(cidr.address)!; // readCidr checked it
    // IPv4 ranges live in ::ffff:0:0/96
    const masks = maskWords(cidr.family === 4 ? cidr.prefix + 96 : cidr.prefix);
    ranges.push({
      words: [
        (words[0] & masks[0]) >>> 0,
        (words[1] & masks[1]) >>> 0,
        (words[2] & masks[2]) >>> 0,
        (words[3] & masks[3]) >>> 0,
      ],
      masks,
    });
  }
  return new Matcher(ranges);
}

function maskWords(bits: number): Ip128 {
  const out: number[] = [];
  for (let i = 0; i < 4; i++) {
    const b = Math.max(0, Math.min(32, bits - i * 32));
    out.push(b === 0 ? 0 : b === 32 ? 0xffffffff : (0xffffffff << (32 - b)) >>> 0);
  }
  return [out[0]!, out[1]!, out[2]!, out[3]!];
}

function stripZone(ip: string): string {
  const pct = ip.indexOf('%');
  return pct === -1 ? ip : ip.slice(0, pct);
}

/** Parse an IPv4 or IPv6 address into 128 bits (IPv4 as ::ffff:a.b.c.d); null when invalid. */
export function parseIp(input: string): Ip128 | null {
  const ip = stripZone(input);
  if (ip.indexOf(':') === -1) {
    const v4 = parseV4(ip);
    return v4 === null ? null : [0, 0, 0xffff, v4];
  }
  return parseV6(ip);
}

function parseV4(s: string): number | null {
  let value = 0;
  let part = 0;
  let digits = 0;
  let parts = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 46; /* '.' terminates the last part */
    if (c === 46) {
      if (digits === 0 || part > 255) return null;
      value = (value * 256 + part) >>> 0;
      parts++;
      part = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return null; // leading zero: ambiguous (octal), refuse
      part = part * 10 + (c - 48);
      digits++;
      if (digits > 3) return null;
    } else {
      return null;
    }
  }
  return parts === 4 ? value : null;
}

function parseV6(s: string): Ip128 | null {
  const groups: number[] = [];
  let tail: number[] | null = null;
  const dbl = s.indexOf('::');
  if (dbl !== -1 && s.indexOf('::', dbl + 1) !== -1) return null;
  const head = dbl === -1 ? s : s.slice(0, dbl);
  const rest = dbl === -1 ? null : s.slice(dbl + 2);
  const a = parseGroups(head, rest === null);
  if (a === null) return null;
  groups.push(...a);
  if (rest !== null) {
    tail = parseGroups(rest, true);
    if (tail === null) return null;
    const fill = 8 - groups.length - tail.length;
    if (fill < 1) return null;
    for (let i = 0; i < fill; i++) groups.push(0);
    groups.push(...tail);
  }
  if (groups.length !== 8) return null;
  return [
    ((groups[0]! << 16) | groups[1]!) >>> 0,
    ((groups[2]! << 16) | groups[3]!) >>> 0,
    ((groups[4]! << 16) | groups[5]!) >>> 0,
    ((groups[6]! << 16) | groups[7]!) >>> 0,
  ];
}

/** Colon-separated 16-bit groups; the last may be a dotted IPv4 (two groups) when `last`. */
function parseGroups(s: string, last: boolean): number[] | null {
  if (s === '') return [];
  const parts = s.split(':');
  const out: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (last && i === parts.length - 1 && p.indexOf('.') !== -1) {
      const v4 = parseV4(p);
      if (v4 === null) return null;
      out.push(v4 >>> 16, v4 & 0xffff);
      continue;
    }
    if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return null;
    out.push(parseInt(p, 16));
  }
  return out;
}

/** `::ffff:1.2.3.4` → `1.2.3.4`; everything else unchanged. Cheap enough for every request. */
export function normalizeIp(ip: string): string {
  if (ip.length > 7 && ip.charCodeAt(0) === 58 /* : */ && ip.startsWith('::ffff:') && ip.indexOf('.', 7) !== -1) {
    return ip.slice(7);
  }
  return ip;
}
