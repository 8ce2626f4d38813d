// upstream-hash-by: the same key always reaches the same endpoint; different keys spread.
import { afterEach, describe, expect, it } from 'vitest';
import { parseHashKey } from '../../src/model/route-options.ts';
import type { HashKeyPart } from '../../src/model/types.ts';
import { FakeEndpoints, request, startProxy, startUpstream } from './fixtures.ts';

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
