// ingress-nginx canary rules in memory: header, then cookie, then weight; and through sockets.
import { afterEach, describe, expect, it } from 'vitest';
import type { Canary } from '../../src/model/types.ts';
import { compileUserRegex } from '../../src/model/regex.ts';
import { routeToCanary } from '../../src/proxy/filters/canary.ts';
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

  it('with cookie affinity (affinity-canary-behavior sticky, the default) a client stays on the side its cookie was set on; legacy re-draws every request', async () => {
    const primary = await startUpstream((_req, res) => res.end('primary'));
    const canary = await startUpstream((_req, res) => res.end('canary'));
    cleanups.push(() => primary.close(), () => canary.close());
    const endpoints = new FakeEndpoints();
    endpoints.set('svc', [primary.port]);
    endpoints.set('canary', [canary.port]);
    const action = { kind: 'forward' as const, canary: { ...base, weight: 50 } };
    const affinity = { name: 'route', path: '/', maxAge: null, expires: null, sameSite: null, secure: false, domain: null };
    const p = await startProxy({
      routes: [
        { host: 'balanced.test', key: 'svc', action, filters: { affinity } },
        { host: 'persistent.test', key: 'svc', action, filters: { affinity: { ...affinity, mode: 'persistent' as const } } },
        { host: 'legacy.test', key: 'svc', action, filters: { affinity: { ...affinity, canaryBehavior: 'legacy' as const } } },
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
    // legacy: the cookie does not hold the canary decision
    const first = await request(p.port, { host: 'legacy.test' });
    const cookie = first.headers['set-cookie']![0]!.split(';')[0]!;
    const seen = new Set<string>();
    for (let i = 0; i < 60 && seen.size < 2; i++) seen.add((await request(p.port, { host: 'legacy.test', headers: { cookie } })).body.toString());
    expect([...seen].sort()).toEqual(['canary', 'primary']);
  });
});
