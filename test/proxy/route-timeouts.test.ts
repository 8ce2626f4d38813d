// Per-route upstream timeouts (ingress-nginx proxy-read-timeout, proxy-connect-timeout) through
// sockets: they go into undici's per-dispatch options (read) and a pool of their own (connect).

import { afterEach, describe, expect, it } from 'vitest';
import { makeRoute, FakeEndpoints, request, startProxy, startUpstream } from './fixtures.ts';
import { UpstreamModes, PLAIN_HTTP } from '../../src/proxy/upstreams.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

describe('per-route timeouts', () => {
  it('proxy-read-timeout: a route answers 504 after its own read timeout, another keeps the global one', async () => {
    // answers after 2.5 s (undici's header timer ticks about once a second, so the margin is wide)
    const u = await startUpstream((_req, res) => void setTimeout(() => res.end('late'), 2500));
    const endpoints = new FakeEndpoints();
    endpoints.set('svc', [u.port]);
    const p = await startProxy({
      routes: [
        { host: 'fast.test', key: 'svc', filters: { timeouts: { readMs: 150 } } },
        { host: 'app.test', key: 'svc' },
      ],
      endpoints,
      settings: { responseHeaderTimeoutMs: 5000 },
      internals: { drainDeadlineMs: 100 },
    });
    cleanups.push(() => p.close(), () => u.close());
    const t0 = performance.now();
    const fast = await request(p.port, { host: 'fast.test' });
    expect(fast.status).toBe(504);
    // before the upstream's answer: the route's 150 ms applied, not the global 5 s
    expect(performance.now() - t0).toBeLessThan(2500);
    const normal = await request(p.port, { host: 'app.test' });
    expect(normal.status).toBe(200);
    expect(normal.body.toString()).toBe('late');
  });

  it('proxy-connect-timeout: routes with their own connect timeout get pools of their own', () => {
    const modes = new UpstreamModes();
    const plain = makeRoute({ host: 'a.test', key: 'svc' });
    expect(modes.of(plain)).toBe(PLAIN_HTTP);
    const own = modes.of({ ...plain, filters: { timeouts: { connectMs: 2000 } } });
    expect(own.connectTimeoutMs).toBe(2000);
    expect(own.key).not.toBe('');
    // interned: the same timeout is the same mode (one pool per endpoint, not per route)
    expect(modes.of({ ...plain, filters: { timeouts: { connectMs: 2000 } } })).toBe(own);
    expect(modes.of({ ...plain, filters: { timeouts: { readMs: 2000 } } })).toBe(PLAIN_HTTP);
  });
});
