// RoutePolicy.backendProtocol: HTTPS (TLS to the pod, verification configurable), H2C/GRPC
// (HTTP/2 cleartext, prior knowledge) and GRPCS (HTTP/2 over TLS), pools per endpoint and mode,
// `te: trailers` only to HTTP/2 upstreams, trailers relayed to HTTP/2 clients, HTTP/2 request
// bodies without Content-Length.

import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observe/log.ts';
import { createHttpsListener } from '../../src/proxy/https-listener.ts';
import { DEFAULT_PROXY_SETTINGS, Proxy } from '../../src/proxy/proxy.ts';
import type { ProxySettings, RequestInfo } from '../../src/proxy/proxy.ts';
import { generateSelfSigned } from '../../src/tls/default-certificate.ts';
import { FakeConfig, FakeEndpoints, closeServer, rawExchange, request, startProxy, startUpstream, statusOf } from './fixtures.ts';
import type { RouteSpec, RunningProxy } from './fixtures.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

let backendCert = { certPem: '', keyPem: '' };
let frontCert = { certPem: '', keyPem: '' };
beforeAll(async () => {
  backendCert = await generateSelfSigned({ commonName: 'backend.test', dnsNames: ['backend.test'] });
  frontCert = await generateSelfSigned({ commonName: 'app.test', dnsNames: ['app.test'] });
});

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await closeServer(server);
  });
  return (server.address() as AddressInfo).port;
}

/** HTTPS upstream; records the SNI of each TLS connection. */
async function httpsUpstream(handler: http.RequestListener): Promise<{ port: number; sni: string[]; server: https.Server }> {
  const sni: string[] = [];
  const server = https.createServer({ cert: backendCert.certPem, key: backendCert.keyPem }, handler);
  server.on('secureConnection', (s: tls.TLSSocket) => sni.push(String(s.servername)));
  server.on('tlsClientError', () => {});
  const port = await listen(server);
  return { port, sni, server };
}

async function proxyFor(routes: RouteSpec[], endpoints: FakeEndpoints, settings: Partial<ProxySettings> = {}): Promise<RunningProxy> {
  const p = await startProxy({ routes, endpoints, settings });
  cleanups.push(() => p.close());
  return p;
}

/** Portico behind its HTTPS listener (h2 + http/1.1 through ALPN). */
async function httpsProxyFor(routes: RouteSpec[], endpoints: FakeEndpoints): Promise<{ port: number; proxy: Proxy; infos: RequestInfo[] }> {
  const config = new FakeConfig(routes);
  const infos: RequestInfo[] = [];
  const proxy = new Proxy({ config: () => config, endpoints, settings: DEFAULT_PROXY_SETTINGS, log: silentLogger, onRequestDone: (i) => infos.push({ ...i }) });
  const listener = createHttpsListener(proxy, { tls: { cert: frontCert.certPem, key: frontCert.keyPem } });
  await new Promise<void>((r) => listener.server.listen(0, '127.0.0.1', () => r()));
  cleanups.push(async () => {
    listener.closeAllConnections();
    await new Promise<void>((r) => listener.server.close(() => r()));
    await proxy.close(500);
  });
  return { port: (listener.server.address() as AddressInfo).port, proxy, infos };
}

interface H2Reply {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
  trailers: http2.IncomingHttpHeaders | null;
}

/** One HTTP/2 request over TLS to the proxy; `body` chunks are written with a pause between them. */
function h2request(port: number, headers: http2.OutgoingHttpHeaders, body: Buffer[] = []): Promise<H2Reply> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca: frontCert.certPem, servername: 'app.test' });
    session.on('error', reject);
    const req = session.request({ ':authority': 'app.test', ...headers }, { endStream: body.length === 0 });
    const chunks: Buffer[] = [];
    let status = 0;
    let head: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | null = null;
    req.on('response', (h) => {
      status = Number(h[':status']);
      head = h;
    });
    req.on('trailers', (t) => (trailers = t));
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', reject);
    req.on('close', () => {
      session.close();
      resolve({ status, headers: head, body: Buffer.concat(chunks), trailers });
    });
    const timer = setTimeout(() => req.close(http2.constants.NGHTTP2_CANCEL), 10_000);
    req.on('close', () => clearTimeout(timer));
    if (body.length > 0) {
      let i = 0;
      const next = (): void => {
        if (i === body.length) {
          req.end();
          return;
        }
        req.write(body[i++]);
        setTimeout(next, 5);
      };
      next();
    }
  });
}

function route(key: string, extra: Partial<RouteSpec> = {}): RouteSpec {
  return { host: 'app.test', key, ...extra };
}

describe('backend-protocol HTTPS', () => {
  it('verification off (default): TLS to the pod, SNI is the Service DNS name, Host kept', async () => {
    let seen: { host: string | undefined; encrypted: boolean } = { host: undefined, encrypted: false };
    const up = await httpsUpstream((req, res) => {
      seen = { host: req.headers.host, encrypted: (req.socket as tls.TLSSocket).encrypted === true };
      res.end('over tls');
    });
    const endpoints = new FakeEndpoints();
    endpoints.set('web', [up.port]);
    const p = await proxyFor([route('web', { backendProtocol: 'HTTPS', service: 'web' })], endpoints);
    const r = await request(p.port, {});
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('over tls');
    expect(seen).toEqual({ host: 'app.test', encrypted: true });
    expect(up.sni).toEqual(['web.default.svc']);
    // a second request reuses the pool's keep-alive connection
    expect((await request(p.port, {})).status).toBe(200);
    expect(up.sni).toHaveLength(1);
  });

  it('verification on: trusted CA and matching server name → 200', async () => {
    const up = await httpsUpstream((_req, res) => res.end('verified'));
    const endpoints = new FakeEndpoints();
    endpoints.set('web', [up.port]);
    const p = await proxyFor(
      [route('web', { backendProtocol: 'HTTPS', backendTlsVerify: true, backendTlsServerName: 'backend.test' })],
      endpoints,
      { backendCa: backendCert.certPem },
    );
    const r = await request(p.port, {});
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('verified');
    expect(up.sni).toEqual(['backend.test']);
  });

  it('verification on: wrong server name → 502; untrusted certificate → 502', async () => {
    const up = await httpsUpstream((_req, res) => res.end('should not be seen'));
    const endpoints = new FakeEndpoints();
    endpoints.set('web', [up.port]);
    const wrong = await proxyFor(
      [route('web', { backendProtocol: 'HTTPS', backendTlsVerify: true, backendTlsServerName: 'wrong.test' })],
      endpoints,
      { backendCa: backendCert.certPem },
    );
    const r1 = await request(wrong.port, {});
    expect(r1.status).toBe(502);
    expect(wrong.infos.at(-1)?.error).not.toBeNull();

    // the default trust store does not know the self-signed certificate
    const untrusted = await proxyFor([route('web', { backendProtocol: 'HTTPS', backendTlsVerify: true, backendTlsServerName: 'backend.test' })], endpoints);
    expect((await request(untrusted.port, {})).status).toBe(502);
  });

  it('a plain-HTTP route to a TLS port fails (502), the HTTPS route to it works', async () => {
    const up = await httpsUpstream((_req, res) => res.end('ok'));
    const endpoints = new FakeEndpoints();
    endpoints.set('web', [up.port]);
    const p = await proxyFor([route('web', { backendProtocol: 'HTTPS' }), { host: 'plain.test', key: 'web' }], endpoints);
    expect((await request(p.port, {})).status).toBe(200);
    expect((await request(p.port, { host: 'plain.test' })).status).toBe(502);
    // one endpoint, two modes → two pools
    expect(p.proxy.upstreamCount).toBe(1);
    expect(p.proxy.poolCount).toBe(2);
  });

  it('WebSocket upgrades go over TLS too, with the SNI of the route', async () => {
    const up = await httpsUpstream((_req, res) => res.end());
    up.server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
      socket.end(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Seen-Host: ${req.headers.host}\r\n\r\n`);
    });
    const endpoints = new FakeEndpoints();
    endpoints.set('ws', [up.port]);
    const p = await proxyFor([route('ws', { backendProtocol: 'HTTPS', backendTlsServerName: 'backend.test' })], endpoints);
    const raw = await rawExchange(
      p.port,
      'GET /chat HTTP/1.1\r\nHost: app.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      500,
    );
    expect(statusOf(raw)).toBe(101);
    expect(raw.toLowerCase()).toContain('x-seen-host: app.test');
    expect(up.sni).toEqual(['backend.test']);
  });
});

describe('backend-protocol H2C / GRPC', () => {
  async function h2cUpstream(handler: (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void): Promise<number> {
    const server = http2.createServer(handler);
    const sessions = new Set<http2.ServerHttp2Session>();
    server.on('session', (s) => {
      sessions.add(s);
      s.on('close', () => sessions.delete(s));
    });
    cleanups.push(async () => {
      for (const s of sessions) s.destroy();
    });
    return listen(server);
  }

  it('an HTTP/1.1 client reaches an h2c pod: headers, body, repeated response headers; no trailers for h1', async () => {
    let seen: { version: string; authority: string | undefined; xfp: string | undefined; body: string; custom: string | undefined } | null = null;
    const port = await h2cUpstream((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen = {
          version: req.httpVersion,
          authority: req.headers[':authority'],
          xfp: req.headers['x-forwarded-proto'] as string | undefined,
          body: Buffer.concat(chunks).toString(),
          custom: req.headers['x-custom'] as string | undefined,
        };
        res.setHeader('set-cookie', ['a=1', 'b=2']);
        res.setHeader('x-from', 'h2c');
        res.addTrailers({ 'x-checksum': 'abc' });
        res.end('hello h2c');
      });
    });
    const endpoints = new FakeEndpoints();
    endpoints.set('svc', [port]);
    const p = await proxyFor([route('svc', { backendProtocol: 'H2C' })], endpoints);
    const r = await request(p.port, { method: 'POST', headers: { 'X-Custom': 'Yes' }, body: 'payload' });
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('hello h2c');
    expect(r.headers['x-from']).toBe('h2c');
    expect(r.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(r.headers['x-request-id']).toBeUndefined(); // responseRequestId is off by default
    expect(seen).toEqual({ version: '2.0', authority: 'app.test', xfp: 'http', body: 'payload', custom: 'Yes' });
  });

  it('te: trailers is forwarded to HTTP/2 upstreams only', async () => {
    const h2Te: (string | undefined)[] = [];
    const port = await h2cUpstream((req, res) => {
      h2Te.push(req.headers.te as string | undefined);
      res.end();
    });
    const h1Te: (string | undefined)[] = [];
    const h1 = await startUpstream((req, res) => {
      h1Te.push(req.headers.te as string | undefined);
      res.end();
    });
    cleanups.push(() => h1.close());
    const endpoints = new FakeEndpoints();
    endpoints.set('h2', [port]);
    endpoints.set('h1', [h1.port]);
    const p = await proxyFor([route('h2', { backendProtocol: 'GRPC' }), { host: 'h1.test', key: 'h1' }], endpoints);
    const withTe = { te: 'trailers, deflate', connection: 'te' };
    expect((await request(p.port, { headers: withTe })).status).toBe(200);
    expect((await request(p.port, {})).status).toBe(200);
    expect((await request(p.port, { host: 'h1.test', headers: { host: 'h1.test', ...withTe } })).status).toBe(200);
    expect(h2Te).toEqual(['trailers', undefined]);
    expect(h1Te).toEqual([undefined]);
  });

  it('an HTTP/2 client gets the upstream trailers; a streamed request body without Content-Length arrives whole', async () => {
    let received = '';
    let sawLength: string | undefined = 'unset';
    const port = await h2cUpstream((req, res) => {
      sawLength = req.headers['content-length'];
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received = Buffer.concat(chunks).toString();
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.addTrailers({ 'x-status': 'fine', 'x-count': String(received.length) });
        res.end('body');
      });
    });
    const endpoints = new FakeEndpoints();
    endpoints.set('svc', [port]);
    const p = await httpsProxyFor([route('svc', { backendProtocol: 'H2C' })], endpoints);
    const r = await h2request(p.port, { ':method': 'POST', ':path': '/upload' }, [Buffer.from('one,'), Buffer.from('two,'), Buffer.from('three')]);
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('body');
    expect(received).toBe('one,two,three');
    expect(sawLength).toBeUndefined();
    expect(r.trailers?.['x-status']).toBe('fine');
    expect(r.trailers?.['x-count']).toBe('13');
  });

  it('an HTTP/2 request body without Content-Length reaches an HTTP/1.1 upstream too (chunked, or with its length when it was whole before dispatch)', async () => {
    let received = '';
    let te: string | undefined;
    let length: string | undefined;
    const up = await startUpstream((req, res) => {
      te = req.headers['transfer-encoding'];
      length = req.headers['content-length'];
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received = Buffer.concat(chunks).toString();
        res.end('ok');
      });
    });
    cleanups.push(() => up.close());
    const endpoints = new FakeEndpoints();
    endpoints.set('svc', [up.port]);
    const p = await httpsProxyFor([route('svc')], endpoints);
    const r = await h2request(p.port, { ':method': 'POST', ':path': '/' }, [Buffer.from('a'), Buffer.from('b')]);
    expect(r.status).toBe(200);
    expect(received).toBe('ab');
    // counted through the body limit, a body that arrived whole before the dispatch has a
    // known length (undici then sends Content-Length); else it streams chunked
    expect(te === 'chunked' ? length : `${te} ${length}`).toBe(te === 'chunked' ? undefined : 'undefined 2');
    // a GET whose HEADERS end the stream still has no body
    const g = await h2request(p.port, { ':method': 'GET', ':path': '/' });
    expect(g.status).toBe(200);
  });

  it('one endpoint used by an HTTP and an H2C route: two pools, each protocol on its own connections', async () => {
    const versions: string[] = [];
    const h1 = http.createServer((req, res) => {
      versions.push(req.httpVersion);
      res.end('h1');
    });
    const h2 = http2.createServer((req, res) => {
      versions.push(req.httpVersion);
      res.end('h2');
    });
    const h2port = await listen(h2);
    // one port speaking both: the HTTP/2 connection preface decides (an h2 session reads the
    // socket's handle directly, so h2 connections are relayed to h2's own port instead)
    const dual = net.createServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', (first: Buffer) => {
        if (first.subarray(0, 3).toString() === 'PRI') {
          const relay = net.connect(h2port, '127.0.0.1');
          relay.on('error', () => socket.destroy());
          relay.write(first);
          socket.pipe(relay).pipe(socket);
          socket.on('close', () => relay.destroy());
        } else {
          socket.pause();
          socket.unshift(first);
          h1.emit('connection', socket);
          socket.resume();
        }
      });
    });
    const port = await listen(dual);
    const endpoints = new FakeEndpoints();
    endpoints.set('svc', [port]);
    const p = await proxyFor([route('svc'), { host: 'h2.test', key: 'svc', backendProtocol: 'H2C' }], endpoints);
    expect((await request(p.port, {})).body.toString()).toBe('h1');
    expect((await request(p.port, { host: 'h2.test' })).body.toString()).toBe('h2');
    expect(versions).toEqual(['1.1', '2.0']);
    expect(p.proxy.upstreamCount).toBe(1);
    expect(p.proxy.poolCount).toBe(2);
    // retiring the endpoint closes both pools
    endpoints.set('svc', []);
    p.proxy.sweep();
    expect(p.proxy.poolCount).toBe(0);
  });

  it('concurrent requests are multiplexed on one HTTP/2 connection to the pod', async () => {
    let sessions = 0;
    let open = 0;
    let maxOpen = 0;
    const server = http2.createServer((_req, res) => {
      open++;
      maxOpen = Math.max(maxOpen, open);
      setTimeout(() => {
        open--;
        res.end('ok');
      }, 30);
    });
    server.on('session', () => sessions++);
    const port = await listen(server);
    const endpoints = new FakeEndpoints();
    endpoints.set('svc', [port]);
    const p = await proxyFor([route('svc', { backendProtocol: 'H2C' })], endpoints);
    const replies = await Promise.all(Array.from({ length: 20 }, () => request(p.port, {})));
    expect(replies.every((r) => r.status === 200)).toBe(true);
    expect(sessions).toBe(1);
    expect(maxOpen).toBeGreaterThan(1);
  });

  it('an unreachable h2c endpoint → 502', async () => {
    const s = net.createServer();
    const port = await listen(s);
    await closeServer(s);
    const endpoints = new FakeEndpoints();
    endpoints.set('svc', [port]);
    const p = await proxyFor([route('svc', { backendProtocol: 'GRPC' })], endpoints);
    expect((await request(p.port, {})).status).toBe(502);
  });
});

describe('backend-protocol GRPCS (HTTP/2 over TLS)', () => {
  it('negotiates h2 even when the pod also offers HTTP/1.1; trailers reach the HTTP/2 client', async () => {
    const seen: { version: string; alpn: string | false | null; te: string | undefined }[] = [];
    const server = http2.createSecureServer({ cert: backendCert.certPem, key: backendCert.keyPem, allowHTTP1: true }, (req, res) => {
      seen.push({ version: req.httpVersion, alpn: (req.socket as tls.TLSSocket).alpnProtocol, te: req.headers.te as string | undefined });
      res.writeHead(200, { 'content-type': 'application/grpc' });
      res.addTrailers({ 'grpc-status': '0' });
      res.end(Buffer.from([0, 0, 0, 0, 0]));
    });
    server.on('tlsClientError', () => {});
    const sessions = new Set<http2.ServerHttp2Session>();
    server.on('session', (s) => {
      sessions.add(s);
      s.on('close', () => sessions.delete(s));
    });
    cleanups.push(async () => {
      for (const s of sessions) s.destroy();
    });
    const port = await listen(server);
    const endpoints = new FakeEndpoints();
    endpoints.set('svc', [port]);
    const p = await httpsProxyFor([route('svc', { backendProtocol: 'GRPCS' })], endpoints);
    const r = await h2request(p.port, { ':method': 'POST', ':path': '/pkg.Svc/Call', 'content-type': 'application/grpc', te: 'trailers' }, [Buffer.from([0, 0, 0, 0, 0])]);
    expect(r.status).toBe(200);
    expect(r.trailers?.['grpc-status']).toBe('0');
    expect(seen).toEqual([{ version: '2.0', alpn: 'h2', te: 'trailers' }]);
  });
});
