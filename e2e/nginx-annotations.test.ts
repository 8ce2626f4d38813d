// Ingresses migrated from ingress-nginx, through the built program in file mode: what Portico
// cannot enforce fails closed (503, never an open route) and is reported; what it implements
// (rewrites, limits, source address lists, basic auth) behaves as ingress-nginx's annotations do.

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
// "secret" hashed with bcrypt (cost 4, $2y$ as htpasswd -B writes it) and as {SHA}
const BCRYPT = '$2y$04$0DDawW9pO9nvXCRA1bAcLOEspifRONt7fR72SqNmoPQHTbR2tlPHG';
const SHA = '{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=';

/** The basic-auth Secret e2e/htpasswd with this htpasswd file. */
function htpasswdYaml(file: string): string {
  return `apiVersion: v1
kind: Secret
metadata: { name: htpasswd, namespace: e2e }
type: Opaque
data: { auth: ${Buffer.from(file).toString('base64')} }
`;
}

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

/**
 * The status for a request that declares `size` body bytes, sending the body only once an
 * answer has not come first: a declared length over the limit is answered 413 from the head
 * alone, and the proxy then closes the connection with the body unread. Writing 2 MB into
 * that close raced the answer (EPIPE or a reset before the 413 was read, under load).
 */
function declaredStatus(port: number, host: string, target: string, size: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: target, headers: { host, 'content-length': String(size) }, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
      req.destroy();
    });
    req.on('error', (err) => reject(err));
    req.flushHeaders();
  });
}

/** A backend that sets its own CORS headers and records the methods it was sent. */
async function startCorsBackend(): Promise<{ port: number; methods: string[]; close(): Promise<void> }> {
  const methods: string[] = [];
  const server = http.createServer((req, res) => {
    methods.push(req.method ?? '');
    res.writeHead(200, { 'access-control-allow-origin': 'https://backend.test', vary: 'Accept-Encoding', 'content-type': 'text/plain' });
    res.end('cors backend\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    methods,
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

/** A request with any method; resolves with status, headers and body. */
function send(port: number, method: string, target: string, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: target, headers, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${target} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

describe('ingress-nginx annotations (built program, file mode)', () => {
  let dir: string;
  let app: Backend;
  let echo: Awaited<ReturnType<typeof startEchoBackend>>;
  let corsBackend: Awaited<ReturnType<typeof startCorsBackend>>;
  let unavailable: http.Server;
  let unavailableHits = 0;
  let pages: http.Server;
  let redirector: http.Server;
  let shadow: http.Server;
  const shadowSeen: { method: string; url: string; host: string; body: string }[] = [];
  let portico: PorticoProcess;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'portico-nginx-e2e-'));
    app = await startNamedBackend('app');
    echo = await startEchoBackend();
    corsBackend = await startCorsBackend();
    // a pod that answers 503 (overloaded), next to `app` in one Service
    unavailable = http.createServer((_req, res) => {
      unavailableHits++;
      res.writeHead(503).end('overloaded\n');
    });
    await new Promise<void>((r) => unavailable.listen(0, '127.0.0.1', () => r()));
    const unavailablePort = (unavailable.address() as AddressInfo).port;
    // an error-page service, as ingress-nginx's custom-error-pages example: the page names its X-Code
    pages = http.createServer((req, res) => {
      const code = Number(req.headers['x-code'] ?? 500);
      res.writeHead(code, { 'content-type': 'text/plain' }).end(`page for ${code} of ${String(req.headers['x-original-uri'] ?? req.url)}\n`);
    });
    await new Promise<void>((r) => pages.listen(0, '127.0.0.1', () => r()));
    const pagesPort = (pages.address() as AddressInfo).port;
    // an application that redirects to its internal address and scopes its cookie to it
    redirector = http.createServer((_req, res) => {
      res.writeHead(302, { location: 'http://app.internal:8080/login?next=%2F', 'set-cookie': ['s=1; Path=/one/x; Domain=.LocalHost; HttpOnly', 't=2; Path=/two'] }).end();
    });
    await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', () => r()));
    const redirectorPort = (redirector.address() as AddressInfo).port;
    // a mirror that records the copies it gets
    shadow = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        shadowSeen.push({ method: req.method ?? '', url: req.url ?? '', host: req.headers.host ?? '', body });
        res.end('shadow');
      });
    });
    await new Promise<void>((r) => shadow.listen(0, '127.0.0.1', () => r()));
    const shadowPort = (shadow.address() as AddressInfo).port;
    writeFileSync(
      path.join(dir, 'mirror.yaml'),
      annotatedIngressYaml({
        name: 'mirrored',
        host: 'mirrored.test',
        annotations: { [N + 'mirror-target']: `http://127.0.0.1:${shadowPort}/copy$request_uri`, [N + 'mirror-host']: 'shadow.test' },
        paths: [{ path: '/', service: 'echo' }],
      }),
    );
    writeFileSync(path.join(dir, 'services.yaml'), serviceYaml('app', [app.port]) + '---\n' + serviceYaml('echo', [echo.port]) + '---\n' + serviceYaml('corsy', [corsBackend.port]) + '---\n' + serviceYaml('half', [unavailablePort, app.port]) + '---\n' + serviceYaml('overloaded', [unavailablePort]) + '---\n' + serviceYaml('pages', [pagesPort]) + '---\n' + serviceYaml('empty', []) + '---\n' + serviceYaml('redirector', [redirectorPort]));
    writeFileSync(
      path.join(dir, 'response-rewrite.yaml'),
      annotatedIngressYaml({
        name: 'response-rewrite',
        host: 'rewrite-headers.test',
        annotations: {
          [N + 'proxy-redirect-from']: 'http://app.internal:8080/',
          [N + 'proxy-redirect-to']: 'https://rewrite-headers.test/app/',
          [N + 'proxy-cookie-path']: '/one/ /app/',
          [N + 'proxy-cookie-domain']: 'localhost rewrite-headers.test',
        },
        paths: [{ path: '/', service: 'redirector' }],
      }),
    );
    writeFileSync(
      path.join(dir, 'errors.yaml'),
      annotatedIngressYaml({
        name: 'custom-errors',
        host: 'errors.test',
        annotations: { [N + 'default-backend']: 'pages', [N + 'custom-http-errors']: '503' },
        paths: [{ path: '/', service: 'overloaded' }, { path: '/empty', service: 'empty' }],
      }),
    );
    writeFileSync(
      path.join(dir, 'retry.yaml'),
      annotatedIngressYaml({ name: 'retry', host: 'retry.test', annotations: { [N + 'proxy-next-upstream']: 'error timeout http_503' }, paths: [{ path: '/', service: 'half' }] }) +
        '---\n' +
        annotatedIngressYaml({ name: 'no-retry', host: 'noretry.test', annotations: {}, paths: [{ path: '/', service: 'half' }] }) +
        '---\n' +
        annotatedIngressYaml({ name: 'sticky', host: 'sticky.test', annotations: { [N + 'affinity']: 'cookie', [N + 'session-cookie-name']: 'route' }, paths: [{ path: '/', service: 'half' }] }) +
        '---\n' +
        annotatedIngressYaml({ name: 'sticky-persistent', host: 'persistent.test', annotations: { [N + 'affinity']: 'cookie', [N + 'affinity-mode']: 'persistent' }, paths: [{ path: '/', service: 'half' }] }),
    );
    writeFileSync(
      path.join(dir, 'cors.yaml'),
      [
        annotatedIngressYaml({ name: 'cors-any', host: 'cors-any.test', annotations: { [N + 'enable-cors']: 'true' }, paths: [{ path: '/', service: 'corsy' }] }),
        annotatedIngressYaml({
          name: 'cors-list',
          host: 'cors-list.test',
          annotations: { [N + 'enable-cors']: 'true', [N + 'cors-allow-origin']: 'https://app.test, https://*.partners.test', [N + 'cors-allow-credentials']: 'false', [N + 'cors-expose-headers']: 'X-Total' },
          paths: [{ path: '/', service: 'corsy' }],
        }),
        annotatedIngressYaml({
          name: 'cors-auth',
          host: 'cors-auth.test',
          annotations: { [N + 'enable-cors']: 'true', [N + 'cors-allow-origin']: 'https://app.test', [N + 'auth-type']: 'basic', [N + 'auth-secret']: 'htpasswd' },
          paths: [{ path: '/', service: 'corsy' }],
        }),
      ].join('---\n'),
    );
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
        annotations: { [N + 'auth-snippet']: 'proxy_set_header X-Team a;', [N + 'auth-proxy-set-headers']: 'e2e/auth-headers' },
        paths: [{ path: '/', service: 'app' }],
      }),
    );
    // enforced access controls: source lists and basic auth (Secret in the Ingress's namespace)
    writeFileSync(
      path.join(dir, 'access.yaml'),
      [
        annotatedIngressYaml({ name: 'lan-only', host: 'lan.test', annotations: { [N + 'whitelist-source-range']: '10.0.0.0/8, 2001:db8::/32' }, paths: [{ path: '/', service: 'echo' }] }),
        annotatedIngressYaml({ name: 'loopback-ok', host: 'loopback.test', annotations: { [N + 'allowlist-source-range']: '127.0.0.1, ::1' }, paths: [{ path: '/', service: 'echo' }] }),
        annotatedIngressYaml({ name: 'deny-loopback', host: 'deny.test', annotations: { [N + 'denylist-source-range']: '127.0.0.0/8' }, paths: [{ path: '/', service: 'echo' }] }),
        annotatedIngressYaml({ name: 'bad-cidr', host: 'badcidr.test', annotations: { [N + 'whitelist-source-range']: '10.0.0.0/33' }, paths: [{ path: '/', service: 'echo' }] }),
        annotatedIngressYaml({
          name: 'basic',
          host: 'basic.test',
          annotations: { [N + 'auth-type']: 'basic', [N + 'auth-secret']: 'htpasswd', [N + 'auth-realm']: 'Authentication Required - foo' },
          paths: [{ path: '/', service: 'echo' }],
        }),
        annotatedIngressYaml({ name: 'no-secret', host: 'nosecret.test', annotations: { [N + 'auth-type']: 'basic', [N + 'auth-secret']: 'nowhere' }, paths: [{ path: '/', service: 'echo' }] }),
        // satisfy: the loopback client is outside the allow-list, so the password decides (any)
        // or is not enough (all)
        ...(['any', 'all'] as const).map((mode) =>
          annotatedIngressYaml({
            name: `satisfy-${mode}`,
            host: `satisfy-${mode}.test`,
            annotations: { [N + 'whitelist-source-range']: '10.0.0.0/8', [N + 'auth-type']: 'basic', [N + 'auth-secret']: 'htpasswd', [N + 'satisfy']: mode },
            paths: [{ path: '/', service: 'echo' }],
          }),
        ),
        annotatedIngressYaml({
          name: 'satisfy-loopback',
          host: 'satisfy-loopback.test',
          annotations: { [N + 'whitelist-source-range']: '127.0.0.1, ::1', [N + 'auth-type']: 'basic', [N + 'auth-secret']: 'htpasswd', [N + 'satisfy']: 'any' },
          paths: [{ path: '/', service: 'echo' }],
        }),
      ].join('---\n'),
    );
    writeFileSync(path.join(dir, 'htpasswd.yaml'), htpasswdYaml(`alice:${BCRYPT}\nbob:${SHA}\n`));
    portico = await startPorticoProcess(['--manifests', dir, '--access-log', 'false']);
    await waitFor('readyz', async () => (await get(portico.healthPort, '/readyz')).status === 200, 10_000);
  });

  afterAll(async () => {
    await portico?.stop('SIGKILL');
    await app?.close();
    await echo?.close();
    await corsBackend?.close();
    unavailable?.closeAllConnections();
    redirector?.closeAllConnections();
    shadow?.closeAllConnections();
    await new Promise<void>((r) => (shadow ? shadow.close(() => r()) : r()));
    await new Promise<void>((r) => (redirector ? redirector.close(() => r()) : r()));
    pages?.closeAllConnections();
    await new Promise<void>((r) => (pages ? pages.close(() => r()) : r()));
    await new Promise<void>((r) => (unavailable ? unavailable.close(() => r()) : r()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('source address lists: outside the allow-list 403, inside it passes, deny-listed 403, an invalid list 503; upgrades refused too', async () => {
    const lan = await get(portico.httpPort, '/x', { host: 'lan.test' });
    expect(lan.status).toBe(403);
    expect(lan.headers['x-request-id']).toBeTruthy();
    expect(await upgradeStatus(portico.httpPort, 'lan.test', '/ws')).toBe(403);
    expect((await get(portico.httpPort, '/x', { host: 'loopback.test' })).status).toBe(200);
    expect((await get(portico.httpPort, '/x', { host: 'deny.test' })).status).toBe(403);
    expect(await upgradeStatus(portico.httpPort, 'deny.test', '/ws')).toBe(403);
    const bad = await get(portico.httpPort, '/x', { host: 'badcidr.test' });
    expect(bad.status).toBe(503);
    expect(bad.body).toContain('source address list');
  });

  it('basic auth: 401 with the realm without or with wrong credentials, 200 with them (bcrypt and {SHA}); a missing Secret 503', async () => {
    const basic = (user: string, password: string) => ({ host: 'basic.test', authorization: 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64') });
    const none = await get(portico.httpPort, '/x', { host: 'basic.test' });
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Basic realm="Authentication Required - foo"');
    expect((await get(portico.httpPort, '/x', basic('alice', 'wrong'))).status).toBe(401);
    expect((await get(portico.httpPort, '/x', basic('mallory', 'secret'))).status).toBe(401);
    const ok = await get(portico.httpPort, '/x', basic('alice', 'secret'));
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)).toMatchObject({ url: '/x' });
    expect((await get(portico.httpPort, '/y', basic('alice', 'secret'))).status).toBe(200);
    expect((await get(portico.httpPort, '/z', basic('bob', 'secret'))).status).toBe(200);
    expect(await upgradeStatus(portico.httpPort, 'basic.test', '/ws')).toBe(401);
    // a changed Secret applies without a restart: carol replaces bob
    writeFileSync(path.join(dir, 'htpasswd.yaml'), htpasswdYaml(`alice:${BCRYPT}\ncarol:${SHA}\n`));
    await waitFor('carol to be let in', async () => (await get(portico.httpPort, '/x', basic('carol', 'secret'))).status === 200, 10_000);
    expect((await get(portico.httpPort, '/x', basic('bob', 'secret'))).status).toBe(401);
    const missing = await get(portico.httpPort, '/x', { host: 'nosecret.test' });
    expect(missing.status).toBe(503);
    // no hash or credentials in any log line
    const logs = JSON.stringify(portico.logs);
    expect(logs).not.toContain(BCRYPT);
    expect(logs).not.toContain(SHA);
    expect(logs).not.toContain(Buffer.from('alice:secret').toString('base64'));
  });

  it('proxy-redirect-from/-to and proxy-cookie-path/-domain edit the upstream\'s Location and Set-Cookie', async () => {
    const r = await get(portico.httpPort, '/x', { host: 'rewrite-headers.test' });
    expect(r.status).toBe(302);
    expect(r.headers.location).toBe('https://rewrite-headers.test/app/login?next=%2F');
    expect(r.headers['set-cookie']).toEqual(['s=1; Path=/app/x; Domain=.rewrite-headers.test; HttpOnly', 't=2; Path=/two']);
  });

  it('mirror-target: the backend answers, and a copy with the body reaches the mirror with its Host', async () => {
    const r = await send(portico.httpPort, 'GET', '/orders?id=7', { host: 'mirrored.test' });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ url: '/orders?id=7' });
    await waitFor('the copy at the mirror', () => shadowSeen.length === 1, 5000);
    expect(shadowSeen[0]).toEqual({ method: 'GET', url: '/copy/orders?id=7', host: 'shadow.test', body: '' });
    // counted once the mirror answered
    await waitFor('the copy counted', async () => /^portico_mirror_requests_total\{result="sent"\} 1$/m.test((await get(portico.healthPort, '/metrics')).body), 5000);
  });

  it('affinity: cookie keeps a client on one endpoint of a two-endpoint Service, balanced and persistent', async () => {
    for (const [host, name] of [['sticky.test', 'route'], ['persistent.test', 'INGRESSCOOKIE']] as const) {
      const first = await get(portico.httpPort, '/x', { host });
      const setCookie = String(first.headers['set-cookie'] ?? '');
      expect(setCookie, host).toMatch(new RegExp(`^${name}=[0-9a-f]{20}; Path=/; HttpOnly$`));
      const cookie = setCookie.split(';')[0]!;
      const statuses = new Set<number>();
      for (let i = 0; i < 6; i++) {
        const r = await get(portico.httpPort, '/x', { host, cookie });
        statuses.add(r.status);
        expect(r.headers['set-cookie'], host).toBeUndefined();
      }
      // one endpoint answers 503, the other 200: a pinned client sees only one of them
      expect(statuses.size, host).toBe(1);
      expect(statuses.has(first.status), host).toBe(true);
    }
  });

  it('satisfy: any lets the password in from outside the allow-list and an allowed address in without one; all needs both', async () => {
    const creds = (host: string) => ({ host, authorization: 'Basic ' + Buffer.from('alice:secret').toString('base64') });
    const anyNone = await get(portico.httpPort, '/x', { host: 'satisfy-any.test' });
    expect(anyNone.status).toBe(401);
    expect(anyNone.headers['www-authenticate']).toBe('Basic realm=""');
    expect((await get(portico.httpPort, '/x', creds('satisfy-any.test'))).status).toBe(200);
    expect(await upgradeStatus(portico.httpPort, 'satisfy-any.test', '/ws')).toBe(401);
    expect((await get(portico.httpPort, '/x', { host: 'satisfy-loopback.test' })).status).toBe(200);
    expect((await get(portico.httpPort, '/x', { host: 'satisfy-all.test' })).status).toBe(403);
    expect((await get(portico.httpPort, '/x', creds('satisfy-all.test'))).status).toBe(403);
  });

  it('CORS: `*` on every response, a listed Origin echoed with Vary, preflights answered 204 without reaching the backend', async () => {
    const any = await send(portico.httpPort, 'GET', '/x', { host: 'cors-any.test' });
    expect(any.status).toBe(200);
    // the route's headers replace the backend's own (nginx more_set_headers); Vary adds up
    expect(any.headers['access-control-allow-origin']).toBe('*');
    expect(any.headers['access-control-allow-credentials']).toBe('true');
    // the preflight-only headers go on preflight answers
    expect(any.headers['access-control-allow-methods']).toBeUndefined();
    const anyPreflight = await send(portico.httpPort, 'OPTIONS', '/x', { host: 'cors-any.test' });
    expect(anyPreflight.headers['access-control-allow-methods']).toBe('GET, PUT, POST, DELETE, PATCH, OPTIONS');
    expect(anyPreflight.headers['access-control-max-age']).toBe('1728000');
    expect(any.headers.vary).toBe('Accept-Encoding');

    const before = corsBackend.methods.length;
    const preflight = await send(portico.httpPort, 'OPTIONS', '/x', { host: 'cors-list.test', origin: 'https://shop.partners.test', 'access-control-request-method': 'POST' });
    expect(preflight.status).toBe(204);
    expect(preflight.body).toBe('');
    expect(preflight.headers['access-control-allow-origin']).toBe('https://shop.partners.test');
    expect(preflight.headers['access-control-allow-credentials']).toBeUndefined();
    expect(preflight.headers['access-control-expose-headers']).toBe('X-Total');
    expect(preflight.headers['x-request-id']).toBeTruthy();
    expect(corsBackend.methods.length).toBe(before);

    const listed = await send(portico.httpPort, 'GET', '/x', { host: 'cors-list.test', origin: 'https://app.test' });
    expect(listed.headers['access-control-allow-origin']).toBe('https://app.test');
    expect(listed.headers.vary).toBe('Accept-Encoding, Origin');
    // not allowed: the backend answers as it would, with its own headers
    const other = await send(portico.httpPort, 'GET', '/x', { host: 'cors-list.test', origin: 'https://a.b.partners.test' });
    expect(other.headers['access-control-allow-origin']).toBe('https://backend.test');
    const otherPreflight = await send(portico.httpPort, 'OPTIONS', '/x', { host: 'cors-list.test', origin: 'https://evil.test' });
    expect(otherPreflight.status).toBe(200);
    expect(corsBackend.methods.slice(before)).toEqual(['GET', 'GET', 'OPTIONS']);
  });

  it('CORS with basic auth: the preflight needs no credentials, and the 401 carries the CORS headers', async () => {
    const preflight = await send(portico.httpPort, 'OPTIONS', '/api', { host: 'cors-auth.test', origin: 'https://app.test' });
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('https://app.test');
    const denied = await send(portico.httpPort, 'GET', '/api', { host: 'cors-auth.test', origin: 'https://app.test' });
    expect(denied.status).toBe(401);
    expect(denied.headers['access-control-allow-origin']).toBe('https://app.test');
    expect(denied.headers['www-authenticate']).toMatch(/^Basic realm=/);
    const ok = await send(portico.httpPort, 'GET', '/api', { host: 'cors-auth.test', origin: 'https://app.test', authorization: 'Basic ' + Buffer.from('alice:secret').toString('base64') });
    expect(ok.status).toBe(200);
    expect(ok.headers['access-control-allow-origin']).toBe('https://app.test');
  });

  it('proxy-next-upstream http_503: a pod answering 503 is skipped; without the annotation its 503 reaches the client', async () => {
    const before = unavailableHits;
    for (let i = 0; i < 4; i++) {
      const r = await get(portico.httpPort, `/r${i}`, { host: 'retry.test' });
      expect(r.status).toBe(200);
      expect(r.body).toBe(`app /r${i}\n`);
    }
    expect(unavailableHits - before).toBe(2); // every second request started there, then moved on
    const plain = await Promise.all([0, 1].map((i) => get(portico.httpPort, `/p${i}`, { host: 'noretry.test' })));
    expect(plain.map((r) => r.status).sort()).toEqual([200, 503]);
  });

  it('custom-http-errors with default-backend: the 503 becomes the error page; a Service without endpoints goes there too', async () => {
    const r = await get(portico.httpPort, '/cart?x=1', { host: 'errors.test' });
    expect(r.status).toBe(503);
    expect(r.body).toBe('page for 503 of /cart?x=1\n');
    const empty = await get(portico.httpPort, '/empty/a', { host: 'errors.test' });
    expect(empty.status).toBe(503);
    expect(empty.body).toBe('page for 503 of /empty/a\n');
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
    await waitFor('a log line naming the annotation', () => portico.logs.some((l) => l.reason === 'UnsupportedAnnotation' && String(l.msg ?? l.message).includes(`${N}auth-snippet`)));
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
    expect(await declaredStatus(portico.httpPort, 'uploads.test', '/', 2 * 1024 * 1024 + 1)).toBe(413);
    // the rewrite Ingress has no limit of its own: --proxy-body-size, 1m by default
    expect(await declaredStatus(portico.httpPort, 'rewrite.test', '/something/x', 1024 * 1024 + 1)).toBe(413);
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
