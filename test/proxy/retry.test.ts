// ingress-nginx's proxy-next-upstream on the proxy (RouteFilters.retry), through a real
// listener and real upstreams on loopback: which failures and statuses send a request to the
// next endpoint, how many attempts, which methods and bodies, and when nothing is retried.

import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { RetryPolicy, RouteFilters } from '../../src/model/types.ts';
import { FakeEndpoints, refusedPort, request, startProxy, startUpstream, type RunningProxy, type Upstream } from './fixtures.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

const POLICY: RetryPolicy = { error: true, timeout: true, invalidHeader: false, statuses: [], nonIdempotent: false, tries: 3, timeoutMs: 0 };

/** An upstream answering `status` with its name, recording the bodies it received. */
async function named(name: string, status = 200, handler?: http.RequestListener): Promise<Upstream & { bodies: string[] }> {
  const bodies: string[] = [];
  const u = await startUpstream(
    handler ??
      ((req, res) => {
        let body = '';
        req.setEncoding('utf8').on('data', (c: string) => (body += c));
        req.on('end', () => {
          bodies.push(body);
          res.writeHead(status, { 'content-type': 'text/plain' });
          res.end(`${name} ${status}`);
        });
      }),
  );
  cleanups.push(() => u.close());
  return Object.assign(u, { bodies });
}

async function proxyOver(ports: number[], filters: RouteFilters, lb: 'round-robin' | 'least-conn' = 'round-robin'): Promise<RunningProxy> {
  const endpoints = new FakeEndpoints();
  endpoints.set('svc', ports);
  const p = await startProxy({ routes: [{ host: 'app.test', key: 'svc', lb, filters }], endpoints });
  cleanups.push(() => p.close());
  return p;
}

describe('proxy-next-upstream', () => {
  it('http_503: the next endpoint answers; the 503 is never seen by the client', async () => {
    const down = await named('down', 503);
    const up = await named('up');
    const p = await proxyOver([down.port, up.port], { retry: { ...POLICY, statuses: [503] } });
    for (let i = 0; i < 4; i++) {
      const r = await request(p.port, { path: `/r${i}` });
      expect(r.status).toBe(200);
      expect(r.body.toString()).toBe('up 200');
    }
    expect(down.requests).toBe(2); // round-robin sent every second request there first
    expect(up.requests).toBe(4);
    expect(p.infos.map((i) => i.attempts).sort()).toEqual([1, 1, 2, 2]);
  });

  it('the last answer is relayed when every attempt is used up; tries counts attempts', async () => {
    const a = await named('a', 503);
    const b = await named('b', 503);
    const c = await named('c', 503);
    const p = await proxyOver([a.port, b.port, c.port], { retry: { ...POLICY, statuses: [503], tries: 2 } });
    const r = await request(p.port, {});
    expect(r.status).toBe(503);
    expect(r.body.toString()).toMatch(/^[abc] 503$/); // two endpoints in ring order, from wherever round-robin stood
    expect(a.requests + b.requests + c.requests).toBe(2);
    expect(p.infos[0]!.attempts).toBe(2);
  });

  // Round-robin starts anywhere and a retry does not move it: N requests over N endpoints
  // start once at each endpoint, so the tests below send one request per endpoint.

  it('a status not listed is relayed at once', async () => {
    const a = await named('a', 502);
    const b = await named('b', 502);
    const p = await proxyOver([a.port, b.port], { retry: { ...POLICY, statuses: [503] } });
    expect((await request(p.port, {})).status).toBe(502);
    expect((await request(p.port, {})).status).toBe(502);
    expect([a.requests, b.requests]).toEqual([1, 1]);
  });

  it('error: refused endpoints are skipped up to tries; "off" (no conditions) never retries', async () => {
    const dead1 = await refusedPort();
    const dead2 = await refusedPort();
    const up = await named('up');
    const p = await proxyOver([dead1, dead2, up.port], { retry: POLICY });
    for (let i = 0; i < 3; i++) expect((await request(p.port, {})).status).toBe(200);
    expect(p.infos.map((i) => i.attempts).sort()).toEqual([1, 2, 3]);

    const off: RetryPolicy = { ...POLICY, error: false, timeout: false };
    const q = await proxyOver([dead1, up.port], { retry: off });
    // Portico's own rule would retry a refused GET; with the policy off, 502
    const statuses = [(await request(q.port, {})).status, (await request(q.port, {})).status].sort();
    expect(statuses).toEqual([200, 502]);
    expect(q.infos.map((i) => i.attempts)).toEqual([1, 1]);
  });

  it('POST is retried only with non_idempotent, its body sent again intact', async () => {
    const down = await named('down', 503);
    const up = await named('up');
    const strict = await proxyOver([down.port, up.port], { retry: { ...POLICY, statuses: [503] } });
    const once = [(await request(strict.port, { method: 'POST', body: 'a' })).status, (await request(strict.port, { method: 'POST', body: 'b' })).status];
    expect(once.sort()).toEqual([200, 503]);
    expect(up.requests).toBe(1);

    const loose = await proxyOver([down.port, up.port], { retry: { ...POLICY, statuses: [503], nonIdempotent: true } });
    for (const body of ['payload-1', 'payload-2']) {
      const r = await request(loose.port, { method: 'POST', body });
      expect(r.status).toBe(200);
    }
    // the request that started at `down` reached `up` with the same body
    expect(up.bodies.slice(1).sort()).toEqual(['payload-1', 'payload-2']);
    expect(down.bodies.length).toBe(2); // one from the strict proxy, one from the loose one
  });

  it('timeout: a response head that does not come in time is retried; past proxy-next-upstream-timeout it is not', async () => {
    const hung: http.ServerResponse[] = [];
    const slow = await named('slow', 200, (_req, res) => void hung.push(res));
    cleanups.push(async () => {
      for (const res of hung) res.destroy();
    });
    const up = await named('up');
    const timeouts = { readMs: 300 };
    const p = await proxyOver([slow.port, up.port], { timeouts, retry: POLICY });
    for (let i = 0; i < 2; i++) {
      const r = await request(p.port, {});
      expect(r.status).toBe(200);
      expect(r.body.toString()).toBe('up 200');
    }
    expect(slow.requests).toBe(1);

    // the first attempt alone takes 300 ms, longer than the 100 ms the policy allows
    const q = await proxyOver([slow.port, up.port], { timeouts, retry: { ...POLICY, timeoutMs: 100 } });
    const statuses = [(await request(q.port, {})).status, (await request(q.port, {})).status].sort();
    expect(statuses).toEqual([200, 504]);
    expect(q.infos.map((i) => i.attempts)).toEqual([1, 1]);
  });
});
