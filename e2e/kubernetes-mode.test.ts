// The built program in Kubernetes mode against the fake API server: objects change while
// traffic flows; two replicas elect a leader that publishes Ingress status, and a killed
// leader is replaced.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FakeApiServer } from '../test/fake-apiserver/index.ts';
import { get, startNamedBackend, startPorticoProcess, waitFor, type PorticoProcess } from './harness.ts';

type Backend = Awaited<ReturnType<typeof startNamedBackend>>;

const ingressClass = { apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: 'portico' }, spec: { controller: 'portico.dev/ingress-controller' } };

function service(name: string) {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'shop' }, spec: { ports: [{ name: 'http', port: 80 }] } };
}

function slice(name: string, svc: string, ports: number[]) {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: 'shop', labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: ports[0] }],
    endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
  };
}

function ingress(name: string, paths: { path: string; service: string }[], host = 'shop.test') {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name, namespace: 'shop' },
    spec: {
      ingressClassName: 'portico',
      rules: [{ host, http: { paths: paths.map((p) => ({ path: p.path, pathType: 'Prefix', backend: { service: { name: p.service, port: { number: 80 } } } })) } }],
    },
  };
}

describe('Kubernetes mode (built program, fake API server)', () => {
  let api: FakeApiServer;
  let dir: string;
  let kubeconfig: string;
  let a: Backend, b: Backend, a2: Backend;
  const procs: PorticoProcess[] = [];

  const start = async () => {
    const p = await startPorticoProcess(
      ['--kubeconfig', kubeconfig, '--publish-status-address', '203.0.113.10', '--access-log', 'false', '--log-level', 'debug'],
      { POD_NAMESPACE: 'portico', POD_NAME: `portico-${procs.length}` },
    );
    procs.push(p);
    await waitFor('readyz', async () => (await get(p.healthPort, '/readyz')).status === 200, 10_000);
    return p;
  };

  beforeAll(async () => {
    api = await FakeApiServer.start({ token: 'e2e-token' });
    dir = mkdtempSync(path.join(tmpdir(), 'portico-k8s-e2e-'));
    kubeconfig = api.writeKubeconfig(dir);
    [a, b, a2] = await Promise.all([startNamedBackend('a'), startNamedBackend('b'), startNamedBackend('a2')]);
    api.create(ingressClass);
    api.create(service('svc-a'));
    api.create(slice('svc-a-1', 'svc-a', [a.port]));
    api.create(ingress('web', [{ path: '/', service: 'svc-a' }]));
  });

  afterAll(async () => {
    for (const p of procs) await p.stop('SIGKILL');
    await Promise.all([a?.close(), b?.close(), a2?.close()]);
    await api?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('becomes ready after syncing and routes what the API holds', async () => {
    const p = await start();
    const r = await get(p.httpPort, '/hello', { host: 'shop.test' });
    expect(r.status).toBe(200);
    expect(r.body).toBe('a /hello\n');
  });

  it('/readyz says what is not read yet (and ?verbose lists every check as JSON) until the API answers', async () => {
    api.failNext(1_000_000, 500, { pathPrefix: '/apis/discovery.k8s.io/v1/endpointslices', watch: false });
    let p: PorticoProcess | undefined;
    try {
      p = await startPorticoProcess(['--kubeconfig', kubeconfig, '--access-log', 'false', '--update-status', 'false'], { POD_NAMESPACE: 'portico', POD_NAME: 'portico-unsynced' }, 15_000, ['health']);
      const proc = p; // not in procs: the leader test below counts on procs[0] and POD_NAME portico-<index>
      // every other kind is read; EndpointSlices keep failing
      const expected = 'not ready: sync: not read in full yet: endpointslices; config: the first configuration is not serving yet\n';
      await waitFor('only EndpointSlices unread', async () => (await get(proc.healthPort, '/readyz')).body === expected, 10_000);
      expect((await get(p.healthPort, '/readyz')).status).toBe(503);
      const verbose = await get(p.healthPort, '/readyz?verbose');
      expect(verbose.status).toBe(503);
      expect(verbose.headers['content-type']).toBe('application/json');
      const report = JSON.parse(verbose.body) as { ready: boolean; checks: { name: string; ok: boolean; message: string }[] };
      expect(report.ready).toBe(false);
      expect(report.checks.map((c) => c.name)).toEqual(['sync', 'config', 'shutdown']);
      expect(report.checks[0]).toEqual({ name: 'sync', ok: false, message: 'not read in full yet: endpointslices' });
      expect(report.checks[2]).toEqual({ name: 'shutdown', ok: true, message: '' });
      api.clearFailures();
      await waitFor('readyz after the API recovered', async () => (await get(proc.healthPort, '/readyz')).status === 200, 20_000);
      const ok = JSON.parse((await get(p.healthPort, '/readyz?verbose')).body) as { ready: boolean; checks: { ok: boolean }[] };
      expect(ok.ready).toBe(true);
      expect(ok.checks.every((c) => c.ok)).toBe(true);
    } finally {
      api.clearFailures();
      // SIGTERM releases its Lease: the leader-election test below starts from a free one
      await p?.stop('SIGTERM');
    }
  });

  it('applies Ingress, Service and EndpointSlice changes while requests flow, with zero failures', async () => {
    const p = procs[0]!;
    const failures: string[] = [];
    let sent = 0;
    let running = true;
    const deadline = Date.now() + 20_000;
    const loops = Array.from({ length: 4 }, async () => {
      while (running && Date.now() < deadline && sent < 50_000) {
        sent++;
        try {
          const r = await get(p.httpPort, '/steady', { host: 'shop.test' });
          if (r.status !== 200) failures.push(`${r.status} ${r.body.trim()}`);
        } catch (err) {
          failures.push(String(err));
        }
      }
    });

    // a new Service and a new path
    api.create(service('svc-b'));
    api.create(slice('svc-b-1', 'svc-b', [b.port]));
    const t0 = Date.now();
    api.update({ ...ingress('web', [{ path: '/', service: 'svc-a' }, { path: '/b', service: 'svc-b' }]), metadata: { name: 'web', namespace: 'shop' } });
    await waitFor('route /b', async () => (await get(p.httpPort, '/b', { host: 'shop.test' })).body === 'b /b\n', 2000, 5);
    const applyMs = Date.now() - t0;

    // pods move: the slice of svc-a now points at a2 (a new pod first, then the old one goes)
    api.create(slice('svc-a-2', 'svc-a', [a2.port]));
    api.delete('EndpointSlice', 'shop', 'svc-a-1');
    await waitFor('traffic on the new pod', async () => (await get(p.httpPort, '/', { host: 'shop.test' })).body.startsWith('a2 '), 2000, 5);

    // a second Ingress on another host, then deleted
    api.create(ingress('other', [{ path: '/', service: 'svc-b' }], 'other.test'));
    await waitFor('other host', async () => (await get(p.httpPort, '/', { host: 'other.test' })).status === 200, 2000, 5);
    api.delete('Ingress', 'shop', 'other');
    await waitFor('other host gone', async () => (await get(p.httpPort, '/', { host: 'other.test' })).status === 404, 2000, 5);

    // an API outage: the last configuration keeps serving
    const failedBefore = p.logs.filter((l) => String(l.msg).startsWith('watch failed')).length;
    await api.stop();
    await waitFor('Portico to notice the outage', () => p.logs.filter((l) => String(l.msg).startsWith('watch failed')).length > failedBefore, 5000);
    expect((await get(p.httpPort, '/b', { host: 'shop.test' })).body).toBe('b /b\n');
    const sentAtOutage = sent;
    await waitFor('traffic to flow during the outage', () => sent >= sentAtOutage + 50, 5000);
    await api.restart();

    running = false;
    await Promise.all(loops);
    expect(sent).toBeGreaterThan(50);
    expect(failures).toEqual([]);
    expect(applyMs).toBeLessThan(1000);
  });

  it('the leader publishes Ingress status; when it is killed the other replica takes over', async () => {
    const first = procs[0]!;
    const second = await start();
    await waitFor(
      'status on web',
      () => JSON.stringify(api.get('Ingress', 'shop', 'web')?.status ?? {}).includes('203.0.113.10'),
      5000,
    );
    // Which one leads? The Lease says.
    const holder = () => (api.get('Lease', 'portico', 'portico-leader') as unknown as { spec?: { holderIdentity?: string } } | undefined)?.spec?.holderIdentity ?? '';
    await waitFor('a lease holder', () => holder() !== '', 5000);
    const leader = holder().startsWith('portico-0_') ? first : second;
    const follower = leader === first ? second : first;

    await leader.stop('SIGKILL');
    // A new Ingress appears after the leader died: the follower must take over (lease 15 s) and publish.
    api.create(ingress('late', [{ path: '/late', service: 'svc-b' }], 'late.test'));
    await waitFor(
      'status on the late Ingress from the new leader',
      () => JSON.stringify(api.get('Ingress', 'shop', 'late')?.status ?? {}).includes('203.0.113.10'),
      25_000,
      100,
    );
    expect(holder().startsWith(follower === first ? 'portico-0_' : 'portico-1_')).toBe(true);
    expect((await get(follower.httpPort, '/late', { host: 'late.test' })).body).toBe('b /late\n');
  }, 40_000);

  it('an Ingress whose Service is missing gets a Warning Event, and the rest keep routing', async () => {
    api.create(ingress('broken', [{ path: '/', service: 'does-not-exist' }], 'broken.test'));
    await waitFor(
      'a ServiceNotFound event',
      () => api.list('Event', 'shop').some((e) => JSON.stringify(e).includes('broken') && JSON.stringify(e).includes('Warning')),
      20_000,
      100,
    );
    const alive = procs.find((p) => p.child.exitCode === null && p.child.signalCode === null)!;
    expect((await get(alive.httpPort, '/', { host: 'broken.test' })).status).toBe(503);
    expect((await get(alive.httpPort, '/b', { host: 'shop.test' })).status).toBe(200);
  }, 30_000);

  it('a new Ingress gets a Normal Sync event naming the hosts it serves', async () => {
    api.create(ingress('fresh', [{ path: '/', service: 'svc-a' }], 'fresh.test'));
    const sync = await waitFor(
      'a Normal Sync event on shop/fresh',
      () =>
        api.list('Event', 'shop').find((e) => {
          const ev = e as { type?: string; reason?: string; involvedObject?: { name?: string } };
          return ev.type === 'Normal' && ev.reason === 'Sync' && ev.involvedObject?.name === 'fresh';
        }),
      20_000,
      100,
    );
    expect((sync as { message?: string }).message).toBe('Configuration applied: serving fresh.test');
  }, 30_000);

  it('an Ingress with an access control Portico cannot enforce gets Warning Events and answers 503', async () => {
    const guarded = ingress('guarded', [{ path: '/', service: 'svc-a' }], 'guarded.test');
    (guarded.metadata as Record<string, unknown>).annotations = { 'nginx.ingress.kubernetes.io/auth-snippet': 'proxy_set_header X-Team a;' };
    api.create(guarded);
    const events = await waitFor(
      'UnsupportedAnnotation and AccessControlNotEnforced events',
      () => {
        const mine = api.list('Event', 'shop').filter((e) => JSON.stringify(e).includes('"guarded"'));
        const reasons = new Set(mine.map((e) => (e as { reason?: string }).reason));
        return reasons.has('UnsupportedAnnotation') && reasons.has('AccessControlNotEnforced') ? mine : null;
      },
      20_000,
      100,
    );
    // the problems are Warnings; the Ingress is still ours and served (503), so it also gets a Normal Sync
    expect(events!.filter((e) => (e as { reason?: string }).reason !== 'Sync').every((e) => (e as { type?: string }).type === 'Warning')).toBe(true);
    const alive = procs.find((p) => p.child.exitCode === null && p.child.signalCode === null)!;
    expect((await get(alive.httpPort, '/', { host: 'guarded.test' })).status).toBe(503);
  }, 30_000);

  it('enforced access controls: an allow-list answers 403; basic auth reads an Opaque Secret from the API and follows its changes', async () => {
    const lan = ingress('lan', [{ path: '/', service: 'svc-a' }], 'lan.test');
    (lan.metadata as Record<string, unknown>).annotations = { 'nginx.ingress.kubernetes.io/whitelist-source-range': '10.0.0.0/8' };
    api.create(lan);
    const locked = ingress('locked', [{ path: '/', service: 'svc-a' }], 'locked.test');
    (locked.metadata as Record<string, unknown>).annotations = { 'nginx.ingress.kubernetes.io/auth-type': 'basic', 'nginx.ingress.kubernetes.io/auth-secret': 'users' };
    api.create(locked);
    const alive = procs.find((p) => p.child.exitCode === null && p.child.signalCode === null)!;
    await waitFor('403 from the allow-list', async () => (await get(alive.httpPort, '/', { host: 'lan.test' })).status === 403, 20_000, 100);
    // no Secret yet: fail closed
    await waitFor('503 without the Secret', async () => (await get(alive.httpPort, '/', { host: 'locked.test' })).status === 503, 20_000, 100);
    const sha = '{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ='; // "secret"
    const secret = (file: string) => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'users', namespace: 'shop' },
      type: 'Opaque',
      data: { auth: Buffer.from(file).toString('base64') },
    });
    api.create(secret(`alice:${sha}\n`));
    const as = (user: string) => ({ host: 'locked.test', authorization: 'Basic ' + Buffer.from(`${user}:secret`).toString('base64') });
    await waitFor('alice let in', async () => (await get(alive.httpPort, '/', as('alice'))).status === 200, 20_000, 100);
    const denied = await get(alive.httpPort, '/', { host: 'locked.test' });
    expect(denied.status).toBe(401);
    expect(denied.headers['www-authenticate']).toBe('Basic realm=""');
    api.update(secret(`bob:${sha}\n`));
    await waitFor('bob let in', async () => (await get(alive.httpPort, '/', as('bob'))).status === 200, 20_000, 100);
    expect((await get(alive.httpPort, '/', as('alice'))).status).toBe(401);
  }, 60_000);
});
