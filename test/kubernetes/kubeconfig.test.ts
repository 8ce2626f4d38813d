// kubeconfig.ts: client-node's KubeConfig rules without client-node's generated code. The same
// kubeconfig must give the same request headers as client-node's own KubeConfig, TLS material
// must reach the connection, and the program must not load the generated models and APIs.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import https from 'node:https';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { KubeConfig as LibraryKubeConfig } from '@kubernetes/client-node';
import { RequestContext } from '@kubernetes/client-node/dist/gen/http/http.js';
import { KubeConfig } from '../../src/sources/kubernetes/kubeconfig.ts';
import { KubeApi } from '../../src/sources/kubernetes/api.ts';
import { KubernetesSource } from '../../src/sources/kubernetes/source.ts';
import { Store } from '../../src/store/store.ts';
import { silentLogger } from '../../src/observe/log.ts';
import { generateSelfSigned } from '../../src/tls/default-certificate.ts';
import { FakeApiServer, waitFor } from '../fake-apiserver/index.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');

function kubeconfig(user: Record<string, unknown>, cluster: Record<string, unknown> = { server: 'https://kube.test:6443' }): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster }],
    users: [{ name: 'u', user }],
    contexts: [
      { name: 'other', context: { cluster: 'c', user: 'nobody' } },
      { name: 'main', context: { cluster: 'c', user: 'u', namespace: 'ns' } },
    ],
    'current-context': 'main',
  });
}

async function headersOf(kc: { applySecurityAuthentication(c: RequestContext): Promise<void> }): Promise<Record<string, string>> {
  const ctx = new RequestContext('https://kube.test:6443/api', 'GET');
  await kc.applySecurityAuthentication(ctx);
  return ctx.getHeaders() as Record<string, string>;
}

describe('KubeConfig (kubeconfig.ts)', () => {
  let dir: string;
  const env = { ...process.env };
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'portico-kubeconfig-'));
  });
  afterEach(() => {
    process.env = { ...env };
    rmSync(dir, { recursive: true, force: true });
  });

  it('gives a request the same headers as client-node for every kind of user', async () => {
    writeFileSync(path.join(dir, 'token'), 'from-a-file');
    const credential = { apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: 'from-exec' } };
    const users: Record<string, unknown>[] = [
      { token: 'static' },
      { 'token-file': path.join(dir, 'token') },
      { username: 'alice', password: 's3cret' },
      { token: 'static', as: 'bob' },
      { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: process.execPath, args: ['-e', `console.log(${JSON.stringify(JSON.stringify(credential))})`] } },
      { 'auth-provider': { name: 'tokenFile', config: { tokenFile: path.join(dir, 'token') } } },
      {},
    ];
    for (const user of users) {
      const text = kubeconfig(user);
      const ours = new KubeConfig();
      ours.loadFromString(text);
      const theirs = new LibraryKubeConfig();
      theirs.loadFromString(text);
      expect(await headersOf(ours), JSON.stringify(user)).toEqual(await headersOf(theirs));
    }
    const exec = new KubeConfig();
    exec.loadFromString(kubeconfig(users[4]!));
    expect((await headersOf(exec)).Authorization).toBe('Bearer from-exec');
  });

  it('resolves relative file paths against the kubeconfig file, and picks the current context', () => {
    const file = path.join(dir, 'config');
    writeFileSync(file, kubeconfig({ 'client-certificate': 'certs/client.crt', 'client-key': '/abs/client.key' }, { server: 'https://kube.test:6443', 'certificate-authority': 'ca.crt' }));
    const kc = new KubeConfig();
    kc.loadFromFile(file);
    expect(kc.getCurrentContext()).toBe('main');
    expect(kc.getCurrentCluster()?.server).toBe('https://kube.test:6443');
    expect(kc.getCurrentCluster()?.caFile).toBe(path.join(dir, 'ca.crt'));
    expect(kc.getCurrentUser()?.certFile).toBe(path.join(dir, 'certs/client.crt'));
    expect(kc.getCurrentUser()?.keyFile).toBe('/abs/client.key');
  });

  it('refuses plain HTTP unless insecure-skip-tls-verify is set, as client-node does', async () => {
    const kc = new KubeConfig();
    kc.loadFromString(kubeconfig({ token: 't' }, { server: 'http://127.0.0.1:1' }));
    await expect(headersOf(kc)).rejects.toThrow(/HTTP protocol is not allowed/);
    kc.loadFromString(kubeconfig({ token: 't' }, { server: 'http://127.0.0.1:1', 'insecure-skip-tls-verify': true }));
    expect((await headersOf(kc)).Authorization).toBe('Bearer t');
  });

  it('in a pod: server from the environment (IPv6 in brackets), CA and a token file', async () => {
    const root = path.join(dir, 'var/run/secrets/kubernetes.io/serviceaccount');
    mkdirSync(root, { recursive: true });
    writeFileSync(path.join(root, 'token'), 'sa-token');
    writeFileSync(path.join(root, 'namespace'), 'portico');
    process.env.KUBERNETES_SERVICE_HOST = 'fd00::1';
    process.env.KUBERNETES_SERVICE_PORT = '443';
    const kc = new KubeConfig();
    kc.loadFromCluster(dir);
    expect(kc.getCurrentCluster()?.server).toBe('https://[fd00::1]:443');
    expect(kc.getCurrentCluster()?.caFile).toBe(path.join(root, 'ca.crt'));
    expect(kc.contexts[0]?.namespace).toBe('portico');
    const ctx = new RequestContext('https://kube.test/api', 'GET');
    writeFileSync(path.join(root, 'ca.crt'), (await generateSelfSigned()).certPem);
    await kc.applySecurityAuthentication(ctx);
    expect(ctx.getHeaders()).toEqual({ Authorization: 'Bearer sa-token' });
    expect(ctx.getDispatcher()).toBeDefined();
  });

  it('nothing to load (no KUBECONFIG, no ~/.kube/config, not in a pod): an error that says so', () => {
    delete process.env.KUBECONFIG;
    process.env.HOME = dir;
    expect(() => new KubeConfig().loadFromDefault()).toThrow(/no kubeconfig found and not running in a cluster: pass --kubeconfig, set KUBECONFIG/);
  });

  it('$KUBECONFIG: several files are merged; a name defined twice is an error', () => {
    const a = path.join(dir, 'a');
    const b = path.join(dir, 'b');
    writeFileSync(a, kubeconfig({ token: 'a' }));
    writeFileSync(
      b,
      JSON.stringify({ clusters: [{ name: 'c2', cluster: { server: 'https://two.test' } }], users: [{ name: 'u2', user: {} }], contexts: [{ name: 'two', context: { cluster: 'c2', user: 'u2' } }], 'current-context': 'two' }),
    );
    process.env.KUBECONFIG = [a, b].join(path.delimiter);
    const kc = new KubeConfig();
    kc.loadFromDefault();
    expect(kc.getCurrentCluster()?.server).toBe('https://two.test');
    expect(kc.clusters.map((c) => c.name)).toEqual(['c', 'c2']);
    process.env.KUBECONFIG = [a, a].join(path.delimiter);
    expect(() => new KubeConfig().loadFromDefault()).toThrow(/Duplicate cluster: c/);
  });

  it('TLS: trusts certificate-authority-data, checks tls-server-name, presents the client certificate; one Agent', async () => {
    const server = await generateSelfSigned({ commonName: 'kube.test', dnsNames: ['kube.test'] });
    const client = await generateSelfSigned({ commonName: 'portico-client' });
    const seen: string[] = [];
    // rejectUnauthorized false: the generated certificate is for servers (no clientAuth usage);
    // the handler checks that it was presented.
    const srv = https.createServer({ cert: server.certPem, key: server.keyPem, requestCert: true, rejectUnauthorized: false }, (req, res) => {
      seen.push(`client certificate:${(req.socket as TLSSocket).getPeerCertificate().subject?.CN}`);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"kind":"Status"}');
    });
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const port = (srv.address() as AddressInfo).port;
    try {
      const cluster = { server: `https://127.0.0.1:${port}`, 'certificate-authority-data': b64(server.certPem), 'tls-server-name': 'kube.test' };
      const kc = new KubeConfig();
      kc.loadFromString(kubeconfig({ 'client-certificate-data': b64(client.certPem), 'client-key-data': b64(client.keyPem) }, cluster));
      const api = new KubeApi(kc);
      expect(await api.request('GET', '/version')).toEqual({ kind: 'Status' });
      await api.request('GET', '/version');
      expect(seen).toHaveLength(2);
      expect(seen[0]).toMatch(/:portico-client$/);
      // One Agent (connection pool) while the TLS material stays the same, unlike client-node.
      const dispatchers = [];
      for (let i = 0; i < 2; i++) {
        const ctx = new RequestContext(cluster.server, 'GET');
        await kc.applySecurityAuthentication(ctx);
        dispatchers.push(ctx.getDispatcher());
      }
      expect(dispatchers[0]).toBeDefined();
      expect(dispatchers[1]).toBe(dispatchers[0]);
      // Without the CA the server is not trusted.
      const untrusted = new KubeConfig();
      untrusted.loadFromString(kubeconfig({}, { server: `https://127.0.0.1:${port}`, 'tls-server-name': 'kube.test' }));
      await expect(new KubeApi(untrusted).request('GET', '/version', { timeoutMs: 5000 })).rejects.toThrow();
    } finally {
      srv.closeAllConnections();
      srv.close();
    }
  });

  it('drives the informers against the fake API server from a kubeconfig file', async () => {
    const api = await FakeApiServer.start({ token: 'file-token' });
    const store = new Store();
    const source = new KubernetesSource({ api: KubeApi.load(api.writeKubeconfig(dir)), store, log: silentLogger, namespaces: [], backoff: { initialMs: 50, maxMs: 400 } });
    try {
      api.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'before', namespace: 'default' }, spec: {} });
      await source.start();
      expect(store.get('Service', 'default/before')).toBeDefined();
      api.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'after', namespace: 'default' }, spec: {} });
      await waitFor(() => store.get('Service', 'default/after') !== undefined, 3000, 'watch event');
      api.delete('Service', 'default', 'before');
      await waitFor(() => store.get('Service', 'default/before') === undefined, 3000, 'delete event');
    } finally {
      await source.stop();
      await api.close();
    }
  });

  it("the program does not load client-node's generated models and APIs (about 55 MiB per process)", () => {
    const main = new URL('../../src/main.ts', import.meta.url).href;
    const script = `
      import { registerHooks } from 'node:module';
      const loaded = [];
      registerHooks({ resolve(spec, ctx, next) { const r = next(spec, ctx); if (r.url.includes('/@kubernetes/client-node/')) loaded.push(r.url); return r; } });
      await import(${JSON.stringify(main)});
      console.log(JSON.stringify(loaded));`;
    const out = spawnSync(process.execPath, ['--input-type=module', '--no-warnings', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(out.status, out.stderr).toBe(0);
    const loaded = JSON.parse(out.stdout) as string[];
    expect(loaded.length).toBeGreaterThan(0); // the hook saw the deep imports
    expect(loaded.filter((u) => /\/dist\/(index|config|cache)\.js$|\/dist\/gen\/(index|models|apis|types)/.test(u))).toEqual([]);
  });
});
