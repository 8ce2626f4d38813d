// REST semantics of the fake API server through client-node's typed APIs (and raw HTTP where the
// typed client hides the wire).

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  NetworkingV1Api,
  PatchStrategy,
  V1MicroTime,
  setHeaderOptions,
} from '@kubernetes/client-node';
import type { V1Ingress, V1Lease } from '@kubernetes/client-node';
import { FakeApiServer } from './server.ts';
import { rawRequest } from './helpers.ts';

const TOKEN = 'rest-token';

async function apiCode(p: Promise<unknown>): Promise<{ code: number; body: unknown }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ApiException) {
      const raw: unknown = err.body;
      return { code: err.code, body: typeof raw === 'string' ? (JSON.parse(raw) as unknown) : raw };
    }
    throw err;
  }
  throw new Error('expected the call to fail');
}

function ing(name: string, ns = 'default', host = `${name}.example.com`): V1Ingress {
  return { metadata: { name, namespace: ns }, spec: { rules: [{ host }] } };
}

describe('fake-apiserver REST semantics', () => {
  let server: FakeApiServer;
  let net: NetworkingV1Api;
  let core: CoreV1Api;
  let coord: CoordinationV1Api;
  let disc: DiscoveryV1Api;

  beforeAll(async () => {
    server = await FakeApiServer.start({ token: TOKEN });
    const kc = server.kubeConfig();
    net = kc.makeApiClient(NetworkingV1Api);
    core = kc.makeApiClient(CoreV1Api);
    coord = kc.makeApiClient(CoordinationV1Api);
    disc = kc.makeApiClient(DiscoveryV1Api);
  });

  afterAll(async () => {
    await server.close();
  });

  beforeEach(() => {
    for (const kind of ['Ingress', 'IngressClass', 'Service', 'v1/Secret', 'EndpointSlice', 'Lease']) {
      for (const o of server.list(kind)) server.delete(kind, o.metadata.namespace, o.metadata.name);
    }
  });

  it('create assigns uid, creationTimestamp, resourceVersion and generation; POST twice → 409 AlreadyExists', async () => {
    const rvBefore = Number(server.resourceVersion);
    const created = await net.createNamespacedIngress({ namespace: 'default', body: ing('web') });
    expect(created.kind).toBe('Ingress');
    expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata?.resourceVersion).toBe(String(rvBefore + 1));
    expect(created.metadata?.generation).toBe(1);
    const raw = server.get('Ingress', 'default', 'web');
    expect(raw?.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const err = await apiCode(net.createNamespacedIngress({ namespace: 'default', body: ing('web') }));
    expect(err.code).toBe(409);
    expect(err.body).toMatchObject({ kind: 'Status', reason: 'AlreadyExists', code: 409 });
    // the global RV is shared by all kinds
    const svc = server.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc', namespace: 'default' }, spec: {} });
    expect(svc.metadata.resourceVersion).toBe(String(rvBefore + 2));
  });

  it('list: XList envelope, items without kind/apiVersion, paging with continue', async () => {
    for (const n of ['a', 'b', 'c', 'd', 'e']) server.create({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', ...ing(n, n < 'c' ? 'ns1' : 'ns2') });
    const all = await rawRequest(server.url, '/apis/networking.k8s.io/v1/ingresses', { token: TOKEN });
    expect(all.status).toBe(200);
    expect(all.headers['content-type']).toBe('application/json');
    const body = all.json as { kind: string; apiVersion: string; metadata: { resourceVersion: string }; items: Record<string, unknown>[] };
    expect(body.kind).toBe('IngressList');
    expect(body.apiVersion).toBe('networking.k8s.io/v1');
    expect(body.metadata.resourceVersion).toBe(server.resourceVersion);
    expect(body.items).toHaveLength(5);
    expect(body.items[0]).not.toHaveProperty('kind');
    expect(body.items[0]).not.toHaveProperty('apiVersion');

    const p1 = await net.listIngressForAllNamespaces({ limit: 2 });
    expect(p1.items.map((i) => i.metadata?.name)).toEqual(['a', 'b']);
    expect(p1.metadata?._continue).toBeTruthy();
    expect(p1.metadata?.remainingItemCount).toBe(3);
    // changes after the first page do not leak into the continued list (consistent snapshot)
    server.delete('Ingress', 'ns2', 'c');
    server.create({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', ...ing('f', 'ns2') });
    const p2 = await net.listIngressForAllNamespaces({ limit: 2, _continue: p1.metadata?._continue });
    expect(p2.items.map((i) => i.metadata?.name)).toEqual(['c', 'd']);
    expect(p2.metadata?.resourceVersion).toBe(p1.metadata?.resourceVersion);
    const p3 = await net.listIngressForAllNamespaces({ limit: 2, _continue: p2.metadata?._continue });
    expect(p3.items.map((i) => i.metadata?.name)).toEqual(['e']);
    expect(p3.metadata?._continue).toBeFalsy();

    // resourceVersionMatch=Exact serves the old snapshot
    const exact = await rawRequest(
      server.url,
      `/apis/networking.k8s.io/v1/ingresses?resourceVersion=${p1.metadata?.resourceVersion}&resourceVersionMatch=Exact`,
      { token: TOKEN },
    );
    expect((exact.json as { items: { metadata: { name: string } }[] }).items.map((i) => i.metadata.name)).toEqual(['a', 'b', 'c', 'd', 'e']);

    // namespaced list
    const ns1 = await net.listNamespacedIngress({ namespace: 'ns1' });
    expect(ns1.items.map((i) => i.metadata?.name)).toEqual(['a', 'b']);

    // an expired continue token → 410 Expired
    const p1b = await net.listIngressForAllNamespaces({ limit: 1 });
    server.compact();
    const err = await apiCode(net.listIngressForAllNamespaces({ limit: 1, _continue: p1b.metadata?._continue }));
    expect(err.code).toBe(410);
    expect(err.body).toMatchObject({ reason: 'Expired', code: 410 });
  });

  it('label selectors (=, !=, exists, !exists, in, notin) and field selectors', async () => {
    const mk = (name: string, labels: Record<string, string>): void => {
      server.create({
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name, namespace: 'default', labels },
        addressType: 'IPv4',
        endpoints: [],
      });
    };
    mk('s1', { 'kubernetes.io/service-name': 'web', tier: 'fe' });
    mk('s2', { 'kubernetes.io/service-name': 'web' });
    mk('s3', { 'kubernetes.io/service-name': 'api', tier: 'be' });
    const names = async (labelSelector: string): Promise<string[]> =>
      (await disc.listEndpointSliceForAllNamespaces({ labelSelector })).items.map((s) => s.metadata?.name ?? '');
    expect(await names('kubernetes.io/service-name=web')).toEqual(['s1', 's2']);
    expect(await names('kubernetes.io/service-name==api')).toEqual(['s3']);
    expect(await names('tier!=fe')).toEqual(['s2', 's3']);
    expect(await names('tier')).toEqual(['s1', 's3']);
    expect(await names('!tier')).toEqual(['s2']);
    expect(await names('tier in (fe, be)')).toEqual(['s1', 's3']);
    expect(await names('tier notin (fe)')).toEqual(['s2', 's3']);
    expect(await names('kubernetes.io/service-name=web,tier')).toEqual(['s1']);
    const bad = await apiCode(disc.listEndpointSliceForAllNamespaces({ labelSelector: 'a in b' }));
    expect(bad.code).toBe(400);

    server.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'tls', namespace: 'a' }, type: 'kubernetes.io/tls' });
    server.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'plain', namespace: 'b' } });
    const secrets = async (fieldSelector: string): Promise<string[]> =>
      (await core.listSecretForAllNamespaces({ fieldSelector })).items.map((s) => s.metadata?.name ?? '');
    expect(await secrets('type=kubernetes.io/tls')).toEqual(['tls']);
    expect(await secrets('type!=kubernetes.io/tls')).toEqual(['plain']);
    expect(await secrets('metadata.namespace==b')).toEqual(['plain']);
    expect(await secrets('metadata.name=tls,metadata.namespace=a')).toEqual(['tls']);
    const unsupported = await apiCode(core.listSecretForAllNamespaces({ fieldSelector: 'spec.foo=x' }));
    expect(unsupported.code).toBe(400);
  });

  it('PUT with a stale resourceVersion → 409 Conflict with the real message; unconditional PUT works', async () => {
    const v1 = await net.createNamespacedIngress({ namespace: 'default', body: ing('web') });
    const v2 = await net.replaceNamespacedIngress({
      namespace: 'default',
      name: 'web',
      body: { ...v1, spec: { rules: [{ host: 'two.example.com' }] } },
    });
    expect(v2.metadata?.generation).toBe(2);
    const err = await apiCode(net.replaceNamespacedIngress({ namespace: 'default', name: 'web', body: v1 }));
    expect(err.code).toBe(409);
    expect(err.body).toMatchObject({
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      reason: 'Conflict',
      code: 409,
      message:
        'Operation cannot be fulfilled on ingresses.networking.k8s.io "web": the object has been modified; please apply your changes to the latest version and try again',
    });
    const noRv = { ...v2, metadata: { ...v2.metadata, resourceVersion: undefined } };
    const v3 = await net.replaceNamespacedIngress({ namespace: 'default', name: 'web', body: noRv });
    // identical content → no-op write: RV unchanged, like the real server
    expect(v3.metadata?.resourceVersion).toBe(v2.metadata?.resourceVersion);
    const missing = await apiCode(net.replaceNamespacedIngress({ namespace: 'default', name: 'nope', body: ing('nope') }));
    expect(missing.code).toBe(404);
    expect(missing.body).toMatchObject({ reason: 'NotFound', message: 'ingresses.networking.k8s.io "nope" not found' });
  });

  it('status subresource: merge patch via patchNamespacedIngressStatus, main writes ignore .status', async () => {
    const created = await net.createNamespacedIngress({
      namespace: 'default',
      body: { ...ing('web'), status: { loadBalancer: { ingress: [{ ip: '9.9.9.9' }] } } },
    });
    expect(created.status?.loadBalancer?.ingress).toBeUndefined();
    const patched = await net.patchNamespacedIngressStatus(
      {
        namespace: 'default',
        name: 'web',
        body: { status: { loadBalancer: { ingress: [{ ip: '10.0.0.1' }] } }, spec: { rules: [] } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(patched.status?.loadBalancer?.ingress?.[0]?.ip).toBe('10.0.0.1');
    expect(patched.spec?.rules?.[0]?.host).toBe('web.example.com'); // spec ignored on /status
    expect(patched.metadata?.generation).toBe(1); // status writes never bump generation
    expect(Number(patched.metadata?.resourceVersion)).toBeGreaterThan(Number(created.metadata?.resourceVersion));
    const patchReq = server.requests.filter((r) => r.method === 'PATCH').at(-1);
    expect(patchReq?.path).toBe('/apis/networking.k8s.io/v1/namespaces/default/ingresses/web/status');

    // main-resource PUT ignores .status and bumps generation on spec change
    const put = await net.replaceNamespacedIngress({
      namespace: 'default',
      name: 'web',
      body: { ...patched, spec: { rules: [{ host: 'new.example.com' }] }, status: { loadBalancer: {} } },
    });
    expect(put.status?.loadBalancer?.ingress?.[0]?.ip).toBe('10.0.0.1');
    expect(put.metadata?.generation).toBe(2);

    // PUT /status with the current RV
    const st = await net.replaceNamespacedIngressStatus({
      namespace: 'default',
      name: 'web',
      body: { ...put, status: { loadBalancer: { ingress: [{ hostname: 'lb.example.com' }] } } },
    });
    expect(st.status?.loadBalancer?.ingress?.[0]?.hostname).toBe('lb.example.com');
    expect(st.metadata?.generation).toBe(2);
    const stale = await apiCode(net.replaceNamespacedIngressStatus({ namespace: 'default', name: 'web', body: put }));
    expect(stale.code).toBe(409);

    // Service status through the same mechanism
    server.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'lb', namespace: 'default' }, spec: { type: 'LoadBalancer' } });
    const svc = await core.patchNamespacedServiceStatus(
      { namespace: 'default', name: 'lb', body: { status: { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    expect(svc.status?.loadBalancer?.ingress?.[0]?.ip).toBe('1.2.3.4');
  });

  it('JSON patch (default content type of client-node) and strategic merge patch', async () => {
    await net.createNamespacedIngress({ namespace: 'default', body: ing('web') });
    const jp = await net.patchNamespacedIngress({
      namespace: 'default',
      name: 'web',
      body: [
        { op: 'test', path: '/spec/rules/0/host', value: 'web.example.com' },
        { op: 'add', path: '/metadata/labels', value: { a: 'b' } },
        { op: 'replace', path: '/spec/rules/0/host', value: 'jp.example.com' },
        { op: 'add', path: '/spec/rules/-', value: { host: 'second.example.com' } },
        { op: 'remove', path: '/spec/rules/1' },
      ],
    });
    expect(jp.metadata?.labels).toEqual({ a: 'b' });
    expect(jp.spec?.rules?.map((r) => r.host)).toEqual(['jp.example.com']);
    const failed = await apiCode(
      net.patchNamespacedIngress({
        namespace: 'default',
        name: 'web',
        body: [{ op: 'test', path: '/spec/rules/0/host', value: 'other' }],
      }),
    );
    expect(failed.code).toBe(422);
    const smp = await net.patchNamespacedIngress(
      { namespace: 'default', name: 'web', body: { metadata: { annotations: { x: 'y' }, labels: { a: null } } } },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    expect(smp.metadata?.annotations).toEqual({ x: 'y' });
    expect(smp.metadata?.labels).toEqual({});
    // a merge patch carrying a stale resourceVersion is a precondition → 409
    const stale = await apiCode(
      net.patchNamespacedIngress(
        { namespace: 'default', name: 'web', body: { metadata: { resourceVersion: '1' }, spec: { rules: [] } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
    );
    expect(stale.code).toBe(409);
    const ssa = await rawRequest(server.url, '/apis/networking.k8s.io/v1/namespaces/default/ingresses/web', {
      method: 'PATCH',
      token: TOKEN,
      body: 'spec: {}',
      contentType: 'application/apply-patch+yaml',
    });
    expect(ssa.status).toBe(415);
  });

  it('Lease: create/replace with V1MicroTime, 422 without RV, PUT creates, 400 on 3-digit MicroTime', async () => {
    const body: V1Lease = {
      metadata: { name: 'portico-leader', namespace: 'kube-system' },
      spec: {
        holderIdentity: 'pod-a',
        leaseDurationSeconds: 15,
        acquireTime: new V1MicroTime(),
        renewTime: new V1MicroTime(),
        leaseTransitions: 0,
      },
    };
    const created = await coord.createNamespacedLease({ namespace: 'kube-system', body });
    const stored = server.get('Lease', 'kube-system', 'portico-leader');
    expect(stored?.spec).toMatchObject({ holderIdentity: 'pod-a' });
    expect((stored?.spec as { renewTime: string }).renewTime).toMatch(/\.\d{6}Z$/);

    const renewed = await coord.replaceNamespacedLease({
      namespace: 'kube-system',
      name: 'portico-leader',
      body: { ...created, spec: { ...created.spec, renewTime: new V1MicroTime() } },
    });
    expect(Number(renewed.metadata?.resourceVersion)).toBeGreaterThan(Number(created.metadata?.resourceVersion));
    const stale = await apiCode(
      coord.replaceNamespacedLease({ namespace: 'kube-system', name: 'portico-leader', body: created }),
    );
    expect(stale.code).toBe(409);
    expect((stale.body as { message: string }).message).toContain('leases.coordination.k8s.io "portico-leader"');

    const noRv = await apiCode(
      coord.replaceNamespacedLease({
        namespace: 'kube-system',
        name: 'portico-leader',
        body: { ...renewed, metadata: { ...renewed.metadata, resourceVersion: undefined } },
      }),
    );
    expect(noRv.code).toBe(422);
    expect(noRv.body).toMatchObject({ reason: 'Invalid' });

    // AllowCreateOnUpdate: PUT of a missing Lease creates it (201)
    const made = await coord.replaceNamespacedLease({
      namespace: 'kube-system',
      name: 'other',
      body: { metadata: { name: 'other', namespace: 'kube-system' }, spec: { holderIdentity: 'x' } },
    });
    expect(made.metadata?.uid).toBeTruthy();
    expect(server.requests.at(-1)?.status).toBe(201);

    // MicroTime with 3 fractional digits (Date#toISOString) → 400 BadRequest
    const bad = await rawRequest(server.url, '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases', {
      method: 'POST',
      token: TOKEN,
      body: {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: 'bad' },
        spec: { renewTime: '2026-01-01T00:00:00.123Z' },
      },
    });
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ kind: 'Status', reason: 'BadRequest', code: 400 });
    const viaClient = await apiCode(
      coord.createNamespacedLease({
        namespace: 'kube-system',
        body: { metadata: { name: 'bad2' }, spec: { acquireTime: new Date('2026-01-01T00:00:00.123Z') } },
      }),
    );
    expect(viaClient.code).toBe(400);
  });

  it('DELETE returns a Status (or the object for Services); GET of a missing object and unknown paths → 404 Status', async () => {
    await net.createNamespacedIngress({ namespace: 'default', body: ing('web') });
    const del = await rawRequest(server.url, '/apis/networking.k8s.io/v1/namespaces/default/ingresses/web', {
      method: 'DELETE',
      token: TOKEN,
    });
    expect(del.status).toBe(200);
    expect(del.json).toMatchObject({ kind: 'Status', status: 'Success', details: { name: 'web', kind: 'ingresses' } });
    server.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc', namespace: 'default' }, spec: {} });
    const svc = await core.deleteNamespacedService({ namespace: 'default', name: 'svc' });
    expect(svc.metadata?.name).toBe('svc');
    const gone = await apiCode(net.readNamespacedIngress({ namespace: 'default', name: 'web' }));
    expect(gone.code).toBe(404);
    expect(gone.body).toMatchObject({ kind: 'Status', reason: 'NotFound' });
    for (const path of ['/apis/foo.example/v1/things', '/api/v1/namespaces/default/pods', '/nonsense']) {
      const r = await rawRequest(server.url, path, { token: TOKEN });
      expect(r.status).toBe(404);
      expect(r.headers['content-type']).toBe('application/json');
      expect(r.json).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 });
    }
  });

  it('IngressClass is cluster-scoped; events in both API groups are accepted', async () => {
    await net.createIngressClass({
      body: { metadata: { name: 'portico' }, spec: { controller: 'example.com/portico' } },
    });
    const list = await net.listIngressClass();
    expect(list.items.map((c) => c.metadata?.name)).toEqual(['portico']);
    expect(list.items[0]?.metadata?.namespace).toBeUndefined();
    await core.createNamespacedEvent({
      namespace: 'default',
      body: {
        metadata: { generateName: 'web.' },
        involvedObject: { kind: 'Ingress', name: 'web', namespace: 'default' },
        reason: 'Sync',
        message: 'ok',
        type: 'Normal',
      },
    });
    const ev = await core.listNamespacedEvent({ namespace: 'default', fieldSelector: 'involvedObject.name=web' });
    expect(ev.items).toHaveLength(1);
    expect(ev.items[0]?.metadata?.name).toMatch(/^web\.[a-z0-9]{5}$/);
    const e2 = await rawRequest(server.url, '/apis/events.k8s.io/v1/namespaces/default/events', {
      method: 'POST',
      token: TOKEN,
      body: {
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        metadata: { name: 'e2' },
        eventTime: new V1MicroTime().toISOString(),
        reason: 'Sync',
        action: 'Update',
        reportingController: 'portico',
        reportingInstance: 'p-1',
        type: 'Normal',
      },
    });
    expect(e2.status).toBe(201);
  });

  it('401 Unauthorized without or with a wrong token (client-node and raw)', async () => {
    const anon = server.kubeConfig({ token: '' }).makeApiClient(NetworkingV1Api);
    const e1 = await apiCode(anon.listIngressForAllNamespaces());
    expect(e1.code).toBe(401);
    const wrong = server.kubeConfig({ token: 'nope' }).makeApiClient(NetworkingV1Api);
    expect((await apiCode(wrong.listIngressForAllNamespaces())).code).toBe(401);
    const raw = await rawRequest(server.url, '/apis/networking.k8s.io/v1/ingresses');
    expect(raw.status).toBe(401);
    expect(raw.headers['content-type']).toBe('application/json');
    expect(raw.json).toEqual({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
    // health is public without credentials
    expect((await rawRequest(server.url, '/healthz')).status).toBe(200);
  });

  it('direct helpers go through the same storage and validation', () => {
    const a = server.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'x' }, stringData: { k: 'v' } });
    expect(a.data).toEqual({ k: Buffer.from('v').toString('base64') });
    expect(() => server.create({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'x' } })).toThrow(/already exists/);
    const stale = { ...a, data: {} };
    server.update({ ...a, data: { k: 'eA==' } });
    expect(() => server.update(stale)).toThrow(/has been modified/);
    expect(() => server.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'Bad_Name', namespace: 'x' } })).toThrow(/invalid/);
    expect(server.list('v1/Secret', 'x')).toHaveLength(1);
    server.delete('Secret', 'x', 's');
    expect(server.get('Secret', 'x', 's')).toBeUndefined();
    expect(() => server.delete('Secret', 'x', 's')).toThrow(/not found/);
  });
});
