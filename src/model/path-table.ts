// The rule paths of one virtual host, compiled for lookups. One table per host, so a new
// routing config reuses the tables of every host an edit did not touch (route-table.ts) and
// compiles only the hosts it did: an edit costs that host's rules, not everyone's.
//
// For a host with few rules (the usual case) the lookup simply compares the request path with
// each of them: entries and key text are stored next to each other, a couple of cache lines,
// no hashing. For a host with many rules, the keys are in a small open-addressing hash table:
// the request path (raw, never decoded) is scanned once, hashing as it goes; at each '/'
// boundary whose length some Prefix key of this host has (a 31-bit length mask; longer keys
// are simply probed), the running hash is remembered. Exact is probed first (the whole path),
// then the candidates longest first, then the '/' rule, which needs no probe. Nothing is
// allocated either way.
// Keys (paths.ts): Exact paths as written; Prefix and ImplementationSpecific paths without
// trailing slashes, so '/' is ''. Every hash hit is confirmed against the key's text.
//
// Request predicates (predicates.ts: method, headers, query; Gateway API): several rules may
// share a key when their predicates differ. The table keeps, per key, its rules in precedence
// order (a method match first, then more header matches, then more query matches, then the
// order they came in); a key's first rule stands for the key in the lookup structures above.
// Only a host with a rule that has predicates is "predicated": there a key found is tried rule
// by rule, and when none of its rules holds the lookup goes on with the next shorter key, then
// the '/' rule, then the fallback. A host without predicates takes exactly the code path it
// took before (one boolean test more per hit).

import { capacityFor, FNV_OFFSET, FNV_PRIME, fnvStep } from './hash.ts';
import { isPrefixType, prefixKey } from './paths.ts';
import { comparePredicates, NO_REQUEST, predicatesHold, samePredicates, type MatchRequest } from './predicates.ts';
import type { VirtualHost } from './virtual-host.ts';
import type { Route } from './types.ts';

/** Key lengths below this are tracked in one 32-bit mask; longer ones are probed. */
const SHORT = 31;
/** Mixed into Exact keys' hashes, so Exact '/foo' and Prefix '/foo' land in different slots. */
const EXACT_TAG = 0x7f;
/** Hosts with at most this many keys (distinct rule paths) are matched by comparing with each. */
const LINEAR_MAX = 8;
/** Longest key a compared ("few") table can hold: its length is one UTF-16 code unit. */
const FEW_KEY_MAX = 0x7fff;
// Hashed tables. Per slot: [hash, entry + 1] (0: empty). Per entry, densely: [1 for Exact else
// 0, key offset in the joined key text, key length]; its route in a parallel array.
const SLOT = 2;
const ENTRY = 3;
const NO_INTS = new Int32Array(0);
const NO_ROUTES: readonly Route[] = Object.freeze([]);
const NO_GROUPS: readonly (readonly Route[])[] = Object.freeze([]);

/**
 * Adds `route` to `group` (the rules of one key) unless a rule there asks for the same
 * predicates (then `route` could never match: the first is kept, as for plain duplicates).
 */
function addToGroup(group: Route[], route: Route): void {
  for (const r of group) if (samePredicates(r.predicates, route.predicates)) return;
  group.push(route);
}

/** Each key's rules in precedence order; NO_GROUPS when no rule has predicates. */
function precedenceGroups(groups: Route[][]): readonly (readonly Route[])[] {
  let predicated = false;
  for (const g of groups) for (const r of g) if (r.predicates !== undefined) predicated = true;
  if (!predicated) return NO_GROUPS;
  // Array.prototype.sort is stable: ties keep the order the rules came in (the builder's)
  return Object.freeze(groups.map((g) => Object.freeze(g.length === 1 ? g : g.sort((a, b) => comparePredicates(a.predicates, b.predicates)))));
}

/**
 * Scratch for match(): [length, hash] per candidate boundary. Lookups are synchronous, so one
 * buffer serves every table; it grows to fit the longest key any table was compiled with.
 */
let candidates = new Int32Array(64);

/**
 * One virtual host, compiled: its rule routes by path, and its fallback. Immutable.
 *
 * A host with few rules is one object and one string, so a lookup touches two or three cache
 * lines: `keys` starts with one code unit per rule, `length * 2 + (1 if Exact)`, followed by
 * the rules' keys, concatenated; the routes are the fields r0..r7. A host with more rules
 * keeps its keys in a small hash table (typed arrays) and its routes in an array.
 */
export class PathTable {
  /** Number of distinct rules. */
  readonly size: number;
  /** Few rules: header and keys (see above). Many: every key, concatenated. */
  private readonly keys: string;
  /** The default backend for paths of this host that match no rule, if any. */
  readonly fallback: Route | null;
  private readonly r0: Route | null;
  private readonly r1: Route | null;
  private readonly r2: Route | null;
  private readonly r3: Route | null;
  private readonly r4: Route | null;
  private readonly r5: Route | null;
  private readonly r6: Route | null;
  private readonly r7: Route | null;
  /** The host this table was compiled from. */
  readonly vh: VirtualHost;
  // Hashed tables only (more than LINEAR_MAX rules, or a very long key):
  private readonly hashed: boolean;
  private readonly routes: readonly Route[];
  private readonly entries: Int32Array;
  private readonly slots: Int32Array;
  private readonly mask: number;
  private readonly exactMask: number;
  private readonly prefixMask: number;
  private readonly maxExact: number;
  /** Longest Prefix key; -1 when there is none. */
  private readonly maxPrefix: number;
  /** Entry + 1 of the '/' Prefix rule (key ''), 0 when none. */
  private readonly root: number;
  /** Regex hosts (VirtualHost.regex): the rules in match order; null otherwise. */
  private readonly regexRoutes: readonly Route[] | null;
  /** Regex hosts with many rules: which rules can match, by the first characters of a path. */
  private readonly regexIndex: RegexIndex | null;
  /** Some rule has predicates: then `groups` holds each key's rules (by entry), in precedence order. */
  private readonly predicated: boolean;
  private readonly groups: readonly (readonly Route[])[];

  /**
   * Of two routes with the same kind of match and key, the first is kept; unless their
   * predicates differ, then both are, in precedence order.
   */
  constructor(vh: VirtualHost) {
    const given = vh.routes;
    const regex = vh.regex === true;
    // a host with more than LINEAR_MAX keys is hashed (rules of one key with different
    // predicates count once: they share the key's entry)
    let hashed = regex;
    let few: Route[] = [];
    let header: number[] = [];
    let parts: string[] = [];
    let groups: Route[][] = [];
    if (!hashed) {
      // De-duplicate by comparing (builder.ts gives no duplicates; the table's invariant
      // should not depend on that).
      for (const route of given) {
        const exact = !isPrefixType(route.pathType);
        const key = exact ? route.path : prefixKey(route.path);
        if (key.length > FEW_KEY_MAX) {
          hashed = true;
          break;
        }
        const code = key.length * 2 + (exact ? 1 : 0);
        let duplicate = false;
        for (let e = 0; e < parts.length; e++) {
          if (header[e] === code && parts[e] === key) {
            addToGroup(groups[e] as Route[], route);
            duplicate = true;
            break;
          }
        }
        if (duplicate) continue;
        if (few.length === LINEAR_MAX) {
          hashed = true;
          break;
        }
        few.push(route);
        header.push(code);
        parts.push(key);
        groups.push([route]);
      }
    }
    this.size = 0;
    this.keys = '';
    this.fallback = vh.fallback;
    this.r0 = this.r1 = this.r2 = this.r3 = this.r4 = this.r5 = this.r6 = this.r7 = null;
    this.vh = vh;
    this.hashed = hashed;
    this.routes = NO_ROUTES;
    this.entries = NO_INTS;
    this.slots = NO_INTS;
    this.mask = 0;
    this.exactMask = 0;
    this.prefixMask = 0;
    this.maxExact = -1;
    this.maxPrefix = -1;
    this.root = 0;
    this.regexRoutes = null;
    this.regexIndex = null;
    this.predicated = false;
    this.groups = NO_GROUPS;
    if (regex) {
      // scanned in order by matchRegex; the hash table stays empty. Predicates are checked
      // after a rule's regex matched, in the rules' order (ingress-nginx's; no grouping)
      this.size = given.length;
      this.regexRoutes = given;
      this.predicated = given.some((r) => r.predicates !== undefined);
      if (given.length > LINEAR_MAX) this.regexIndex = new RegexIndex(given);
      return;
    }
    if (!hashed) {
      this.groups = precedenceGroups(groups);
      this.predicated = this.groups !== NO_GROUPS;
      for (let e = 0; e < few.length; e++) few[e] = (this.groups[e] ?? groups[e]!)[0] as Route;
      this.size = few.length;
      parts.unshift(String.fromCharCode(...header));
      this.keys = parts.join('');
      this.r0 = few[0] ?? null;
      this.r1 = few[1] ?? null;
      this.r2 = few[2] ?? null;
      this.r3 = few[3] ?? null;
      this.r4 = few[4] ?? null;
      this.r5 = few[5] ?? null;
      this.r6 = few[6] ?? null;
      this.r7 = few[7] ?? null;
      return;
    }

    few = [];
    parts = [];
    header = [];
    groups = [];
    const cap = capacityFor(given.length);
    const mask = cap - 1;
    const slots = new Int32Array(cap * SLOT);
    const entries = new Int32Array(given.length * ENTRY);
    let exactMask = 0;
    let prefixMask = 0;
    let maxExact = -1;
    let maxPrefix = -1;
    let root = 0;
    let offset = 0;
    for (const route of given) {
      const exact = !isPrefixType(route.pathType);
      const key = exact ? route.path : prefixKey(route.path);
      let h = FNV_OFFSET;
      for (let c = 0; c < key.length; c++) h = fnvStep(h, key.charCodeAt(c));
      if (exact) h = fnvStep(h, EXACT_TAG);
      let s = h & mask;
      let duplicate = false;
      for (let e1 = slots[s * SLOT + 1] as number; e1 !== 0; e1 = slots[s * SLOT + 1] as number) {
        if (slots[s * SLOT] === h && entries[(e1 - 1) * ENTRY] === (exact ? 1 : 0) && parts[e1 - 1] === key) {
          addToGroup(groups[e1 - 1] as Route[], route);
          duplicate = true;
          break;
        }
        s = (s + 1) & mask;
      }
      if (duplicate) continue;
      const e = few.length;
      few.push(route);
      groups.push([route]);
      parts.push(key);
      slots[s * SLOT] = h;
      slots[s * SLOT + 1] = e + 1;
      const len = key.length;
      entries[e * ENTRY] = exact ? 1 : 0;
      entries[e * ENTRY + 1] = offset;
      entries[e * ENTRY + 2] = len;
      offset += len;
      if (exact) {
        if (len < SHORT) exactMask |= 1 << len;
        if (len > maxExact) maxExact = len;
      } else {
        if (len < SHORT) prefixMask |= 1 << len;
        if (len > maxPrefix) maxPrefix = len;
        if (len === 0) root = e + 1;
      }
    }
    let maxKey = 0;
    for (const k of parts) if (k.length > maxKey) maxKey = k.length;
    if (candidates.length < (maxKey + 2) * 2) candidates = new Int32Array((maxKey + 2) * 2);
    this.groups = precedenceGroups(groups);
    this.predicated = this.groups !== NO_GROUPS;
    if (this.predicated) for (let e = 0; e < few.length; e++) few[e] = (this.groups[e] as readonly Route[])[0] as Route;
    this.size = few.length;
    this.keys = parts.join('');
    this.routes = few;
    this.entries = few.length * ENTRY === entries.length ? entries : entries.slice(0, few.length * ENTRY);
    this.slots = slots;
    this.mask = mask;
    this.exactMask = exactMask;
    this.prefixMask = prefixMask;
    this.maxExact = maxExact;
    this.maxPrefix = maxPrefix;
    this.root = root;
  }

  /**
   * The rule route for `rawPath` (raw, as received; '' means '/'), or null. Rules with
   * predicates are checked against `request` (absent: NO_REQUEST, a request with no method,
   * headers or query).
   */
  match(rawPath: string, request?: MatchRequest): Route | null {
    const path = rawPath === '' ? '/' : rawPath;
    if (!this.hashed) return this.predicated ? this.matchFewWhen(path, request ?? NO_REQUEST) : this.matchFew(path);
    const regexRoutes = this.regexRoutes;
    if (regexRoutes !== null) {
      const req = this.predicated ? (request ?? NO_REQUEST) : null;
      return this.regexIndex === null ? matchRegex(regexRoutes, path, req) : this.regexIndex.match(path, req);
    }
    const len = path.length;
    const prefixMask = this.prefixMask;
    const maxPrefix = this.maxPrefix;
    const wantExact = len < SHORT ? ((this.exactMask >>> len) & 1) === 1 : len <= this.maxExact;
    if (!wantExact && maxPrefix < 0) return null;

    // Hash from the start; remember the hash at each boundary where a Prefix key of this host
    // could end. Exact needs the whole path, Prefix only up to its longest key.
    const cand = candidates;
    let n = 0;
    let h = FNV_OFFSET;
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
        const e = this.probe(fnvStep(h, EXACT_TAG), 1, len, path);
        if (e >= 0) {
          if (!this.predicated) return this.routes[e] ?? null;
          const r = this.firstHolding(e, request ?? NO_REQUEST);
          if (r !== null) return r;
        }
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
    while (n > 0) {
      n--;
      const e = this.probe(cand[n * 2 + 1] as number, 0, cand[n * 2] as number, path);
      if (e >= 0) {
        if (!this.predicated) return this.routes[e] ?? null;
        const r = this.firstHolding(e, request ?? NO_REQUEST);
        if (r !== null) return r;
      }
    }
    // The '/' Prefix rule (key ''), the shortest: matches every path, even one not starting
    // with '/' such as '*'.
    const root = this.root;
    if (root === 0) return null;
    return this.predicated ? this.firstHolding(root - 1, request ?? NO_REQUEST) : (this.routes[root - 1] ?? null);
  }

  /** The first rule of entry `e`'s key (precedence order) whose predicates `req` satisfies, or null. */
  private firstHolding(e: number, req: MatchRequest): Route | null {
    const group = this.groups[e] as readonly Route[];
    for (let i = 0; i < group.length; i++) {
      const r = group[i] as Route;
      const p = r.predicates;
      if (p === undefined || predicatesHold(p, req)) return r;
    }
    return null;
  }

  /**
   * matchFew on a predicated host: the best key that matches, then, when none of its rules
   * holds, the best below it, and so on. A key's rank is its length * 2 + 1 for Exact: the
   * keys that match one path have distinct ranks, and the predicates of only one key are
   * checked when its rules hold (the usual case).
   */
  private matchFewWhen(path: string, req: MatchRequest): Route | null {
    const keys = this.keys;
    const count = this.size;
    const len = path.length;
    let below = 0x7fffffff;
    for (;;) {
      let best = -1;
      let bestRank = -1;
      let off = count;
      for (let e = 0; e < count; e++) {
        const code = keys.charCodeAt(e);
        const keyLen = code >>> 1;
        const start = off;
        off += keyLen;
        // code is the rank
        if (code >= below || code <= bestRank) continue;
        if ((code & 1) === 1) {
          if (keyLen !== len) continue;
        } else if (keyLen > len || (keyLen !== 0 && keyLen !== len && path.charCodeAt(keyLen) !== 47 /* / */)) {
          continue;
        }
        let i = 0;
        while (i < keyLen && keys.charCodeAt(start + i) === path.charCodeAt(i)) i++;
        if (i !== keyLen) continue;
        best = e;
        bestRank = code;
      }
      if (best < 0) return null;
      const r = this.firstHolding(best, req);
      if (r !== null) return r;
      below = bestRank;
    }
  }

  /** The best rule for `path` by comparing with each: longest key, Exact on a tie. */
  private matchFew(path: string): Route | null {
    const keys = this.keys;
    const count = this.size;
    const len = path.length;
    let best = -1;
    let bestLen = -1;
    let bestExact = false;
    let off = count;
    for (let e = 0; e < count; e++) {
      const code = keys.charCodeAt(e);
      const keyLen = code >>> 1;
      const exact = (code & 1) === 1;
      const start = off;
      off += keyLen;
      if (exact) {
        if (keyLen !== len) continue;
      } else if (keyLen > len || (keyLen !== 0 && keyLen !== len && path.charCodeAt(keyLen) !== 47 /* / */)) {
        continue;
      }
      if (keyLen < bestLen || (keyLen === bestLen && (bestExact || !exact))) continue;
      let i = 0;
      while (i < keyLen && keys.charCodeAt(start + i) === path.charCodeAt(i)) i++;
      if (i !== keyLen) continue;
      best = e;
      bestLen = keyLen;
      bestExact = exact;
    }
    return best < 0 ? null : this.few(best);
  }

  private few(i: number): Route | null {
    switch (i) {
      case 0:
        return this.r0;
      case 1:
        return this.r1;
      case 2:
        return this.r2;
      case 3:
        return this.r3;
      case 4:
        return this.r4;
      case 5:
        return this.r5;
      case 6:
        return this.r6;
      default:
        return this.r7;
    }
  }

  /** The entry whose key is `path`'s first `len` characters, with this hash and kind; -1 when none. */
  private probe(h: number, exact: number, len: number, path: string): number {
    const slots = this.slots;
    const mask = this.mask;
    for (let s = h & mask; ; s = (s + 1) & mask) {
      const e1 = slots[s * SLOT + 1] as number;
      if (e1 === 0) return -1;
      if (slots[s * SLOT] !== h) continue;
      const b = (e1 - 1) * ENTRY;
      const entries = this.entries;
      if (entries[b] !== exact || entries[b + 2] !== len) continue;
      const keys = this.keys;
      const off = entries[b + 1] as number;
      let i = 0;
      while (i < len && keys.charCodeAt(off + i) === path.charCodeAt(i)) i++;
      if (i === len) return e1 - 1;
    }
  }
}

/**
 * The first rule whose regex matches (nginx's regex locations: first match wins). Most regex
 * paths start with literal text, and many are nothing else (the plain paths of other
 * Ingresses on a regex host): UserRegex.test compares that prefix first, which decides those,
 * or rules them out, without running the engine.
 */
function matchRegex(routes: readonly Route[], path: string, req: MatchRequest | null): Route | null {
  for (let i = 0; i < routes.length; i++) {
    const r = routes[i] as Route;
    const rx = r.regex;
    if (rx !== null && rx.test(path) && holds(r, req)) return r;
  }
  return null;
}

/** A regex host's rule matched its path: whether its predicates hold too (`req` null: the host has none). */
function holds(r: Route, req: MatchRequest | null): boolean {
  if (req === null) return true;
  const p = r.predicates;
  return p === undefined || predicatesHold(p, req);
}

/** Characters of a path (after the leading '/') that pick a bucket of a RegexIndex. */
const BUCKET_CHARS = 8;
/** bucketKey: too short to pick a bucket. */
const NO_BUCKET = -1;
/** bucketKey: a character beyond ASCII, which RE2's case folding may equate with a letter. */
const ANY_BUCKET = -2;

/**
 * FNV-1a of `text`'s characters [1, 1 + BUCKET_CHARS), ASCII lower-cased, as a non-negative
 * number; NO_BUCKET when shorter, ANY_BUCKET when one of them is beyond ASCII.
 */
function bucketKey(text: string): number {
  if (text.length < BUCKET_CHARS + 1) return NO_BUCKET;
  let h = FNV_OFFSET;
  for (let i = 1; i <= BUCKET_CHARS; i++) {
    let c = text.charCodeAt(i);
    if (c >= 0x80) return ANY_BUCKET;
    if (c >= 65 && c <= 90) c |= 32;
    h = fnvStep(h, c);
  }
  return h >>> 1;
}

/**
 * A regex host's rules bucketed by the first characters their literal prefix fixes: a lookup
 * tries only its path's bucket and the rules whose prefix is too short to be bucketed, merged
 * back into match order. On a busy host (a hundred rules of twenty Ingresses, one of them with
 * use-regex) this skips almost every rule. A path with a character beyond ASCII among those
 * first characters (rare: Node hands paths over as Latin-1) tries every rule, since RE2 folds
 * 'ſ' to 's' and the Kelvin sign to 'k'.
 */
class RegexIndex {
  private readonly routes: readonly Route[];
  /** Rule indexes, ascending, for prefixes shorter than the bucket key. */
  private readonly always: Int32Array;
  private readonly buckets: Map<number, Int32Array>;

  constructor(routes: readonly Route[]) {
    this.routes = routes;
    const always: number[] = [];
    const buckets = new Map<number, number[]>();
    for (let i = 0; i < routes.length; i++) {
      const rx = (routes[i] as Route).regex;
      // prefixes are printable ASCII (regex.ts), so never ANY_BUCKET
      const key = rx === null ? NO_BUCKET : bucketKey(rx.prefix);
      if (key < 0) {
        always.push(i);
        continue;
      }
      const list = buckets.get(key);
      if (list === undefined) buckets.set(key, [i]);
      else list.push(i);
    }
    this.always = Int32Array.from(always);
    this.buckets = new Map([...buckets].map(([k, v]) => [k, Int32Array.from(v)]));
  }

  match(path: string, req: MatchRequest | null): Route | null {
    const key = bucketKey(path);
    if (key === ANY_BUCKET) return matchRegex(this.routes, path, req);
    const bucket = key === NO_BUCKET ? undefined : this.buckets.get(key);
    const a = this.always;
    const b = bucket ?? NO_INTS;
    let i = 0;
    let j = 0;
    while (i < a.length || j < b.length) {
      const next = j >= b.length || (i < a.length && (a[i] as number) < (b[j] as number)) ? (a[i++] as number) : (b[j++] as number);
      const r = this.routes[next] as Route;
      const rx = r.regex;
      if (rx !== null && rx.test(path) && holds(r, req)) return r;
    }
    return null;
  }
}
