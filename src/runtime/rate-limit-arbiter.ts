// limit-rps / limit-rpm across worker processes: the pod's one request table lives in the
// primary (RateLimitTable) and the workers ask it per request (ArbiterClient over the worker
// channel), so a limit holds per pod exactly as nginx's zone shared by its workers, wherever
// the kernel puts a client's connections. See filters/rate-limit.ts ("Workers") for the
// worker's side: refusals remembered locally, its share as the fallback.

import { RequestBuckets, ZONE_CAPACITY, type ArbiterAnswer, type ArbiterHold, type BucketLimits, type RateArbiter } from '../proxy/filters/rate-limit.ts';

/** A zone unused this long is dropped (its Ingress went away or changed its limits). */
const IDLE_ZONE_MS = 10 * 60_000;
/** How often the primary looks for idle zones. */
const SWEEP_MS = 60_000;
/** An answer not back within this long: the worker decides with its share. */
export const ARBITER_TIMEOUT_MS = 1000;

interface TableZone {
  readonly buckets: RequestBuckets;
  used: number;
}

/** The primary's request tables, one per zone name (Ingress and its limits). */
export class RateLimitTable {
  private readonly zones = new Map<string, TableZone>();
  private readonly clock: () => number;
  private readonly capacity: number;
  private sweptAt: number;

  constructor(opts: { clock?: () => number; capacity?: number } = {}) {
    this.clock = opts.clock ?? (() => performance.now());
    this.capacity = opts.capacity ?? ZONE_CAPACITY;
    this.sweptAt = this.clock();
  }

  /** Charges one request of `key` in `zone`, if its limits accept it now. */
  take(zone: string, limits: BucketLimits, key: string): ArbiterAnswer {
    const now = this.clock();
    let z = this.zones.get(zone);
    if (z === undefined) {
      z = { buckets: new RequestBuckets(limits, this.capacity), used: now };
      this.zones.set(zone, z);
    }
    z.used = now;
    if (now - this.sweptAt >= SWEEP_MS) this.sweep(now);
    if (z.buckets.take(key, now)) return ACCEPTED;
    return { ok: false, retryMs: Math.max(1, z.buckets.waitMs(key, now)) };
  }

  /** Zones held (tests). */
  get size(): number {
    return this.zones.size;
  }

  /** Requests in progress per `zone\0key` (only those with some). */
  private readonly slots = new Map<string, number>();
  /** Each hold's slot and the worker that took it. */
  private readonly holds = new Map<number, { slot: string; owner: number }>();
  private nextHold = 1;

  /** limit-connections: one of `max` slots of `key` in `zone`, for worker `owner`. */
  acquire(owner: number, zone: string, max: number, key: string): ArbiterHold {
    const slot = `${zone}\0${key}`;
    const held = this.slots.get(slot) ?? 0;
    // as a worker's own table: a full table refuses new clients (nginx's zone does the same)
    if (held >= max || (held === 0 && this.slots.size >= this.capacity)) return NO_SLOT;
    this.slots.set(slot, held + 1);
    const hold = this.nextHold++;
    this.holds.set(hold, { slot, owner });
    return { ok: true, hold };
  }

  /** Gives a hold back (a hold given back twice, or unknown, changes nothing). */
  release(hold: number): void {
    const h = this.holds.get(hold);
    if (h === undefined) return;
    this.holds.delete(hold);
    const n = this.slots.get(h.slot) ?? 0;
    if (n <= 1) this.slots.delete(h.slot);
    else this.slots.set(h.slot, n - 1);
  }

  /** Everything worker `owner` held (it exited: its exchanges are gone). */
  releaseOwner(owner: number): void {
    for (const [hold, h] of this.holds) if (h.owner === owner) this.release(hold);
  }

  /** Holds outstanding (tests). */
  get held(): number {
    return this.holds.size;
  }

  private sweep(now: number): void {
    this.sweptAt = now;
    for (const [name, z] of this.zones) if (now - z.used >= IDLE_ZONE_MS) this.zones.delete(name);
  }
}

const ACCEPTED: ArbiterAnswer = Object.freeze({ ok: true, retryMs: 0 });
const NO_SLOT: ArbiterHold = Object.freeze({ ok: false, hold: 0 });

/** Worker → primary: charge a request (filters/rate-limit.ts RateArbiter.take). */
export interface RateTakeMessage {
  t: 'rl-take';
  id: number;
  zone: string;
  limits: BucketLimits;
  key: string;
}

/** Worker → primary: take a limit-connections slot (RateArbiter.acquire). */
export interface RateSlotMessage {
  t: 'rl-slot';
  id: number;
  zone: string;
  max: number;
  key: string;
}

/** Worker → primary: give a slot back (no answer). */
export interface RateReleaseMessage {
  t: 'rl-release';
  hold: number;
}

/** Primary → worker: the answer to `rl-take` or `rl-slot` number `id` (`hold` for a slot). */
export interface RateGrantMessage {
  t: 'rl-grant';
  id: number;
  ok: boolean;
  retryMs: number;
  hold?: number;
}

/** The primary's side: the answer to a worker's message (`owner`: the worker's id), or null for none. */
export function answerRate(table: RateLimitTable, owner: number, m: RateTakeMessage | RateSlotMessage | RateReleaseMessage): RateGrantMessage | null {
  if (m.t === 'rl-release') {
    table.release(m.hold);
    return null;
  }
  if (m.t === 'rl-slot') {
    const a = table.acquire(owner, m.zone, m.max, m.key);
    return { t: 'rl-grant', id: m.id, ok: a.ok, retryMs: 0, hold: a.hold };
  }
  const a = table.take(m.zone, m.limits, m.key);
  return { t: 'rl-grant', id: m.id, ok: a.ok, retryMs: a.retryMs };
}

/**
 * The worker's side: a RateArbiter that sends `rl-take` through `send` (false: not sent) and
 * resolves with the `rl-grant` handed to `onGrant`, or null after ARBITER_TIMEOUT_MS (swept
 * twice a second rather than a timer per request) or when the channel closes (`close`).
 */
export class ArbiterClient implements RateArbiter {
  private readonly send: (m: RateTakeMessage | RateSlotMessage | RateReleaseMessage) => boolean;
  private readonly pending = new Map<number, { resolve: (a: RateGrantMessage | null) => void; at: number }>();
  private readonly clock: () => number;
  private readonly timeoutMs: number;
  private nextId = 1;
  private sweeper: NodeJS.Timeout | null = null;
  /** Answers that came back, and requests the worker decided alone (timeouts, no channel). */
  readonly stats = { answered: 0, timedOut: 0, unsent: 0 };

  constructor(send: (m: RateTakeMessage | RateSlotMessage | RateReleaseMessage) => boolean, opts: { clock?: () => number; timeoutMs?: number } = {}) {
    this.send = send;
    this.clock = opts.clock ?? (() => performance.now());
    this.timeoutMs = opts.timeoutMs ?? ARBITER_TIMEOUT_MS;
  }

  take(zone: string, limits: BucketLimits, key: string): Promise<ArbiterAnswer | null> | null {
    const asked = this.ask({ t: 'rl-take', id: this.nextId++, zone, limits, key });
    return asked === null ? null : asked.then((m) => (m === null ? null : m.ok ? ACCEPTED : { ok: false, retryMs: m.retryMs }));
  }

  acquire(zone: string, max: number, key: string): Promise<ArbiterHold | null> | null {
    const asked = this.ask({ t: 'rl-slot', id: this.nextId++, zone, max, key });
    return asked === null ? null : asked.then((m) => (m === null ? null : m.ok ? { ok: true, hold: m.hold ?? 0 } : NO_SLOT));
  }

  release(hold: number): void {
    this.send({ t: 'rl-release', hold });
  }

  private ask(m: RateTakeMessage | RateSlotMessage): Promise<RateGrantMessage | null> | null {
    if (!this.send(m)) {
      this.stats.unsent++;
      return null;
    }
    if (this.sweeper === null) {
      this.sweeper = setInterval(() => this.sweep(), Math.max(10, this.timeoutMs / 2));
      this.sweeper.unref();
    }
    return new Promise((resolve) => this.pending.set(m.id, { resolve, at: this.clock() }));
  }

  onGrant(m: RateGrantMessage): void {
    const p = this.pending.get(m.id);
    if (p === undefined) {
      // timed out already: the worker's share decided, so a slot granted late goes back at once
      if (m.ok && m.hold !== undefined) this.release(m.hold);
      return;
    }
    this.pending.delete(m.id);
    this.stats.answered++;
    p.resolve(m);
  }

  /** Answers every waiting request with null (the worker's share decides) and stops. */
  close(): void {
    for (const p of this.pending.values()) p.resolve(null);
    this.pending.clear();
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
  }

  /** Requests waiting for an answer (tests). */
  get waiting(): number {
    return this.pending.size;
  }

  /** Gives up on answers older than the timeout. Exposed for tests with fake timers. */
  sweep(): void {
    const now = this.clock();
    for (const [id, p] of this.pending) {
      if (now - p.at < this.timeoutMs) continue;
      this.pending.delete(id);
      this.stats.timedOut++;
      p.resolve(null);
    }
  }
}
