// WebSocket (Upgrade) proxying over raw sockets: the upstream writes the 101 itself
// (Sec-WebSocket-Accept via node:crypto) and echoes bytes.

import crypto from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeConfig, FakeEndpoints, rawExchange, refusedPort, request, startProxy, startUpstream, statusOf, until } from './fixtures.ts';
import type { RunningProxy, Upstream } from './fixtures.ts';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const accept = (key: string) => crypto.createHash('sha1').update(key + GUID).digest('base64');

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

interface WsUpstream extends Upstream {
  wsSockets: Set<net.Socket>;
  handshakes: http.IncomingHttpHeaders[];
  /** Request targets of the upgrade requests received. */
  urls: string[];
  name: string;
}

async function wsUpstream(name = 'A', opts: { silent?: boolean } = {}): Promise<WsUpstream> {
  const u = (await startUpstream((req, res) => res.end(`${name} ${req.method} ${req.url} upgrade=${req.headers.upgrade ?? ''}`))) as WsUpstream;
  u.name = name;
  u.wsSockets = new Set();
  u.handshakes = [];
  u.urls = [];
  u.server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
    u.handshakes.push(req.headers);
    u.urls.push(req.url ?? '');
    socket.on('error', () => {});
    socket.on('end', () => socket.destroy()); // peer closed: so do we (like a WebSocket server)
    if (opts.silent) {
      socket.resume(); // never answers, but notices the proxy hanging up
      return;
    }
    if (req.url === '/deny') {
      socket.end('HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\nContent-Type: text/plain\r\nContent-Length: 7\r\n\r\ndenied\n');
      return;
    }
    const key = String(req.headers['sec-websocket-key']);
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${accept(key)}\r\nX-Served-By: ${name}\r\n\r\n`,
    );
    u.wsSockets.add(socket);
    socket.on('close', () => u.wsSockets.delete(socket));
    socket.on('data', (d) => socket.write(Buffer.concat([Buffer.from(`${name}:`), d])));
  });
  cleanups.push(() => u.close());
  return u;
}

async function proxyFor(opts: Parameters<typeof startProxy>[0]): Promise<RunningProxy> {
  const p = await startProxy(opts);
  cleanups.push(() => p.close());
  return p;
}

interface Ws {
  socket: net.Socket;
  status: number;
  head: string;
  body: string;
  /** Send bytes and wait for `expect` to arrive. */
  roundTrip(data: string): Promise<string>;
}

/** Raw client handshake; resolves once the response head (and for non-101, the close) arrived. */
function wsConnect(port: number, opts: { host?: string; path?: string; extra?: string } = {}): Promise<Ws> {
  return new Promise((resolve, reject) => {
    const key = crypto.randomBytes(16).toString('base64');
    const socket = net.connect(port, '127.0.0.1');
    let buf = '';
    let done = false;
    const t = setTimeout(() => finish(), 5000);
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(t);
      socket.removeListener('data', onData);
      const end = buf.indexOf('\r\n\r\n');
      const head = end === -1 ? buf : buf.slice(0, end);
      const status = statusOf(head);
      if (status === 101 && !head.includes(`Sec-WebSocket-Accept: ${accept(key)}`) && !head.toLowerCase().includes(`sec-websocket-accept: ${accept(key).toLowerCase()}`)) {
        reject(new Error(`bad accept in ${head}`));
        return;
      }
      const ws: Ws = {
        socket,
        status,
        head,
        body: end === -1 ? '' : buf.slice(end + 4),
        roundTrip: (data) =>
          new Promise((res2, rej2) => {
            let got = '';
            const tt = setTimeout(() => rej2(new Error(`no echo for ${data}, got ${got}`)), 3000);
            const on = (d: Buffer) => {
              got += d.toString();
              if (got.endsWith(data)) {
                clearTimeout(tt);
                socket.removeListener('data', on);
                res2(got);
              }
            };
            socket.on('data', on);
            socket.write(data);
          }),
      };
      resolve(ws);
    };
    const onData = (d: Buffer) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end !== -1 && statusOf(buf) === 101) finish();
    };
    socket.on('data', onData);
    socket.on('close', finish);
    socket.on('error', () => finish());
    socket.write(
      `GET ${opts.path ?? '/ws'} HTTP/1.1\r\nHost: ${opts.host ?? 'app.test'}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${opts.extra ?? ''}\r\n`,
    );
    cleanups.push(async () => {
      socket.destroy();
    });
  });
}

function routeTo(ports: number[], lb: 'round-robin' | 'least-conn' = 'round-robin') {
  const endpoints = new FakeEndpoints();
  endpoints.set('svc', ports);
  return { routes: [{ host: 'app.test', key: 'svc', lb }], endpoints };
}

describe('WebSocket upgrade', () => {
  it('routes on and forwards the normalised path, like plain requests', async () => {
    const u = await wsUpstream();
    const p = await proxyFor(routeTo([u.port]));
    const ws = await wsConnect(p.port, { path: '/x/%2e%2e//ws?room=1' });
    expect(ws.status).toBe(101);
    expect(u.urls).toEqual(['/ws?room=1']);
  });

  it('relays the 101 and frames both ways; upstream gets forwarded headers and Host as sent', async () => {
    const u = await wsUpstream();
    const p = await proxyFor(routeTo([u.port]));
    const ws = await wsConnect(p.port, { host: 'app.test:8080', extra: 'X-Forwarded-For: 6.6.6.6\r\nSec-WebSocket-Protocol: chat\r\n' });
    expect(ws.status).toBe(101);
    expect(ws.head).not.toMatch(/x-request-id/i); // responseRequestId is off by default
    expect(ws.head).toMatch(/x-served-by: A/i);
    expect(await ws.roundTrip('hello')).toBe('A:hello');
    // a real masked text frame, byte-exact
    const frame = Buffer.from([0x81, 0x83, 1, 2, 3, 4, 'a'.charCodeAt(0) ^ 1, 'b'.charCodeAt(0) ^ 2, 'c'.charCodeAt(0) ^ 3]);
    expect(await ws.roundTrip(frame.toString('latin1'))).toBe('A:' + frame.toString('latin1'));
    const h = u.handshakes[0]!;
    expect(h.host).toBe('app.test:8080');
    expect(h['x-forwarded-for']).toBe('127.0.0.1');
    expect(h['x-forwarded-proto']).toBe('http');
    expect(h['sec-websocket-protocol']).toBe('chat');
    expect(h.upgrade).toBe('websocket');
    expect(String(h.connection).toLowerCase()).toBe('upgrade');
    expect(h['x-request-id']).toBeTruthy();
  });

  it('keeps an open WebSocket while config() starts returning new config objects and endpoints change', async () => {
    const u = await wsUpstream();
    const cfg = routeTo([u.port]);
    const p = await proxyFor(cfg);
    const ws = await wsConnect(p.port);
    expect(await ws.roundTrip('one')).toBe('A:one');
    for (let v = 2; v < 12; v++) {
      p.config.current = new FakeConfig(v % 2 === 0 ? [] : [{ host: 'app.test', key: 'svc' }], v);
      cfg.endpoints.set('svc', v % 3 === 0 ? [] : [u.port]);
      p.proxy.sweep();
      expect(await ws.roundTrip(`msg${v}`)).toBe(`A:msg${v}`);
    }
    p.config.current = new FakeConfig([], 99);
    const late = await wsConnect(p.port);
    expect(late.status).toBe(404);
    expect(await ws.roundTrip('still')).toBe('A:still');
  });

  it('relays an upstream refusal (401 with headers and body) unchanged; with responseRequestId, 101s and refusals carry the id', async () => {
    const u = await wsUpstream();
    const p = await proxyFor({ ...routeTo([u.port]), settings: { responseRequestId: true } });
    const ok = await wsConnect(p.port);
    expect(ok.status).toBe(101);
    expect(ok.head).toMatch(/x-request-id: [A-Za-z0-9._-]+/i);
    const ws = await wsConnect(p.port, { path: '/deny' });
    expect(ws.status).toBe(401);
    expect(ws.head.toLowerCase()).toContain('www-authenticate: bearer');
    expect(ws.head.toLowerCase()).toMatch(/x-request-id: /);
    expect(ws.body).toContain('denied');
    await until(() => p.infos.some((i) => i.status === 401), 3000, 'the 401 to be reported');
    expect(p.infos.find((i) => i.status === 401)).toMatchObject({ upgrade: true, status: 401 });
  });

  it('answers 404 / 503 / 502 / 504 as raw HTTP on the socket', async () => {
    const endpoints = new FakeEndpoints();
    const dead = await refusedPort();
    endpoints.set('dead', [dead]);
    const silent = await wsUpstream('S', { silent: true });
    endpoints.set('silent', [silent.port]);
    const p = await proxyFor({
      routes: [
        { host: 'empty.test', key: 'none' },
        { host: 'dead.test', key: 'dead' },
        { host: 'silent.test', key: 'silent' },
      ],
      endpoints,
      settings: { responseHeaderTimeoutMs: 300 },
    });
    expect((await wsConnect(p.port, { host: 'nowhere.test' })).status).toBe(404);
    expect((await wsConnect(p.port, { host: 'empty.test' })).status).toBe(503);
    expect((await wsConnect(p.port, { host: 'dead.test' })).status).toBe(502);
    const t0 = Date.now();
    expect((await wsConnect(p.port, { host: 'silent.test' })).status).toBe(504);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    await until(() => p.infos.length === 4, 3000, '4 finished requests reported');
    expect(p.infos.map((i) => i.error).sort()).toEqual(['connect', 'headers_timeout', 'no_endpoints', 'no_route']);
    await until(() => silent.sockets.size === 0, 3000, 'the upstream sockets to close');
  });

  it('gets the same local answers as a plain request to the same URL (status, headers, body): one ladder, one writer', async () => {
    const endpoints = new FakeEndpoints();
    const p = await proxyFor({
      routes: [
        { host: 'direct.test', key: 'none', action: { kind: 'direct', status: 503, body: 'access control not enforced' } },
        { host: 'moved.test', key: 'none', action: { kind: 'redirect', status: 302, location: ['https://elsewhere.test', { variable: 'request_uri' }] } },
        { host: 'tls.test', key: 'none', forceSslRedirect: true },
        {
          host: 'guarded.test',
          key: 'none',
          filters: Object.freeze({
            sourceRange: Object.freeze({ allow: Object.freeze(['10.0.0.0/8']) }),
            cors: Object.freeze({ origins: '*', methods: 'GET', headers: 'X-A', expose: '', credentials: false, maxAge: 5 }),
          }) as never,
        },
        { host: 'empty.test', key: 'none' },
      ],
      endpoints,
    });
    const cases: [string, string][] = [
      ['nowhere.test', '/x'],
      ['direct.test', '/x'],
      ['moved.test', '/x?a=1'],
      ['tls.test', '/x?b=2'],
      ['guarded.test', '/x'],
      ['empty.test', '/x'],
    ];
    const names = (head: string) =>
      head
        .split('\r\n')
        .slice(1)
        .map((l) => l.slice(0, l.indexOf(':')).toLowerCase())
        .filter((n) => n !== '' && n !== 'x-request-id' && n !== 'connection' && n !== 'date' && n !== 'keep-alive')
        .sort();
    const valueOf = (head: string, name: string) => new RegExp(`^${name}: (.*)$`, 'im').exec(head)?.[1]?.trim();
    for (const [host, path] of cases) {
      const plain = await request(p.port, { host, path, headers: { origin: 'https://o.test' } });
      const ws = await wsConnect(p.port, { host, path, extra: 'Origin: https://o.test\r\n' });
      expect(ws.status, host).toBe(plain.status);
      expect(ws.body, host).toBe(plain.body.toString());
      const plainNames = Object.keys(plain.headers).filter((n) => !['x-request-id', 'connection', 'date', 'keep-alive'].includes(n)).sort();
      expect(names(ws.head), host).toEqual(plainNames);
      for (const n of plainNames) expect(valueOf(ws.head, n), `${host} ${n}`).toBe(String(plain.headers[n]));
      if (host === 'guarded.test') expect(plainNames).toContain('access-control-allow-origin');
      if (host === 'moved.test') expect(valueOf(ws.head, 'location')).toBe('https://elsewhere.test/x?a=1');
      expect(valueOf(ws.head, 'x-request-id'), host).toBeTruthy();
    }
    expect(p.infos.filter((i) => !i.upgrade).map((i) => i.status)).toEqual([404, 503, 302, 308, 403, 503]);
    expect(p.infos.find((i) => i.upgrade && i.status === 403)).toBeTruthy();
    expect(p.infos.filter((i) => i.upgrade).map((i) => `${i.status} ${i.error}`)).toEqual(
      p.infos.filter((i) => !i.upgrade).map((i) => `${i.status} ${i.error}`),
    );
  });

  it('counts open WebSockets toward least-conn', async () => {
    const a = await wsUpstream('A');
    const b = await wsUpstream('B');
    const p = await proxyFor(routeTo([a.port, b.port], 'least-conn'));
    const ws = await wsConnect(p.port);
    const holder = /x-served-by: (\w)/i.exec(ws.head)![1]!;
    const other = holder === 'A' ? 'B' : 'A';
    for (let i = 0; i < 10; i++) {
      const r = await request(p.port, { path: `/${i}` });
      expect(r.body.toString().split(' ')[0]).toBe(other);
    }
    ws.socket.destroy();
    await until(() => p.proxy.inFlight.upgrades === 0, 3000, 'no upgrade in flight');
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) seen.add((await request(p.port, {})).body.toString().split(' ')[0]!);
    expect(seen).toEqual(new Set(['A', 'B']));
  });

  it('closes the upstream side when the client goes away (no leaked sockets) and reports the exchange', async () => {
    const u = await wsUpstream();
    const p = await proxyFor(routeTo([u.port]));
    const socks: Ws[] = [];
    for (let i = 0; i < 5; i++) socks.push(await wsConnect(p.port));
    await until(() => u.wsSockets.size === 5, 3000, '5 upstream WebSockets');
    expect(p.proxy.inFlight.upgrades).toBe(5);
    for (const s of socks) s.socket.destroy();
    await until(() => u.wsSockets.size === 0, 3000, '0 upstream WebSockets');
    await until(() => p.proxy.inFlight.upgrades === 0, 3000, 'no upgrade in flight');
    await until(() => p.infos.length === 5, 3000, '5 finished requests reported');
    expect(p.infos.every((i) => i.upgrade && i.status === 101 && i.upstream === `127.0.0.1:${u.port}`)).toBe(true);
  });

  it('closes the client side when the upstream closes the WebSocket', async () => {
    const u = await wsUpstream();
    const p = await proxyFor(routeTo([u.port]));
    const ws = await wsConnect(p.port);
    expect(await ws.roundTrip('x')).toBe('A:x');
    const closed = new Promise<void>((r) => ws.socket.once('close', () => r()));
    for (const s of u.wsSockets) s.destroy();
    await closed;
    await until(() => p.proxy.inFlight.upgrades === 0, 3000, 'no upgrade in flight');
  });

  it('does not upgrade a POST with Upgrade: websocket: proxied as a plain request without Upgrade', async () => {
    const u = await wsUpstream();
    const p = await proxyFor(routeTo([u.port]));
    const raw = await rawExchange(
      p.port,
      'POST /x HTTP/1.1\r\nHost: app.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 0\r\n\r\n',
      500,
    );
    expect(statusOf(raw)).toBe(200);
    expect(raw).toContain('A POST /x upgrade=');
    expect(raw).not.toContain('upgrade=websocket');
  });
});
