// --backend-ca-file through the built program (file mode): a backend whose certificate comes
// from a private CA is verified (portico.dev/backend-tls-verify) only when that CA is given;
// a bad file stops the program before it serves, naming the flag.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import https from 'node:https';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { spawnSync } from 'node:child_process';
import { generateSelfSigned } from '../src/tls/default-certificate.ts';
import { CLI, get, startPorticoProcess, waitFor, type PorticoProcess } from './harness.ts';

/** IngressClass, Service e2e/secure with one endpoint, and an Ingress verifying it as backend.test. */
function manifests(backendPort: number): string {
  return `apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: { name: portico }
spec: { controller: portico.dev/ingress-controller }
---
apiVersion: v1
kind: Service
metadata: { name: secure, namespace: e2e }
spec: { ports: [{ name: https, port: 443 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: secure-1, namespace: e2e, labels: { kubernetes.io/service-name: secure } }
addressType: IPv4
ports: [{ name: https, port: ${backendPort} }]
endpoints: [{ addresses: ["127.0.0.1"], conditions: { ready: true } }]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: secure
  namespace: e2e
  annotations:
    portico.dev/backend-protocol: HTTPS
    portico.dev/backend-tls-verify: "true"
    portico.dev/backend-tls-server-name: backend.test
spec:
  ingressClassName: portico
  rules:
    - host: ca.test
      http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: secure, port: { number: 443 } } } }] }
`;
}

describe('--backend-ca-file (built program)', () => {
  let dir: string;
  let caFile: string;
  let backend: https.Server;
  const started: PorticoProcess[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'portico-backend-ca-e2e-'));
    // Self-signed: the certificate is its own (private) CA, unknown to the system store.
    const cert = await generateSelfSigned({ commonName: 'backend.test', dnsNames: ['backend.test'] });
    caFile = path.join(dir, 'ca.crt');
    writeFileSync(caFile, cert.certPem);
    backend = https.createServer({ cert: cert.certPem, key: cert.keyPem }, (_req, res) => res.end('verified backend'));
    backend.listen(0, '127.0.0.1');
    await once(backend, 'listening');
    mkdirSync(path.join(dir, 'manifests'));
    writeFileSync(path.join(dir, 'manifests', 'app.yaml'), manifests((backend.address() as AddressInfo).port));
  });

  afterAll(async () => {
    await Promise.all(started.map((p) => p.stop('SIGKILL')));
    backend?.close();
    backend?.closeAllConnections();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(args: string[]): Promise<PorticoProcess> {
    const p = await startPorticoProcess(['--manifests', path.join(dir, 'manifests'), '--access-log', 'false', ...args]);
    started.push(p);
    await waitFor('readyz', async () => (await get(p.healthPort, '/readyz')).status === 200, 10_000);
    // Ready means the configuration is loaded: the route exists, so no 404 from here on.
    return p;
  }

  it('with the CA (in a worker process, which gets it with the settings): 200 from the verified backend', async () => {
    const p = await start(['--backend-ca-file', caFile, '--workers', '1']);
    const r = await get(p.httpPort, '/', { host: 'ca.test' });
    expect(r.body).toBe('verified backend');
    expect(r.status).toBe(200);
  });

  it('without it: the same backend fails verification (502)', async () => {
    const p = await start([]);
    const r = await get(p.httpPort, '/', { host: 'ca.test' });
    expect(r.status).toBe(502);
  });

  it('a missing file or one without a certificate: exit 2 before serving, naming the flag', () => {
    const notPem = path.join(dir, 'not.pem');
    writeFileSync(notPem, 'hello\n');
    for (const file of [path.join(dir, 'missing.crt'), notPem]) {
      const r = spawnSync(process.execPath, [CLI, '--manifests', path.join(dir, 'manifests'), '--backend-ca-file', file], { encoding: 'utf8', timeout: 10_000 });
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/^portico: --backend-ca-file: /);
      expect(r.stderr).toContain(file);
    }
    const viaEnv = spawnSync(process.execPath, [CLI, '--manifests', path.join(dir, 'manifests')], { encoding: 'utf8', timeout: 10_000, env: { ...process.env, PORTICO_BACKEND_CA_FILE: notPem } });
    expect(viaEnv.status, viaEnv.stderr).toBe(2);
    expect(viaEnv.stderr).toContain('--backend-ca-file');
  });
});
