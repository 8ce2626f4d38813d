// Request predicates through the proxy, over sockets: a RouteTable built from a VirtualHost
// whose rules of one path differ by method, header and query (Gateway API HTTPRouteMatch)
// sends HTTP/1.1 requests, HTTP/2 streams and WebSocket upgrades to different backends; a
// longer path whose rule does not hold falls to the shorter one.

import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { routePredicates, type RoutePredicates } from '../../src/model/predicates.ts';
import { RouteTable } from '../../src/model/route-table.ts';
import type { Route } from '../../src/model/types.ts';
import { silentLogger } from '../../src/observe/log.ts';
import { createHttpsListener } from '../../src/proxy/https-listener.ts';
import { DEFAULT_PROXY_SETTINGS, Proxy } from '../../src/proxy/proxy.ts';
import { generateSelfSigned } from '../../src/tls/default-certificate.ts';
import { FakeEndpoints, makeRoute, request, startProxy, startUpstream, statusOf, until } from './fixtures.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

let frontCert = { certPem: '', keyPem: '' };
beforeAll(async () => {
  frontCert = await generateSelfSigned({ commonName: 'app.test', dnsNames: ['app.test'] });
});

function rule(path: string, key: string, predicates?: RoutePredicates): Route {
  const r = makeRoute({ host: 'app.test', path, key });
  return predicates === undefined ? r : { ...r, predicates };
}

/** Backends that answer with their name; upgrades get a 101 naming them in X-Served-By. */
async function backends(names: string[]): Promise<FakeEndpoints> {
  const endpoints = new FakeEndpoints();
  for (const name of names) {
    const up = await startUpstream((_req, res) => res.end(name));
    up.server.on('upgrade', (_req, socket: net.Socket) => {
      socket.on('error', () => {});
      socket.end(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Served-By: ${name}\r\n\r\n`);
    });
    cleanups.push(() => up.close());
    endpoints.set(name, [up.port]);
  }
  return endpoints;
}

/** /api: plain, POST, header x-env: canary, query v=2; /api/v2: DELETE only; no host default. */
function config(): RouteTable {
  const routes = [
    rule('/api', 'plain'),
    rule('/api', 'post', routePredicates({ method: 'POST' })),
    rule('/api', 'canary', routePredicates({ headers: [{ name: 'X-Env', value: 'canary' }] })),
    rule('/api', 'v2', routePredicates({ query: [{ name: 'v', value: '2' }] })),
    rule('/api/v2', 'delete', routePredicates({ method: 'DELETE' })),
  ];
  return new RouteTable({ version: 1, virtualHosts: [{ host: 'app.test', routes, fallback: null }], defaultRoute: null, problems: [], ingresses: [] });
}

const NAMES = ['plain', 'post', 'canary', 'v2', 'delete'];

/** One raw upgrade request; resolves with the response head (bounded). */
function upgradeHead(port: number, path: string, extra: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let buf = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no upgrade answer, got ${JSON.stringify(buf)}`));
    }, 5000);
    socket.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      clearTimeout(timer);
      socket.destroy();
      resolve(buf.slice(0, end));
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.write(`GET ${path} HTTP/1.1\r\nHost: app.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`);
  });
}

/** One HTTP/2 stream over TLS; resolves with status and body (bounded). */
function h2(port: number, headers: http2.OutgoingHttpHeaders): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca: frontCert.certPem, servername: 'app.test' });
    session.on('error', reject);
    const req = session.request({ ':authority': 'app.test', ...headers });
    let status = 0;
    let body = '';
    req.setEncoding('utf8');
    req.on('response', (h) => (status = Number(h[':status'])));
    req.on('data', (c: string) => (body += c));
    req.on('error', reject);
    const timer = setTimeout(() => req.close(http2.constants.NGHTTP2_CANCEL), 10_000);
    req.on('close', () => {
      clearTimeout(timer);
      session.close();
      resolve({ status, body });
    });
    req.end();
  });
}

describe('request predicates in the proxy', () => {
  it('HTTP/1.1: method, header and query send requests of one path to different backends; a longer path falls to a shorter one', async () => {
    const endpoints = await backends(NAMES);
    const p = await startProxy({ config: config(), endpoints });
    cleanups.push(() => p.close());
    const body = async (opts: Parameters<typeof request>[1]) => {
      const r = await request(p.port, opts);
      return `${r.status} ${r.body.toString()}`;
    };
    expect(await body({ path: '/api/items' })).toBe('200 plain');
    expect(await body({ method: 'POST', path: '/api/items', body: 'x' })).toBe('200 post');
    expect(await body({ path: '/api/items', headers: { 'x-env': 'canary' } })).toBe('200 canary');
    expect(await body({ path: '/api/items', headers: { 'X-ENV': 'Canary' } })).toBe('200 plain'); // values are case-sensitive
    expect(await body({ path: '/api/items?a=1&v=2' })).toBe('200 v2');
    expect(await body({ path: '/api/items?v=3' })).toBe('200 plain');
    expect(await body({ method: 'DELETE', path: '/api/v2/x' })).toBe('200 delete');
    expect(await body({ path: '/api/v2/x', headers: { 'x-env': 'canary' } })).toBe('200 canary'); // falls to /api
    expect(await body({ method: 'POST', path: '/api/items', headers: { 'x-env': 'canary' }, body: 'x' })).toBe('200 post'); // a method match first
    // a header sent twice is compared as "a, canary"
    expect(await body({ path: '/api/items', headers: ['Host', 'app.test', 'X-Env', 'a', 'X-Env', 'canary'] })).toBe('200 plain');
    expect(await body({ path: '/other' })).toBe('404 not found\n');
    await until(() => p.infos.length === 11, 3000, 'every request reported');
    expect(p.infos.map((i) => i.status)).toEqual([200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 404]);
  });

  it('HTTP/2: the same decisions for streams (pseudo-headers are not headers)', async () => {
    const endpoints = await backends(NAMES);
    const current = config();
    const proxy = new Proxy({ config: () => current, endpoints, settings: DEFAULT_PROXY_SETTINGS, log: silentLogger, onRequestDone: () => {} });
    const listener = createHttpsListener(proxy, { tls: { cert: frontCert.certPem, key: frontCert.keyPem } });
    await new Promise<void>((r) => listener.server.listen(0, '127.0.0.1', () => r()));
    cleanups.push(async () => {
      listener.closeAllConnections();
      await new Promise<void>((r) => listener.server.close(() => r()));
      await proxy.close(500);
    });
    const port = (listener.server.address() as AddressInfo).port;
    const ask = async (headers: http2.OutgoingHttpHeaders) => {
      const r = await h2(port, headers);
      return `${r.status} ${r.body}`;
    };
    expect(await ask({ ':path': '/api/items' })).toBe('200 plain');
    expect(await ask({ ':method': 'POST', ':path': '/api/items' })).toBe('200 post');
    expect(await ask({ ':path': '/api/items', 'x-env': 'canary' })).toBe('200 canary');
    expect(await ask({ ':path': '/api/items?v=2' })).toBe('200 v2');
    expect(await ask({ ':method': 'DELETE', ':path': '/api/v2/x' })).toBe('200 delete');
    expect(await ask({ ':path': '/api/v2/x', 'x-env': 'canary' })).toBe('200 canary');
  });

  it('WebSocket upgrades: the same decisions as plain requests', async () => {
    const endpoints = await backends(NAMES);
    const p = await startProxy({ config: config(), endpoints });
    cleanups.push(() => p.close());
    const served = async (path: string, extra = '') => {
      const head = await upgradeHead(p.port, path, extra);
      return `${statusOf(head)} ${/X-Served-By: (\w+)/i.exec(head)?.[1] ?? ''}`;
    };
    expect(await served('/api/ws')).toBe('101 plain');
    expect(await served('/api/ws', 'X-Env: canary\r\n')).toBe('101 canary');
    expect(await served('/api/ws?v=2')).toBe('101 v2');
    expect(await served('/api/v2/ws', 'x-env: canary\r\n')).toBe('101 canary');
  });
});
