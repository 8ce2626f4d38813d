// A client certificate from a kubeconfig exec credential plugin (client.authentication.k8s.io/v1)
// reaches both plain API requests (KubeApi.request: reads, status patches) and the informers'
// watches, against the fake API server in TLS mode with kube-apiserver's client-certificate
// authentication. When the plugin's first credential expires and it then prints a different
// certificate (rotation), new API requests — not only new watches — present the new one: api.ts
// takes our KubeConfig's dispatcher per request instead of keeping the first.

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ApiError, KubeApi } from '../../src/sources/kubernetes/api.ts';
import { KubernetesSource } from '../../src/sources/kubernetes/source.ts';
import { Store } from '../../src/store/store.ts';
import { createLogger, silentLogger } from '../../src/observe/log.ts';
import { FakeApiServer, waitFor, type RequestRecord } from '../fake-apiserver/index.ts';
import { createTestCa, type CertAndKey, type TestCa } from '../fake-apiserver/certs.ts';

const SERVICES = '/api/v1/namespaces/default/services';
const INGRESS_STATUS = '/apis/networking.k8s.io/v1/namespaces/default/ingresses/web/status';
/** How long certificate A (and the plugin's first credential) lives; the first phase takes well under a second. */
const LIFETIME_MS = 5_000;

const svc = (name: string) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'default' }, spec: {} });

/** Rejects after `ms` (every wait in this file is bounded). */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// The plugin: prints an ExecCredential whose certificate, key and expiry come from a state file
// the test rewrites, and appends the name of what it printed to a log (one line per run).
const PLUGIN = `
import { appendFileSync, readFileSync } from 'node:fs';
const [stateFile, logFile] = process.argv.slice(2);
const state = JSON.parse(readFileSync(stateFile, 'utf8'));
appendFileSync(logFile, state.name + '\\n');
process.stdout.write(JSON.stringify({
  apiVersion: 'client.authentication.k8s.io/v1',
  kind: 'ExecCredential',
  status: { clientCertificateData: state.cert, clientKeyData: state.key, expirationTimestamp: state.expirationTimestamp },
}));
`;

describe('client certificates from an exec credential plugin', () => {
  let ca: TestCa;
  let server: FakeApiServer;
  let dir: string;
  let stateFile: string;
  let logFile: string;
  let source: KubernetesSource | undefined;

  beforeAll(async () => {
    ca = await createTestCa();
    const serving = await ca.issueServer();
    server = await FakeApiServer.start({ tls: { cert: serving.certPem, key: serving.keyPem, ca: ca.certPem, clientCA: ca.certPem }, bookmarkIntervalMs: 60_000 });
  });
  afterAll(async () => {
    await server?.close();
  });
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'portico-client-cert-'));
    stateFile = path.join(dir, 'credential.json');
    logFile = path.join(dir, 'plugin.log');
    writeFileSync(path.join(dir, 'plugin.mjs'), PLUGIN);
    writeFileSync(logFile, '');
    server.requests.length = 0;
    for (const kind of ['Service', 'Ingress']) for (const o of server.list(kind)) server.delete(kind, o.metadata.namespace, o.metadata.name);
  });
  afterEach(async () => {
    await source?.stop();
    source = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  /** What the plugin prints from now on (written whole, then renamed: never read half-written). */
  const printCredential = (name: string, cert: CertAndKey, expires: Date) => {
    writeFileSync(`${stateFile}.tmp`, JSON.stringify({ name, cert: cert.certPem, key: cert.keyPem, expirationTimestamp: expires.toISOString() }));
    renameSync(`${stateFile}.tmp`, stateFile);
  };
  const pluginRuns = () => readFileSync(logFile, 'utf8').split('\n').filter(Boolean);
  const execKubeconfig = () =>
    server.writeKubeconfig(dir, {
      user: {
        exec: {
          apiVersion: 'client.authentication.k8s.io/v1',
          command: process.execPath,
          args: [path.join(dir, 'plugin.mjs'), stateFile, logFile],
          interactiveMode: 'Never',
          provideClusterInfo: false,
        },
      },
    });
  const last = (pred: (r: RequestRecord) => boolean): RequestRecord | undefined => server.requests.findLast(pred);

  it('API requests and watches present the plugin certificate; after it expires and the plugin rotates it, new requests and new watches present the new one', { timeout: 30_000 }, async () => {
    // Certificate A and its credential expire together (whole seconds: X.509 keeps no more).
    const expiresA = new Date(Math.floor((Date.now() + LIFETIME_MS) / 1000) * 1000);
    const certA = await ca.issue({ commonName: 'portico', organizations: ['portico'], usage: 'client', notAfter: expiresA });
    const certB = await ca.issue({ commonName: 'portico', organizations: ['portico'], usage: 'client' });
    // Same identity (CN) for both, as in a real rotation: the fingerprint tells them apart.
    const presented = (r: RequestRecord | undefined) =>
      r === undefined
        ? 'no such request'
        : `${r.auth ?? '-'} ${r.status} ${r.clientCertFingerprint === certA.fingerprint256 ? 'A' : r.clientCertFingerprint === certB.fingerprint256 ? 'B' : (r.clientCertFingerprint ?? 'no certificate')}`;
    const lastGet = () => last((r) => r.method === 'GET' && r.path === SERVICES && !r.watch);
    const lastPatch = () => last((r) => r.method === 'PATCH' && r.path === INGRESS_STATUS);
    const watches = () => server.requests.filter((r) => r.path === SERVICES && r.watch);

    printCredential('A', certA, expiresA);
    const kube = KubeApi.load(execKubeconfig());
    expect(kube.server).toBe(server.url);
    server.create(svc('web'));
    server.create({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'web', namespace: 'default' }, spec: {} });

    // --- certificate A: a read, a status patch (as cluster/status.ts writes it), then the informer's list and watch.
    await kube.request('GET', SERVICES, { timeoutMs: 5000 });
    expect(presented(lastGet())).toBe('x509 200 A');
    const patch = (ip: string) =>
      kube.request('PATCH', INGRESS_STATUS, { body: { status: { loadBalancer: { ingress: [{ ip }] } } }, contentType: 'application/merge-patch+json', timeoutMs: 5000 });
    await patch('192.0.2.1');
    expect(presented(lastPatch())).toBe('x509 200 A');
    expect(server.get('Ingress', 'default', 'web')?.status).toEqual({ loadBalancer: { ingress: [{ ip: '192.0.2.1' }] } });

    const store = new Store();
    source = new KubernetesSource({ api: kube, store, log: silentLogger, namespaces: ['default'], kinds: ['Service'], backoff: { initialMs: 50, maxMs: 400 } });
    await within(source.start(), 5000, 'the informer to sync');
    await server.waitForWatches(1, { kind: 'Service', timeoutMs: 5000 });
    expect(store.get('Service', 'default/web')).toBeDefined();
    expect(watches().map(presented)).toEqual(['x509 200 A']);
    expect(presented(lastGet())).toBe('x509 200 A'); // the informer's list
    expect(pluginRuns()).toEqual(['A']); // one run: the credential is cached until it expires

    // --- the plugin now has certificate B, but A's credential has not expired: still A.
    expect(Date.now(), 'the first phase must end well before certificate A expires (a very slow machine?)').toBeLessThan(expiresA.getTime() - 1500);
    printCredential('B', certB, new Date(Date.now() + 3_600_000));
    await kube.request('GET', SERVICES, { timeoutMs: 5000 });
    expect(presented(lastGet())).toBe('x509 200 A');
    expect(pluginRuns()).toEqual(['A']);

    // --- A expires (the credential and the certificate).
    await waitFor(() => Date.now() > expiresA.getTime() + 1000, LIFETIME_MS + 3000, 'certificate A to expire');
    // The watch opened with A stays open and keeps delivering (authentication happens once per request).
    server.create(svc('during'));
    await waitFor(() => store.get('Service', 'default/during') !== undefined, 3000, 'an event on the watch opened with A');
    expect(watches()).toHaveLength(1);

    // A plain API request runs the plugin again and presents B (were the first dispatcher kept,
    // it would present A: 401). Failures are caught so the assertion says what was presented.
    const settled = (p: Promise<unknown>) => p.then(() => 'ok', (e: unknown) => String(e));
    const get = await settled(kube.request('GET', SERVICES, { timeoutMs: 5000 }));
    expect(presented(lastGet())).toBe('x509 200 B');
    expect(get).toBe('ok');
    expect(pluginRuns()).toEqual(['A', 'B']);
    const patched = await settled(patch('192.0.2.2'));
    expect(presented(lastPatch())).toBe('x509 200 B');
    expect(patched).toBe('ok');
    expect(server.get('Ingress', 'default', 'web')?.status).toEqual({ loadBalancer: { ingress: [{ ip: '192.0.2.2' }] } });

    // A new watch connection (the server ends the stream; the informer re-watches) presents B too.
    server.closeWatches();
    await waitFor(() => watches().length === 2 && watches()[1]!.status !== 0, 5000, 'the informer to re-watch');
    expect(watches().map(presented)).toEqual(['x509 200 A', 'x509 200 B']);
    server.create(svc('after'));
    await waitFor(() => store.get('Service', 'default/after') !== undefined, 3000, 'an event on the watch opened with B');
    expect(pluginRuns()).toEqual(['A', 'B']); // B's credential is cached
  });

  it('without a client certificate, or with one the cluster CA did not sign: 401, and the error says so', async () => {
    // A kubeconfig that trusts the server but has no credentials at all.
    const kube = KubeApi.load(server.writeKubeconfig(dir));
    const err = await kube.request('GET', SERVICES, { timeoutMs: 5000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).status).toBe(401);
    expect((err as ApiError).reason).toBe('Unauthorized');
    expect((err as ApiError).message).toBe(`GET ${SERVICES}: 401 Unauthorized`);
    expect(last((r) => r.path === SERVICES)).toMatchObject({ status: 401, auth: 'failed' });
    expect(last((r) => r.path === SERVICES)?.clientCertFingerprint).toBeUndefined();

    // The informer reports it in its log and keeps retrying; nothing reaches the store.
    const lines: string[] = [];
    const log = createLogger('warn', { write: (l) => void lines.push(l) });
    const store = new Store();
    source = new KubernetesSource({ api: kube, store, log, namespaces: ['default'], kinds: ['Service'], backoff: { initialMs: 50, maxMs: 400 } });
    server.create(svc('web'));
    void source.start();
    await waitFor(() => lines.length > 0, 5000, 'the informer to log the failure');
    const entry = JSON.parse(lines[0]!) as { level: string; msg: string; err: string; resource: string };
    expect(entry).toMatchObject({ level: 'warn', resource: 'services', err: `GET ${SERVICES}: 401 Unauthorized` });
    expect(entry.msg).toMatch(/watch failed/);
    expect(store.get('Service', 'default/web')).toBeUndefined();
    expect(server.requestCount({ pathPrefix: SERVICES, status: 200 })).toBe(0);
    await source.stop();
    source = undefined;

    // An exec plugin printing a certificate from another CA: presented, not accepted.
    const other = await createTestCa('not-the-cluster-ca');
    const foreign = await other.issue({ commonName: 'portico', usage: 'client' });
    printCredential('foreign', foreign, new Date(Date.now() + 3_600_000));
    const execKube = KubeApi.load(execKubeconfig());
    await expect(execKube.request('GET', SERVICES, { timeoutMs: 5000 })).rejects.toThrow(`GET ${SERVICES}: 401 Unauthorized`);
    expect(last((r) => r.path === SERVICES)).toMatchObject({ status: 401, auth: 'failed', clientCertFingerprint: foreign.fingerprint256 });
    expect(pluginRuns()).toEqual(['foreign']);
  });
});
