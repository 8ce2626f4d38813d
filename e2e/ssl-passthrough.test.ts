// ssl-passthrough through the built program (file mode): an HTTPS backend with its own
// certificate behind an Ingress with the annotation. With --enable-ssl-passthrough the client
// sees the backend's certificate through Portico's HTTPS port while another host on that port
// gets Portico's, in one process and with --workers 2; connections are counted in /metrics.
// Without the flag the annotation is a problem naming the flag, and the host is terminated by
// Portico and proxied to the backend over HTTPS (as ingress-nginx without its flag).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { generateSelfSigned } from '../src/tls/default-certificate.ts';
import { get, startNamedBackend, startPorticoProcess, waitFor, type PorticoProcess } from './harness.ts';
import { annotatedIngressYaml, INGRESS_CLASS_YAML, serviceYaml, tlsSecretYaml } from './manifests.ts';

const N = 'nginx.ingress.kubernetes.io/';

/** An HTTPS GET through Portico's HTTPS port: the certificate's CN and the body. */
function httpsGet(port: number, servername: string, timeoutMs = 5000): Promise<{ cn: string; status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: '/', servername, headers: { host: servername }, rejectUnauthorized: false, agent: false, timeout: timeoutMs }, (res) => {
      const cn = String((res.socket as TLSSocket).getPeerCertificate().subject?.CN ?? '');
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ cn, status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${servername} within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

describe('ssl-passthrough (built program)', () => {
  let dir: string;
  let backend: https.Server;
  let app: Awaited<ReturnType<typeof startNamedBackend>>;
  const processes: PorticoProcess[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'portico-ssl-passthrough-e2e-'));
    const own = await generateSelfSigned({ commonName: 'argo-backend', dnsNames: ['argo.test'] });
    backend = https.createServer({ cert: own.certPem, key: own.keyPem }, (req, res) => res.end(`argo backend ${req.headers.host ?? ''}\n`));
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
    const backendPort = (backend.address() as AddressInfo).port;
    app = await startNamedBackend('app');
    const appCert = await generateSelfSigned({ commonName: 'portico-app', dnsNames: ['app.test'] });
    const argoService = `apiVersion: v1
kind: Service
metadata: { name: argocd-server, namespace: e2e }
spec: { ports: [{ name: https, port: 443 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: argocd-server-1, namespace: e2e, labels: { kubernetes.io/service-name: argocd-server } }
addressType: IPv4
ports: [{ name: https, port: ${backendPort} }]
endpoints: [{ addresses: ["127.0.0.1"], conditions: { ready: true } }]
`;
    const argo = annotatedIngressYaml({ name: 'argocd', host: 'argo.test', annotations: { [N + 'ssl-passthrough']: 'true' }, paths: [{ path: '/', service: 'argocd-server' }] }).replace(
      'port: { number: 80 }',
      'port: { name: https }',
    );
    const plain = annotatedIngressYaml({ name: 'app', host: 'app.test', annotations: {}, paths: [{ path: '/', service: 'app' }], tlsSecret: 'app-tls' });
    writeFileSync(path.join(dir, 'app.yaml'), [INGRESS_CLASS_YAML, argoService, serviceYaml('app', [app.port]), argo, plain, tlsSecretYaml('app-tls', appCert).replace('namespace: web', 'namespace: e2e')].join('---\n'));
  });

  afterAll(async () => {
    for (const p of processes) await p.stop('SIGKILL');
    backend?.closeAllConnections();
    await new Promise<void>((r) => (backend ? backend.close(() => r()) : r()));
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(args: string[]): Promise<PorticoProcess> {
    const p = await startPorticoProcess(['--manifests', dir, '--access-log', 'false', ...args]);
    processes.push(p);
    await waitFor('readyz', async () => (await get(p.healthPort, '/readyz')).status === 200, 10_000);
    return p;
  }

  async function passthroughCount(p: PorticoProcess): Promise<number> {
    const body = (await get(p.healthPort, '/metrics')).body;
    const m = /portico_ssl_passthrough_connections_total\{host="argo\.test",outcome="forwarded"\} (\d+)/.exec(body);
    return m === null ? 0 : Number(m[1]);
  }

  it("--enable-ssl-passthrough: the backend's own certificate for the passthrough host, Portico's for the other, counted", async () => {
    const p = await start(['--enable-ssl-passthrough']);
    const through = await httpsGet(p.httpsPort, 'argo.test');
    expect(through).toEqual({ cn: 'argo-backend', status: 200, body: 'argo backend argo.test\n' });
    const terminated = await httpsGet(p.httpsPort, 'app.test');
    expect(terminated.cn).toBe('portico-app');
    expect(terminated.status).toBe(200);
    expect(await passthroughCount(p)).toBe(1);
    // plain HTTP for the host still reaches Portico, which speaks HTTPS to the backend
    const plain = await get(p.httpPort, '/', { host: 'argo.test' });
    expect(plain.status).toBe(200);
    expect(plain.body).toBe('argo backend argo.test\n');
    expect(p.logs.some((l) => l.reason === 'UnsupportedAnnotation')).toBe(false);
    await p.stop();
  });

  it('--workers 2: every worker passes the host through', async () => {
    const p = await start(['--enable-ssl-passthrough', 'true', '--workers', '2']);
    for (let i = 0; i < 6; i++) expect((await httpsGet(p.httpsPort, 'argo.test')).cn).toBe('argo-backend');
    expect((await httpsGet(p.httpsPort, 'app.test')).cn).toBe('portico-app');
    // /metrics adds up the workers
    expect(await passthroughCount(p)).toBe(6);
    await p.stop();
  });

  it('without the flag: a problem naming it; the host is terminated and proxied to the backend over HTTPS', async () => {
    const p = await start([]);
    const r = await httpsGet(p.httpsPort, 'argo.test');
    expect(r.cn).not.toBe('argo-backend');
    expect(r.status).toBe(200);
    expect(r.body).toBe('argo backend argo.test\n');
    await waitFor('the problem in the logs', () => p.logs.some((l) => l.reason === 'UnsupportedAnnotation' && String(l.msg ?? l.message).includes('--enable-ssl-passthrough')));
    expect(await passthroughCount(p)).toBe(0);
    await p.stop();
  });
});
