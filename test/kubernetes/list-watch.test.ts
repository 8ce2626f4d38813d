// list-watch.ts: client-node's ListWatch and Watch rules (LIBRARIES.md §2.1–2.2) on undici's
// request(), against the fake API server.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { FakeApiServer, waitFor } from '../fake-apiserver/index.ts';
import { KubeApi } from '../../src/sources/kubernetes/api.ts';
import { ListWatch, watch, type KubeObject } from '../../src/sources/kubernetes/list-watch.ts';
import { KubeConfig } from '../../src/sources/kubernetes/kubeconfig.ts';

const PATH = '/api/v1/namespaces/default/services';
const svc = (name: string) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: {} });

describe('ListWatch', () => {
  let api: FakeApiServer;
  let lw: ListWatch<KubeObject> | undefined;
  const events: string[] = [];
  const errors: unknown[] = [];
  beforeEach(async () => {
    api = await FakeApiServer.start();
    events.length = 0;
    errors.length = 0;
  });
  afterEach(async () => {
    lw?.stop();
    lw = undefined;
    await api.close();
  });

  const start = async (inactivityMs?: number) => {
    const kube = new KubeApi(api.kubeConfig());
    lw = new ListWatch<KubeObject>({
      path: PATH,
      credentials: kube.kc,
      list: async () => {
        const { items, resourceVersion } = await kube.listAll<KubeObject>(PATH, {});
        return { items, metadata: { resourceVersion } };
      },
      handlers: {
        add: (o) => events.push(`add ${o.metadata?.name}`),
        update: (o) => events.push(`update ${o.metadata?.name}`),
        delete: (o) => events.push(`delete ${o.metadata?.name}`),
        error: (e) => errors.push(e),
      },
      ...(inactivityMs ? { inactivityMs } : {}),
    });
    await lw.start();
  };
  const lists = () => api.requests.filter((r) => r.path === PATH && !r.watch).length;
  const watches = () => api.requests.filter((r) => r.path === PATH && r.watch).length;

  it('lists, then follows adds, updates (only new resourceVersions) and deletes', async () => {
    api.create(svc('a'));
    await start();
    expect(events).toEqual(['add a']);
    expect(lw!.latestResourceVersion()).not.toBe('');
    api.create(svc('b'));
    api.update({ ...svc('b'), spec: { type: 'ClusterIP' } });
    api.delete('Service', 'default', 'a');
    await waitFor(() => events.length === 4, 3000, 'events');
    expect(events).toEqual(['add a', 'add b', 'update b', 'delete a']);
    expect(errors).toEqual([]);
  });

  it('a watch without bytes for the inactivity timeout is re-opened at once from the same version (no relist)', async () => {
    await start(200);
    await waitFor(() => watches() >= 3, 5000, 'two re-opened watches');
    expect(lists()).toBe(1);
    expect(errors).toEqual([]);
    api.create(svc('late'));
    await waitFor(() => events.includes('add late'), 3000, 'event after re-watch');
  });

  it('asks for bookmarks: the resourceVersion of a quiet collection follows the server, and a re-opened watch resumes without a relist', async () => {
    await api.close();
    api = await FakeApiServer.start({ bookmarkIntervalMs: 50 });
    await start();
    const listed = lists();
    // writes to another collection move the server's resourceVersion; only bookmarks tell us
    api.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'elsewhere', namespace: 'other' }, spec: {} });
    const moved = api.resourceVersion;
    await waitFor(() => lw!.latestResourceVersion() === moved, 3000, 'a bookmark with the new resourceVersion');
    expect(api.requests.some((r) => r.path === PATH && r.watch && r.query.allowWatchBookmarks === 'true')).toBe(true);
    expect(lists()).toBe(listed);
    expect(events).toEqual([]);
  });

  it('410 on the watch relists as a diff; other failures go to the error handler and stop', async () => {
    api.create(svc('keep'));
    api.create(svc('gone'));
    await start();
    await api.stop();
    api.delete('Service', 'default', 'gone');
    api.compact();
    await api.restart();
    // The watch was cut with the server: that is an error, and ListWatch stops.
    await waitFor(() => errors.length > 0, 3000, 'error on a cut watch');
    const before = lists();
    await lw!.start(); // what ResilientInformer does after its backoff: re-watch → 410 → relist
    await waitFor(() => events.includes('delete gone'), 3000, 'relist diff');
    expect(lists()).toBe(before + 1);
    expect(events.slice(2)).toEqual(['delete gone']); // "keep" is neither deleted nor re-added
    expect(events.slice(0, 2).sort()).toEqual(['add gone', 'add keep']);
  });
});

describe('watch()', () => {
  it('reads the last event even without a final newline, then reports a clean end', async () => {
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n{"type":"MOD');
      res.end('IFIED","object":{"metadata":{"name":"a"}}}');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const kc = new KubeConfig();
      kc.loadFromOptions({
        clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
        users: [{ name: 'u' }],
        contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
        currentContext: 'x',
      });
      const seen: string[] = [];
      const done = new Promise((resolve) => void watch(kc, '/api/v1/services', {}, (phase) => seen.push(phase), resolve));
      expect(await done).toBeNull();
      expect(seen).toEqual(['ADDED', 'MODIFIED']);
    } finally {
      server.close();
    }
  });

  it('a status other than 200 is an error carrying statusCode, and a message naming the watch and the status', async () => {
    const api = await FakeApiServer.start();
    try {
      api.failNext(1, 410, { watch: true });
      const err = await new Promise((resolve) => void watch(api.kubeConfig(), PATH, { resourceVersion: '1' }, () => {}, resolve));
      expect((err as { statusCode?: number }).statusCode).toBe(410);
      expect((err as Error).message).toMatch(new RegExp(`^watch ${PATH}: 410 \\S`));
    } finally {
      await api.close();
    }
  });
});
