// The fake API server driven by the real client-node informer (ListWatch).

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CoreV1Api, ListWatch, NetworkingV1Api, Watch, makeInformer } from '@kubernetes/client-node';
import type { V1Ingress, V1Secret } from '@kubernetes/client-node';
import { FakeApiServer } from './server.ts';
import { rawWatch, waitFor } from './helpers.ts';

const TOKEN = 'informer-token';

function ingress(name: string, ns = 'default', labels: Record<string, string> = {}): V1Ingress {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name, namespace: ns, labels },
    spec: { rules: [{ host: `${name}.example.com` }] },
  };
}

describe('fake-apiserver with the client-node informer', () => {
  let server: FakeApiServer;
  const stops: (() => Promise<void> | void)[] = [];

  beforeEach(async () => {
    server = await FakeApiServer.start({ token: TOKEN });
  });

  afterEach(async () => {
    for (const s of stops.splice(0)) await s();
    await server.close();
  });

  function ingressInformer() {
    const kc = server.kubeConfig();
    const api = kc.makeApiClient(NetworkingV1Api);
    const inf = makeInformer<V1Ingress>(kc, '/apis/networking.k8s.io/v1/ingresses', () =>
      api.listIngressForAllNamespaces(),
    );
    const log: string[] = [];
    const errors: unknown[] = [];
    inf.on('add', (o) => log.push(`add ${o.metadata?.name}`));
    inf.on('update', (o) => log.push(`update ${o.metadata?.name}`));
    inf.on('delete', (o) => log.push(`delete ${o.metadata?.name}`));
    inf.on('error', (e) => errors.push(e));
    stops.push(() => inf.stop());
    return { inf, api, log, errors };
  }

  it('list + watch through an informer sees add, update and delete', async () => {
    server.create(ingress('pre'));
    const { inf, api, log } = ingressInformer();
    await inf.start();
    expect(log).toEqual(['add pre']);
    expect(server.requestCount({ path: '/apis/networking.k8s.io/v1/ingresses', watch: false })).toBe(1);
    await server.waitForWatches(1);
    const w = server.requests.find((r) => r.watch);
    expect(w?.query.resourceVersion).toBe(server.resourceVersion);

    // HTTP write
    await api.createNamespacedIngress({ namespace: 'default', body: ingress('web') });
    await waitFor(() => log.includes('add web'), 3_000, 'add web');
    // direct write
    const cur = server.get('Ingress', 'default', 'web');
    expect(cur?.metadata.generation).toBe(1);
    server.update({ ...cur, spec: { rules: [{ host: 'changed.example.com' }] } });
    await waitFor(() => log.includes('update web'), 3_000, 'update web');
    expect(inf.get('web', 'default')?.spec?.rules?.[0]?.host).toBe('changed.example.com');
    expect(inf.get('web', 'default')?.metadata?.generation).toBe(2);

    await api.deleteNamespacedIngress({ namespace: 'default', name: 'web' });
    await waitFor(() => log.includes('delete web'), 3_000, 'delete web');
    expect(inf.list().map((o) => o.metadata?.name)).toEqual(['pre']);
  });

  it('a watch from a resourceVersion gets only later events (no synthetic ADDED)', async () => {
    server.create(ingress('a'));
    const rv = server.resourceVersion;
    server.create(ingress('b'));
    server.delete('Ingress', 'default', 'a');
    const w = await rawWatch(server.url, `/apis/networking.k8s.io/v1/ingresses?watch=true&resourceVersion=${rv}`, {
      token: TOKEN,
    });
    expect(w.status).toBe(200);
    expect(w.headers['content-type']).toBe('application/json');
    expect(w.headers['transfer-encoding']).toBe('chunked');
    await waitFor(() => w.events.length >= 2, 3_000, '2 events');
    expect(w.events.map((e) => `${e.type} ${e.object.metadata?.name}`)).toEqual(['ADDED b', 'DELETED a']);
    // watch objects carry kind/apiVersion; DELETED carries a new RV
    expect(w.events[1]?.object.kind).toBe('Ingress');
    expect(w.events[1]?.object.apiVersion).toBe('networking.k8s.io/v1');
    expect(w.events[1]?.object.metadata?.resourceVersion).toBe(server.resourceVersion);
    // RV 0 → synthetic ADDED for the current state
    const w0 = await rawWatch(server.url, '/apis/networking.k8s.io/v1/ingresses?watch=1&resourceVersion=0', {
      token: TOKEN,
    });
    await waitFor(() => w0.events.length >= 1, 3_000, 'synthetic ADDED');
    expect(w0.events.map((e) => `${e.type} ${e.object.metadata?.name}`)).toEqual(['ADDED b']);
    w.close();
    w0.close();
  });

  it('410 after compact(): the informer relists, diffs and re-watches', async () => {
    server.create(ingress('keep'));
    server.create(ingress('gone'));
    const { inf, log, errors } = ingressInformer();
    await inf.start();
    await server.waitForWatches(1);
    const lists = (): number => server.requestCount({ path: '/apis/networking.k8s.io/v1/ingresses', watch: false });
    expect(lists()).toBe(1);

    // While nobody watches, history is compacted and objects change behind the informer's back.
    server.pause();
    server.closeWatches();
    await waitFor(() => server.requests.filter((r) => r.watch).length === 2, 3_000, 'reconnect attempt');
    server.compact();
    server.delete('Ingress', 'default', 'gone');
    server.create(ingress('new'));
    server.resume();

    await waitFor(() => lists() === 2, 3_000, 'relist');
    await waitFor(() => log.includes('delete gone') && log.includes('add new'), 3_000, 'diff after relist');
    const reconnect = server.requests.filter((r) => r.watch)[1];
    expect(reconnect?.status).toBe(200); // 410 arrives inside a 200 stream as an ERROR event
    expect(errors).toEqual([]);
    expect(inf.list().map((o) => o.metadata?.name).sort()).toEqual(['keep', 'new']);
    // the informer re-watches (after its 1 s backoff) from the relist RV
    await server.waitForWatches(1, { timeoutMs: 4_000 });
  });

  it('a too-old RV yields a 200 stream with a single ERROR 410 Expired event, then close', async () => {
    server.create(ingress('x'));
    const old = server.resourceVersion;
    server.compact();
    const w = await rawWatch(server.url, `/apis/networking.k8s.io/v1/ingresses?watch=true&resourceVersion=${old}`, {
      token: TOKEN,
    });
    expect(w.status).toBe(200);
    expect(await w.done).toBe('end');
    expect(w.events).toHaveLength(1);
    expect(w.events[0]?.type).toBe('ERROR');
    expect(w.events[0]?.object).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: `too old resource version: ${old} (${server.resourceVersion})`,
      reason: 'Expired',
      code: 410,
    });
  });

  it('history window: watching from an RV older than the window → 410', async () => {
    const small = await FakeApiServer.start({ historyWindow: 3 });
    try {
      small.create(ingress('a'));
      const rv1 = small.resourceVersion;
      for (let i = 0; i < 5; i++) small.create(ingress(`n${i}`));
      const w = await rawWatch(small.url, `/apis/networking.k8s.io/v1/ingresses?watch=true&resourceVersion=${rv1}`);
      await w.done;
      expect(w.events[0]?.type).toBe('ERROR');
      const recent = String(Number(small.resourceVersion) - 2);
      const w2 = await rawWatch(small.url, `/apis/networking.k8s.io/v1/ingresses?watch=true&resourceVersion=${recent}`);
      await waitFor(() => w2.events.length === 2, 3_000, '2 replayed events');
      expect(w2.events.map((e) => e.object.metadata?.name)).toEqual(['n3', 'n4']);
      w2.close();
    } finally {
      await small.close();
    }
  });

  it('non-410 errors stop the informer for good (500 on re-watch, mid-stream reset)', async () => {
    server.create(ingress('a'));
    const { inf, log, errors } = ingressInformer();
    await inf.start();
    await server.waitForWatches(1);

    // 1. the re-watch after a clean close gets a 500 → error callback, nothing retries
    server.failNext(1, 500, { watch: true });
    server.closeWatches();
    await waitFor(() => errors.length === 1, 3_000, 'error callback');
    expect((errors[0] as { statusCode?: number }).statusCode).toBe(500);
    const before = server.requests.length;
    server.create(ingress('missed'));
    await new Promise((r) => setTimeout(r, 300));
    expect(server.requests.length).toBe(before); // no list, no watch: stopped for good
    expect(server.openWatches()).toBe(0);
    expect(log).not.toContain('add missed');

    // 2. the caller restarts: it keeps its RV, so no relist, and catches up from history
    await inf.start();
    await waitFor(() => log.includes('add missed'), 3_000, 'catch-up after restart');
    expect(server.requestCount({ watch: false, path: '/apis/networking.k8s.io/v1/ingresses' })).toBe(1);

    // 3. a mid-stream reset is also a terminal error
    await server.waitForWatches(1);
    server.resetWatches();
    await waitFor(() => errors.length === 2, 3_000, 'second error callback');
    await new Promise((r) => setTimeout(r, 200));
    expect(server.openWatches()).toBe(0);
  });

  it('informer with label selector sees objects entering/leaving the selection as add/delete', async () => {
    const kc = server.kubeConfig();
    const api = kc.makeApiClient(NetworkingV1Api);
    const inf = makeInformer<V1Ingress>(
      kc,
      '/apis/networking.k8s.io/v1/ingresses',
      () => api.listIngressForAllNamespaces({ labelSelector: 'team=a' }),
      'team=a',
    );
    const log: string[] = [];
    inf.on('add', (o) => log.push(`add ${o.metadata?.name}`));
    inf.on('update', (o) => log.push(`update ${o.metadata?.name}`));
    inf.on('delete', (o) => log.push(`delete ${o.metadata?.name}`));
    stops.push(() => inf.stop());
    server.create(ingress('x', 'default', { team: 'a' }));
    server.create(ingress('y', 'default', { team: 'b' }));
    await inf.start();
    expect(log).toEqual(['add x']);
    const y = server.get('Ingress', 'default', 'y');
    server.update({ ...y, metadata: { ...y?.metadata, labels: { team: 'a' } } });
    await waitFor(() => log.includes('add y'), 3_000, 'y enters');
    const x = server.get('Ingress', 'default', 'x');
    server.update({ ...x, metadata: { ...x?.metadata, labels: { team: 'z' } } });
    await waitFor(() => log.includes('delete x'), 3_000, 'x leaves');
    expect(inf.list().map((o) => o.metadata?.name)).toEqual(['y']);
  });

  it('ListWatch with fieldSelector type=kubernetes.io/tls only sees TLS secrets', async () => {
    const kc = server.kubeConfig();
    const core = kc.makeApiClient(CoreV1Api);
    const sel = 'type=kubernetes.io/tls';
    const lw = new ListWatch<V1Secret>(
      '/api/v1/secrets',
      new Watch(kc),
      () => core.listSecretForAllNamespaces({ fieldSelector: sel }),
      false,
      undefined,
      sel,
    );
    stops.push(() => lw.stop());
    server.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'opaque', namespace: 'default' }, data: {} });
    server.create({
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: { name: 'cert', namespace: 'default' },
      stringData: { 'tls.crt': 'CRT', 'tls.key': 'KEY' },
    });
    await lw.start();
    expect(lw.list().map((s) => s.metadata?.name)).toEqual(['cert']);
    expect(lw.get('cert', 'default')?.data?.['tls.crt']).toBe(Buffer.from('CRT').toString('base64'));
    expect(server.get('Secret', 'default', 'opaque')?.type).toBe('Opaque');
    await server.waitForWatches(1);
    expect(server.requests.find((r) => r.watch)?.query.fieldSelector).toBe(sel);
    server.create({ apiVersion: 'v1', kind: 'Secret', type: 'kubernetes.io/tls', metadata: { name: 'c2', namespace: 'ns2' } });
    server.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'o2', namespace: 'ns2' } });
    await waitFor(() => lw.list().length === 2, 3_000, 'second tls secret');
    expect(lw.list().map((s) => s.metadata?.name).sort()).toEqual(['c2', 'cert']);
  });
});
