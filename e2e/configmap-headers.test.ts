// ConfigMaps named by ingress-nginx annotations, through the built program: custom-headers
// (response headers, as more_set_headers) and auth-proxy-set-headers (headers of the
// external-auth subrequest). In file mode from the manifests directory, and in Kubernetes
// mode against the fake API server, where a ConfigMap edit reaches responses without a
// restart. A missing ConfigMap fails closed (503), as in ingress-nginx's e2e test
// (test/e2e/annotations/customheaders.go).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FakeApiServer } from '../test/fake-apiserver/index.ts';
import { get, startNamedBackend, startPorticoProcess, waitFor, type PorticoProcess } from './harness.ts';
import { annotatedIngressYaml, INGRESS_CLASS_YAML, serviceYaml, writeAtomically } from './manifests.ts';

type Backend = Awaited<ReturnType<typeof startNamedBackend>>;
const N = 'nginx.ingress.kubernetes.io/';

/** An auth service that lets every request through and records the headers it was sent. */
async function startAuthService(): Promise<{ port: number; seen: http.IncomingHttpHeaders[]; close(): Promise<void> }> {
  const seen: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(200).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

function configMapYaml(name: string, data: Record<string, string>): string {
  const lines = Object.entries(data).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`);
  return `apiVersion: v1
kind: ConfigMap
metadata: { name: ${name}, namespace: e2e }
${lines.length === 0 ? '' : `data:\n${lines.join('\n')}\n`}`;
}

describe('ConfigMap headers (built program, file mode)', () => {
  let dir: string;
  let app: Backend;
  let auth: Awaited<ReturnType<typeof startAuthService>>;
  let portico: PorticoProcess;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'portico-configmap-e2e-'));
    app = await startNamedBackend('app');
    auth = await startAuthService();
    const authUrl = `http://127.0.0.1:${auth.port}/check`;
    writeFileSync(path.join(dir, 'class.yaml'), INGRESS_CLASS_YAML);
    writeFileSync(path.join(dir, 'services.yaml'), serviceYaml('app', [app.port]));
    writeFileSync(path.join(dir, 'headers.yaml'), configMapYaml('security-headers', { 'X-Frame-Options': 'DENY', 'My-Custom-Header-Dollar': '$remote_addr', 'Content-Type': 'text/x-custom' }));
    writeFileSync(path.join(dir, 'auth-headers.yaml'), configMapYaml('auth-headers', { 'X-Tenant': 'e2e', 'X-Strip': '' }));
    const ingresses = [
      annotatedIngressYaml({ name: 'headers', host: 'headers.test', annotations: { [N + 'custom-headers']: 'e2e/security-headers' }, paths: [{ path: '/', service: 'app' }] }),
      annotatedIngressYaml({ name: 'missing', host: 'missing.test', annotations: { [N + 'custom-headers']: 'e2e/nope' }, paths: [{ path: '/', service: 'app' }] }),
      annotatedIngressYaml({ name: 'plain', host: 'plain.test', annotations: {}, paths: [{ path: '/', service: 'app' }] }),
      annotatedIngressYaml({ name: 'auth', host: 'auth.test', annotations: { [N + 'auth-url']: authUrl, [N + 'auth-proxy-set-headers']: 'e2e/auth-headers' }, paths: [{ path: '/', service: 'app' }] }),
      annotatedIngressYaml({ name: 'auth-missing', host: 'auth-missing.test', annotations: { [N + 'auth-url']: authUrl, [N + 'auth-proxy-set-headers']: 'e2e/nope' }, paths: [{ path: '/', service: 'app' }] }),
    ];
    writeFileSync(path.join(dir, 'ingresses.yaml'), ingresses.join('---\n'));
    portico = await startPorticoProcess(['--manifests', dir, '--access-log', 'false']);
    await waitFor('headers.test served', async () => (await get(portico.httpPort, '/', { host: 'headers.test' })).status === 200, 10_000);
  });

  afterAll(async () => {
    await portico?.stop('SIGKILL');
    await Promise.all([app?.close(), auth?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('custom-headers: the ConfigMap\'s headers on every response, replacing the backend\'s, "$" literal', async () => {
    const r = await get(portico.httpPort, '/x', { host: 'headers.test' });
    expect(r.status).toBe(200);
    expect(r.body).toBe('app /x\n');
    expect(r.headers['x-frame-options']).toBe('DENY');
    expect(r.headers['my-custom-header-dollar']).toBe('$remote_addr');
    expect(r.headers['content-type']).toBe('text/x-custom'); // the backend's text/plain replaced
    const plain = await get(portico.httpPort, '/', { host: 'plain.test' });
    expect(plain.status).toBe(200);
    expect(plain.headers['x-frame-options']).toBeUndefined();
  });

  it('a missing ConfigMap: 503 (as ingress-nginx), a problem in the log, the backend never reached', async () => {
    const hits = app.hits;
    const r = await get(portico.httpPort, '/', { host: 'missing.test' });
    expect(r.status).toBe(503);
    expect(app.hits).toBe(hits);
    await waitFor('problem logged', () => portico.logs.some((l) => JSON.stringify(l).includes('ConfigMap \\"e2e/nope\\" was not found')), 5000);
  });

  it('auth-proxy-set-headers: the auth service gets the ConfigMap\'s headers, not the client\'s; a missing one: 503', async () => {
    const before = auth.seen.length;
    const r = await get(portico.httpPort, '/', { host: 'auth.test', 'x-tenant': 'mallory', 'x-strip': 'client' });
    expect(r.status).toBe(200);
    expect(auth.seen.length).toBe(before + 1);
    const sent = auth.seen[before]!;
    expect(sent['x-tenant']).toBe('e2e');
    expect(sent['x-strip']).toBeUndefined();
    const missing = await get(portico.httpPort, '/', { host: 'auth-missing.test' });
    expect(missing.status).toBe(503);
    expect(auth.seen.length).toBe(before + 1);
  });

  it('an edited ConfigMap file reaches responses without a restart; creating the missing one opens its Ingress', async () => {
    writeAtomically(path.join(dir, 'headers.yaml'), configMapYaml('security-headers', { 'X-Frame-Options': 'SAMEORIGIN' }));
    await waitFor('new header value', async () => (await get(portico.httpPort, '/', { host: 'headers.test' })).headers['x-frame-options'] === 'SAMEORIGIN', 10_000);
    const r = await get(portico.httpPort, '/', { host: 'headers.test' });
    expect(r.headers['my-custom-header-dollar']).toBeUndefined();
    expect(r.headers['content-type']).toBe('text/plain');
    writeFileSync(path.join(dir, 'nope.yaml'), configMapYaml('nope', { 'X-Now': 'here' }));
    await waitFor('missing.test served', async () => (await get(portico.httpPort, '/', { host: 'missing.test' })).status === 200, 10_000);
    expect((await get(portico.httpPort, '/', { host: 'missing.test' })).headers['x-now']).toBe('here');
  });
});

describe('ConfigMap headers (built program, Kubernetes mode)', () => {
  let api: FakeApiServer;
  let dir: string;
  let app: Backend;
  let portico: PorticoProcess;

  const configMap = (data: Record<string, string>) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'security-headers', namespace: 'shop' }, data });

  beforeAll(async () => {
    api = await FakeApiServer.start({ token: 'e2e-token' });
    dir = mkdtempSync(path.join(tmpdir(), 'portico-configmap-k8s-e2e-'));
    const kubeconfig = api.writeKubeconfig(dir);
    app = await startNamedBackend('app');
    api.create({ apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: 'portico' }, spec: { controller: 'portico.dev/ingress-controller' } });
    api.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'app', namespace: 'shop' }, spec: { ports: [{ name: 'http', port: 80 }] } });
    api.create({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'app-1', namespace: 'shop', labels: { 'kubernetes.io/service-name': 'app' } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: app.port }],
      endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
    });
    api.create(configMap({ 'X-Frame-Options': 'DENY' }));
    api.create({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'web', namespace: 'shop', annotations: { [N + 'custom-headers']: 'shop/security-headers' } },
      spec: { ingressClassName: 'portico', rules: [{ host: 'shop.test', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'app', port: { number: 80 } } } }] } }] },
    });
    portico = await startPorticoProcess(['--kubeconfig', kubeconfig, '--access-log', 'false', '--update-status', 'false'], { POD_NAMESPACE: 'portico', POD_NAME: 'portico-configmap' });
    await waitFor('readyz', async () => (await get(portico.healthPort, '/readyz')).status === 200, 10_000);
  });

  afterAll(async () => {
    await portico?.stop('SIGKILL');
    await app?.close();
    await api?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a ConfigMap change reaches responses without a restart; deleting it closes the Ingress (503), creating it again opens it', async () => {
    const first = await get(portico.httpPort, '/', { host: 'shop.test' });
    expect(first.status).toBe(200);
    expect(first.headers['x-frame-options']).toBe('DENY');

    api.update(configMap({ 'X-Frame-Options': 'SAMEORIGIN', 'X-Added': 'yes' }));
    await waitFor('updated header', async () => (await get(portico.httpPort, '/', { host: 'shop.test' })).headers['x-frame-options'] === 'SAMEORIGIN', 10_000);
    expect((await get(portico.httpPort, '/', { host: 'shop.test' })).headers['x-added']).toBe('yes');

    api.delete('ConfigMap', 'shop', 'security-headers');
    await waitFor('503 once the ConfigMap is gone', async () => (await get(portico.httpPort, '/', { host: 'shop.test' })).status === 503, 10_000);

    api.create(configMap({ 'X-Frame-Options': 'DENY' }));
    await waitFor('served again', async () => (await get(portico.httpPort, '/', { host: 'shop.test' })).status === 200, 10_000);
    expect((await get(portico.httpPort, '/', { host: 'shop.test' })).headers['x-frame-options']).toBe('DENY');
    expect(portico.child.exitCode).toBeNull(); // the same process throughout
  });
});
