// upstream-hash-by: the same key always reaches the same endpoint; different keys spread.
import { afterEach, describe, expect, it } from 'vitest';
import { parseHashKey } from '../../src/model/route-options.ts';
import type { HashKeyPart } from '../../src/model/types.ts';
import type { EndpointSet } from '../../src/endpoints/types.ts';
import { BalancerState } from '../../src/proxy/balancer.ts';
import { DEFAULT_PROXY_SETTINGS } from '../../src/proxy/settings.ts';
import { UpstreamRegistry } from '../../src/proxy/upstreams.ts';
import { endpoint, FakeEndpoints, request, startProxy, startUpstream } from './fixtures.ts';

function setOf(n: number, from = 0): EndpointSet {
  return { endpoints: Array.from({ length: n }, (_, i) => endpoint(`10.0.0.${from + i}`, 8080)) };
}
const registry = new UpstreamRegistry(DEFAULT_PROXY_SETTINGS);
/** The endpoint keys `n` requests of `key` reach, in order. */
function turns(st: BalancerState, key: string, size: number, n: number): string[] {
  return Array.from({ length: n }, () => st.pickInSubset(key, size)!.key);
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

describe('upstream-hash-by', () => {
  it('parses nginx request values and refuses others', () => {
    expect(parseHashKey('$request_uri')).toEqual([{ variable: 'request_uri' }]);
    expect(parseHashKey('$binary_remote_addr')).toEqual([{ variable: 'remote_addr' }]);
    expect(parseHashKey('u:$http_x_user_id/$cookie_Session$arg_id')).toEqual(['u:', { header: 'x-user-id' }, '/', { cookie: 'Session' }, { arg: 'id' }]);
    expect(parseHashKey('$upstream_addr')).toEqual({ invalid: expect.stringContaining('$upstream_addr') });
  });

  it('sends each key to one endpoint, and different keys to several', async () => {
    const ups = await Promise.all(['a', 'b', 'c'].map((n) => startUpstream((_req, res) => res.end(n))));
    const endpoints = new FakeEndpoints();
    endpoints.set('svc', ups.map((u) => u.port));
    const hashBy = parseHashKey('$http_x_user') as HashKeyPart[];
    const p = await startProxy({ routes: [{ host: 'app.test', key: 'svc', filters: { hashBy } }], endpoints });
    cleanups.push(() => p.close(), ...ups.map((u) => () => u.close()));
    const seen = new Map<string, Set<string>>();
    for (let round = 0; round < 3; round++) {
      for (let user = 0; user < 24; user++) {
        const body = (await request(p.port, { headers: { 'x-user': `user-${user}` } })).body.toString();
        const s = seen.get(`user-${user}`) ?? new Set<string>();
        s.add(body);
        seen.set(`user-${user}`, s);
      }
    }
    for (const [user, bodies] of seen) expect(bodies.size, user).toBe(1);
    // 24 keys over 3 endpoints: all on one would have probability 3 · (1/3)^24
    expect(new Set([...seen.values()].map((s) => [...s][0])).size).toBeGreaterThan(1);
  });
});

describe('upstream-hash-by-subset', () => {
  it('sends a key\'s requests to its subset of `size` endpoints, each in turn', () => {
    const st = new BalancerState('svc', setOf(6), registry);
    const seen = turns(st, '/orders', 3, 30);
    const members = new Set(seen);
    expect(members.size).toBe(3);
    // in turn: every run of 3 requests visits the whole subset
    for (let i = 0; i + 3 <= seen.length; i += 3) expect(new Set(seen.slice(i, i + 3)).size, `requests ${i}..${i + 2}`).toBe(3);
    // the subset is the key's best endpoints: its first is where upstream-hash-by alone goes
    expect(members.has(st.pick('ip-hash', '/orders', null)!.key)).toBe(true);
    // another balancer state for the same endpoints (another process, a rebuilt set) agrees
    expect(new Set(turns(new BalancerState('svc', setOf(6), registry), '/orders', 3, 3))).toEqual(members);
  });

  it('spreads the keys\' subsets over every endpoint', () => {
    const st = new BalancerState('svc', setOf(6), registry);
    const hits = new Map<string, number>();
    for (let k = 0; k < 600; k++) for (const u of turns(st, `/item/${k}`, 3, 3)) hits.set(u, (hits.get(u) ?? 0) + 1);
    expect(hits.size).toBe(6);
    // 1800 requests, 300 per endpoint expected; a fair spread stays well inside 200..400
    for (const [u, n] of hits) expect(n, u).toBeGreaterThan(200);
    for (const [u, n] of hits) expect(n, u).toBeLessThan(400);
  });

  it('keeps a subset when another endpoint leaves, and replaces only a leaving member', () => {
    const before = new BalancerState('svc', setOf(8), registry);
    const keys = Array.from({ length: 200 }, (_, i) => `user-${i}`);
    const subsetOf = (st: BalancerState, key: string): Set<string> => new Set(st.bestFor(key, 3).map((i) => st.upstreams[i]!.key));
    const gone = before.upstreams[5]!.key;
    const after = new BalancerState('svc', { endpoints: setOf(8).endpoints.filter((e) => e.key !== gone) }, registry);
    let kept = 0;
    for (const key of keys) {
      const a = subsetOf(before, key);
      const b = subsetOf(after, key);
      if (!a.has(gone)) {
        expect(b, key).toEqual(a);
        kept++;
      } else {
        // two of three stay; one new member takes the leaving one's place
        expect([...a].filter((u) => b.has(u)).length, key).toBe(2);
      }
    }
    // about 5/8 of the subsets do not contain a given endpoint
    expect(kept).toBeGreaterThan(80);
  });

  it('uses every endpoint, in turn, when there are no more than `size`', () => {
    const st = new BalancerState('svc', setOf(2), registry);
    const seen = turns(st, 'k', 3, 4);
    expect(new Set(seen).size).toBe(2);
    expect(seen[0]).not.toBe(seen[1]);
    expect(new BalancerState('svc', setOf(0), registry).pickInSubset('k', 3)).toBeNull();
    expect(new BalancerState('svc', setOf(1), registry).pickInSubset('k', 3)!.key).toBe('10.0.0.0:8080');
  });

  it('through the proxy: 6 endpoints, subsets of 3, one URI reaches 3 of them; without subsets 1', async () => {
    const names = ['a', 'b', 'c', 'd', 'e', 'f'];
    const ups = await Promise.all(names.map((n) => startUpstream((_req, res) => res.end(n))));
    const endpoints = new FakeEndpoints();
    endpoints.set('svc', ups.map((u) => u.port));
    const hashBy = parseHashKey('$request_uri') as HashKeyPart[];
    const p = await startProxy({
      routes: [
        { host: 'subset.test', key: 'svc', filters: { hashBy, hashSubset: 3 } },
        { host: 'single.test', key: 'svc', filters: { hashBy } },
      ],
      endpoints,
    });
    cleanups.push(() => p.close(), ...ups.map((u) => () => u.close()));
    const reached = async (host: string): Promise<Set<string>> => {
      const bodies = new Set<string>();
      for (let i = 0; i < 12; i++) bodies.add((await request(p.port, { host, path: '/same' })).body.toString());
      return bodies;
    };
    expect((await reached('subset.test')).size).toBe(3);
    expect((await reached('single.test')).size).toBe(1);
  });
});
