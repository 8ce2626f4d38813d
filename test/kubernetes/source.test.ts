// KubernetesSource against the fake API server, driven by the real @kubernetes/client-node:
// sync, follow changes, and survive every fault the library's informer does not.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeApiServer, waitFor } from '../fake-apiserver/index.ts';
import { KubeApi } from '../../src/sources/kubernetes/api.ts';
import { KubernetesSource } from '../../src/sources/kubernetes/source.ts';
import { Store, type StoreChange } from '../../src/store/store.ts';
import { silentLogger } from '../../src/observe/log.ts';
import type { ResilientInformer } from '../../src/sources/kubernetes/informer.ts';
import { ManualClock } from './manual-clock.ts';

const FAST = { initialMs: 50, maxMs: 400 };

function ingress(name: string, ns = 'default', host = `${name}.test`) {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name, namespace: ns },
    spec: { rules: [{ host, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'svc', port: { number: 80 } } } }] } }] },
  };
}

function secret(name: string, type: string) {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'default' }, type, data: { 'tls.crt': 'eA==', 'tls.key': 'eA==' } };
}

/** Every informer is waiting for its next retry. */
function allWaiting(informers: readonly ResilientInformer[]): boolean {
  return informers.every((i) => i.pendingRetryMs !== undefined);
}

/**
 * With the API failing, runs the informers' retries in clock order until `untilMs` of clock
 * time, each time until every informer waits again. Returns how many retries ran.
 */
async function failUntil(clock: ManualClock, informers: readonly ResilientInformer[], untilMs: number): Promise<number> {
  for (let retries = 0; retries < 1000; retries++) {
    const at = clock.nextAt();
    if (at === undefined || at > untilMs) return retries;
    clock.next();
    await waitFor(() => allWaiting(informers), 5000, `retry ${retries + 1} to fail`);
  }
  throw new Error('more than 1000 retries');
}

describe('KubernetesSource', () => {
  let api: FakeApiServer;
  let store: Store;
  let source: KubernetesSource | undefined;

  beforeEach(async () => {
    api = await FakeApiServer.start({ token: 'secret-token' });
    store = new Store();
  });
  afterEach(async () => {
    await source?.stop();
    source = undefined;
    await api.close();
  });

  const start = async (namespaces: string[] = [], clock?: ManualClock) => {
    source = new KubernetesSource({ api: new KubeApi(api.kubeConfig()), store, log: silentLogger, namespaces, backoff: FAST, ...(clock ? { clock } : {}) });
    await source.start();
    return source;
  };

  it('syncs every kind, then follows adds, updates and deletes', async () => {
    api.create(ingress('a'));
    api.create({ apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: 'portico' }, spec: { controller: 'portico.dev/ingress-controller' } });
    const s = await start();
    expect(s.synced).toBe(true);
    expect(store.get('Ingress', 'default/a')?.spec?.rules?.[0]?.host).toBe('a.test');
    expect(store.get('Ingress', 'default/a')?.kind).toBe('Ingress');
    expect(store.get('IngressClass', 'portico')?.spec?.controller).toBe('portico.dev/ingress-controller');

    api.create(ingress('b'));
    await waitFor(() => store.get('Ingress', 'default/b') !== undefined, 3000, 'add');
    api.update(ingress('b', 'default', 'changed.test'));
    await waitFor(() => store.get('Ingress', 'default/b')?.spec?.rules?.[0]?.host === 'changed.test', 3000, 'update');
    api.delete('Ingress', 'default', 'b');
    await waitFor(() => store.get('Ingress', 'default/b') === undefined, 3000, 'delete');
  });

  it('stores objects without managedFields and kubectl last-applied-configuration (nothing reads them)', async () => {
    const withBookkeeping = (host: string) => {
      const o = ingress('big', 'default', host);
      return {
        ...o,
        metadata: {
          ...o.metadata,
          annotations: { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(o), 'portico.dev/load-balance': 'ewma' },
          managedFields: [{ manager: 'kubectl', operation: 'Apply', apiVersion: 'networking.k8s.io/v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': {} } }],
        },
      };
    };
    api.create(withBookkeeping('big.test'));
    await start();
    const listed = store.get('Ingress', 'default/big')!;
    expect(listed.metadata).not.toHaveProperty('managedFields');
    expect(listed.metadata.annotations).toEqual({ 'portico.dev/load-balance': 'ewma' });
    // the same for objects that arrive through the watch
    api.update(withBookkeeping('changed.test'));
    await waitFor(() => store.get('Ingress', 'default/big')?.spec?.rules?.[0]?.host === 'changed.test', 3000, 'update');
    const watched = store.get('Ingress', 'default/big')!;
    expect(watched.metadata).not.toHaveProperty('managedFields');
    expect(watched.metadata.annotations).toEqual({ 'portico.dev/load-balance': 'ewma' });
  });

  it('keeps only TLS and Opaque (basic-auth) Secrets in memory, through two watches', async () => {
    api.create(secret('tls', 'kubernetes.io/tls'));
    api.create(secret('opaque', 'Opaque'));
    api.create(secret('helm', 'helm.sh/release.v1'));
    await start();
    expect([...store.keys('Secret')].sort()).toEqual(['default/opaque', 'default/tls']);
    api.create(secret('helm2', 'helm.sh/release.v1'));
    api.create(secret('opaque2', 'Opaque'));
    api.create(secret('tls2', 'kubernetes.io/tls'));
    await waitFor(() => store.get('Secret', 'default/tls2') !== undefined && store.get('Secret', 'default/opaque2') !== undefined, 3000, 'tls2 and opaque2');
    expect(store.get('Secret', 'default/helm2')).toBeUndefined();
    // a deleted Opaque Secret leaves the store; the TLS ones stay
    api.delete('Secret', 'default', 'opaque');
    await waitFor(() => store.get('Secret', 'default/opaque') === undefined, 3000, 'opaque deleted');
    expect(store.get('Secret', 'default/tls')).toBeDefined();
  });

  it('lists and watches ConfigMaps (custom-headers, auth-proxy-set-headers name them)', async () => {
    const cm = (name: string, value: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data: { 'X-Frame-Options': value } });
    api.create(cm('headers', 'DENY'));
    await start();
    expect(store.get('ConfigMap', 'default/headers')?.data).toEqual({ 'X-Frame-Options': 'DENY' });
    api.update(cm('headers', 'SAMEORIGIN'));
    await waitFor(() => store.get('ConfigMap', 'default/headers')?.data?.['X-Frame-Options'] === 'SAMEORIGIN', 3000, 'update');
    api.create(cm('more', 'DENY'));
    await waitFor(() => store.get('ConfigMap', 'default/more') !== undefined, 3000, 'add');
    api.delete('ConfigMap', 'default', 'headers');
    await waitFor(() => store.get('ConfigMap', 'default/headers') === undefined, 3000, 'delete');
  });

  it('leaves Helm 2 release ConfigMaps (OWNER=TILLER) out of memory, as ingress-nginx does', async () => {
    api.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'release.v1', namespace: 'default', labels: { OWNER: 'TILLER' } }, data: { release: 'big' } });
    api.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'headers', namespace: 'default' }, data: { 'X-A': '1' } });
    await start();
    expect([...store.keys('ConfigMap')]).toEqual(['default/headers']);
    api.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'release.v2', namespace: 'default', labels: { OWNER: 'TILLER' } }, data: { release: 'big' } });
    api.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'later', namespace: 'default' } });
    await waitFor(() => store.get('ConfigMap', 'default/later') !== undefined, 3000, 'later');
    expect(store.get('ConfigMap', 'default/release.v2')).toBeUndefined();
  });

  it('watches only the given namespaces', async () => {
    api.create(ingress('in', 'team-a'));
    api.create(ingress('out', 'team-b'));
    await start(['team-a']);
    expect([...store.keys('Ingress')]).toEqual(['team-a/in']);
    api.create(ingress('out2', 'team-b'));
    api.create(ingress('in2', 'team-a'));
    await waitFor(() => store.get('Ingress', 'team-a/in2') !== undefined, 3000, 'in2');
    expect(store.get('Ingress', 'team-b/out2')).toBeUndefined();
  });

  it('restarts after a failed watch (the library alone would stop for good)', async () => {
    await start();
    api.failNext(3, 500, { watch: true });
    api.closeWatches();
    api.create(ingress('after-500'));
    await waitFor(() => store.get('Ingress', 'default/after-500') !== undefined, 5000, 'recovery after 500s');
  });

  it('relists after 410 Expired as a diff: objects still present are never removed', async () => {
    for (let i = 0; i < 20; i++) api.create(ingress(`keep-${i}`));
    api.create(ingress('gone'));
    await start();
    const removed: string[] = [];
    store.subscribe((c: StoreChange) => {
      if (c.current === undefined) removed.push(c.key);
    });
    // While no watch is open, one object goes and history is compacted: the re-watch gets 410.
    await api.stop();
    api.delete('Ingress', 'default', 'gone');
    api.create(ingress('new'));
    api.compact();
    await api.restart();
    await waitFor(() => store.get('Ingress', 'default/new') !== undefined && store.get('Ingress', 'default/gone') === undefined, 8000, 'relist');
    expect(removed).toEqual(['default/gone']);
    expect(store.size('Ingress')).toBe(21);
  });

  it('keeps the last objects through an API outage, does not hammer it, and converges afterwards', async () => {
    const clock = new ManualClock();
    api.create(ingress('a'));
    const s = await start([], clock);
    await api.stop();
    const before = api.requests.length;
    await waitFor(() => allWaiting(s.informers), 5000, 'every watch to notice the outage');
    // 1.5 s of outage (clock time); backoff 50→400 ms at full jitter: 50, 100, 200, 400, 400,
    // so five retries each (the server is down, so attempts are not recorded there: count the
    // retries instead).
    const retries = await failUntil(clock, s.informers, 1500);
    expect(retries).toBe(5 * s.informers.length);
    expect(Math.max(...s.informers.map((i) => i.pendingRetryMs!))).toBeLessThanOrEqual(FAST.maxMs);
    expect(store.get('Ingress', 'default/a')).toBeDefined();
    api.create(ingress('during-outage'));
    await api.restart();
    clock.runAll();
    await waitFor(() => store.get('Ingress', 'default/during-outage') !== undefined, 8000, 'convergence');
    expect(api.requests.length).toBeGreaterThan(before);
  });

  it('during an outage of failing requests (500s) the API sees a bounded, backed-off number of requests', async () => {
    const clock = new ManualClock();
    const s = (source = new KubernetesSource({ api: new KubeApi(api.kubeConfig()), store, log: silentLogger, namespaces: [], backoff: { initialMs: 200, maxMs: 2000 }, clock }));
    await source.start();
    api.create(ingress('before'));
    await waitFor(() => store.get('Ingress', 'default/before') !== undefined, 3000, 'before');
    api.failNext(100_000, 500);
    const from = api.requests.length;
    api.closeWatches();
    await waitFor(() => allWaiting(s.informers), 5000, 'every re-watch to fail');
    // 3 s of clock time; 200 ms doubling to 2 s at full jitter: retries at 200, 600, 1400 and
    // 3000 ms, so the closed watch's re-watch plus at most 4 retries each
    const retries = await failUntil(clock, s.informers, 3000);
    const during = api.requests.slice(from).length;
    expect(during).toBe(s.informers.length + retries);
    expect(during).toBeLessThanOrEqual(5 * s.informers.length);
    expect(store.get('Ingress', 'default/before')).toBeDefined();
    api.clearFailures();
    api.create(ingress('after'));
    clock.runAll();
    await waitFor(() => store.get('Ingress', 'default/after') !== undefined, 8000, 'recovery');
  });

  it('recovers from a paused API server (requests hang) once it resumes', async () => {
    const s = await start();
    api.pause();
    const from = api.requests.length;
    api.resetWatches();
    // every informer has retried and hangs on the paused server
    await waitFor(() => api.requests.slice(from).filter((r) => r.watch).length >= s.informers.length, 5000, 'every watch to be re-sent');
    api.create(ingress('while-paused'));
    api.resume();
    await waitFor(() => store.get('Ingress', 'default/while-paused') !== undefined, 8000, 'after resume');
  });

  it('start() waits until the API answers', async () => {
    api.failNext(2, 503, { methods: ['GET'] });
    const s = await start();
    expect(s.synced).toBe(true);
  });
});
