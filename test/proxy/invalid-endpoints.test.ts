// A Service whose EndpointSlices hold addresses that are not IPs: every request still reaches
// the healthy endpoint, over real sockets (loopback).

import { afterEach, describe, expect, it } from 'vitest';
import { EndpointIndex } from '../../src/endpoints/index.ts';
import { Store } from '../../src/store/store.ts';
import type { EndpointSlice } from '../../src/store/types.ts';
import { FakeEndpoints, endpoint, request, startProxy, startUpstream } from './fixtures.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

function slice(name: string, addressType: string, port: number, addresses: string[]): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType,
    ports: [{ name: '', port, protocol: 'TCP' }],
    endpoints: addresses.map((a) => ({ addresses: [a] })),
  };
}

async function healthy() {
  const u = await startUpstream((_req, res) => res.end('ok'));
  cleanups.push(() => u.close());
  return u;
}

describe('invalid endpoint addresses', () => {
  it('are dropped by the endpoint index: every request reaches the healthy endpoint', async () => {
    const u = await healthy();
    const store = new Store();
    const endpoints = new EndpointIndex(store);
    // example.com would be resolved through DNS if it reached the proxy: it must not
    store.upsert('EndpointSlice', slice('web-v4', 'IPv4', u.port, ['127.0.0.1', '999.1.1.1', 'example.com', '']));
    store.upsert('EndpointSlice', slice('web-v6', 'IPv6', u.port, ['::g']));
    store.upsert('EndpointSlice', slice('web-fqdn', 'FQDN', u.port, ['example.com']));
    expect(endpoints.problems().map((p) => p.slice)).toEqual(['default/web-fqdn', 'default/web-v4', 'default/web-v6']);

    const p = await startProxy({ routes: [{ host: 'app.test', key: 'default/web:' }], endpoints });
    cleanups.push(() => p.close());
    for (let i = 0; i < 12; i++) {
      const r = await request(p.port, { method: i % 2 === 0 ? 'GET' : 'POST', body: i % 2 === 0 ? undefined : 'x' });
      expect(r.status).toBe(200);
    }
    expect(u.requests).toBe(12);
  });

  it('that reach the proxy anyway are retried on another endpoint, or answered 502, never 500', async () => {
    const u = await healthy();
    const endpoints = new FakeEndpoints();
    const bad = ['999.1.1.1', '::g', ''].map((a) => endpoint(a, u.port));
    endpoints.setEndpoints('web', [endpoint('127.0.0.1', u.port), ...bad]);
    const p = await startProxy({ routes: [{ host: 'app.test', key: 'web' }], endpoints });
    cleanups.push(() => p.close());
    // round-robin over 1 good + 3 bad: a bad first pick retries once on the good one
    // (the retry excludes the endpoint that failed, so two GETs in a row cover every order)
    let ok = 0;
    for (let i = 0; i < 16; i++) {
      const r = await request(p.port, {});
      expect(r.status === 200 || r.status === 502).toBe(true);
      if (r.status === 200) ok++;
    }
    expect(ok).toBeGreaterThan(0);
    expect(p.infos.every((i) => i.status !== 500 && i.error !== 'internal')).toBe(true);

    // with one bad and one good endpoint every idempotent request succeeds
    endpoints.setEndpoints('web', [endpoint('127.0.0.1', u.port), endpoint('999.1.1.1', u.port)]);
    for (let i = 0; i < 8; i++) expect((await request(p.port, {})).status).toBe(200);
    // a request with a body is not replayed: 502, still not 500
    const statuses = new Set<number>();
    for (let i = 0; i < 4; i++) statuses.add((await request(p.port, { method: 'POST', body: 'x' })).status);
    expect([...statuses].sort()).toEqual([200, 502]);
  });
});
