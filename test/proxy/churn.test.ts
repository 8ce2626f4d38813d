// Endpoints changing under load: while the set of a route keeps at least one live endpoint,
// no request may fail — whatever the algorithm — and pools of endpoints that left every set
// are retired (their upstream connections closed).

import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { UpstreamEndpoint } from '../../src/endpoints/types.ts';
import { FakeEndpoints, endpoint, sleep, startProxy, startUpstream, until } from './fixtures.ts';
import type { Upstream } from './fixtures.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

describe('endpoint churn', () => {
  it('serves with zero errors while the endpoint set changes every few ms; retires pools of removed endpoints', { timeout: 30_000 }, async () => {
    const ups: Upstream[] = [];
    for (let i = 0; i < 4; i++) {
      const u = await startUpstream((req, res) => {
        if (req.method === 'POST') {
          let n = 0;
          req.on('data', (c: Buffer) => (n += c.length));
          req.on('end', () => res.end(`u${i}:${n}`));
          return;
        }
        // some responses take a little while, so removals happen with requests in flight
        const delay = (req.url ?? '').endsWith('slow') ? 15 : 0;
        setTimeout(() => res.end(`u${i}`), delay);
      });
      ups.push(u);
      cleanups.push(() => u.close());
    }
    const all: UpstreamEndpoint[] = ups.map((u) => endpoint('127.0.0.1', u.port));
    const endpoints = new FakeEndpoints();
    endpoints.setEndpoints('svc', all);
    const p = await startProxy({
      routes: [
        { host: 'rr.test', key: 'svc', lb: 'round-robin' },
        { host: 'lc.test', key: 'svc', lb: 'least-conn' },
        { host: 'ih.test', key: 'svc', lb: 'ip-hash' },
      ],
      endpoints,
      internals: { sweepIntervalMs: 20, idleSweeps: 3, drainDeadlineMs: 5000 },
    });
    cleanups.push(() => p.close());

    const agent = new http.Agent({ keepAlive: true, maxSockets: 12 });
    cleanups.push(async () => agent.destroy());
    let stop = false;
    let ok = 0;
    const failures: string[] = [];
    const hosts = ['rr.test', 'lc.test', 'ih.test'];
    const worker = async (w: number) => {
      for (let i = 0; !stop && i < 100_000; i++) {
        const host = hosts[(w + i) % 3]!;
        const post = i % 5 === 0;
        try {
          const body = await new Promise<string>((resolve, reject) => {
            const req = http.request(
              { port: p.port, host: '127.0.0.1', method: post ? 'POST' : 'GET', path: i % 4 === 0 ? '/slow' : '/', agent, headers: { host } },
              (res) => {
                let s = '';
                res.on('data', (c: Buffer) => (s += c));
                res.on('end', () => (res.statusCode === 200 ? resolve(s) : reject(new Error(`status ${res.statusCode}: ${s}`))));
                res.on('error', reject);
              },
            );
            req.setTimeout(5000, () => req.destroy(new Error('timeout')));
            req.on('error', reject);
            req.end(post ? 'x'.repeat(1000) : undefined);
          });
          if (!/^u\d(:1000)?$/.test(body)) throw new Error(`bad body ${body}`);
          ok++;
        } catch (err) {
          failures.push(`${host}: ${(err as Error).message}`);
        }
      }
    };
    const churn = async () => {
      let changes = 0;
      const deadline = Date.now() + 2500;
      while (Date.now() < deadline) {
        // a random non-empty subset of the (always live) upstreams
        let mask = 0;
        while (mask === 0) mask = Math.floor(Math.random() * 16);
        endpoints.setEndpoints('svc', all.filter((_, i) => mask & (1 << i)));
        changes++;
        await sleep(5 + Math.random() * 10);
      }
      stop = true;
      return changes;
    };
    const workers = Array.from({ length: 12 }, (_, w) => worker(w));
    const changes = await churn();
    await Promise.all(workers);

    console.log(`churn: ${ok} requests ok, ${failures.length} failed, ${changes} endpoint-set changes`);
    expect(failures.slice(0, 5)).toEqual([]);
    expect(ok).toBeGreaterThan(50);
    expect(changes).toBeGreaterThan(20);

    // settle on one endpoint: the others' pools are retired and their connections close
    endpoints.setEndpoints('svc', [all[0]!]);
    agent.destroy();
    await until(() => (p.proxy.sweep(), p.proxy.upstreamCount === 1), 10_000, 'the sweep to retire every other pool');
    await until(() => ups.slice(1).every((u) => u.sockets.size === 0), 5000, 'the retired upstreams\' sockets to close');
    expect(p.proxy.inFlight.requests).toBe(0);
  });

  it('drops balancer state and pools of routes no longer used', async () => {
    const u = await startUpstream((_req, res) => res.end('ok'));
    cleanups.push(() => u.close());
    const endpoints = new FakeEndpoints();
    endpoints.set('svc', [u.port]);
    const p = await startProxy({
      routes: [{ host: 'app.test', key: 'svc' }],
      endpoints,
      internals: { sweepIntervalMs: 60_000, idleSweeps: 2, drainDeadlineMs: 1000 },
    });
    cleanups.push(() => p.close());
    await new Promise<void>((resolve, reject) =>
      http.get({ port: p.port, host: '127.0.0.1', headers: { host: 'app.test' }, agent: false }, (res) => res.resume().on('end', resolve)).on('error', reject),
    );
    expect(p.proxy.upstreamCount).toBe(1);
    for (let i = 0; i < 4; i++) p.proxy.sweep();
    expect(p.proxy.upstreamCount).toBe(0);
    await until(() => u.sockets.size === 0, 3000, 'the upstream sockets to close');
  });
});
