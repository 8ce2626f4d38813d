import { describe, expect, it } from 'vitest';
import type { EndpointSet } from '../../src/endpoints/types.ts';
import { Balancers, BalancerState } from '../../src/proxy/balancer.ts';
import { DEFAULT_PROXY_SETTINGS } from '../../src/proxy/settings.ts';
import { UpstreamRegistry } from '../../src/proxy/upstreams.ts';
import type { Upstream } from '../../src/proxy/upstreams.ts';
import { endpoint } from './fixtures.ts';

function setOf(n: number, base = 10000): EndpointSet {
  return { endpoints: Array.from({ length: n }, (_, i) => endpoint(`10.0.${i >> 8}.${i & 255}`, base)) };
}

const registry = () => new UpstreamRegistry(DEFAULT_PROXY_SETTINGS);

function clientIps(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(`172.${16 + ((i >> 16) & 15)}.${(i >> 8) & 255}.${i & 255}`);
  return out;
}

describe('round-robin', () => {
  it('spreads requests evenly and skips an excluded endpoint', () => {
    const st = new BalancerState('k', setOf(4), registry());
    const counts = new Map<string, number>();
    for (let i = 0; i < 4000; i++) {
      const u = st.pick('round-robin', '1.1.1.1', null)!;
      counts.set(u.key, (counts.get(u.key) ?? 0) + 1);
    }
    expect([...counts.values()]).toEqual([1000, 1000, 1000, 1000]);
    const ex = st.upstreams[1]!;
    for (let i = 0; i < 100; i++) expect(st.pick('round-robin', '1.1.1.1', ex)).not.toBe(ex);
  });
  it('returns null for an empty set and the only one for a single endpoint', () => {
    expect(new BalancerState('k', setOf(0), registry()).pick('round-robin', '', null)).toBeNull();
    const one = new BalancerState('k', setOf(1), registry());
    expect(one.pick('least-conn', '', one.upstreams[0]!)).toBe(one.upstreams[0]);
  });
});

describe('least-conn', () => {
  it('prefers the idle endpoint', () => {
    const st = new BalancerState('k', setOf(3), registry());
    const [a, b, c] = st.upstreams as [Upstream, Upstream, Upstream];
    a.inflight = 5;
    b.inflight = 0;
    c.inflight = 3;
    for (let i = 0; i < 50; i++) expect(st.pick('least-conn', '', null)).toBe(b);
    expect(st.pick('least-conn', '', b)).toBe(c);
  });
  it('breaks ties randomly (every tied endpoint gets picked)', () => {
    const st = new BalancerState('k', setOf(4), registry());
    const seen = new Map<Upstream, number>();
    for (let i = 0; i < 4000; i++) {
      const u = st.pick('least-conn', '', null)!;
      seen.set(u, (seen.get(u) ?? 0) + 1);
    }
    expect(seen.size).toBe(4);
    for (const n of seen.values()) expect(n).toBeGreaterThan(800);
  });
  it('balances in-flight load when requests are held', () => {
    const st = new BalancerState('k', setOf(4), registry());
    for (let i = 0; i < 400; i++) st.pick('least-conn', '', null)!.inflight++;
    for (const u of st.upstreams) expect(u.inflight).toBe(100);
  });
});

describe('ip-hash (rendezvous)', () => {
  const N = 10;
  const ips = clientIps(20000);

  it('is stable per client and roughly even', () => {
    const st = new BalancerState('k', setOf(N), registry());
    const counts = new Map<string, number>();
    for (const ip of ips) {
      const u = st.pick('ip-hash', ip, null)!;
      expect(st.pick('ip-hash', ip, null)).toBe(u);
      counts.set(u.key, (counts.get(u.key) ?? 0) + 1);
    }
    expect(counts.size).toBe(N);
    const mean = ips.length / N;
    for (const n of counts.values()) {
      expect(n).toBeGreaterThan(mean * 0.85);
      expect(n).toBeLessThan(mean * 1.15);
    }
  });

  it('removing one of N endpoints moves only ~1/N of the clients (only those it had)', () => {
    const reg = registry();
    const full = setOf(N);
    const before = new BalancerState('k', full, reg);
    const removed = full.endpoints[3]!.key;
    const after = new BalancerState('k', { endpoints: full.endpoints.filter((e) => e.key !== removed) }, reg);
    let moved = 0;
    for (const ip of ips) {
      const a = before.pick('ip-hash', ip, null)!.key;
      const b = after.pick('ip-hash', ip, null)!.key;
      if (a !== b) {
        moved++;
        expect(a).toBe(removed); // nobody else moves
      }
    }
    const share = moved / ips.length;
    expect(share).toBeGreaterThan(0.7 / N);
    expect(share).toBeLessThan(1.3 / N);
  });

  it('adding an endpoint moves ~1/(N+1), all of them to the new one', () => {
    const reg = registry();
    const small = setOf(N);
    const big = setOf(N + 1);
    const before = new BalancerState('k', small, reg);
    const after = new BalancerState('k', big, reg);
    const added = big.endpoints[N]!.key;
    let moved = 0;
    for (const ip of ips) {
      const a = before.pick('ip-hash', ip, null)!.key;
      const b = after.pick('ip-hash', ip, null)!.key;
      if (a !== b) {
        moved++;
        expect(b).toBe(added);
      }
    }
    expect(moved / ips.length).toBeGreaterThan(0.7 / (N + 1));
    expect(moved / ips.length).toBeLessThan(1.3 / (N + 1));
  });

  it('works the same through the cache on large sets, and exclusion gives the runner-up', () => {
    const st = new BalancerState('k', setOf(40), registry());
    for (const ip of ips.slice(0, 2000)) {
      const first = st.pick('ip-hash', ip, null)!;
      expect(st.upstreams[st.rendezvous(ip, null)]).toBe(first);
      expect(st.pick('ip-hash', ip, null)).toBe(first);
      const second = st.pick('ip-hash', ip, first)!;
      expect(second).not.toBe(first);
    }
  });
});

describe('Balancers', () => {
  it('rebuilds state only when the EndpointSet object changes', () => {
    const b = new Balancers(registry());
    const s1 = setOf(3);
    const a = b.state('k', s1);
    expect(b.state('k', s1)).toBe(a);
    const s2 = { endpoints: [...s1.endpoints] };
    const c = b.state('k', s2);
    expect(c).not.toBe(a);
    // the same endpoint keeps its Upstream (pool and in-flight counter) across rebuilds
    expect(c.upstreams[0]).toBe(a.upstreams[0]);
  });
});
