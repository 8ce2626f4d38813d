// Cookie session affinity (ingress-nginx affinity: cookie) through sockets and in memory.
import { afterEach, describe, expect, it } from 'vitest';
import type { CookieAffinity } from '../../src/model/types.ts';
import { affinityCookie, cookieFrom } from '../../src/proxy/filters/affinity.ts';
import { Upstream } from '../../src/proxy/upstreams.ts';
import { DEFAULT_PROXY_SETTINGS } from '../../src/proxy/settings.ts';
import { createHash } from 'node:crypto';
import { FakeEndpoints, refusedPort, request, startProxy, startUpstream } from './fixtures.ts';

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

  it('persistent: pins a client to one endpoint, and moves it once when that endpoint leaves', async () => {
    const a = await startUpstream((_req, res) => res.end('a'));
    const b = await startUpstream((_req, res) => res.end('b'));
    const endpoints = new FakeEndpoints();
    endpoints.set('svc', [a.port, b.port]);
    const p = await startProxy({ routes: [{ host: 'app.test', key: 'svc', filters: { affinity: { ...AFFINITY, mode: 'persistent' } } }], endpoints });
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

  it('balanced (the default): a session key keeps its endpoint; scaling up moves some sessions, each to a new endpoint only; a leaving endpoint moves only its own', async () => {
    const names = ['a', 'b', 'c', 'd'];
    const ups = await Promise.all(names.map((n) => startUpstream((_req, res) => res.end(n))));
    cleanups.push(...ups.map((u) => () => u.close()));
    const endpoints = new FakeEndpoints();
    endpoints.set('svc', ups.slice(0, 3).map((u) => u.port));
    const p = await startProxy({ routes: [{ host: 'app.test', key: 'svc', filters: { affinity: AFFINITY } }], endpoints });
    cleanups.push(() => p.close());

    // a client without the cookie gets a new session key, and keeps its endpoint with it
    const first = await request(p.port, {});
    const setCookie = first.headers['set-cookie']?.[0] ?? '';
    expect(setCookie).toMatch(/^INGRESSCOOKIE=[0-9a-f]{20}; Path=\/; Max-Age=172800; HttpOnly$/);
    const cookie = setCookie.split(';')[0]!;
    for (let i = 0; i < 5; i++) {
      const r = await request(p.port, { headers: { cookie } });
      expect(r.body.toString()).toBe(first.body.toString());
      expect(r.headers['set-cookie']).toBeUndefined();
    }
    // 120 sessions: spread over the three endpoints
    const keys = Array.from({ length: 120 }, (_, i) => (i * 2654435761).toString(16).padStart(20, '0').slice(-20));
    const where = async () => {
      const out: string[] = [];
      for (const k of keys) out.push((await request(p.port, { headers: { cookie: `INGRESSCOOKIE=${k}` } })).body.toString());
      return out;
    };
    const before = await where();
    for (const n of ['a', 'b', 'c']) expect(before.filter((e) => e === n).length, n).toBeGreaterThan(10);
    // scale up to four: the sessions that move all go to the new endpoint, about a quarter of them
    endpoints.set('svc', ups.map((u) => u.port));
    const after = await where();
    const moved = keys.filter((_, i) => after[i] !== before[i]);
    expect(moved.length).toBeGreaterThan(10);
    expect(moved.length).toBeLessThan(60);
    for (let i = 0; i < keys.length; i++) if (after[i] !== before[i]) expect(after[i]).toBe('d');
    // b leaves: only b's sessions move
    endpoints.set('svc', [ups[0]!.port, ups[2]!.port, ups[3]!.port]);
    const without = await where();
    for (let i = 0; i < keys.length; i++) {
      if (after[i] === 'b') expect(without[i]).not.toBe('b');
      else expect(without[i]).toBe(after[i]);
    }
    // a malformed cookie value is not a session key: a new one is issued
    const odd = await request(p.port, { headers: { cookie: 'INGRESSCOOKIE=not-a-key' } });
    expect(odd.headers['set-cookie']?.[0]).toMatch(/^INGRESSCOOKIE=[0-9a-f]{20};/);
  });

  it('session-cookie-change-on-failure: a request retried away from its dead endpoint re-pins the client; without it the cookie stays', async () => {
    const live = await startUpstream((_req, res) => res.end('live'));
    cleanups.push(() => live.close());
    const dead = await refusedPort();
    const endpoints = new FakeEndpoints();
    endpoints.set('svc', [dead, live.port]);
    const deadToken = createHash('sha256').update(`127.0.0.1:${dead}`).digest('hex').slice(0, 20);
    const p = await startProxy({
      routes: [
        { host: 'change.test', key: 'svc', filters: { affinity: { ...AFFINITY, mode: 'persistent', changeOnFailure: true } } },
        { host: 'keep.test', key: 'svc', filters: { affinity: { ...AFFINITY, mode: 'persistent' } } },
        { host: 'balanced.test', key: 'svc', filters: { affinity: { ...AFFINITY, changeOnFailure: true } } },
      ],
      endpoints,
    });
    cleanups.push(() => p.close());
    const cookie = `INGRESSCOOKIE=${deadToken}`;
    // persistent: retried on the live endpoint, and the answer pins the client there
    const changed = await request(p.port, { host: 'change.test', headers: { cookie } });
    expect(changed.body.toString()).toBe('live');
    const repinned = changed.headers['set-cookie']?.[0]?.split(';')[0];
    expect(repinned).toMatch(/^INGRESSCOOKIE=[0-9a-f]{20}$/);
    expect(repinned).not.toBe(cookie);
    const next = await request(p.port, { host: 'change.test', headers: { cookie: repinned! } });
    expect(next.body.toString()).toBe('live');
    expect(next.headers['set-cookie']).toBeUndefined();
    expect(p.infos.at(-1)!.attempts).toBe(1);
    // without it: the same retry, no new cookie
    const kept = await request(p.port, { host: 'keep.test', headers: { cookie } });
    expect(kept.body.toString()).toBe('live');
    expect(kept.headers['set-cookie']).toBeUndefined();
    // balanced: sessions whose key hashes to the dead endpoint get a key that hashes to the live one
    let moved = 0;
    for (let i = 0; i < 16; i++) {
      const key = i.toString(16).padStart(20, '0');
      const r = await request(p.port, { host: 'balanced.test', headers: { cookie: `INGRESSCOOKIE=${key}` } });
      expect(r.body.toString()).toBe('live');
      const c = r.headers['set-cookie']?.[0]?.split(';')[0];
      if (c === undefined) continue;
      moved++;
      const again = await request(p.port, { host: 'balanced.test', headers: { cookie: c } });
      expect(again.headers['set-cookie']).toBeUndefined();
      expect(p.infos.at(-1)!.attempts).toBe(1);
    }
    expect(moved).toBeGreaterThan(0);
  });
});
