// The built program next to ingress-nginx, as the README's "Side-by-side migration" runs it:
// ingress-nginx's controller name and class, class-less Ingresses too, and no status writes,
// so the status ingress-nginx published (which external-dns follows) stays as it is.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FakeApiServer } from '../test/fake-apiserver/index.ts';
import { get, startNamedBackend, startPorticoProcess, waitFor, type PorticoProcess } from './harness.ts';

const THEIR_STATUS = { loadBalancer: { ingress: [{ ip: '198.51.100.1' }] } };

function ingress(name: string, className: string | null, service: string) {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name, namespace: 'shop' },
    spec: {
      ...(className === null ? {} : { ingressClassName: className }),
      rules: [{ host: `${name}.test`, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: service, port: { number: 80 } } } }] } }],
    },
  };
}

describe('side by side with ingress-nginx (built program, fake API server)', () => {
  let api: FakeApiServer;
  let dir: string;
  let backend: Awaited<ReturnType<typeof startNamedBackend>>;
  let portico: PorticoProcess | undefined;

  beforeAll(async () => {
    api = await FakeApiServer.start({ token: 'side-token' });
    dir = mkdtempSync(path.join(tmpdir(), 'portico-side-by-side-'));
    backend = await startNamedBackend('app');
    api.create({ apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: 'nginx' }, spec: { controller: 'k8s.io/ingress-nginx' } });
    api.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'app', namespace: 'shop' }, spec: { ports: [{ name: 'http', port: 80 }] } });
    api.create({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'app-1', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'app' } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: backend.port }],
      endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
    });
    // ingress-nginx's Ingresses, with the status it published
    for (const ing of [ingress('named', 'nginx', 'app'), ingress('bare', null, 'app')]) {
      const created = api.create(ing);
      api.updateStatus({ ...created, status: THEIR_STATUS });
    }
  });

  afterAll(async () => {
    await portico?.stop('SIGKILL');
    await backend?.close();
    await api?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves ingress-nginx\'s Ingresses, class-less ones included, and never touches their status', async () => {
    portico = await startPorticoProcess(
      [
        '--kubeconfig', api.writeKubeconfig(dir),
        '--controller-name', 'k8s.io/ingress-nginx', '--ingress-class', 'nginx', '--watch-ingress-without-class', '--update-status=false',
        '--publish-status-address', '203.0.113.10', '--access-log', 'false',
      ],
      { POD_NAMESPACE: 'portico', POD_NAME: 'portico-side' },
    );
    await waitFor('readyz', async () => (await get(portico!.healthPort, '/readyz')).status === 200, 10_000);
    expect((await get(portico.httpPort, '/x', { host: 'named.test' })).body).toBe('app /x\n');
    expect((await get(portico.httpPort, '/y', { host: 'bare.test' })).body).toBe('app /y\n');

    // It leads (Events are the leader's work) ...
    const holder = () => (api.get('Lease', 'portico', 'portico-leader') as unknown as { spec?: { holderIdentity?: string } } | undefined)?.spec?.holderIdentity ?? '';
    await waitFor('the Lease', () => holder().startsWith('portico-side_'), 10_000);
    // ... and has run the leader's passes: a problem on a new Ingress becomes an Event. The same
    // throttled pass would have written status (see src/cluster/publisher.ts requestSync).
    api.create(ingress('broken', null, 'missing'));
    await waitFor(
      'a ServiceNotFound event for the new Ingress',
      () => api.list('Event', 'shop').some((e) => JSON.stringify(e).includes('"broken"') && JSON.stringify(e).includes('ServiceNotFound')),
      20_000,
      50,
    );
    expect(api.requestCount((r) => r.method !== 'GET' && r.path.includes('/ingresses/'))).toBe(0);
    for (const name of ['named', 'bare']) expect(api.get('Ingress', 'shop', name)?.status, name).toEqual(THEIR_STATUS);
    expect(api.get('Ingress', 'shop', 'broken')?.status ?? {}).not.toMatchObject({ loadBalancer: { ingress: [{ ip: '203.0.113.10' }] } });
  }, 40_000);
});
