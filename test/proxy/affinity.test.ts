// Cookie session affinity (ingress-nginx affinity: cookie) through sockets and in memory.
import { afterEach, describe, expect, it } from 'vitest';
import type { CookieAffinity } from '../../src/model/types.ts';
import { affinityCookie, cookieFrom } from '../../src/proxy/filters/affinity.ts';
import { Upstream } from '../../src/proxy/upstreams.ts';
import { DEFAULT_PROXY_SETTINGS } from '../../src/proxy/settings.ts';
import { FakeEndpoints, request, startProxy, startUpstream } from './fixtures.ts';

const AFFINITY: CookieAffinity = { name: 'INGRESSCOOKIE', path: '/', maxAge: 172800, expires: null, sameSite: null, secure: false, domain: null };

describe('cookie affinity', () => {
  it('reads the cookie among others, and writes one with the configured attributes', () => {
    expect(cookieFrom(['Cookie', 'a=1; INGRESSCOOKIE=abc ; b=2'], 'INGRESSCOOKIE')).toBe('abc');
    expect(cookieFrom(['cookie', 'a=1', 'cookie', 'x=y'], 'x')).toBe('y');
    expect(cookieFrom(['cookie', 'INGRESSCOOKIEX=1'], 'INGRESSCOOKIE')).toBeNull();
    const up = new Upstream({ address: '10.0.0.1', port: 8080, key: '10.0.0.1:8080', terminating: false }, DEFAULT_PROXY_SETTINGS);
    const c = affinityCookie({ ...AFFINITY, sameSite: 'None', secure: true, domain: 'example.com' }, up);
    expect(c).toMatch(/^INGRESSCOOKIE=[0-9a-f]{20}; Path=\/; Max-Age=172800; Domain=example.com; SameSite=None; Secure; HttpOnly$/);
    expect(c).not.toContain('10.0.0.1'); // the token never reveals the pod address
  });

  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  it('pins a client to one endpoint, and moves it once when that endpoint leaves', async () => {
    const a = await startUpstream((_req, res) => res.end('a'));
    const b = await startUpstream((_req, res) => res.end('b'));
    const endpoints = new FakeEndpoints();
    endpoints.set('svc', [a.port, b.port]);
    const p = await startProxy({ routes: [{ host: 'app.test', key: 'svc', filters: { affinity: AFFINITY } }], endpoints });
    cleanups.push(() => p.close(), () => a.close(), () => b.close());

    const first = await request(p.port, {});
    const setCookie = first.headers['set-cookie']?.[0] ?? '';
    expect(setCookie).toMatch(/^INGRESSCOOKIE=[0-9a-f]{20}; Path=\//);
    const cookie = setCookie.split(';')[0]!;
    const pinned = first.body.toString();
    // round-robin alone would alternate; the cookie keeps every request on the first endpoint
    for (let i = 0; i < 10; i++) {
      const r = await request(p.port, { headers: { cookie } });
      expect(r.body.toString()).toBe(pinned);
      expect(r.headers['set-cookie']).toBeUndefined();
    }
    // its endpoint leaves: the next request goes to the other and gets a new cookie
    endpoints.set('svc', [pinned === 'a' ? b.port : a.port]);
    const moved = await request(p.port, { headers: { cookie } });
    expect(moved.body.toString()).not.toBe(pinned);
    expect(moved.headers['set-cookie']?.[0]).toMatch(/^INGRESSCOOKIE=/);
    expect(moved.headers['set-cookie']?.[0]?.split(';')[0]).not.toBe(cookie);
  });
});
