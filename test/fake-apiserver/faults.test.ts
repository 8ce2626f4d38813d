// Fault injection, lifecycle and raw watch-stream behaviour of the fake API server.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiException, KubeConfig, NetworkingV1Api } from '@kubernetes/client-node';
import { FakeApiServer } from './server.ts';
import { rawRequest, rawWatch, waitFor } from './helpers.ts';

const ING = '/apis/networking.k8s.io/v1/ingresses';

function ingress(name: string): object {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name, namespace: 'default' }, spec: {} };
}

describe('fake-apiserver faults and lifecycle', () => {
  let server: FakeApiServer;

  beforeEach(async () => {
    server = await FakeApiServer.start({ bookmarkIntervalMs: 50 });
  });

  afterEach(async () => {
    await server.close();
  });

  it('failNext: the next n matching requests get the status as a Status object', async () => {
    const api = server.kubeConfig().makeApiClient(NetworkingV1Api);
    server.failNext(2, 503, { methods: ['GET'], pathPrefix: ING });
    // non-matching request is untouched
    expect((await rawRequest(server.url, '/apis/networking.k8s.io/v1/ingressclasses')).status).toBe(200);
    const r1 = await rawRequest(server.url, ING);
    expect(r1.status).toBe(503);
    expect(r1.headers['content-type']).toBe('application/json');
    expect(r1.headers['retry-after']).toBe('1');
    expect(r1.json).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'ServiceUnavailable', code: 503 });
    let code = 0;
    try {
      await api.listIngressForAllNamespaces();
    } catch (err) {
      code = err instanceof ApiException ? err.code : -1;
    }
    expect(code).toBe(503);
    expect((await api.listIngressForAllNamespaces()).items).toEqual([]);
    expect(server.requestCount({ pathPrefix: ING, status: 503 })).toBe(2);

    server.failNext(1, 500, { watch: true });
    const list = await rawRequest(server.url, ING);
    expect(list.status).toBe(200);
    const w = await rawWatch(server.url, `${ING}?watch=true`);
    expect(w.status).toBe(500);
    await w.done;
  });

  it('pause/resume: requests hang until resumed', async () => {
    server.pause();
    let settled = false;
    const p = rawRequest(server.url, ING).then((r) => {
      settled = true;
      return r;
    });
    await waitFor(() => server.requestCount({ path: ING }) === 1, 2_000, 'request to arrive');
    await new Promise((r) => setTimeout(r, 150));
    expect(settled).toBe(false);
    server.resume();
    expect((await p).status).toBe(200);
  });

  it('stop() drops connections and refuses new ones; restart() listens on the same port with the same data', async () => {
    server.create(ingress('kept'));
    const port = server.port;
    const w = await rawWatch(server.url, `${ING}?watch=true&resourceVersion=${server.resourceVersion}`);
    expect(server.openWatches()).toBe(1);
    await server.stop();
    expect(await w.done).toBe('error');
    expect(server.openWatches()).toBe(0);
    expect(server.listening).toBe(false);
    await expect(rawRequest(server.url, ING, { timeoutMs: 1_000 })).rejects.toThrow();
    // direct writes keep working while stopped
    server.create(ingress('while-down'));
    await server.restart();
    expect(server.port).toBe(port);
    const r = await rawRequest(server.url, ING);
    expect((r.json as { items: { metadata: { name: string } }[] }).items.map((i) => i.metadata.name)).toEqual([
      'kept',
      'while-down',
    ]);
  });

  it('watch: BOOKMARK events when requested, timeoutSeconds ends the stream cleanly', async () => {
    server.create(ingress('a'));
    const started = Date.now();
    const w = await rawWatch(server.url, `${ING}?watch=true&allowWatchBookmarks=true&timeoutSeconds=1`);
    // no bookmarks unless requested (runs concurrently to keep the test short)
    const w2 = await rawWatch(server.url, `${ING}?watch=true&resourceVersion=${server.resourceVersion}&timeoutSeconds=1`);
    expect(w.status).toBe(200);
    expect(w.headers['content-type']).toBe('application/json');
    expect(await w.done).toBe('end');
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(3_000);
    expect(w.events[0]).toMatchObject({ type: 'ADDED', object: { kind: 'Ingress', metadata: { name: 'a' } } });
    const bookmarks = w.events.filter((e) => e.type === 'BOOKMARK');
    expect(bookmarks.length).toBeGreaterThanOrEqual(3);
    expect(bookmarks[0]?.object).toEqual({
      kind: 'Ingress',
      apiVersion: 'networking.k8s.io/v1',
      metadata: { resourceVersion: server.resourceVersion },
    });
    // every line is exactly one JSON object
    for (const line of w.lines) expect(() => JSON.parse(line) as unknown).not.toThrow();

    expect(await w2.done).toBe('end');
    expect(w2.events).toEqual([]);
  });

  it('closeWatches() ends streams cleanly; resetWatches() destroys them', async () => {
    const a = await rawWatch(server.url, `${ING}?watch=true`);
    const b = await rawWatch(server.url, `/api/v1/secrets?watch=true`);
    expect(server.openWatches()).toBe(2);
    expect(server.openWatches('Ingress')).toBe(1);
    server.closeWatches();
    expect(await a.done).toBe('end');
    expect(await b.done).toBe('end');
    expect(server.openWatches()).toBe(0);
    const c = await rawWatch(server.url, `${ING}?watch=true`);
    await server.waitForWatches(1);
    server.resetWatches();
    expect(await c.done).toBe('error');
  });

  it('namespaced watch and selector transitions (ADDED when starting to match, DELETED when leaving)', async () => {
    const w = await rawWatch(
      server.url,
      `/apis/networking.k8s.io/v1/namespaces/default/ingresses?watch=true&resourceVersion=${server.resourceVersion}&labelSelector=app%3Dweb`,
    );
    server.create({ ...ingress('other-ns'), metadata: { name: 'other-ns', namespace: 'x', labels: { app: 'web' } } });
    const o = server.create({ ...ingress('o'), metadata: { name: 'o', namespace: 'default', labels: { app: 'api' } } });
    server.update({ ...o, metadata: { ...o.metadata, labels: { app: 'web' } } });
    const o2 = server.get('Ingress', 'default', 'o');
    server.update({ ...o2, spec: { rules: [] } });
    server.update({ ...server.get('Ingress', 'default', 'o'), metadata: { ...o2?.metadata, resourceVersion: undefined, labels: {} } });
    await waitFor(() => w.events.length >= 3, 3_000, '3 events');
    expect(w.events.map((e) => `${e.type} ${e.object.metadata?.name}`)).toEqual(['ADDED o', 'MODIFIED o', 'DELETED o']);
    w.close();
  });

  it('writeKubeconfig() writes a file client-node can load and use', async () => {
    const tokenServer = await FakeApiServer.start({ token: 't0k3n' });
    const dir = mkdtempSync(join(tmpdir(), 'fake-apiserver-'));
    try {
      const file = tokenServer.writeKubeconfig(dir);
      const text = readFileSync(file, 'utf8');
      expect(text).toContain(`server: http://127.0.0.1:${tokenServer.port}`);
      expect(text).toContain('insecure-skip-tls-verify: true');
      const kc = new KubeConfig();
      kc.loadFromFile(file);
      expect(kc.getCurrentCluster()?.skipTLSVerify).toBe(true);
      tokenServer.create(ingress('x'));
      const list = await kc.makeApiClient(NetworkingV1Api).listIngressForAllNamespaces();
      expect(list.items.map((i) => i.metadata?.name)).toEqual(['x']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await tokenServer.close();
    }
  });
});
