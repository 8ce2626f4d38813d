// Per-client request rate and concurrency limits (ingress-nginx limit-rps, limit-rpm,
// limit-burst-multiplier, limit-connections, limit-allowlist), as nginx's limit_req (with
// `burst=rate×multiplier nodelay`) and limit_conn enforce them.
//
// Client: InboundHead.clientIp (the peer, the PROXY protocol source, or the X-Forwarded-For
// client behind --trusted-proxies), nginx's $remote_addr after realip. Addresses in the
// rule's allowlist skip every limit.
//
// Zones. Counters belong to a zone, one per Ingress (RateLimit.zone), shared by all its rules,
// as ingress-nginx renders one limit_req_zone per Ingress. A zone is found again by its name
// and limits when the Ingress is translated anew, so counters survive reconfiguration; it is
// dropped once no plan uses it (WeakRef).
//
// Request rate: nginx's leaky bucket, in its own integer arithmetic (milli-requests): per
// client an `excess` and the time of the last accepted request; a request computes
// excess − rate×elapsed + 1 (floored at 0) and is refused with --limit-req-status-code when
// that is above the burst, else accepted and stored. A client's first request is accepted
// with excess 0, so an idle client gets burst+1 requests at once, then `rate` per second.
// Refused requests cost nothing. rps and rpm both apply when both are set (a request must pass
// both; when one refuses, neither is charged).
//
// Concurrency: requests in progress per client (a WebSocket until its socket closes), as
// nginx's limit_conn counts a connection only while it has a request in progress (and each
// HTTP/2 stream apart); the slot is given back by the exchange's done hook. Over the limit:
// --limit-conn-status-code.
//
// Bounded memory. A zone's request table holds at most ZONE_CAPACITY clients (typed arrays
// grown by doubling, an LRU list through them): a new client when the table is full takes the
// least recently seen client's slot, which starts over with a full burst when it comes back
// (nginx's zone evicts its oldest entries the same way when full). About 100 bytes per
// client: 6.2-6.7 MB for a full zone, measured by bench/rate-limit-memory.ts with 1,000,000
// addresses (nginx's default zone is 5 MB). Concurrency counters exist
// only while a client has requests in progress; a full table refuses new clients
// (--limit-conn-status-code), as nginx does when its zone cannot hold another client.
//
// Workers (--workers N). Worker processes share no memory (node:cluster forks processes), so
// the request table of limit-rps / limit-rpm is the primary's (RateArbiter,
// runtime/rate-limit-arbiter.ts): every request-rate check of a worker asks it, and the limit
// holds per pod exactly as nginx's shared zone, whichever workers a client's connections
// reach. A refusal is remembered in the worker until the table would accept the client again,
// so a client over its limit is refused locally. limit-connections is the primary's count as
// well: a request takes a slot there (one message each way) and gives it back when its
// exchange ends (one message); a worker that exits gives back all it held. Should the primary
// not answer, a worker falls back to its share: rate/N, burst/N, connections/N rounded up.
//
// Time comes from an injected clock (monotonic milliseconds), so tests drive it.

import type { RateLimit } from '../../model/types.ts';
import type { CidrMatcher } from '../../values/cidr.ts';
import { addDoneHook, type PlanHead } from '../plan.ts';
import { matcherOf } from './source-range.ts';

/** Monotonic milliseconds. */
export type Clock = () => number;

/** Largest number of clients a zone's request table holds; then the least recently seen goes. */
export const ZONE_CAPACITY = 65_536;
/** nginx's limit_req_status / limit_conn_status default. */
export const DEFAULT_LIMIT_STATUS = 503;

const FIRST_SIZE = 1024;

/** Parameters of a request table, in nginx's units: milli-requests per second, milli-requests. */
export interface BucketLimits {
  /** Leak rate of the per-second limit (0: no such limit) and its burst. */
  readonly rateA: number;
  readonly burstA: number;
  /** Leak rate of the per-minute limit (0: no such limit) and its burst. */
  readonly rateB: number;
  readonly burstB: number;
}

/**
 * Leaky-bucket state per client key, at most `capacity` clients (least recently seen evicted).
 * Slots live in typed arrays; a Map finds a key's slot.
 */
export class RequestBuckets {
  readonly capacity: number;
  /** Clients evicted to make room so far. */
  evictions = 0;
  private readonly limits: BucketLimits;
  private readonly index = new Map<string, number>();
  private keys: string[] = [];
  private excessA: Float64Array;
  private excessB: Float64Array;
  private last: Float64Array;
  /** LRU list: prev/next slot, -1 at the ends; mru is the head, lru the tail. */
  private prev: Int32Array;
  private next: Int32Array;
  private used = 0;
  private mru = -1;
  private lru = -1;

  constructor(limits: BucketLimits, capacity = ZONE_CAPACITY) {
    this.limits = limits;
    this.capacity = Math.max(1, capacity);
    const n = Math.min(this.capacity, FIRST_SIZE);
    this.excessA = new Float64Array(n);
    this.excessB = new Float64Array(n);
    this.last = new Float64Array(n);
    this.prev = new Int32Array(n);
    this.next = new Int32Array(n);
  }

  /** Clients held. */
  get size(): number {
    return this.index.size;
  }

  /** Whether a request of `key` at `now` (ms) is accepted; an accepted one is charged. */
  take(key: string, now: number): boolean {
    const i = this.index.get(key);
    if (i === undefined) {
      const slot = this.insert(key);
      this.excessA[slot] = 0;
      this.excessB[slot] = 0;
      this.last[slot] = now;
      return true;
    }
    this.touch(i);
    const lim = this.limits;
    let ms = now - this.last[i]!;
    if (ms < 0) ms = 0;
    let a = 0;
    if (lim.rateA > 0) {
      a = this.excessA[i]! - Math.floor((lim.rateA * ms) / 1000) + 1000;
      if (a < 0) a = 0;
      if (a > lim.burstA) return false;
    }
    let b = 0;
    if (lim.rateB > 0) {
      b = this.excessB[i]! - Math.floor((lim.rateB * ms) / 1000) + 1000;
      if (b < 0) b = 0;
      if (b > lim.burstB) return false;
    }
    this.excessA[i] = a;
    this.excessB[i] = b;
    this.last[i] = now;
    return true;
  }

  /**
   * Milliseconds from `now` until a request of `key` would be accepted (0 when it would be
   * now). Refused requests charge nothing, so until someone else's request is accepted the
   * answer only shrinks: a caller may refuse the key locally for that long (worker arbitration).
   */
  waitMs(key: string, now: number): number {
    const i = this.index.get(key);
    if (i === undefined) return 0;
    const lim = this.limits;
    let ms = now - this.last[i]!;
    if (ms < 0) ms = 0;
    let wait = 0;
    if (lim.rateA > 0) {
      const over = this.excessA[i]! - Math.floor((lim.rateA * ms) / 1000) + 1000 - lim.burstA;
      if (over > 0) wait = Math.max(wait, Math.ceil((over * 1000) / lim.rateA));
    }
    if (lim.rateB > 0) {
      const over = this.excessB[i]! - Math.floor((lim.rateB * ms) / 1000) + 1000 - lim.burstB;
      if (over > 0) wait = Math.max(wait, Math.ceil((over * 1000) / lim.rateB));
    }
    return wait;
  }

  private insert(key: string): number {
    let i: number;
    if (this.used < this.capacity) {
      if (this.used === this.prev.length) this.grow();
      i = this.used++;
    } else {
      i = this.lru;
      this.unlink(i);
      this.index.delete(this.keys[i]!);
      this.evictions++;
    }
    // A long address may be a slice of the whole X-Forwarded-For header; a copy keeps the
    // table from holding on to the header (short strings are never slices in V8).
    const own = key.length < 13 ? key : Buffer.from(key, 'latin1').toString('latin1');
    this.keys[i] = own;
    this.index.set(own, i);
    this.linkFront(i);
    return i;
  }

  private grow(): void {
    const n = Math.min(this.capacity, this.prev.length * 2);
    const widen = <T extends Float64Array | Int32Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.excessA = widen(this.excessA, (k) => new Float64Array(k));
    this.excessB = widen(this.excessB, (k) => new Float64Array(k));
    this.last = widen(this.last, (k) => new Float64Array(k));
    this.prev = widen(this.prev, (k) => new Int32Array(k));
    this.next = widen(this.next, (k) => new Int32Array(k));
  }

  private touch(i: number): void {
    if (this.mru === i) return;
    this.unlink(i);
    this.linkFront(i);
  }

  private unlink(i: number): void {
    const p = this.prev[i]!;
    const n = this.next[i]!;
    if (p === -1) this.mru = n;
    else this.next[p] = n;
    if (n === -1) this.lru = p;
    else this.prev[n] = p;
  }

  private linkFront(i: number): void {
    this.prev[i] = -1;
    this.next[i] = this.mru;
    if (this.mru !== -1) this.prev[this.mru] = i;
    this.mru = i;
    if (this.lru === -1) this.lru = i;
  }
}

/** One Ingress's counters in this process. */
export class RateLimitZone {
  /** Request table; null without limit-rps and limit-rpm. */
  readonly buckets: RequestBuckets | null;
  /** Requests in progress per client (only clients with some); null without limit-connections. */
  readonly connections: Map<string, number> | null;
  /** This process's share of limit-connections. */
  readonly maxConnections: number;
  /** With an arbiter: clients the primary refused, and until when (arbitratedStage). */
  readonly refusedUntil = new Map<string, number>();
  readonly capacity: number;

  constructor(limit: RateLimit, shares: number, capacity: number) {
    this.capacity = capacity;
    this.buckets = limit.rps > 0 || limit.rpm > 0 ? new RequestBuckets(bucketLimits(limit, shares), capacity) : null;
    this.connections = limit.connections > 0 ? new Map() : null;
    this.maxConnections = Math.ceil(limit.connections / shares);
  }

  /** Whether `key` may not start another request (its share is in use, or the table is full). */
  full(key: string): boolean {
    const conns = this.connections!;
    const held = conns.get(key) ?? 0;
    return held >= this.maxConnections || (held === 0 && conns.size >= this.capacity);
  }

  /** Takes one slot of `key` (after full() said no). */
  hold(key: string): void {
    const conns = this.connections!;
    conns.set(key, (conns.get(key) ?? 0) + 1);
  }

  /** Gives back one slot of `key` (the done hook of an exchange that took one). */
  release(key: string): void {
    const conns = this.connections;
    if (conns === null) return;
    const n = conns.get(key);
    if (n === undefined) return;
    if (n <= 1) conns.delete(key);
    else conns.set(key, n - 1);
  }
}

/**
 * A limit in nginx's units for one of `shares` processes: rates in milli-requests per second
 * (limit_req_zone rate=Nr/m is N×1000/60, truncated, as nginx stores it), bursts in
 * milli-requests (burst = rate × multiplier, rounded up per share).
 */
export function bucketLimits(limit: RateLimit, shares: number): BucketLimits {
  return {
    rateA: (limit.rps * 1000) / shares,
    burstA: Math.ceil((limit.rps * limit.burstMultiplier) / shares) * 1000,
    rateB: Math.floor((limit.rpm * 1000) / 60) / shares,
    burstB: Math.ceil((limit.rpm * limit.burstMultiplier) / shares) * 1000,
  };
}

/**
 * The pod's one request table, kept by the primary when there are worker processes
 * (runtime/rate-limit-arbiter.ts): `take` charges a request of `key` to zone `zone` with the
 * pod's whole limits and says whether it is accepted, and if not for how long the key is
 * refused (waitMs). null: not available now (no channel); the worker then uses its share.
 */
export interface RateArbiter {
  take(zone: string, limits: BucketLimits, key: string): Promise<ArbiterAnswer | null> | null;
  /**
   * Takes one of the `max` requests in progress `key` may have in `zone` (limit-connections, the
   * pod's count); ok comes with a hold to give back with `release` when the exchange ends.
   * null: not available now (the worker's share decides).
   */
  acquire(zone: string, max: number, key: string): Promise<ArbiterHold | null> | null;
  /** Gives a hold back (no answer). */
  release(hold: number): void;
}

export interface ArbiterHold {
  readonly ok: boolean;
  /** When ok: what release() takes. */
  readonly hold: number;
}

export interface ArbiterAnswer {
  readonly ok: boolean;
  /** When refused: milliseconds until the key could be accepted. */
  readonly retryMs: number;
}

export interface RateLimitOptions {
  /** Status of a request over a rate (ingress-nginx limit-req-status-code, default 503). */
  readonly requestStatus?: number;
  /** Status of a request over limit-connections (limit-conn-status-code, default 503). */
  readonly connectionStatus?: number;
  /** Processes the pod's budget is split over (the --workers count; 1 for a single process). */
  readonly shares?: number;
  readonly clock?: Clock;
  /** Clients per zone request table (tests shrink it). */
  readonly capacity?: number;
  /**
   * With workers: the primary's table, so limit-rps / limit-rpm hold per pod exactly, as
   * nginx's shared zone (the shares stay the fallback when the primary does not answer).
   */
  readonly arbiter?: RateArbiter;
}

/** The rate limits of one proxy: its zones, statuses, clock and share of the pod's budget. */
export class RateLimits {
  readonly requestStatus: number;
  readonly connectionStatus: number;
  readonly shares: number;
  readonly clock: Clock;
  readonly capacity: number;
  readonly arbiter: RateArbiter | null;
  private readonly byFilter = new WeakMap<RateLimit, RateLimitZone>();
  private readonly byName = new Map<string, WeakRef<RateLimitZone>>();
  private readonly finalizer = new FinalizationRegistry<string>((name) => {
    if (this.byName.get(name)?.deref() === undefined) this.byName.delete(name);
  });

  constructor(opts: RateLimitOptions = {}) {
    this.requestStatus = opts.requestStatus ?? DEFAULT_LIMIT_STATUS;
    this.connectionStatus = opts.connectionStatus ?? DEFAULT_LIMIT_STATUS;
    this.shares = Math.max(1, Math.floor(opts.shares ?? 1));
    this.clock = opts.clock ?? (() => performance.now());
    this.capacity = opts.capacity ?? ZONE_CAPACITY;
    this.arbiter = this.shares > 1 ? (opts.arbiter ?? null) : null;
  }

  /** Whether stages of request-rate limits may wait (for the arbiter): the plan is then not sync. */
  waits(limit: RateLimit): boolean {
    return this.arbiter !== null && (limit.rps > 0 || limit.rpm > 0 || limit.connections > 0);
  }

  /** The zone of `limit`: the same for every rule of one Ingress, and across re-translations. */
  zoneFor(limit: RateLimit): RateLimitZone {
    let zone = this.byFilter.get(limit);
    if (zone !== undefined) return zone;
    const name = `${limit.zone}\0${limit.rps}\0${limit.rpm}\0${limit.burstMultiplier}\0${limit.connections}`;
    zone = this.byName.get(name)?.deref();
    if (zone === undefined) {
      zone = new RateLimitZone(limit, this.shares, this.capacity);
      this.byName.set(name, new WeakRef(zone));
      this.finalizer.register(zone, name);
    }
    this.byFilter.set(limit, zone);
    return zone;
  }

  /**
   * The plan stage of `limit`: synchronous (allocating only a done hook for limit-connections),
   * except with an arbiter (waits(limit)), where a request-rate check may wait for the primary.
   */
  stage(limit: RateLimit): (head: PlanHead) => number | Promise<number> {
    if (this.waits(limit)) return this.arbitratedStage(limit, this.arbiter!);
    const zone = this.zoneFor(limit);
    const exempt: CidrMatcher | null = limit.exempt !== undefined ? matcherOf(limit.exempt) : null;
    const clock = this.clock;
    const requestStatus = this.requestStatus;
    const connectionStatus = this.connectionStatus;
    const buckets = zone.buckets;
    const conns = zone.connections;
    return (head) => {
      const ip = head.clientIp;
      if (exempt !== null && exempt.contains(ip)) return 0;
      if (conns !== null && zone.full(ip)) {
        head.refusal = 'connection_limited';
        return connectionStatus;
      }
      if (buckets !== null && !buckets.take(ip, clock())) {
        head.refusal = 'rate_limited';
        return requestStatus;
      }
      if (conns !== null) {
        zone.hold(ip);
        addDoneHook(head, () => zone.release(ip));
      }
      return 0;
    };
  }
  /**
   * With workers: each request-rate check is the primary's (one message each way, ~0.1 ms);
   * a refusal is remembered here until the primary's table would accept the client again
   * (refused requests charge nothing, so that time only comes closer), so a client over its
   * limit costs the primary one message per refusal period, not one per request. When the
   * primary does not answer, this worker's share decides, as without an arbiter.
   */
  private arbitratedStage(limit: RateLimit, arbiter: RateArbiter): (head: PlanHead) => number | Promise<number> {
    const zone = this.zoneFor(limit);
    const name = `${limit.zone}\0${limit.rps}\0${limit.rpm}\0${limit.burstMultiplier}`;
    const connZone = `${limit.zone}\0${limit.connections}`;
    const whole = bucketLimits(limit, 1);
    const exempt: CidrMatcher | null = limit.exempt !== undefined ? matcherOf(limit.exempt) : null;
    const clock = this.clock;
    const requestStatus = this.requestStatus;
    const connectionStatus = this.connectionStatus;
    const buckets = zone.buckets;
    const conns = zone.connections;
    const capacity = zone.capacity;
    /** Clients the primary refused, until when (bounded: cleared when full, which only asks again). */
    const refusedUntil = zone.refusedUntil;
    const connectionLimited = (head: PlanHead): number => {
      head.refusal = 'connection_limited';
      return connectionStatus;
    };
    /** This worker's share of limit-connections: when the primary does not answer. */
    const localSlot = (head: PlanHead, ip: string): number => {
      if (zone.full(ip)) return connectionLimited(head);
      zone.hold(ip);
      addDoneHook(head, () => zone.release(ip));
      return 0;
    };
    /** A slot of the pod's limit-connections, held until the exchange ends. */
    const slot = (head: PlanHead, ip: string): number | Promise<number> => {
      if (conns === null) return 0;
      const asked = arbiter.acquire(connZone, limit.connections, ip);
      if (asked === null) return localSlot(head, ip);
      return asked.then(
        (answer) => {
          if (answer === null) return localSlot(head, ip);
          if (!answer.ok) return connectionLimited(head);
          addDoneHook(head, () => arbiter.release(answer.hold));
          return 0;
        },
        () => localSlot(head, ip),
      );
    };
    const refuse = (head: PlanHead): number => {
      head.refusal = 'rate_limited';
      return requestStatus;
    };
    const local = (head: PlanHead, ip: string): number | Promise<number> => (buckets!.take(ip, clock()) ? slot(head, ip) : refuse(head));
    return (head) => {
      const ip = head.clientIp;
      if (exempt !== null && exempt.contains(ip)) return 0;
      if (buckets === null) return slot(head, ip);
      const until = refusedUntil.get(ip);
      if (until !== undefined) {
        if (until > clock()) return refuse(head);
        refusedUntil.delete(ip);
      }
      const asked = arbiter.take(name, whole, ip);
      if (asked === null) return local(head, ip);
      return asked.then(
        (answer) => {
          if (answer === null) return local(head, ip);
          if (answer.ok) return slot(head, ip);
          if (refusedUntil.size >= capacity) refusedUntil.clear();
          refusedUntil.set(ip, clock() + answer.retryMs);
          return refuse(head);
        },
        () => local(head, ip),
      );
    };
  }
}

/** Used by plans whose context brings no RateLimits of its own (tests, tools). */
export const DEFAULT_RATE_LIMITS = new RateLimits();
