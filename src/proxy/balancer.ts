// Endpoint selection. State is kept per endpointsKey and rebuilt when the EndpointSet object
// changes (compared by reference), so a pick costs a Map lookup, a reference compare and the
// algorithm itself:
//   round-robin  a counter (starting at a random offset)
//   least-conn   fewest in-flight requests (our own counters on Upstream), ties broken randomly
//   ip-hash      rendezvous (highest-random-weight) hashing of the client IP over endpoint keys:
//                removing one of N endpoints moves only the clients that were on it (~1/N)
//   subsets      (upstream-hash-by-subset) a key's subset is its k best endpoints by the same
//                rendezvous scores, and its requests take them in turn: a leaving endpoint is
//                replaced in the subsets that had it by each key's next best, the others keep
//                theirs (ingress-nginx cuts the endpoint list into fixed groups of k instead)

import type { EndpointSet } from '../endpoints/types.ts';
import type { LoadBalanceAlgorithm } from '../model/types.ts';
import type { Upstream, UpstreamRegistry } from './upstreams.ts';

export class BalancerState {
  readonly key: string;
  readonly set: EndpointSet;
  readonly upstreams: readonly Upstream[];
  /** Per-endpoint seeds for rendezvous hashing (hash of endpoint.key). */
  readonly seeds: Uint32Array;
  rr: number;
  /** Sweep generation of the last use (see Proxy sweep). */
  usedAt = 0;
  /** ip → index cache for ip-hash on large sets; bounded. */
  private ipCache: Map<string, number> | null = null;
  /** key → its subset and turn (upstream-hash-by-subset); bounded. */
  private subsets: Map<string, SubsetTurn> | null = null;

  constructor(key: string, set: EndpointSet, registry: UpstreamRegistry) {
    this.key = key;
    this.set = set;
    const eps = set.endpoints;
    const ups: Upstream[] = new Array<Upstream>(eps.length);
    const seeds = new Uint32Array(eps.length);
    for (let i = 0; i < eps.length; i++) {
      ups[i] = registry.get(eps[i]!);
      seeds[i] = fmix32(fnv1a(eps[i]!.key));
    }
    this.upstreams = ups;
    this.seeds = seeds;
    this.rr = Math.floor(Math.random() * Math.max(1, eps.length));
  }

  /**
   * Choose an upstream; `exclude` (a failed one) is skipped when another exists.
   * Returns null only for an empty set.
   */
  pick(algo: LoadBalanceAlgorithm, clientIp: string, exclude: Upstream | null): Upstream | null {
    const ups = this.upstreams;
    const n = ups.length;
    if (n === 0) return null;
    if (n === 1) return ups[0]!;
    if (algo === 'least-conn') return this.leastConn(exclude);
    if (algo === 'ip-hash') return this.ipHash(clientIp, exclude);
    if (exclude !== null) {
      // a retry: the endpoint after the failed one, without moving the shared counter
      // (else every retry would shift the rotation and pin the next request on the failed one)
      const at = ups.indexOf(exclude);
      return ups[at === -1 ? this.rr % n : (at + 1) % n]!;
    }
    let i = this.rr;
    if (i >= n) i = 0;
    const u = ups[i]!;
    this.rr = i + 1;
    return u;
  }

  private leastConn(exclude: Upstream | null): Upstream {
    const ups = this.upstreams;
    let best: Upstream | null = null;
    let ties = 0;
    for (let i = 0; i < ups.length; i++) {
      const u = ups[i]!;
      if (u === exclude) continue;
      if (best === null || u.inflight < best.inflight) {
        best = u;
        ties = 1;
      } else if (u.inflight === best.inflight) {
        // reservoir sampling over the tied minimum: each tie wins with equal probability
        ties++;
        if (Math.random() * ties < 1) best = u;
      }
    }
    return best ?? ups[0]!;
  }

  private ipHash(clientIp: string, exclude: Upstream | null): Upstream {
    const ups = this.upstreams;
    if (exclude === null && ups.length > 16) {
      let cache = this.ipCache;
      if (cache === null) cache = this.ipCache = new Map();
      const hit = cache.get(clientIp);
      if (hit !== undefined) return ups[hit]!;
      const idx = this.rendezvous(clientIp, null);
      if (cache.size >= 8192) cache.clear();
      cache.set(clientIp, idx);
      return ups[idx]!;
    }
    return ups[this.rendezvous(clientIp, exclude)]!;
  }

  /**
   * upstream-hash-by-subset: the next endpoint, in turn, of the `size` endpoints that score
   * highest for `key` (all of them when there are not more). Returns null only for an empty set.
   */
  pickInSubset(key: string, size: number): Upstream | null {
    const ups = this.upstreams;
    if (ups.length <= 1) return ups.length === 0 ? null : ups[0]!;
    let cache = this.subsets;
    if (cache === null) cache = this.subsets = new Map();
    let turn = cache.get(key);
    if (turn === undefined) {
      const members = this.bestFor(key, size);
      // a random first turn: keys seen once do not all start on their best endpoint
      turn = { members, next: Math.floor(Math.random() * members.length) };
      if (cache.size >= SUBSET_CACHE_MAX) cache.clear();
      cache.set(key, turn);
    }
    const at = turn.next;
    turn.next = at + 1 === turn.members.length ? 0 : at + 1;
    return ups[turn.members[at]!]!;
  }

  /** Indexes of the `size` endpoints with the highest score(key, endpoint), best first. */
  bestFor(key: string, size: number): number[] {
    const h = fnv1a(key);
    const seeds = this.seeds;
    const k = Math.min(size, seeds.length);
    const best: number[] = [];
    const scores: number[] = [];
    for (let i = 0; i < seeds.length; i++) {
      const s = fmix32((h ^ seeds[i]!) >>> 0);
      if (best.length === k && s <= scores[k - 1]!) continue;
      // insertion into the short sorted list (k is at most 64)
      let j = best.length === k ? k - 1 : best.length;
      while (j > 0 && scores[j - 1]! < s) {
        scores[j] = scores[j - 1]!;
        best[j] = best[j - 1]!;
        j--;
      }
      scores[j] = s;
      best[j] = i;
    }
    return best;
  }

  /** Index of the highest score(ip, endpoint); the excluded upstream never wins. */
  rendezvous(clientIp: string, exclude: Upstream | null): number {
    const h = fnv1a(clientIp);
    const seeds = this.seeds;
    const ups = this.upstreams;
    let best = -1;
    let bestScore = -1;
    for (let i = 0; i < seeds.length; i++) {
      if (ups[i] === exclude) continue;
      const s = fmix32((h ^ seeds[i]!) >>> 0);
      if (s > bestScore) {
        bestScore = s;
        best = i;
      }
    }
    return best === -1 ? 0 : best;
  }
}

/** A hash key's subset (endpoint indexes) and the index of its next turn. */
interface SubsetTurn {
  readonly members: number[];
  next: number;
}

/** Keys whose subset is remembered per balancer state; past this the memory starts over. */
const SUBSET_CACHE_MAX = 8192;

/** FNV-1a over UTF-16 code units, 32 bit. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** MurmurHash3 finalizer: a bijective 32-bit mixer. */
export function fmix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Balancer states by endpointsKey. */
export class Balancers {
  readonly states = new Map<string, BalancerState>();
  private readonly registry: UpstreamRegistry;

  constructor(registry: UpstreamRegistry) {
    this.registry = registry;
  }

  /** The state for `key`, rebuilt when `set` is not the object it was built from. */
  state(key: string, set: EndpointSet): BalancerState {
    let st = this.states.get(key);
    if (st === undefined || st.set !== set) {
      st = new BalancerState(key, set, this.registry);
      this.states.set(key, st);
    }
    return st;
  }
}
