// Rule paths of every virtual host in one open-addressing hash table, keyed by (host id, kind,
// key): compact, so the lookups at 10,000 hosts stay in the CPU's cache (one small Map per
// host cost several cache misses per request, measured in bench/routing-table.ts).
//
// A host's entries are stored next to each other, so for a host with few rules (the usual
// case) the lookup simply compares the request path with each of them: a couple of cache
// lines, no hashing. For a host with many rules: the request path (raw, never decoded) is
// scanned once, hashing as it goes; at each '/' boundary whose length some Prefix key of
// this host has (a 31-bit length mask per host; longer keys are simply probed), the running
// hash is remembered. Exact is probed first (the whole path), then the candidates longest
// first, then the '/' rule, which needs no probe. Nothing is allocated either way.
// Keys (paths.ts): Exact paths as written; Prefix and ImplementationSpecific paths without
// trailing slashes, so '/' is ''. Every hash hit is confirmed against the key's text.

import { capacityFor, FNV_OFFSET, FNV_PRIME, fnvStep } from './hash.ts';
import { isPrefixType, prefixKey } from './paths.ts';
import type { VirtualHost } from './virtual-host.ts';
import type { Route } from './types.ts';

/** Key lengths below this are tracked in one 32-bit mask per host; longer ones are probed. */
const SHORT = 31;
/** Mixed into Exact keys' hashes, so Exact '/foo' and Prefix '/foo' land in different slots. */
const EXACT_TAG = 0x7f;
// Per host, in `meta`: [exactMask, prefixMask, maxExact, maxPrefix (max -1: none), entry + 1
// of the '/' Prefix rule (0: none), first entry, number of entries].
const META = 7;
/** Hosts with at most this many rules are matched by comparing with each rule. */
const LINEAR_MAX = 8;
// Per slot: [hash, entry + 1] (0: empty). Per entry, densely: [hostId*2 + (1 for Exact), key
// offset in the joined key text, key length]; its route in a parallel array.
const SLOT = 2;
const ENTRY = 3;

function hostSeed(id: number): number {
  return fnvStep(fnvStep(FNV_OFFSET, id & 0xffff), id >>> 16);
}

export class PathTable {
  private readonly meta: Int32Array;
  private readonly slots: Int32Array;
  private readonly mask: number;
  private readonly entries: Int32Array;
  private readonly routes: Route[];
  /** Every key's text, concatenated (one flat string: compact to compare against). */
  private readonly keys: string;
  /** Scratch for match(): [length, hash] per candidate. Lookups are synchronous. */
  private readonly candidates: Int32Array;

  /** Host ids are indexes into `hosts`. Of two routes with the same key, the first is kept. */
  constructor(hosts: readonly VirtualHost[]) {
    let total = 0;
    for (const vh of hosts) total += vh.routes.length;
    const cap = capacityFor(total);
    const mask = cap - 1;
    const slots = new Int32Array(cap * SLOT);
    const entries = new Int32Array(total * ENTRY);
    const routes: Route[] = [];
    const meta = new Int32Array(hosts.length * META);
    const parts: string[] = [];
    let offset = 0;
    let maxKey = 0;

    for (let id = 0; id < hosts.length; id++) {
      const m = id * META;
      meta[m + 2] = -1;
      meta[m + 3] = -1;
      meta[m + 5] = routes.length;
      for (const route of (hosts[id] as VirtualHost).routes) {
        const exact = !isPrefixType(route.pathType);
        const key = exact ? route.path : prefixKey(route.path);
        let h = hostSeed(id);
        for (let i = 0; i < key.length; i++) h = fnvStep(h, key.charCodeAt(i));
        if (exact) h = fnvStep(h, EXACT_TAG);
        const tag = id * 2 + (exact ? 1 : 0);
        let s = h & mask;
        let duplicate = false;
        for (let e1 = slots[s * SLOT + 1] as number; e1 !== 0; e1 = slots[s * SLOT + 1] as number) {
          // builder.ts gives no duplicates; the table's invariant should not depend on that.
          if (slots[s * SLOT] === h && entries[(e1 - 1) * ENTRY] === tag && parts[e1 - 1] === key) {
            duplicate = true;
            break;
          }
          s = (s + 1) & mask;
        }
        if (duplicate) continue;
        const e = routes.length;
        slots[s * SLOT] = h;
        slots[s * SLOT + 1] = e + 1;
        entries[e * ENTRY] = tag;
        entries[e * ENTRY + 1] = offset;
        entries[e * ENTRY + 2] = key.length;
        routes.push(route);
        parts.push(key);
        offset += key.length;

        const len = key.length;
        if (len > maxKey) maxKey = len;
        if (exact) {
          if (len < SHORT) meta[m] = (meta[m] as number) | (1 << len);
          if (len > (meta[m + 2] as number)) meta[m + 2] = len;
        } else {
          if (len < SHORT) meta[m + 1] = (meta[m + 1] as number) | (1 << len);
          if (len > (meta[m + 3] as number)) meta[m + 3] = len;
          if (len === 0) meta[m + 4] = e + 1;
        }
      }
      meta[m + 6] = routes.length - (meta[m + 5] as number);
    }
    this.meta = meta;
    this.slots = slots;
    this.mask = mask;
    this.entries = entries;
    this.routes = routes;
    this.keys = parts.join('');
    this.candidates = new Int32Array((maxKey + 2) * 2);
  }

  /** The rule route of host `id` for `path` (raw, as received; '' means '/'), or null. */
  match(id: number, rawPath: string): Route | null {
    const path = rawPath === '' ? '/' : rawPath;
    const meta = this.meta;
    const m = id * META;
    const count = meta[m + 6] as number;
    if (count <= LINEAR_MAX) return this.matchFew(meta[m + 5] as number, count, path);
    const len = path.length;
    const exactMask = meta[m] as number;
    const prefixMask = meta[m + 1] as number;
    const maxExact = meta[m + 2] as number;
    const maxPrefix = meta[m + 3] as number;
    const wantExact = len < SHORT ? ((exactMask >>> len) & 1) === 1 : len <= maxExact;
    if (!wantExact && maxPrefix < 0) return null;

    // Hash from the start; remember the hash at each boundary where a Prefix key of this host
    // could end. Exact needs the whole path, Prefix only up to its longest key.
    const cand = this.candidates;
    let n = 0;
    let h = hostSeed(id);
    const scanEnd = wantExact || len <= maxPrefix ? len : maxPrefix;
    for (let i = 0; i < scanEnd; i++) {
      const c = path.charCodeAt(i);
      if (c === 47 /* / */ && i > 0 && i <= maxPrefix && (i >= SHORT || ((prefixMask >>> i) & 1) === 1)) {
        cand[n * 2] = i;
        cand[n * 2 + 1] = h;
        n++;
      }
      h = Math.imul(h ^ c, FNV_PRIME);
    }
    if (scanEnd === len) {
      // Exact first: an Exact match is as long as any Prefix match can be, and wins ties
      // ('/foo' Exact beats '/foo' and '/foo/' Prefix).
      if (wantExact) {
        const r = this.probe(fnvStep(h, EXACT_TAG), id * 2 + 1, len, path);
        if (r !== null) return r;
      }
      if (len <= maxPrefix && (len >= SHORT || ((prefixMask >>> len) & 1) === 1)) {
        cand[n * 2] = len;
        cand[n * 2 + 1] = h;
        n++;
      }
    } else if (scanEnd > 0 && path.charCodeAt(scanEnd) === 47 && (scanEnd >= SHORT || ((prefixMask >>> scanEnd) & 1) === 1)) {
      cand[n * 2] = scanEnd;
      cand[n * 2 + 1] = h;
      n++;
    }
    const tag = id * 2;
    while (n > 0) {
      n--;
      const r = this.probe(cand[n * 2 + 1] as number, tag, cand[n * 2] as number, path);
      if (r !== null) return r;
    }
    // The '/' Prefix rule (key ''), the shortest: matches every path, even one not starting
    // with '/' such as '*'.
    const root = meta[m + 4] as number;
    return root === 0 ? null : (this.routes[root - 1] ?? null);
  }

  /** The best of `count` entries from `first` for `path`: longest key, Exact on a tie. */
  private matchFew(first: number, count: number, path: string): Route | null {
    const entries = this.entries;
    const keys = this.keys;
    const len = path.length;
    let best = -1;
    let bestLen = -1;
    let bestExact = false;
    for (let e = first; e < first + count; e++) {
      const b = e * ENTRY;
      const exact = ((entries[b] as number) & 1) === 1;
      const keyLen = entries[b + 2] as number;
      if (exact) {
        if (keyLen !== len) continue;
      } else if (keyLen > len || (keyLen !== 0 && keyLen !== len && path.charCodeAt(keyLen) !== 47 /* / */)) {
        continue;
      }
      if (keyLen < bestLen || (keyLen === bestLen && (bestExact || !exact))) continue;
      const off = entries[b + 1] as number;
      let i = 0;
      while (i < keyLen && keys.charCodeAt(off + i) === path.charCodeAt(i)) i++;
      if (i !== keyLen) continue;
      best = e;
      bestLen = keyLen;
      bestExact = exact;
    }
    return best < 0 ? null : (this.routes[best] ?? null);
  }

  /** The route whose key is `path`'s first `len` characters, with this hash and tag. */
  private probe(h: number, tag: number, len: number, path: string): Route | null {
    const slots = this.slots;
    for (let s = h & this.mask; ; s = (s + 1) & this.mask) {
      const e1 = slots[s * SLOT + 1] as number;
      if (e1 === 0) return null;
      if (slots[s * SLOT] !== h) continue;
      const b = (e1 - 1) * ENTRY;
      const entries = this.entries;
      if (entries[b] !== tag || entries[b + 2] !== len) continue;
      const keys = this.keys;
      const off = entries[b + 1] as number;
      let i = 0;
      while (i < len && keys.charCodeAt(off + i) === path.charCodeAt(i)) i++;
      if (i === len) return this.routes[e1 - 1] ?? null;
    }
  }
}
