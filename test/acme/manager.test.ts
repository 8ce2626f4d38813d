// AcmeManager scheduling against a fake API server and a scripted fake ACME server:
// leader gating, which Ingresses lead to orders, per-certificate backoff, Retry-After,
// explicit TLS errors, and that a failing order never touches the Secret already serving.

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { FakeApiServer, waitFor } from '../fake-apiserver/index.ts';
import { KubeApi } from '../../src/sources/kubernetes/api.ts';
import { Store } from '../../src/store/store.ts';
import { silentLogger } from '../../src/observe/log.ts';
import { ChallengeStore } from '../../src/acme/challenges.ts';
import { AcmeManager, type AcmeSettings, type OrderEvent } from '../../src/acme/manager.ts';
import type { TlsView } from '../../src/acme/certificates.ts';
import type { Secret } from '../../src/store/types.ts';
import { acmeIngress, ingressClass, modelRouting, selfSigned, tempDir, tlsSecret } from './helpers.ts';

const POD_NS = 'portico-system';

interface FakeAcme {
  url: string;
  hits: number[];
  respond: (res: http.ServerResponse) => void;
  close(): Promise<void>;
}

/** An "ACME directory" that answers however the test says (it never gets past /dir). */
async function fakeAcme(): Promise<FakeAcme> {
  const f: FakeAcme = {
    url: '',
    hits: [],
    respond: (res) => res.writeHead(500, { 'content-type': 'application/problem+json' }).end('{"detail":"boom"}'),
    close: () => new Promise((r) => server.close(() => r())),
  };
  const server = http.createServer((req, res) => {
    f.hits.push(Date.now());
    req.resume();
    f.respond(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  f.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/dir`;
  return f;
}

describe('AcmeManager', () => {
  let api: FakeApiServer;
  let kube: KubeApi;
  let acmeServer: FakeAcme;
  let store: Store;
  let manager: AcmeManager | undefined;
  let events: OrderEvent[];
  let hook: ((e: OrderEvent) => void) | undefined;
  let tmp: { dir: string; cleanup: () => void };

  beforeAll(() => {
    tmp = tempDir();
  });
  afterAll(() => tmp.cleanup());

  beforeEach(async () => {
    api = await FakeApiServer.start();
    kube = new KubeApi(api.kubeConfig());
    acmeServer = await fakeAcme();
    store = new Store();
    store.upsert('IngressClass', ingressClass('portico'));
    events = [];
    hook = undefined;
  });
  afterEach(async () => {
    manager?.stop();
    await manager?.idle();
    manager = undefined;
    await acmeServer.close();
    await api.close();
  });

  const make = (settings: Partial<AcmeSettings> = {}) => {
    manager = new AcmeManager({
      api: kube,
      store,
      log: silentLogger,
      challenges: new ChallengeStore({ log: silentLogger }),
      routing: modelRouting(store),
      settings: {
        namespace: POD_NS,
        directoryUrl: acmeServer.url,
        debounceMs: 10,
        backoff: { initialMs: 100, maxMs: 400 },
        httpRetryMaxAttempts: 0,
        ...settings,
      },
      random: () => 0,
      onOrder: (e) => {
        hook?.(e);
        events.push(e);
      },
    });
    manager.start();
    return manager;
  };

  it('does nothing while not leading; starts ordering when it becomes the leader, stops when it steps down', async () => {
    store.upsert('Ingress', acmeIngress('web', 'a', [{ hosts: ['a.test'], secretName: 'a-tls' }]));
    const m = make({ backoff: { initialMs: 60_000, maxMs: 60_000 } });
    // reconcileNow decides synchronously; idle() would wait for an order it had started
    m.reconcileNow();
    await m.idle();
    expect(m.status().certificates.map((c) => c.phase)).not.toContain('ordering');
    expect(acmeServer.hits.length).toBe(0);
    expect(api.list('v1/Secret', POD_NS)).toEqual([]);

    m.setLeading(true);
    await waitFor(() => events.length === 1, 3000, 'one order');
    expect(events[0]).toMatchObject({ namespace: 'web', secretName: 'a-tls', hosts: ['a.test'], result: 'failed', reason: 'missing' });
    // The account key is stored before anything is registered.
    const account = api.get('v1/Secret', POD_NS, 'portico-acme-account') as Secret;
    expect(Object.keys(account.data ?? {})).toContain('account.key');

    m.setLeading(false);
    expect(m.status().leading).toBe(false);
  });

  it('orders only for annotated Ingresses of ours, and not when a valid certificate is already there', async () => {
    const pair = selfSigned(['ok.test'], 90, tmp.dir);
    store.upsert('Secret', tlsSecret('web', 'ok-tls', pair));
    api.create({ ...tlsSecret('web', 'ok-tls', pair), metadata: { name: 'ok-tls', namespace: 'web' } });
    store.upsert('Ingress', acmeIngress('web', 'ok', [{ hosts: ['ok.test'], secretName: 'ok-tls' }]));
    store.upsert('Ingress', acmeIngress('web', 'theirs', [{ hosts: ['t.test'], secretName: 't-tls' }], { className: 'nginx' }));
    store.upsert('Ingress', acmeIngress('web', 'plain', [{ hosts: ['p.test'], secretName: 'p-tls' }], { annotations: {} }));
    store.upsert('Ingress', acmeIngress('web', 'off', [{ hosts: ['o.test'], secretName: 'o-tls' }], { annotations: { 'kubernetes.io/tls-acme': 'false' } }));
    const m = make();
    m.setLeading(true);
    m.reconcileNow();
    await m.idle();
    expect(acmeServer.hits.length).toBe(0);
    expect(events).toEqual([]);
    const st = m.status().certificates;
    expect(st.map((c) => `${c.namespace}/${c.secretName}:${c.phase}`)).toEqual(['web/ok-tls:valid']);
    expect(st[0]!.nextAttemptAt).toBeGreaterThan(Date.now() + 50 * 86_400_000);
  });

  it('backs off exponentially per certificate, keeps the serving Secret untouched, and forgets hosts no longer requested', async () => {
    // A valid certificate for a.test; the Ingress now also wants b.test → order, which fails.
    const pair = selfSigned(['a.test'], 90, tmp.dir);
    const serving = api.create({ ...tlsSecret('web', 'a-tls', pair), metadata: { name: 'a-tls', namespace: 'web' } }) as Secret;
    store.upsert('Secret', serving);
    store.upsert('Ingress', acmeIngress('web', 'a', [{ hosts: ['a.test', 'b.test'], secretName: 'a-tls' }]));
    const delays: number[] = [];
    const m = make({ backoff: { initialMs: 100, maxMs: 400 } });
    let failures = 0;
    hook = (e) => {
      if (e.result !== 'failed') return;
      failures++;
      delays.push(m.status().certificates[0]!.nextAttemptAt! - Date.now());
    };
    m.setLeading(true);
    await waitFor(() => failures >= 4, 5000, 'four failed orders');
    for (const e of events) expect([e.result, e.reason, e.error]).toEqual(['failed', 'hosts', expect.stringMatching(/error 500/)]);
    const expected = [100, 200, 400, 400];
    delays.slice(0, 4).forEach((d, i) => {
      expect(d).toBeLessThanOrEqual(expected[i]!);
      expect(d).toBeGreaterThan(expected[i]! - 50);
    });
    const st = m.status().certificates[0]!;
    expect(st.failures).toBeGreaterThanOrEqual(4);
    expect(st.lastError).toMatch(/error 500/);
    // The Secret still holds the old certificate.
    expect((api.get('v1/Secret', 'web', 'a-tls') as Secret).data).toEqual(serving.data);

    // The Ingress goes away: no more orders for those hosts.
    store.remove('Ingress', 'web/a');
    await waitFor(() => m.status().certificates.length === 0, 2000, 'state dropped');
    await m.idle();
    const hits = acmeServer.hits.length;
    // a backoff timer left over would only run an evaluation: run one now and see it order nothing
    m.reconcileNow();
    await m.idle();
    expect(acmeServer.hits.length).toBe(hits);
  });

  it.each([
    ['429 with Retry-After in seconds', 429, '3600', 3_600_000],
    ['503 with Retry-After as a date', 503, 'date+7200', 7_200_000],
  ])('%s: fails at once (no inline sleep) and waits at least that long', async (_name, status, header, waitMs) => {
    const value = header.startsWith('date+') ? new Date(Date.now() + Number(header.slice(5)) * 1000).toUTCString() : header;
    acmeServer.respond = (res) =>
      res
        .writeHead(status, { 'content-type': 'application/problem+json', 'retry-after': value })
        .end('{"type":"urn:ietf:params:acme:error:rateLimited","detail":"slow down"}');
    store.upsert('Ingress', acmeIngress('web', 'a', [{ hosts: ['a.test'], secretName: 'a-tls' }]));
    const m = make({ httpRetryMaxAttempts: 3, maxInlineRetryAfterMs: 30_000 });
    const started = Date.now();
    m.setLeading(true);
    await waitFor(() => events.length === 1, 5000, 'one failed order');
    expect(Date.now() - started).toBeLessThan(3000);
    expect(acmeServer.hits.length).toBe(1);
    const c = m.status().certificates[0]!;
    expect(c.phase).toBe('backoff');
    expect(c.lastError).toMatch(/slow down/);
    expect(c.nextAttemptAt! - Date.now()).toBeGreaterThan(waitMs - 5_000);
    expect(c.nextAttemptAt! - Date.now()).toBeLessThanOrEqual(waitMs + 1_000);
  });

  it('a directory behind an untrusted certificate fails at once with a clear message', async () => {
    const pair = selfSigned(['localhost'], 1, tmp.dir);
    const server = https.createServer({ cert: pair.certPem, key: pair.keyPem }, (_req, res) => res.end('{}'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      store.upsert('Ingress', acmeIngress('web', 'a', [{ hosts: ['a.test'], secretName: 'a-tls' }]));
      const m = make({ directoryUrl: `https://localhost:${(server.address() as AddressInfo).port}/dir`, httpRetryMaxAttempts: 3 });
      const started = Date.now();
      m.setLeading(true);
      await waitFor(() => events.length === 1, 5000, 'one failed order');
      expect(Date.now() - started).toBeLessThan(3000);
      expect(events[0]!.error).toMatch(/TLS verification .* failed .*--acme-ca-bundle/);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('reports an unreachable directory by its network error, not acme-client\'s TypeError', async () => {
    store.upsert('Ingress', acmeIngress('web', 'a', [{ hosts: ['a.test'], secretName: 'a-tls' }]));
    const closed = acmeServer.url;
    await acmeServer.close();
    acmeServer = await fakeAcme();
    const m = make({ directoryUrl: closed, httpRetryMaxAttempts: 1, httpRetryDelaySeconds: 0 });
    m.setLeading(true);
    await waitFor(() => events.length === 1, 5000, 'one failed order');
    expect(events[0]!.error).toMatch(/ECONNREFUSED/);
  });

  it('runs at most `concurrency` orders at once; reconcile() only schedules', async () => {
    acmeServer.respond = (res) => {
      setTimeout(() => res.writeHead(500).end('{"detail":"slow"}'), 300);
    };
    for (const n of ['a', 'b', 'c']) store.upsert('Ingress', acmeIngress('web', n, [{ hosts: [`${n}.test`], secretName: `${n}-tls` }]));
    const m = make({ concurrency: 2, backoff: { initialMs: 60_000, maxMs: 60_000 } });
    m.setLeading(true);
    const t0 = Date.now();
    m.reconcile();
    expect(Date.now() - t0).toBeLessThan(20);
    let maxOrdering = 0;
    for (let i = 0; i < 200 && events.length < 3; i++) {
      const phases = m.status().certificates.map((c) => c.phase);
      maxOrdering = Math.max(maxOrdering, phases.filter((p) => p === 'ordering').length);
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(events.length).toBe(3);
    expect(maxOrdering).toBe(2);
    expect(m.status().orders).toEqual({ issued: 0, failed: 3, aborted: 0 });
  });

  it('a failure of an order whose hosts changed meanwhile does not back off the new host set', async () => {
    acmeServer.respond = (res) => {
      setTimeout(() => res.writeHead(500).end('{"detail":"slow"}'), 200);
    };
    store.upsert('Ingress', acmeIngress('web', 'a', [{ hosts: ['a.test'], secretName: 'a-tls' }]));
    const m = make({ backoff: { initialMs: 60_000, maxMs: 60_000 } });
    m.setLeading(true);
    await waitFor(() => m.status().certificates[0]?.phase === 'ordering', 2000, 'ordering');
    store.upsert('Ingress', acmeIngress('web', 'a', [{ hosts: ['a.test', 'b.test'], secretName: 'a-tls' }]));
    await waitFor(() => events.length === 2, 3000, 'two orders');
    expect(events.map((e) => [e.result, e.hosts.join(',')])).toEqual([
      ['aborted', 'a.test'],
      ['failed', 'a.test,b.test'],
    ]);
    expect(m.status().certificates[0]).toMatchObject({ hosts: ['a.test', 'b.test'], phase: 'backoff', failures: 1 });
  });

  it('an Ingress whose tls entry has no hosts gets a certificate for the hosts the model binds (its rule hosts)', async () => {
    const ing = acmeIngress('web', 'a', [{ hosts: ['a.test', 'b.test'], secretName: 'a-tls' }]);
    ing.spec!.tls = [{ secretName: 'a-tls' }];
    store.upsert('Ingress', ing);
    const m = make({ backoff: { initialMs: 60_000, maxMs: 60_000 } });
    m.setLeading(true);
    await waitFor(() => events.length === 1, 3000, 'one order');
    expect(events[0]).toMatchObject({ namespace: 'web', secretName: 'a-tls', hosts: ['a.test', 'b.test'], reason: 'missing' });
    expect(m.status().certificates.map((c) => [c.secretName, c.hosts])).toEqual([['a-tls', ['a.test', 'b.test']]]);
  });

  it('a routing configuration swapped in after the store change that caused it is still read (one follow-up evaluation)', async () => {
    const stale: TlsView = { tls: [], ingresses: [] };
    let fresh: TlsView | undefined;
    let swapAt = Infinity;
    const m = new AcmeManager({
      api: kube,
      store,
      log: silentLogger,
      challenges: new ChallengeStore({ log: silentLogger }),
      // like the reconciler's `current`: the same object until a rebuild, which lags here
      routing: () => (Date.now() >= swapAt ? (fresh ??= modelRouting(store)()) : stale),
      settings: { namespace: POD_NS, directoryUrl: acmeServer.url, debounceMs: 100, backoff: { initialMs: 60_000, maxMs: 60_000 }, httpRetryMaxAttempts: 0 },
      onOrder: (e) => events.push(e),
    });
    manager = m;
    m.start();
    m.setLeading(true);
    m.reconcileNow();
    swapAt = Date.now() + 150; // after the first evaluation (+100 ms), before the follow-up (+200 ms)
    store.upsert('Ingress', acmeIngress('web', 'late', [{ hosts: ['late.test'], secretName: 'late-tls' }]));
    await waitFor(() => events.length === 1, 3000, 'an order once the routing configuration caught up');
    expect(events[0]).toMatchObject({ secretName: 'late-tls', hosts: ['late.test'] });
  });

  it('refuses to overwrite a Secret of another type', async () => {
    api.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'a-tls', namespace: 'web' }, type: 'Opaque', data: { x: 'eA==' } });
    store.upsert('Ingress', acmeIngress('web', 'a', [{ hosts: ['a.test'], secretName: 'a-tls' }]));
    const m = make();
    m.setLeading(true);
    await waitFor(() => events.length === 1, 3000, 'one failed order');
    expect(events[0]!.error).toMatch(/type Opaque/);
    expect(acmeServer.hits.length).toBe(0);
  });
});
