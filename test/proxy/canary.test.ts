// ingress-nginx canary rules in memory: header, then cookie, then weight; and through sockets.
import { afterEach, describe, expect, it } from 'vitest';
import type { Canary } from '../../src/model/types.ts';
import { compileUserRegex } from '../../src/model/regex.ts';
import { routeToCanary } from '../../src/proxy/filters/canary.ts';
import { parseHashKey } from '../../src/model/route-options.ts';
import type { CookieAffinity, HashKeyPart } from '../../src/model/types.ts';
import { FakeEndpoints, request, startProxy, startUpstream } from './fixtures.ts';

const base: Canary = {
  backend: { namespace: 'd', service: 'canary', servicePort: 80, endpointsKey: 'canary' },
  ingress: { kind: 'Ingress', namespace: 'd', name: 'c' },
  header: '',
  headerValue: '',
  headerPattern: null,
  cookie: '',
  weight: 0,
  weightTotal: 100,
};

const AFFINITY: CookieAffinity = { name: 'route', path: '/', maxAge: null, expires: null, sameSite: null, secure: false, domain: null };

describe('canary rules', () => {
  it('header: "always" / "never"; other values fall through to the cookie, then the weight', () => {
    const c = { ...base, header: 'x-canary', cookie: 'canary', weight: 100 };
    expect(routeToCanary(c, ['X-Canary', 'always'], 0.99)).toBe(true);
    expect(routeToCanary(c, ['x-canary', 'never', 'cookie', 'canary=always'], 0)).toBe(false);
    expect(routeToCanary({ ...c, weight: 0 }, ['x-canary', 'maybe', 'cookie', 'a=1; canary=always'], 0)).toBe(true);
    expect(routeToCanary(c, ['cookie', 'canary=never'], 0)).toBe(false);
    expect(routeToCanary(c, [], 0.5)).toBe(true); // weight 100
  });

  it('header value and pattern: a match goes to the canary, anything else falls through', () => {
    const byValue = { ...base, header: 'x-version', headerValue: 'v2' };
    expect(routeToCanary(byValue, ['x-version', 'v2'], 0)).toBe(true);
    expect(routeToCanary(byValue, ['x-version', 'always'], 0)).toBe(false);
    const re = compileUserRegex('^v2(\\.[0-9]+)?$');
    if ('invalid' in re) throw new Error(re.invalid);
    const byPattern = { ...base, header: 'x-version', headerPattern: re };
    expect(routeToCanary(byPattern, ['x-version', 'v2.1'], 0)).toBe(true);
    expect(routeToCanary(byPattern, ['x-version', 'v3'], 0)).toBe(false);
  });

  it('weight: weight out of weightTotal', () => {
    const c = { ...base, weight: 20, weightTotal: 100 };
    expect(routeToCanary(c, [], 0.19)).toBe(true);
    expect(routeToCanary(c, [], 0.2)).toBe(false);
    expect(routeToCanary({ ...c, weight: 0 }, [], 0)).toBe(false);
  });
});

describe('canary through sockets', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  it('sends requests to the canary backend by header and by weight, and reports the backend used', async () => {
    const primary = await startUpstream((_req, res) => res.end('primary'));
    const canary = await startUpstream((_req, res) => res.end('canary'));
    const endpoints = new FakeEndpoints();
    endpoints.set('svc', [primary.port]);
    endpoints.set('canary', [canary.port]);
    const action = { kind: 'forward' as const, canary: { ...base, header: 'x-canary', weight: 50 } };
    const p = await startProxy({ routes: [{ host: 'app.test', key: 'svc', action }], endpoints });
    cleanups.push(() => p.close(), () => primary.close(), () => canary.close());
    expect((await request(p.port, { headers: { 'x-canary': 'always' } })).body.toString()).toBe('canary');
    expect((await request(p.port, { headers: { 'x-canary': 'never' } })).body.toString()).toBe('primary');
    const bodies: string[] = [];
    for (let i = 0; i < 200; i++) bodies.push((await request(p.port, {})).body.toString());
    const toCanary = bodies.filter((b) => b === 'canary').length;
    // 50 %: 200 draws land in 60..140 with probability 1 - 1e-8
    expect(toCanary).toBeGreaterThan(60);
    expect(toCanary).toBeLessThan(140);
    expect(p.infos.some((i) => i.backend === 'canary')).toBe(true);
    expect(p.infos.some((i) => i.backend === 'svc')).toBe(true);
  });

  it('with cookie affinity (affinity-canary-behavior sticky, the default) a client stays on the side its cookie was set on', async () => {
    const primary = await startUpstream((_req, res) => res.end('primary'));
    const canary = await startUpstream((_req, res) => res.end('canary'));
    cleanups.push(() => primary.close(), () => canary.close());
    const endpoints = new FakeEndpoints();
    endpoints.set('svc', [primary.port]);
    endpoints.set('canary', [canary.port]);
    const action = { kind: 'forward' as const, canary: { ...base, weight: 50 } };
    const p = await startProxy({
      routes: [
        { host: 'balanced.test', key: 'svc', action, filters: { affinity: AFFINITY } },
        { host: 'persistent.test', key: 'svc', action, filters: { affinity: { ...AFFINITY, mode: 'persistent' as const } } },
      ],
      endpoints,
    });
    cleanups.push(() => p.close());
    for (const host of ['balanced.test', 'persistent.test']) {
      // new clients until each side got one; then each client keeps its side
      const sides = new Map<string, string>();
      for (let i = 0; i < 60 && sides.size < 2; i++) {
        const first = await request(p.port, { host });
        const cookie = first.headers['set-cookie']?.[0]?.split(';')[0];
        expect(cookie, host).toMatch(/^route=[0-9a-f]{20}c?$/);
        sides.set(first.body.toString(), cookie!);
      }
      expect([...sides.keys()].sort(), host).toEqual(['canary', 'primary']);
      for (const [side, cookie] of sides) {
        for (let i = 0; i < 12; i++) {
          const r = await request(p.port, { host, headers: { cookie } });
          expect(r.body.toString(), `${host} ${cookie}`).toBe(side);
          expect(r.headers['set-cookie']).toBeUndefined();
        }
      }
    }
  });

  it('legacy (on the canary Ingress, or on the primary): the canary backend sets no cookie and holds no client; a client pinned to the primary stays there', async () => {
    const primary = await startUpstream((_req, res) => res.end('primary'));
    const canary = await startUpstream((_req, res) => res.end('canary'));
    cleanups.push(() => primary.close(), () => canary.close());
    const endpoints = new FakeEndpoints();
    endpoints.set('svc', [primary.port]);
    endpoints.set('canary', [canary.port]);
    const rules = { ...base, header: 'x-canary', weight: 50 };
    const p = await startProxy({
      routes: [
        { host: 'on-canary.test', key: 'svc', action: { kind: 'forward' as const, canary: { ...rules, legacy: true as const } }, filters: { affinity: AFFINITY } },
        { host: 'on-primary.test', key: 'svc', action: { kind: 'forward' as const, canary: rules }, filters: { affinity: { ...AFFINITY, canaryBehavior: 'legacy' as const } } },
        { host: 'persistent.test', key: 'svc', action: { kind: 'forward' as const, canary: { ...rules, legacy: true as const } }, filters: { affinity: { ...AFFINITY, mode: 'persistent' as const } } },
      ],
      endpoints,
    });
    cleanups.push(() => p.close());
    for (const host of ['on-canary.test', 'on-primary.test', 'persistent.test']) {
      const toCanary = await request(p.port, { host, headers: { 'x-canary': 'always' } });
      expect(toCanary.body.toString(), host).toBe('canary');
      expect(toCanary.headers['set-cookie'], host).toBeUndefined();
      // clients without a cookie are drawn again on every request
      const seen = new Set<string>();
      for (let i = 0; i < 60 && seen.size < 2; i++) seen.add((await request(p.port, { host })).body.toString());
      expect([...seen].sort(), host).toEqual(['canary', 'primary']);
      // the primary sets its cookie, and the canary weight no longer moves that client
      const toPrimary = await request(p.port, { host, headers: { 'x-canary': 'never' } });
      const cookie = toPrimary.headers['set-cookie']?.[0]?.split(';')[0];
      expect(cookie, host).toMatch(/^route=[0-9a-f]{20}$/);
      for (let i = 0; i < 12; i++) expect((await request(p.port, { host, headers: { cookie: cookie! } })).body.toString(), host).toBe('primary');
    }
    // a cookie once set on the canary (under sticky) no longer holds the client there
    const marked = `route=${'a'.repeat(20)}c`;
    const seen = new Set<string>();
    for (let i = 0; i < 60 && seen.size < 2; i++) seen.add((await request(p.port, { host: 'on-canary.test', headers: { cookie: marked } })).body.toString());
    expect([...seen].sort()).toEqual(['canary', 'primary']);
  });

  it('the canary backend is balanced by its own load-balance and upstream-hash-by, not the primary\'s', async () => {
    const named = (n: string) => startUpstream((_req, res) => res.end(n));
    const [p1, p2, c1, c2, c3] = await Promise.all(['p1', 'p2', 'c1', 'c2', 'c3'].map(named));
    cleanups.push(...[p1, p2, c1, c2, c3].map((u) => () => u!.close()));
    const endpoints = new FakeEndpoints();
    endpoints.set('svc', [p1!.port, p2!.port]);
    endpoints.set('canary', [c1!.port, c2!.port, c3!.port]);
    const byUser = parseHashKey('$http_x_user') as HashKeyPart[];
    const rules = { ...base, header: 'x-canary' };
    const p = await startProxy({
      routes: [
        // the canary hashes by user, the primary round-robins
        { host: 'canary-hashed.test', key: 'svc', action: { kind: 'forward' as const, canary: { ...rules, hashBy: byUser } } },
        // the primary hashes by user, the canary (no annotation of its own) round-robins
        { host: 'primary-hashed.test', key: 'svc', action: { kind: 'forward' as const, canary: rules }, filters: { hashBy: byUser } },
        // subsets of 2 on the canary
        { host: 'canary-subset.test', key: 'svc', action: { kind: 'forward' as const, canary: { ...rules, hashBy: byUser, hashSubset: 2 } } },
      ],
      endpoints,
    });
    cleanups.push(() => p.close());
    const reached = async (host: string, side: 'always' | 'never', n: number): Promise<Set<string>> => {
      const bodies = new Set<string>();
      for (let i = 0; i < n; i++) bodies.add((await request(p.port, { host, headers: { 'x-canary': side, 'x-user': 'alice' } })).body.toString());
      return bodies;
    };
    expect((await reached('canary-hashed.test', 'always', 9)).size).toBe(1);
    expect(await reached('canary-hashed.test', 'never', 4)).toEqual(new Set(['p1', 'p2']));
    expect(await reached('primary-hashed.test', 'always', 6)).toEqual(new Set(['c1', 'c2', 'c3']));
    expect((await reached('primary-hashed.test', 'never', 6)).size).toBe(1);
    expect((await reached('canary-subset.test', 'always', 8)).size).toBe(2);
  });
});
