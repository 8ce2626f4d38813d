// The rate-limit stage in memory with a fake clock (filters/rate-limit.ts): nginx's limit_req
// with `burst=rate×multiplier nodelay` (an idle client gets burst+1 at once, then the rate;
// refused requests cost nothing; rps and rpm both apply), limit_conn over requests in
// progress (released by the exchange's done hook), the allowlist, zones per Ingress, the
// per-worker share, and the bounded request table.

import { describe, expect, it } from 'vitest';
import type { RateLimit, RouteFilters } from '../../src/model/types.ts';
import { RateLimits, RequestBuckets, bucketLimits } from '../../src/proxy/filters/rate-limit.ts';
import { compilePlan, NO_PLAN_CONTEXT, runPlan, runPlanWaiting, type PlanContext, type PlanHead } from '../../src/proxy/plan.ts';
import { makeRoute } from './fixtures.ts';

function head(clientIp: string): PlanHead {
  return { host: 'app.test', url: '/', path: '/', hasBody: false, bodyLength: -1, reject: 0, requestId: 'r', clientIp, headers: ['host', 'app.test'], upgrade: '', te: false, accessScheme: 'http', method: 'GET', answerHeaders: null, responseHeaders: null, onDone: null };
}

function limit(over: Partial<RateLimit>): RateLimit {
  return Object.freeze({ zone: 'default/app', rps: 0, rpm: 0, burstMultiplier: 5, connections: 0, ...over });
}

/** A clock the test moves by hand, and a stage of `rl` on it. */
function setup(rl: RateLimit, opts: { shares?: number; capacity?: number; requestStatus?: number; connectionStatus?: number } = {}) {
  const clock = { now: 1_000_000 };
  const limits = new RateLimits({ ...opts, clock: () => clock.now });
  // without an arbiter the stage never waits
  const stage = limits.stage(rl) as (h: PlanHead) => number;
  /** Statuses of `n` requests of `ip` at the current time (each exchange ends at once). */
  const fire = (n: number, ip = '192.0.2.1'): number[] => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const h = head(ip);
      out.push(stage(h));
      h.onDone?.();
    }
    return out;
  };
  const accepted = (n: number, ip?: string): number => fire(n, ip).filter((s) => s === 0).length;
  return { clock, limits, stage, fire, accepted };
}

describe('limit-rps (limit_req burst=rps×5 nodelay)', () => {
  it('an idle client gets burst+1 requests at once; the rest are refused at once with 503', () => {
    const { fire } = setup(limit({ rps: 2 })); // burst 10
    const statuses = fire(15);
    expect(statuses.slice(0, 11)).toEqual(Array(11).fill(0));
    expect(statuses.slice(11)).toEqual([503, 503, 503, 503]);
  });

  it('then refills at the rate: one request per 1/rate', () => {
    const { clock, accepted } = setup(limit({ rps: 2 }));
    expect(accepted(11)).toBe(11);
    clock.now += 499;
    expect(accepted(1)).toBe(0); // 0.998 of a request leaked: not yet
    clock.now += 1;
    expect(accepted(3)).toBe(1);
    clock.now += 2000; // 4 leaked
    expect(accepted(10)).toBe(4);
    clock.now += 60_000; // fully drained: a full burst again
    expect(accepted(20)).toBe(11);
  });

  it('refused requests cost nothing', () => {
    const { clock, accepted } = setup(limit({ rps: 1, burstMultiplier: 0 })); // one request per second
    expect(accepted(1)).toBe(1);
    for (let i = 0; i < 9; i++) {
      clock.now += 100;
      expect(accepted(5)).toBe(0);
    }
    clock.now += 100;
    expect(accepted(5)).toBe(1);
  });

  it('a steady client at the rate is never refused', () => {
    const { clock, accepted } = setup(limit({ rps: 10, burstMultiplier: 0 }));
    for (let i = 0; i < 100; i++) {
      expect(accepted(1)).toBe(1);
      clock.now += 100;
    }
  });

  it('clients are counted apart; the status is --limit-req-status-code', () => {
    const { fire } = setup(limit({ rps: 1, burstMultiplier: 1 }), { requestStatus: 429 });
    expect(fire(3, '10.0.0.1')).toEqual([0, 0, 429]);
    expect(fire(3, '10.0.0.2')).toEqual([0, 0, 429]);
    expect(fire(3, '2001:db8::1')).toEqual([0, 0, 429]);
  });
});

describe('limit-rpm, and both rates together', () => {
  it('limit-rpm: burst+1 at once, then rpm/60 per second (nginx truncates the rate to milli-requests: 60r/m is exactly 1r/s)', () => {
    const { clock, accepted } = setup(limit({ rpm: 60, burstMultiplier: 1 })); // burst 60
    expect(accepted(100)).toBe(61);
    clock.now += 1000;
    expect(accepted(5)).toBe(1);
    clock.now += 30_000;
    expect(accepted(50)).toBe(30);
  });

  it('both apply: the stricter one decides, and a request one refuses charges neither', () => {
    // rps 10 (burst 10) and rpm 12 (burst 12): the minute budget runs out first
    const { clock, accepted } = setup(limit({ rps: 10, rpm: 12, burstMultiplier: 1 }));
    expect(accepted(50)).toBe(11); // rps burst+1
    clock.now += 1000; // rps bucket drained by 10; rpm only by 0.2
    expect(accepted(50)).toBe(2); // rpm: burst+1 = 13 at once, 11 used
    clock.now += 1000;
    expect(accepted(50)).toBe(0); // rpm still full (0.2 leaked), rps would allow 10
    clock.now += 5000; // rpm leaked 1 more
    expect(accepted(50)).toBe(1);
  });
});

describe('limit-connections (limit_conn over requests in progress)', () => {
  it('counts requests in progress per client; the done hook gives the slot back', () => {
    const { stage } = setup(limit({ connections: 2 }), { connectionStatus: 429 });
    const a = head('10.0.0.1');
    const b = head('10.0.0.1');
    const c = head('10.0.0.1');
    expect(stage(a)).toBe(0);
    expect(stage(b)).toBe(0);
    expect(stage(c)).toBe(429);
    expect(c.onDone).toBeNull(); // refused: took nothing
    expect(c.refusal).toBe('connection_limited'); // the access log's error kind
    expect(a.refusal).toBeUndefined();
    expect(stage(head('10.0.0.2'))).toBe(0); // another client
    a.onDone!();
    expect(stage(head('10.0.0.1'))).toBe(0);
  });

  it('a refused-by-rate request takes no connection slot', () => {
    const { stage } = setup(limit({ connections: 1, rps: 1, burstMultiplier: 0 }));
    const first = head('10.0.0.1');
    expect(stage(first)).toBe(0);
    first.onDone!();
    const second = head('10.0.0.1');
    expect(stage(second)).toBe(503); // by rate
    expect(second.onDone).toBeNull();
    expect(second.refusal).toBe('rate_limited');
  });

  it('the connection limit is checked first (ingress-nginx: connections, then rpm, then rps)', () => {
    const { stage } = setup(limit({ connections: 1, rps: 1 }), { requestStatus: 429, connectionStatus: 503 });
    expect(stage(head('10.0.0.1'))).toBe(0); // held
    expect(stage(head('10.0.0.1'))).toBe(503);
  });

  it('the hook chains after hooks already on the head and runs them all', () => {
    const { stage } = setup(limit({ connections: 1 }));
    const h = head('10.0.0.1');
    const ran: string[] = [];
    h.onDone = () => ran.push('earlier');
    expect(stage(h)).toBe(0);
    h.onDone!();
    expect(ran).toEqual(['earlier']);
    expect(stage(head('10.0.0.1'))).toBe(0); // released
  });

  it('a full table refuses new clients; clients with requests in progress keep their slots', () => {
    const { stage } = setup(limit({ connections: 5 }), { capacity: 3 });
    const held = ['10.0.0.1', '10.0.0.2', '10.0.0.3'].map((ip) => {
      const h = head(ip);
      expect(stage(h)).toBe(0);
      return h;
    });
    expect(stage(head('10.0.0.4'))).toBe(503);
    expect(stage(head('10.0.0.1'))).toBe(0); // known client: still counted
    held[1]!.onDone!();
    expect(stage(head('10.0.0.4'))).toBe(0);
  });
});

describe('limit-allowlist', () => {
  it('listed clients skip every limit (IPv4, IPv6, IPv4-mapped); others are limited', () => {
    const { fire, stage } = setup(limit({ rps: 1, burstMultiplier: 0, connections: 1, exempt: ['10.0.0.0/8', '2001:db8::/32'] }));
    expect(fire(20, '10.1.2.3')).toEqual(Array(20).fill(0));
    expect(fire(20, '::ffff:10.1.2.3')).toEqual(Array(20).fill(0));
    expect(fire(20, '2001:db8::7')).toEqual(Array(20).fill(0));
    const h = head('10.9.9.9');
    expect(stage(h)).toBe(0);
    expect(h.onDone).toBeNull(); // no connection slot taken either
    expect(fire(3, '192.0.2.1')).toEqual([0, 503, 503]);
  });
});

describe('zones', () => {
  it('every rule of an Ingress shares its counters; another Ingress has its own', () => {
    const limits = new RateLimits({ clock: () => 0 });
    const shopLimit = limit({ zone: 'default/shop', rps: 1, burstMultiplier: 1 });
    const context: PlanContext = { ...NO_PLAN_CONTEXT, rateLimits: limits };
    const filters: RouteFilters = { rateLimit: shopLimit };
    const api = compilePlan(makeRoute({ host: 'shop.test', path: '/api', key: 'a', filters }), context);
    const web = compilePlan(makeRoute({ host: 'shop.test', path: '/', key: 'a', filters }), context);
    const other = compilePlan(makeRoute({ host: 'other.test', key: 'b', filters: { rateLimit: limit({ zone: 'default/other', rps: 1, burstMultiplier: 1 }) } }), context);
    expect(runPlan(api, head('10.0.0.1'))).toBe(0);
    expect(runPlan(web, head('10.0.0.1'))).toBe(0);
    expect(runPlan(api, head('10.0.0.1'))).toBe(503); // the zone's burst+1 used by both rules
    expect(runPlan(other, head('10.0.0.1'))).toBe(0);
  });

  it('an Ingress translated anew with the same limits keeps its counters; changed limits start a new zone', () => {
    const limits = new RateLimits({ clock: () => 0 });
    const before = limit({ zone: 'default/shop', rps: 1 });
    const again = limit({ zone: 'default/shop', rps: 1 }); // a new object, as a re-translation makes
    expect(limits.zoneFor(again)).toBe(limits.zoneFor(before));
    expect(limits.zoneFor(limit({ zone: 'default/shop', rps: 2 }))).not.toBe(limits.zoneFor(before));
  });

  it('plans run the limit before authentication, after the source address lists', () => {
    const limits = new RateLimits({ clock: () => 0, requestStatus: 429 });
    const filters: RouteFilters = {
      sourceRange: { deny: ['203.0.113.0/24'] },
      rateLimit: limit({ rps: 1, burstMultiplier: 0 }),
      basicAuth: { realm: 'r', users: [{ user: 'u', hash: '{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=' }] },
    };
    const plan = compilePlan(makeRoute({ host: 'shop.test', key: 'a', filters }), { ...NO_PLAN_CONTEXT, rateLimits: limits });
    expect(runPlanWaiting(plan, head('203.0.113.5'))).toBe(403); // denied before counting
    expect(runPlanWaiting(plan, head('203.0.113.5'))).toBe(403);
    expect(limits.zoneFor(filters.rateLimit!).buckets!.size).toBe(0); // denied clients are not counted
    expect(runPlanWaiting(plan, head('192.0.2.1'))).toBe(503); // let through by the limit; no verifier: auth answers 503
    expect(runPlanWaiting(plan, head('192.0.2.1'))).toBe(429); // the unauthenticated request counted: refused before auth
    expect(runPlanWaiting(plan, head('192.0.2.2'))).toBe(503);
  });
});

describe('per-worker shares (--workers N)', () => {
  it('each worker enforces rate/N and burst/N, connections/N, rounded up', () => {
    expect(bucketLimits(limit({ rps: 10, rpm: 100, burstMultiplier: 5 }), 4)).toEqual({ rateA: 2500, burstA: 13_000, rateB: 1666 / 4, burstB: 125_000 });
    const { fire } = setup(limit({ rps: 10 }), { shares: 4 }); // burst 50 → 13 per worker
    expect(fire(30).filter((s) => s === 0)).toHaveLength(14);
    const conns = setup(limit({ connections: 5 }), { shares: 2 });
    const held = [head('10.0.0.1'), head('10.0.0.1'), head('10.0.0.1'), head('10.0.0.1')].map((h) => conns.stage(h));
    expect(held).toEqual([0, 0, 0, 503]);
  });

  it('the sum over N workers stays within the pod budget plus the rounding', () => {
    for (const shares of [1, 2, 3, 4, 8]) {
      let total = 0;
      for (let w = 0; w < shares; w++) total += setup(limit({ rps: 7 }), { shares }).accepted(100);
      // one replica (nginx): burst 35 + 1; N workers: N × (ceil(35/N) + 1)
      expect(total).toBe(shares * (Math.ceil(35 / shares) + 1));
      expect(total).toBeLessThanOrEqual(36 + 2 * (shares - 1));
    }
  });
});

describe('bounded memory', () => {
  it('the request table holds at most its capacity; the least recently seen client is evicted and starts over', () => {
    const t = new RequestBuckets({ rateA: 1000, burstA: 0, rateB: 0, burstB: 0 }, 3);
    expect(t.take('a', 0)).toBe(true);
    expect(t.take('a', 0)).toBe(false);
    expect(t.take('b', 0)).toBe(true);
    expect(t.take('c', 0)).toBe(true);
    expect(t.take('a', 0)).toBe(false); // a is now the most recently seen
    expect(t.take('d', 0)).toBe(true); // evicts b (least recently seen)
    expect(t.size).toBe(3);
    expect(t.evictions).toBe(1);
    expect(t.take('a', 0)).toBe(false); // a was kept
    expect(t.take('c', 0)).toBe(false);
    expect(t.take('b', 0)).toBe(true); // b starts over (evicts d)
  });

  it('many distinct addresses never grow the table beyond its capacity, and recent clients stay limited', () => {
    const { fire, limits } = setup(limit({ rps: 1, burstMultiplier: 0 }), { capacity: 1000 });
    for (let i = 0; i < 20_000; i++) fire(1, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    const zone = limits.zoneFor(limit({ rps: 1, burstMultiplier: 0 }));
    expect(zone.buckets!.size).toBe(1000);
    expect(zone.buckets!.evictions).toBe(19_000);
    // the last 1000 are still held: refused within the second
    expect(fire(1, '10.0.78.31')).toEqual([503]); // i = 19999
    expect(fire(1, '10.0.0.5')).toEqual([0]); // evicted long ago: a fresh bucket
  });

  it('long addresses (X-Forwarded-For slices) are stored as copies', () => {
    const header = '2001:db8::1234:5678, ' + 'x'.repeat(10_000);
    const ip = header.split(',')[0]!;
    const t = new RequestBuckets({ rateA: 1000, burstA: 0, rateB: 0, burstB: 0 }, 4);
    expect(t.take(ip, 0)).toBe(true);
    expect(t.take('2001:db8::1234:5678', 0)).toBe(false); // the same key
  });
});

describe('through the proxy', () => {
  it('a refused request is reported with the error kind rate_limited (access log, metrics)', async () => {
    const { FakeEndpoints, request, startProxy, startUpstream } = await import('./fixtures.ts');
    const u = await startUpstream((_req, res) => res.end('ok'));
    const endpoints = new FakeEndpoints();
    endpoints.set('svc', [u.port]);
    // one request a minute: the second is refused however slow the machine
    const rateLimit: RateLimit = { zone: 'default/app', rps: 0, rpm: 1, burstMultiplier: 0, connections: 0 };
    const p = await startProxy({ routes: [{ host: 'app.test', key: 'svc', filters: { rateLimit } }], endpoints });
    try {
      expect((await request(p.port, {})).status).toBe(200);
      expect((await request(p.port, {})).status).toBe(503);
      expect(p.infos.map((i) => i.error)).toEqual([null, 'rate_limited']);
    } finally {
      await p.close();
      await u.close();
    }
  });
});

describe('with workers: the primary\'s request table (RateArbiter)', () => {
  /** Two workers' RateLimits on one clock, asking one RateLimitTable (as the primary would). */
  async function twoWorkers(rl: RateLimit, answer: 'table' | 'none' = 'table') {
    const { RateLimitTable } = await import('../../src/runtime/rate-limit-arbiter.ts');
    const clock = { now: 5_000_000 };
    const table = new RateLimitTable({ clock: () => clock.now });
    let asked = 0;
    // as the worker channel: each worker is an owner of its holds
    const arbiterOf = (owner: number) => ({
      take: (zone: string, limits: Parameters<typeof table.take>[1], key: string) => {
        asked++;
        return answer === 'none' ? null : Promise.resolve(table.take(zone, limits, key));
      },
      acquire: (zone: string, max: number, key: string) => {
        asked++;
        return answer === 'none' ? null : Promise.resolve(table.acquire(owner, zone, max, key));
      },
      release: (hold: number) => table.release(hold),
    });
    const stages = [0, 1].map((owner) => new RateLimits({ shares: 2, clock: () => clock.now, requestStatus: 429, connectionStatus: 503, arbiter: arbiterOf(owner) }).stage(rl));
    const fire = async (worker: number, ip = '192.0.2.9'): Promise<number> => {
      const h = head(ip);
      const status = await stages[worker]!(h);
      h.onDone?.();
      return status;
    };
    /** A request that stays in progress: its status, and its end. */
    const hold = async (worker: number, ip = '192.0.2.9'): Promise<{ status: number; end: () => void }> => {
      const h = head(ip);
      const status = await stages[worker]!(h);
      return { status, end: () => h.onDone?.() };
    };
    return { clock, table, fire, hold, asked: () => asked };
  }

  it('limit-connections: the pod\'s count, whichever worker a request reaches; slots come back when exchanges end or a worker exits', async () => {
    const w = await twoWorkers(limit({ connections: 3 }));
    const held = [await w.hold(0), await w.hold(1), await w.hold(0)];
    expect(held.map((x) => x.status)).toEqual([0, 0, 0]);
    expect((await w.hold(1)).status).toBe(503); // the share alone allowed ceil(3/2) = 2 per worker
    expect((await w.hold(0, '192.0.2.10')).status).toBe(0); // another client
    held[1]!.end();
    expect((await w.hold(1)).status).toBe(0);
    expect(w.table.held).toBe(4);
    w.table.releaseOwner(0); // worker 0 exited: its three holds are gone
    expect(w.table.held).toBe(1);
    w.table.release(12345); // unknown: nothing
    expect((await w.hold(0)).status).toBe(0);
  });

  it('limit-rps with limit-connections: the rate first, then a slot', async () => {
    const w = await twoWorkers(limit({ rps: 1, burstMultiplier: 1, connections: 1 }));
    const first = await w.hold(0);
    expect(first.status).toBe(0);
    expect((await w.hold(1)).status).toBe(503); // within the rate, over the slots
    first.end();
    expect((await w.hold(1)).status).toBe(429); // burst 1 + 1 taken by the two above
  });

  it('one budget for the pod: burst + 1 at once whichever worker each request reaches, then the rate', async () => {
    const w = await twoWorkers(limit({ rps: 2, burstMultiplier: 3 })); // burst 6
    const statuses: number[] = [];
    for (let i = 0; i < 12; i++) statuses.push(await w.fire(i % 2));
    expect(statuses).toEqual([...Array(7).fill(0), ...Array(5).fill(429)]);
    w.clock.now += 500; // one leaks at 2 per second
    expect(await w.fire(1)).toBe(0);
    expect(await w.fire(0)).toBe(429);
  });

  it('a client on one worker gets the whole budget, not the worker\'s share', async () => {
    const w = await twoWorkers(limit({ rps: 2, burstMultiplier: 3 }));
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push(await w.fire(0));
    expect(statuses.filter((s) => s === 0)).toHaveLength(7); // the share alone gave ceil(6/2) + 1 = 4
  });

  it('a refused client is refused in the worker until the table would take it again: one question per refusal period', async () => {
    const w = await twoWorkers(limit({ rps: 1, burstMultiplier: 1 })); // burst 1: 2 at once
    expect([await w.fire(0), await w.fire(0), await w.fire(0)]).toEqual([0, 0, 429]);
    const before = w.asked();
    for (let i = 0; i < 20; i++) expect(await w.fire(0)).toBe(429);
    expect(w.asked()).toBe(before); // answered in the worker
    w.clock.now += 1000; // the table takes one again
    expect(await w.fire(0)).toBe(0);
    expect(w.asked()).toBe(before + 1);
    // another client is not affected by the first one's refusals
    expect(await w.fire(0, '192.0.2.10')).toBe(0);
  });

  it('without an answer from the primary, each worker falls back to its share', async () => {
    const w = await twoWorkers(limit({ rps: 2, burstMultiplier: 3 }), 'none');
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push(await w.fire(0));
    expect(statuses.filter((s) => s === 0)).toHaveLength(4); // ceil(6/2) + 1
  });

  it('marks the plan as waiting only for limits with an arbiter', () => {
    const arbiter = { take: () => null, acquire: () => null, release: () => {} };
    const rateOnly = new RateLimits({ shares: 2, arbiter });
    expect(rateOnly.waits(limit({ rps: 1 }))).toBe(true);
    expect(rateOnly.waits(limit({ connections: 3 }))).toBe(true);
    expect(rateOnly.waits(limit({}))).toBe(false);
    expect(new RateLimits({ shares: 1, arbiter }).waits(limit({ rps: 1 }))).toBe(false);
    const route = makeRoute({ host: 'app.test', key: 'app', filters: { rateLimit: limit({ rps: 1 }) } as RouteFilters });
    expect(compilePlan(route, { ...NO_PLAN_CONTEXT, rateLimits: rateOnly }).sync).toBe(false);
    expect(compilePlan(route, { ...NO_PLAN_CONTEXT, rateLimits: new RateLimits({ shares: 2 }) }).sync).toBe(true);
  });
});

describe('ArbiterClient (the worker end of the channel)', () => {
  it('resolves with the grant, gives up after the timeout (share decides), and answers null on close', async () => {
    const { ArbiterClient } = await import('../../src/runtime/rate-limit-arbiter.ts');
    const sent: ({ id: number } | { hold: number })[] = [];
    const clock = { now: 0 };
    const client = new ArbiterClient((m) => (sent.push(m), true), { clock: () => clock.now, timeoutMs: 1000 });
    const lim = bucketLimits(limit({ rps: 1 }), 1);
    const a = client.take('z', lim, '192.0.2.1')!;
    const b = client.take('z', lim, '192.0.2.2')!;
    const idOf = (i: number): number => (sent[i] as { id: number }).id;
    client.onGrant({ t: 'rl-grant', id: idOf(0), ok: false, retryMs: 250 });
    expect(await a).toEqual({ ok: false, retryMs: 250 });
    clock.now = 999;
    client.sweep();
    expect(client.waiting).toBe(1);
    clock.now = 1000;
    client.sweep();
    expect(await b).toBeNull();
    client.onGrant({ t: 'rl-grant', id: idOf(1), ok: true, retryMs: 0 }); // late: ignored
    const c = client.take('z', lim, '192.0.2.3')!;
    client.close();
    expect(await c).toBeNull();
    expect(client.stats).toEqual({ answered: 1, timedOut: 1, unsent: 0 });
    expect(new ArbiterClient(() => false).take('z', lim, 'x')).toBeNull();
  });

  it('slots: a grant carries its hold; a slot granted after the timeout is given back at once', async () => {
    const { ArbiterClient } = await import('../../src/runtime/rate-limit-arbiter.ts');
    const sent: Record<string, unknown>[] = [];
    const clock = { now: 0 };
    const client = new ArbiterClient((m) => (sent.push({ ...m }), true), { clock: () => clock.now, timeoutMs: 1000 });
    const a = client.acquire('z', 2, '192.0.2.1')!;
    expect(sent[0]).toMatchObject({ t: 'rl-slot', zone: 'z', max: 2, key: '192.0.2.1' });
    client.onGrant({ t: 'rl-grant', id: sent[0]!.id as number, ok: true, retryMs: 0, hold: 7 });
    expect(await a).toEqual({ ok: true, hold: 7 });
    client.release(7);
    expect(sent[1]).toEqual({ t: 'rl-release', hold: 7 });
    const late = client.acquire('z', 2, '192.0.2.1')!;
    clock.now = 1000;
    client.sweep();
    expect(await late).toBeNull(); // the worker's share decides
    client.onGrant({ t: 'rl-grant', id: sent[2]!.id as number, ok: true, retryMs: 0, hold: 8 });
    expect(sent[3]).toEqual({ t: 'rl-release', hold: 8 });
  });
});
