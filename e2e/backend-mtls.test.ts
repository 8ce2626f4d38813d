// proxy-ssl-secret through the built program (file mode): an HTTPS backend that requires a
// client certificate from its own CA gets Portico's, from the Secret; its certificate is
// verified against the Secret's ca.crt; a rotated Secret is used for new connections; a
// missing Secret answers 503. Certificates come from the openssl binary (scripts/ensure-test-deps.sh).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { get, startPorticoProcess, waitFor, type PorticoProcess } from './harness.ts';
import { annotatedIngressYaml, INGRESS_CLASS_YAML } from './manifests.ts';

const N = 'nginx.ingress.kubernetes.io/';

/** A CA and leaf certificates signed by it, made with openssl in `dir`. */
function pki(dir: string): { ca: string; leaf(name: string, usage: 'serverAuth' | 'clientAuth', dns?: string): { cert: string; key: string } } {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=Backend Test CA');
  return {
    ca: readFileSync(path.join(dir, 'ca.crt'), 'utf8'),
    leaf(name, usage, dns) {
      writeFileSync(path.join(dir, `${name}.ext`), `extendedKeyUsage=${usage}\n${dns ? `subjectAltName=DNS:${dns}\n` : ''}`);
      run('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
      run('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`);
      return { cert: readFileSync(path.join(dir, `${name}.crt`), 'utf8'), key: readFileSync(path.join(dir, `${name}.key`), 'utf8') };
    },
  };
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

function secretYaml(name: string, data: Record<string, string>): string {
  return `apiVersion: v1
kind: Secret
metadata: { name: ${name}, namespace: e2e }
type: kubernetes.io/tls
data: { ${Object.entries(data).map(([k, v]) => `"${k}": ${b64(v)}`).join(', ')} }
`;
}

describe('proxy-ssl-secret (built program)', () => {
  let dir: string;
  let backend: https.Server;
  let portico: PorticoProcess;
  let certs: ReturnType<typeof pki>;
  let client: { cert: string; key: string };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'portico-backend-mtls-e2e-'));
    certs = pki(dir);
    const server = certs.leaf('backend.test', 'serverAuth', 'backend.test');
    client = certs.leaf('portico-client', 'clientAuth');
    backend = https.createServer({ cert: server.cert, key: server.key, ca: certs.ca, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      res.end(`client ${(req.socket as TLSSocket).getPeerCertificate().subject.CN}\n`);
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
    const port = (backend.address() as AddressInfo).port;
    const service = `apiVersion: v1
kind: Service
metadata: { name: secure, namespace: e2e }
spec: { ports: [{ name: https, port: 443 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: secure-1, namespace: e2e, labels: { kubernetes.io/service-name: secure } }
addressType: IPv4
ports: [{ name: https, port: ${port} }]
endpoints: [{ addresses: ["127.0.0.1"], conditions: { ready: true } }]
`;
    const tlsAnnotations = { [N + 'backend-protocol']: 'HTTPS', [N + 'proxy-ssl-verify']: 'on', [N + 'proxy-ssl-name']: 'backend.test' };
    const ing = (name: string, extra: Record<string, string>) =>
      annotatedIngressYaml({ name, host: `${name}.test`, annotations: { ...tlsAnnotations, ...extra }, paths: [{ path: '/', service: 'secure' }] }).replace('port: { number: 80 }', 'port: { number: 443 }');
    writeFileSync(
      path.join(dir, 'app.yaml'),
      [
        INGRESS_CLASS_YAML,
        service,
        ing('mtls', { [N + 'proxy-ssl-secret']: 'backend-client' }),
        ing('nocert', {}),
        ing('missing', { [N + 'proxy-ssl-secret']: 'nowhere' }),
      ].join('---\n'),
    );
    writeFileSync(path.join(dir, 'secret.yaml'), secretYaml('backend-client', { 'tls.crt': client.cert, 'tls.key': client.key, 'ca.crt': certs.ca }));
    portico = await startPorticoProcess(['--manifests', dir, '--access-log', 'false']);
    await waitFor('readyz', async () => (await get(portico.healthPort, '/readyz')).status === 200, 10_000);
  });

  afterAll(async () => {
    await portico?.stop('SIGKILL');
    backend?.closeAllConnections();
    await new Promise<void>((r) => (backend ? backend.close(() => r()) : r()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('presents the Secret\'s client certificate and verifies the backend against its ca.crt', async () => {
    const r = await get(portico.httpPort, '/', { host: 'mtls.test' });
    expect(r.status).toBe(200);
    expect(r.body).toBe('client portico-client\n');
  });

  it('without proxy-ssl-secret the backend refuses the handshake (502); a missing Secret answers 503', async () => {
    expect((await get(portico.httpPort, '/', { host: 'nocert.test' })).status).toBe(502);
    const missing = await get(portico.httpPort, '/', { host: 'missing.test' });
    expect(missing.status).toBe(503);
    expect(missing.body).toContain('proxy-ssl-secret');
  });

  it('a rotated Secret is presented on new connections; key material never reaches the logs', async () => {
    const next = certs.leaf('portico-client-2', 'clientAuth');
    writeFileSync(path.join(dir, 'secret.yaml'), secretYaml('backend-client', { 'tls.crt': next.cert, 'tls.key': next.key, 'ca.crt': certs.ca }));
    await waitFor('the new client certificate', async () => (await get(portico.httpPort, '/', { host: 'mtls.test' })).body === 'client portico-client-2\n', 10_000);
    const logs = JSON.stringify(portico.logs);
    expect(logs).not.toContain('PRIVATE KEY');
    expect(logs).not.toContain(b64(client.key).slice(0, 40));
  });
});
