// The API coming back after an outage and a storm of 500s: a watch whose backoff grew long is
// cut short as soon as any other request succeeds, so a change written after the recovery is
// served quickly. Against the fake API server; the backoff runs on an injected clock (timers
// fire when the test says so), so nothing here sleeps through a backoff.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeApiServer, waitFor } from '../fake-apiserver/index.ts';
import { KubeApi } from '../../src/sources/kubernetes/api.ts';
import { DEFAULT_BACKOFF, REAL_CLOCK, RECOVERY_RETRY_MS, ResilientInformer, type InformerClock } from '../../src/sources/kubernetes/informer.ts';
import { ApiReachability } from '../../src/sources/kubernetes/reachability.ts';
import { RESOURCES } from '../../src/sources/kubernetes/resources.ts';
import { Store } from '../../src/store/store.ts';
import { ManualClock } from './manual-clock.ts';
import { silentLogger } from '../../src/observe/log.ts';

function ingress(name: string) {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name, namespace: 'default' },
    spec: { rules: [{ host: `${name}.test`, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'svc', port: { number: 80 } } } }] } }] },
  };
}

describe('ApiReachability', () => {
  it('a recovery is the first success after a failure; 5xx and 429 are failures, other answers successes', () => {
    const r = new ApiReachability();
    let recoveries = 0;
    r.onRecovered(() => recoveries++);
    r.status(200);
    expect(recoveries).toBe(0);
    r.status(503);
    r.status(429);
    expect(r.isFailing).toBe(true);
    r.status(404); // the API answering, even if not with what was asked
    expect(recoveries).toBe(1);
    r.status(200);
    expect(recoveries).toBe(1);
    r.failed();
    r.succeeded();
    expect(recoveries).toBe(2);
  });
});

describe('watches after an API outage', () => {
  let server: FakeApiServer;
  const cleanups: (() => Promise<void> | void)[] = [];

  beforeEach(async () => {
    server = await FakeApiServer.start({});
  });
  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()!();
    await server.close();
  });

  function informer(api: KubeApi, store: Store, clock: InformerClock, kind: 'Ingress' | 'Service' = 'Ingress', backoff = DEFAULT_BACKOFF): ResilientInformer {
    const i = new ResilientInformer({ api, store, log: silentLogger, spec: RESOURCES[kind], namespace: '', backoff, clock });
    cleanups.push(() => i.stop());
    return i;
  }

  /**
   * 10 s (clock time) with the API refusing connections, then 10 s answering 500 to everything;
   * the informer retries whenever its backoff says. Returns with the API healthy again and the
   * informer waiting for its next retry.
   */
  async function outageThenStorm(i: ResilientInformer, clock: ManualClock): Promise<number[]> {
    const waits: number[] = [];
    await server.stop();
    await waitFor(() => i.pendingRetryMs !== undefined, 5000, 'the watch to fail');
    for (let round = 0; round < 50 && clock.t + i.pendingRetryMs! < 20_000; round++) {
      waits.push(i.pendingRetryMs!);
      if (clock.t + i.pendingRetryMs! >= 10_000 && !server.listening) {
        await server.restart();
        server.failNext(100_000, 500);
      }
      clock.next();
      await waitFor(() => i.pendingRetryMs !== undefined, 5000, `retry ${round} to fail`);
    }
    expect(server.requestCount({ status: 500 })).toBeGreaterThan(0); // the storm was met
    if (!server.listening) await server.restart();
    server.clearFailures();
    clock.t = 20_000;
    return waits;
  }

  it('backs off gently during the outage, then a successful request cuts the wait short', async () => {
    const clock = new ManualClock();
    const api = new KubeApi(server.kubeConfig());
    const store = new Store();
    const ing = informer(api, store, clock);
    ing.start();
    await ing.whenSynced();

    const waits = await outageThenStorm(ing, clock);
    // gentle: each wait at least as long as the one before, none cut short while failing
    for (let k = 1; k < waits.length; k++) expect(waits[k]!).toBeGreaterThanOrEqual(waits[k - 1]!);
    expect(waits.length).toBeGreaterThanOrEqual(5);
    const leftOver = ing.pendingRetryMs!;
    expect(leftOver).toBeGreaterThan(5000); // the problem: without a cut, this long after recovery

    // a lease renewal (any request) succeeds: 404 still proves the API is serving
    await api.request('GET', '/apis/coordination.k8s.io/v1/namespaces/default/leases/portico').catch(() => undefined);
    expect(ing.pendingRetryMs).toBeLessThanOrEqual(RECOVERY_RETRY_MS);

    // the retry re-opens the watch; a change written now is served
    const recoveredAt = clock.t;
    clock.next();
    await server.waitForWatches(1, { kind: 'Ingress' });
    server.create(ingress('after-recovery'));
    await waitFor(() => store.get('Ingress', 'default/after-recovery') !== undefined, 5000, 'the new Ingress in the store');
    expect(clock.t - recoveredAt).toBeLessThan(2000);
  });

  it('another watch coming back cuts the wait short too', async () => {
    const clock = new ManualClock();
    const api = new KubeApi(server.kubeConfig());
    const store = new Store();
    const ing = informer(api, store, clock);
    ing.start();
    await ing.whenSynced();
    await outageThenStorm(ing, clock);
    expect(ing.pendingRetryMs!).toBeGreaterThan(5000);

    // a Service informer (real timers, quick backoff) whose watch opens now
    const svc = informer(api, store, REAL_CLOCK, 'Service', { initialMs: 20, maxMs: 50 });
    expect(api.reachability.isFailing).toBe(true); // the Ingress watch's last retry got a 500
    svc.start();
    await svc.whenSynced();
    expect(ing.pendingRetryMs).toBeLessThanOrEqual(RECOVERY_RETRY_MS);
  });

  it('a request the caller aborts is not a failure; a refused connection is', async () => {
    const api = new KubeApi(server.kubeConfig());
    server.pause();
    const controller = new AbortController();
    const pending = api.request('GET', '/api/v1/services', { signal: controller.signal });
    await waitFor(() => server.requestCount({ path: '/api/v1/services' }) === 1, 5000, 'the request to arrive');
    controller.abort();
    await expect(pending).rejects.toThrow();
    expect(api.reachability.isFailing).toBe(false);
    server.resume();
    await server.stop();
    await expect(api.request('GET', '/api/v1/services', { timeoutMs: 2000 })).rejects.toThrow();
    expect(api.reachability.isFailing).toBe(true);
    await server.restart();
    await api.request('GET', '/api/v1/services');
    expect(api.reachability.isFailing).toBe(false);
  });
});
