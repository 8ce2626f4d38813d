// The fake API server's TLS mode: HTTPS with kube-apiserver's client-certificate authentication
// (--client-ca-file), alone and together with the bearer token, and the kubeconfigs it hands out.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import https from 'node:https';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { FakeApiServer } from './server.ts';
import type { RequestRecord } from './server.ts';
import { rawRequest, rawWatch, waitFor } from './helpers.ts';
import { createTestCa, type CertAndKey, type TestCa } from './certs.ts';

const UNAUTHORIZED = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 };
const SERVICES = '/api/v1/namespaces/default/services';

describe('fake-apiserver TLS mode (client certificates)', () => {
  let ca: TestCa;
  let other: TestCa;
  let alice: CertAndKey;
  let stranger: CertAndKey;
  let server: FakeApiServer;
  let withToken: FakeApiServer;
  const last = (s: FakeApiServer): RequestRecord => s.requests.at(-1)!;

  beforeAll(async () => {
    ca = await createTestCa();
    other = await createTestCa('someone-else');
    alice = await ca.issue({ commonName: 'alice', organizations: ['devs'], usage: 'client' });
    stranger = await other.issue({ commonName: 'alice', usage: 'client' });
    const serving = await ca.issueServer();
    const tls = { cert: serving.certPem, key: serving.keyPem, ca: ca.certPem, clientCA: ca.certPem };
    server = await FakeApiServer.start({ tls });
    withToken = await FakeApiServer.start({ tls, token: 'tls-token' });
  });
  afterAll(async () => {
    await server?.close();
    await withToken?.close();
  });

  it('serves https on 127.0.0.1; a client certificate signed by the client CA authenticates as its CN', async () => {
    expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const res = await rawRequest(server.url, SERVICES, { tls: { ca: ca.certPem, cert: alice.certPem, key: alice.keyPem } });
    expect(res.status).toBe(200);
    expect(last(server)).toMatchObject({ path: SERVICES, status: 200, auth: 'x509', user: 'alice', clientCertFingerprint: alice.fingerprint256 });
    const w = await rawWatch(server.url, `${SERVICES}?watch=true`, { tls: { ca: ca.certPem, cert: alice.certPem, key: alice.keyPem } });
    expect(w.status).toBe(200);
    expect(last(server)).toMatchObject({ watch: true, auth: 'x509', user: 'alice' });
    w.close();
  });

  it('no certificate, or one the client CA did not sign, or an expired one: 401 with a Status body', async () => {
    const none = await rawRequest(server.url, SERVICES, { tls: { ca: ca.certPem } });
    expect(none.status).toBe(401);
    expect(none.json).toEqual(UNAUTHORIZED);
    expect(last(server)).toMatchObject({ status: 401, auth: 'failed' });
    expect(last(server).clientCertFingerprint).toBeUndefined();

    const foreign = await rawRequest(server.url, SERVICES, { tls: { ca: ca.certPem, cert: stranger.certPem, key: stranger.keyPem } });
    expect(foreign.status).toBe(401);
    expect(last(server)).toMatchObject({ status: 401, auth: 'failed', clientCertFingerprint: stranger.fingerprint256 });
    expect(last(server).user).toBeUndefined();

    const old = await ca.issue({ commonName: 'alice', usage: 'client', notBefore: new Date(Date.now() - 7_200_000), notAfter: new Date(Date.now() - 3_600_000) });
    expect((await rawRequest(server.url, SERVICES, { tls: { ca: ca.certPem, cert: old.certPem, key: old.keyPem } })).status).toBe(401);

    // kube-apiserver accepts only client-auth certificates.
    const serverUsage = await ca.issue({ commonName: 'alice', usage: 'server' });
    expect((await rawRequest(server.url, SERVICES, { tls: { ca: ca.certPem, cert: serverUsage.certPem, key: serverUsage.keyPem } })).status).toBe(401);
  });

  it('checks the validity window per request: a keep-alive connection outlives its certificate', async () => {
    const notAfter = new Date(Math.floor(Date.now() / 1000) * 1000 + 2000);
    const brief = await ca.issue({ commonName: 'brief', usage: 'client', notAfter });
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: ca.certPem, cert: brief.certPem, key: brief.keyPem });
    const get = () =>
      new Promise<{ status: number; port: number }>((resolve, reject) => {
        const req = https.get(`${server.url}${SERVICES}`, { agent, timeout: 5000 }, (res) => {
          const port = res.socket.localPort ?? 0;
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, port }));
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', reject);
      });
    try {
      const first = await get();
      expect(first.status).toBe(200);
      await waitFor(() => Date.now() > notAfter.getTime() + 1000, 5000, 'the certificate to expire');
      const second = await get();
      expect(second.port).toBe(first.port); // the same connection
      expect(second.status).toBe(401);
    } finally {
      agent.destroy();
    }
  });

  it('public paths: anonymous without credentials, 401 with credentials that do not verify', async () => {
    expect((await rawRequest(server.url, '/healthz', { tls: { ca: ca.certPem } })).status).toBe(200);
    expect(last(server)).toMatchObject({ auth: 'anonymous', user: 'system:anonymous' });
    expect((await rawRequest(server.url, '/version', { tls: { ca: ca.certPem, cert: alice.certPem, key: alice.keyPem } })).status).toBe(200);
    expect(last(server)).toMatchObject({ auth: 'x509', user: 'alice' });
    expect((await rawRequest(server.url, '/healthz', { tls: { ca: ca.certPem, cert: stranger.certPem, key: stranger.keyPem } })).status).toBe(401);
    expect((await rawRequest(server.url, '/healthz', { tls: { ca: ca.certPem }, token: 'nope' })).status).toBe(401);
  });

  it('with a token as well: either the certificate or the token authenticates', async () => {
    const url = withToken.url;
    expect((await rawRequest(url, SERVICES, { tls: { ca: ca.certPem }, token: 'tls-token' })).status).toBe(200);
    expect(last(withToken)).toMatchObject({ auth: 'token' });
    expect((await rawRequest(url, SERVICES, { tls: { ca: ca.certPem, cert: alice.certPem, key: alice.keyPem } })).status).toBe(200);
    expect(last(withToken)).toMatchObject({ auth: 'x509', user: 'alice' });
    // The union: a certificate that does not verify falls through to a good token, and a good
    // certificate wins over a bad token.
    expect((await rawRequest(url, SERVICES, { tls: { ca: ca.certPem, cert: stranger.certPem, key: stranger.keyPem }, token: 'tls-token' })).status).toBe(200);
    expect(last(withToken)).toMatchObject({ auth: 'token', clientCertFingerprint: stranger.fingerprint256 });
    expect((await rawRequest(url, SERVICES, { tls: { ca: ca.certPem, cert: alice.certPem, key: alice.keyPem }, token: 'wrong' })).status).toBe(200);
    expect(last(withToken)).toMatchObject({ auth: 'x509', user: 'alice' });
    const none = await rawRequest(url, SERVICES, { tls: { ca: ca.certPem } });
    expect(none.status).toBe(401);
    expect(none.json).toEqual(UNAUTHORIZED);
  });

  it('kubeConfig() and writeKubeconfig() trust the server CA (no insecure-skip-tls-verify)', async () => {
    server.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc', namespace: 'default' }, spec: {} });
    const core = server.kubeConfig({ clientCert: alice }).makeApiClient(CoreV1Api);
    const list = await core.listNamespacedService({ namespace: 'default' });
    expect(list.items.map((s) => s.metadata?.name)).toEqual(['svc']);
    expect(last(server)).toMatchObject({ auth: 'x509', user: 'alice' });

    const dir = mkdtempSync(path.join(tmpdir(), 'fake-apiserver-tls-'));
    try {
      const file = server.writeKubeconfig(dir, {
        user: { 'client-certificate-data': Buffer.from(alice.certPem).toString('base64'), 'client-key-data': Buffer.from(alice.keyPem).toString('base64') },
      });
      const text = readFileSync(file, 'utf8');
      expect(text).toContain(`server: ${server.url}`);
      expect(text).toContain(`certificate-authority-data: ${Buffer.from(ca.certPem).toString('base64')}`);
      expect(text).not.toContain('insecure-skip-tls-verify');
      const kc = new KubeConfig();
      kc.loadFromFile(file);
      expect((await kc.makeApiClient(CoreV1Api).readNamespacedService({ name: 'svc', namespace: 'default' })).metadata?.name).toBe('svc');
      expect(last(server)).toMatchObject({ auth: 'x509', user: 'alice' });
      // Without the CA, the serving certificate is not trusted.
      await expect(rawRequest(server.url, '/healthz')).rejects.toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
