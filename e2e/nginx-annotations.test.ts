// Ingresses migrated from ingress-nginx, through the built program in file mode: what Portico
// cannot enforce fails closed (503, never an open route) and is reported; what it implements
// behaves as ingress-nginx's annotations do.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { get, startNamedBackend, startPorticoProcess, waitFor, type PorticoProcess } from './harness.ts';
import { annotatedIngressYaml, ingressYaml, serviceYaml } from './manifests.ts';

type Backend = Awaited<ReturnType<typeof startNamedBackend>>;
const N = 'nginx.ingress.kubernetes.io/';

/** Sends a WebSocket upgrade request and returns the status line's code. */
function upgradeStatus(port: number, host: string, target: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let data = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('no answer to the upgrade request within 5 s'));
    }, 5000);
    sock.on('connect', () =>
      sock.write(
        `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
      ),
    );
    sock.on('data', (c: Buffer) => {
      data += c.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(data);
      if (m) {
        clearTimeout(timer);
        sock.destroy();
        resolve(Number(m[1]));
      }
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** A backend that answers with what it received: target, Host, X-Forwarded-Prefix, body length. */
async function startEchoBackend(): Promise<{ port: number; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    let n = 0;
    req.on('data', (c: Buffer) => (n += c.length));
    req.on('end', () => res.end(JSON.stringify({ url: req.url, host: req.headers.host, prefix: req.headers['x-forwarded-prefix'] ?? null, body: n })));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

/** A POST with a body of `size` bytes; resolves with the status. */
function post(port: number, host: string, target: string, size: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: target, headers: { host, 'content-length': String(size) }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(Buffer.alloc(size, 'x'));
  });
}

describe('ingress-nginx annotations (built program, file mode)', () => {
  let dir: string;
  let app: Backend;
  let echo: Awaited<ReturnType<typeof startEchoBackend>>;
  let portico: PorticoProcess;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'portico-nginx-e2e-'));
    app = await startNamedBackend('app');
    echo = await startEchoBackend();
    writeFileSync(path.join(dir, 'services.yaml'), serviceYaml('app', [app.port]) + '---\n' + serviceYaml('echo', [echo.port]));
    writeFileSync(
      path.join(dir, 'rewrite.yaml'),
      annotatedIngressYaml({
        name: 'rewrite',
        host: 'rewrite.test',
        annotations: { [N + 'rewrite-target']: '/$2', [N + 'x-forwarded-prefix']: '/something', [N + 'upstream-vhost']: 'internal.svc' },
        paths: [{ path: '/something(/|$)(.*)', pathType: 'ImplementationSpecific', service: 'echo' }],
      }) +
        '---\n' +
        // another Ingress on the same host: its Prefix path becomes a regex too, as in ingress-nginx
        annotatedIngressYaml({ name: 'plain', host: 'rewrite.test', annotations: { [N + 'proxy-body-size']: '10' }, paths: [{ path: '/plain', service: 'echo' }] }) +
        '---\n' +
        annotatedIngressYaml({ name: 'uploads', host: 'uploads.test', annotations: { [N + 'proxy-body-size']: '2m' }, paths: [{ path: '/', service: 'echo' }] }),
    );
    // an ExternalName Service naming localhost, and a Service reached by its ClusterIP
    writeFileSync(
      path.join(dir, 'fixed.yaml'),
      `apiVersion: v1
kind: Service
metadata: { name: external, namespace: e2e }
spec: { type: ExternalName, externalName: localhost }
---
apiVersion: v1
kind: Service
metadata: { name: by-cluster-ip, namespace: e2e }
spec: { clusterIP: 127.0.0.1, ports: [{ name: http, port: ${echo.port} }] }
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: external, namespace: e2e }
spec:
  ingressClassName: portico
  rules:
    - host: external.test
      http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: external, port: { number: ${echo.port} } } } }] }
---
` + annotatedIngressYaml({ name: 'cluster-ip', host: 'clusterip.test', annotations: { [N + 'service-upstream']: 'true' }, paths: [{ path: '/', service: 'by-cluster-ip' }] }).replace('port: { number: 80 }', `port: { number: ${echo.port} }`),
    );
    writeFileSync(
      path.join(dir, 'redirects.yaml'),
      annotatedIngressYaml({ name: 'moved', host: 'moved.test', annotations: { [N + 'permanent-redirect']: 'https://new.example.com$request_uri' }, paths: [{ path: '/', service: 'echo' }] }) +
        '---\n' +
        annotatedIngressYaml({ name: 'canary-primary', host: 'canary.test', annotations: { [N + 'server-alias']: 'canary-alias.test' }, paths: [{ path: '/', service: 'echo' }] }) +
        '---\n' +
        annotatedIngressYaml({
          name: 'canary',
          host: 'canary.test',
          annotations: { [N + 'canary']: 'true', [N + 'canary-by-header']: 'X-Canary', [N + 'canary-weight']: '0' },
          paths: [{ path: '/', service: 'app' }],
        }) +
        '---\n' +
        annotatedIngressYaml({
          name: 'root',
          host: 'www.root.test',
          annotations: { [N + 'app-root']: '/app1', [N + 'from-to-www-redirect']: 'true' },
          paths: [{ path: '/', service: 'echo' }],
        }),
    );
    writeFileSync(path.join(dir, 'class.yaml'), ingressYaml([{ path: '/', service: 'app' }]));
    writeFileSync(
      path.join(dir, 'guarded.yaml'),
      annotatedIngressYaml({
        name: 'guarded',
        host: 'guarded.test',
        annotations: { [N + 'whitelist-source-range']: '10.0.0.0/8', [N + 'auth-type']: 'basic', [N + 'auth-secret']: 'basic-auth' },
        paths: [{ path: '/', service: 'app' }],
      }),
    );
    portico = await startPorticoProcess(['--manifests', dir, '--access-log', 'false']);
    await waitFor('readyz', async () => (await get(portico.healthPort, '/readyz')).status === 200, 10_000);
  });

  afterAll(async () => {
    await portico?.stop('SIGKILL');
    await app?.close();
    await echo?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('an Ingress with access controls Portico cannot enforce answers 503 and its backend sees nothing', async () => {
    const before = app.hits;
    const r = await get(portico.httpPort, '/admin', { host: 'guarded.test' });
    expect(r.status).toBe(503);
    expect(r.headers['x-request-id']).toBeTruthy();
    expect(r.body).toContain('access controls');
    expect(await upgradeStatus(portico.httpPort, 'guarded.test', '/ws')).toBe(503);
    expect(app.hits).toBe(before);
    // the Ingress next to it still routes
    expect((await get(portico.httpPort, '/x', { host: 'e2e.test' })).body).toBe('app /x\n');
    expect(app.hits).toBe(before + 1);
  });

  it('the problems are logged and counted by reason', async () => {
    // the per-reason gauge is refreshed at most once a second after a swap
    const metrics = await waitFor('problems in /metrics', async () => {
      const body = (await get(portico.healthPort, '/metrics')).body;
      return body.includes('portico_config_problems{reason=') ? body : '';
    });
    expect(metrics).toMatch(/portico_config_problems\{reason="AccessControlNotEnforced"\} 1/);
    expect(metrics).toMatch(/portico_config_problems\{reason="UnsupportedAnnotation"\} [1-9]/);
    await waitFor('a log line naming the annotation', () => portico.logs.some((l) => l.reason === 'UnsupportedAnnotation' && String(l.msg ?? l.message).includes(`${N}whitelist-source-range`)));
  });

  it('rewrite-target with capture groups, case-insensitive regex paths, X-Forwarded-Prefix and upstream-vhost', async () => {
    const cases: [string, string][] = [
      ['/something', '/'],
      ['/something/', '/'],
      ['/something/new?x=1', '/new?x=1'],
      ['/SOMETHING/Deep/Path', '/Deep/Path'],
    ];
    for (const [sent, expected] of cases) {
      const r = await get(portico.httpPort, sent, { host: 'rewrite.test' });
      expect(r.status, sent).toBe(200);
      expect(JSON.parse(r.body), sent).toEqual({ url: expected, host: 'internal.svc', prefix: '/something', body: 0 });
    }
    // the plain Ingress on the same host: ^/plain, so /plainly matches too; no rewrite, client Host kept
    const plain = JSON.parse((await get(portico.httpPort, '/PLAINLY', { host: 'rewrite.test' })).body);
    expect(plain).toEqual({ url: '/PLAINLY', host: 'rewrite.test', prefix: null, body: 0 });
    expect((await get(portico.httpPort, '/other', { host: 'rewrite.test' })).status).toBe(404);
  });

  it('proxy-body-size per Ingress, and the 1m global default', async () => {
    expect((await post(portico.httpPort, 'rewrite.test', '/plain', 11)).status).toBe(413);
    expect((await post(portico.httpPort, 'rewrite.test', '/plain', 10)).status).toBe(200);
    expect((await post(portico.httpPort, 'uploads.test', '/', 2 * 1024 * 1024)).status).toBe(200);
    expect((await post(portico.httpPort, 'uploads.test', '/', 2 * 1024 * 1024 + 1)).status).toBe(413);
    // the rewrite Ingress has no limit of its own: --proxy-body-size, 1m by default
    expect((await post(portico.httpPort, 'rewrite.test', '/something/x', 1024 * 1024 + 1)).status).toBe(413);
    const ok = await post(portico.httpPort, 'rewrite.test', '/something/x', 1024 * 1024);
    expect(JSON.parse(ok.body).body).toBe(1024 * 1024);
  });

  it('permanent-redirect, app-root and from-to-www-redirect answer with their redirects; the backend sees nothing', async () => {
    const moved = await get(portico.httpPort, '/a/b?x=1', { host: 'moved.test' });
    expect(moved.status).toBe(301);
    expect(moved.headers.location).toBe('https://new.example.com/a/b?x=1');
    expect(moved.headers['x-request-id']).toBeTruthy();

    const root = await get(portico.httpPort, '/', { host: 'www.root.test:8080' });
    expect(root.status).toBe(302);
    expect(root.headers.location).toBe('http://www.root.test:8080/app1');
    // only / is redirected
    expect(JSON.parse((await get(portico.httpPort, '/app1', { host: 'www.root.test' })).body).url).toBe('/app1');

    const twin = await get(portico.httpPort, '/p?q=1', { host: 'root.test' });
    expect(twin.status).toBe(308);
    expect(twin.headers.location).toBe('http://www.root.test/p?q=1');
  });

  it('a canary Ingress takes the requests its header rule selects; the others stay on the primary', async () => {
    expect((await get(portico.httpPort, '/c', { host: 'canary.test', 'x-canary': 'always' })).body).toBe('app /c\n');
    expect(JSON.parse((await get(portico.httpPort, '/c', { host: 'canary.test' })).body).url).toBe('/c');
    expect(JSON.parse((await get(portico.httpPort, '/c', { host: 'canary.test', 'x-canary': 'never' })).body).url).toBe('/c');
    // server-alias: the alias host serves the primary's rules (a canary joins only the host it names)
    expect(JSON.parse((await get(portico.httpPort, '/c', { host: 'canary-alias.test' })).body)).toMatchObject({ url: '/c', host: 'canary-alias.test' });
  });

  it('an ExternalName Service is reached by its DNS name; service-upstream reaches the ClusterIP', async () => {
    expect(JSON.parse((await get(portico.httpPort, '/ext', { host: 'external.test' })).body).url).toBe('/ext');
    // no EndpointSlice exists for by-cluster-ip: only its ClusterIP can answer
    expect(JSON.parse((await get(portico.httpPort, '/cip', { host: 'clusterip.test' })).body).url).toBe('/cip');
  });
});
