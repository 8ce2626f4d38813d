// External authentication through the built program (file mode), with an oauth2-proxy-like
// auth service written here: unauthenticated requests get the sign-in redirect with rd, a
// signed-in one reaches the backend with X-Auth-Request-User, a dead auth service gives 500
// and a slow one 500 after the deadline while other routes answer at once; WebSocket upgrades
// run the same check; --global-auth-url covers the other routes unless they opt out.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { get, startPorticoProcess, waitFor, type PorticoProcess } from './harness.ts';
import { INGRESS_CLASS_YAML, annotatedIngressYaml, serviceYaml } from './manifests.ts';

const N = 'nginx.ingress.kubernetes.io/';

interface Server {
  port: number;
  requests: number;
  close(): Promise<void>;
}

async function listen(server: http.Server, count: { requests: number }): Promise<Server> {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    get requests() {
      return count.requests;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/**
 * Like oauth2-proxy's /oauth2/auth: 202 with the user's headers for the session cookie, else
 * 401. /slow never answers; /global lets everything through but requests carrying X-Block.
 */
async function startAuthService(): Promise<Server> {
  const count = { requests: 0 };
  const server = http.createServer((req, res) => {
    count.requests++;
    if (req.url === '/slow') return; // never answers
    if (req.url === '/global') {
      res.writeHead(req.headers['x-block'] === undefined ? 200 : 403).end();
      return;
    }
    const cookie = req.headers.cookie ?? '';
    if (req.url === '/oauth2/auth' && cookie.includes('_oauth2_proxy=alice') && req.headers['x-original-url'] !== undefined) {
      res.writeHead(202, { 'X-Auth-Request-User': 'alice', 'X-Auth-Request-Email': 'alice@example.com' }).end();
    } else {
      res.writeHead(401, { 'Set-Cookie': '_oauth2_proxy_csrf=x; Path=/' }).end('unauthorized');
    }
  });
  return listen(server, count);
}

/** Answers with the identity headers it received; WebSocket upgrades get 101 with them. */
async function startBackend(): Promise<Server> {
  const count = { requests: 0 };
  const server = http.createServer((req, res) => {
    count.requests++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ url: req.url, user: req.headers['x-auth-request-user'] ?? null, email: req.headers['x-auth-request-email'] ?? null }));
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
    count.requests++;
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-User: ${String(req.headers['x-auth-request-user'])}\r\n\r\n`);
    socket.on('data', (d) => socket.write(d));
    socket.on('error', () => socket.destroy());
  });
  return listen(server, count);
}

/** A WebSocket handshake on a raw socket: the answer's head, then an echoed frame when it switched. */
function upgrade(port: number, host: string, cookie: string): Promise<{ head: string; echoed: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    let head = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer to the upgrade within 5 s: ${JSON.stringify(buf)}`));
    }, 5000);
    const done = (echoed: string): void => {
      clearTimeout(timer);
      s.destroy();
      resolve({ head, echoed });
    };
    s.on('data', (d) => {
      buf += d.toString('latin1');
      if (head === '') {
        const end = buf.indexOf('\r\n\r\n');
        if (end === -1) return;
        head = buf.slice(0, end + 4);
        buf = buf.slice(end + 4);
        if (!head.startsWith('HTTP/1.1 101')) return done('');
        s.write('ping');
      }
      if (buf.length >= 4) done(buf);
    });
    s.on('error', reject);
    s.write(
      `GET /ws HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n` +
        (cookie === '' ? '' : `Cookie: ${cookie}\r\n`) +
        '\r\n',
    );
  });
}

/** A local port that refuses connections. */
async function refusedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('external authentication (built program, file mode)', () => {
  let dir: string;
  let auth: Server;
  let backend: Server;
  let portico: PorticoProcess;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'portico-extauth-e2e-'));
    auth = await startAuthService();
    backend = await startBackend();
    const dead = await refusedPort();
    const authUrl = `http://127.0.0.1:${auth.port}`;
    writeFileSync(path.join(dir, 'services.yaml'), INGRESS_CLASS_YAML + '---\n' + serviceYaml('app', [backend.port]));
    writeFileSync(
      path.join(dir, 'ingresses.yaml'),
      [
        annotatedIngressYaml({
          name: 'app',
          host: 'app.test',
          annotations: {
            [N + 'auth-url']: `${authUrl}/oauth2/auth`,
            [N + 'auth-signin']: 'https://$host/oauth2/start',
            [N + 'auth-response-headers']: 'X-Auth-Request-User, X-Auth-Request-Email',
          },
          paths: [{ path: '/', service: 'app' }],
        }),
        annotatedIngressYaml({ name: 'down', host: 'down.test', annotations: { [N + 'auth-url']: `http://127.0.0.1:${dead}/check` }, paths: [{ path: '/', service: 'app' }] }),
        annotatedIngressYaml({ name: 'slow', host: 'slow.test', annotations: { [N + 'auth-url']: `${authUrl}/slow` }, paths: [{ path: '/', service: 'app' }] }),
        annotatedIngressYaml({ name: 'open', host: 'open.test', annotations: {}, paths: [{ path: '/', service: 'app' }] }),
        annotatedIngressYaml({ name: 'public', host: 'public.test', annotations: { [N + 'enable-global-auth']: 'false' }, paths: [{ path: '/', service: 'app' }] }),
      ].join('---\n'),
    );
    portico = await startPorticoProcess(['--manifests', dir, '--access-log', 'false', '--global-auth-url', `${authUrl}/global`]);
    await waitFor('readyz', async () => (await get(portico.healthPort, '/readyz')).status === 200, 10_000);
    await waitFor('the routes', async () => (await get(portico.httpPort, '/', { host: 'open.test' })).status === 200, 10_000);
  });

  afterAll(async () => {
    await portico?.stop('SIGKILL');
    await auth?.close();
    await backend?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('without a session: 302 to the sign-in page with the original URL in rd, the auth service\'s Set-Cookie, nothing upstream', async () => {
    const before = backend.requests;
    const r = await get(portico.httpPort, '/shop/cart?a=b&c=d', { host: 'app.test' });
    expect(r.status).toBe(302);
    expect(r.headers.location).toBe('https://app.test/oauth2/start?rd=http://app.test%2Fshop%2Fcart%3Fa%3Db%26c%3Dd');
    expect(r.headers['set-cookie']).toEqual(['_oauth2_proxy_csrf=x; Path=/']);
    expect(backend.requests).toBe(before);
  });

  it('with a session: 200, and the user headers from the auth service reach the backend (a client\'s own are replaced)', async () => {
    const r = await get(portico.httpPort, '/shop', { host: 'app.test', cookie: '_oauth2_proxy=alice', 'x-auth-request-user': 'mallory' });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ url: '/shop', user: 'alice', email: 'alice@example.com' });
  });

  it('a dead auth service: 500; a silent one: 500 after the 5 s deadline, while other routes answer at once', async () => {
    expect((await get(portico.httpPort, '/', { host: 'down.test' })).status).toBe(500);
    const t0 = Date.now();
    const slow = get(portico.httpPort, '/', { host: 'slow.test' }, 15_000);
    let slowDone = false;
    void slow.then(() => (slowDone = true), () => (slowDone = true));
    const open = await get(portico.httpPort, '/', { host: 'open.test' });
    expect(open.status).toBe(200);
    expect(slowDone).toBe(false);
    const r = await slow;
    expect(r.status).toBe(500);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(4500);
  }, 20_000);

  it('WebSocket upgrades: the sign-in redirect without a session, 101 with the user header and an echo with one', async () => {
    const refused = await upgrade(portico.httpPort, 'app.test', '');
    expect(refused.head).toMatch(/^HTTP\/1\.1 302 /);
    expect(refused.head).toMatch(/\r\nlocation: https:\/\/app\.test\/oauth2\/start\?rd=http:\/\/app\.test%2Fws\r\n/i);
    const through = await upgrade(portico.httpPort, 'app.test', '_oauth2_proxy=alice');
    expect(through.head).toMatch(/^HTTP\/1\.1 101 /);
    expect(through.head).toMatch(/\r\nX-User: alice\r\n/i);
    expect(through.echoed).toBe('ping');
  });

  it('--global-auth-url covers routes without their own auth-url; enable-global-auth "false" opts out', async () => {
    expect((await get(portico.httpPort, '/', { host: 'open.test', 'x-block': '1' })).status).toBe(403);
    expect((await get(portico.httpPort, '/', { host: 'open.test' })).status).toBe(200);
    expect((await get(portico.httpPort, '/', { host: 'public.test', 'x-block': '1' })).status).toBe(200);
  });
});
