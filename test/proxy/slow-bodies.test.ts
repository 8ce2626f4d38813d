// Slow request bodies must not starve a backend (issue #15): a bounded wait for an upstream
// connection (503), small bodies read before a connection is taken, the client body timeout
// and deadline (408), and the HTTP/2 listener's limit on streams still uploading. Real sockets.

import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type http from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHttpsListener } from '../../src/proxy/https-listener.ts';
import { DEFAULT_PROXY_SETTINGS, Proxy } from '../../src/proxy/proxy.ts';
import type { ProxySettings } from '../../src/proxy/proxy.ts';
import { silentLogger } from '../../src/observe/log.ts';
import { generateSelfSigned } from '../../src/tls/default-certificate.ts';
import { FakeConfig, FakeEndpoints, request, startProxy, startUpstream, statusOf, until } from './fixtures.ts';
import type { RunningProxy, Upstream } from './fixtures.ts';

const H = 'Host: app.test\r\n';

/** An upstream that answers /hold/* only when released, everything else at once. */
interface HoldingUpstream {
  upstream: Upstream;
  port: number;
  held: http.ServerResponse[];
  bodies: Map<string, string>;
  /** `METHOD url` of every request received. */
  seen: string[];
  releaseAll(): void;
  close(): Promise<void>;
}
async function holdingUpstream(): Promise<HoldingUpstream> {
  const held: http.ServerResponse[] = [];
  const bodies = new Map<string, string>();
  const seen: string[] = [];
  const upstream = await startUpstream((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    let body = '';
    req.setEncoding('latin1');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      bodies.set(req.url ?? '', body);
      if (req.url?.startsWith('/hold')) held.push(res);
      else if (!req.url?.startsWith('/early')) res.end('ok ' + req.url);
    });
    if (req.url?.startsWith('/early')) {
      // answers at once and keeps reading the body (a streaming call the application accepted)
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.flushHeaders();
      req.on('end', () => res.end('early done'));
    }
  });
  return {
    upstream,
    port: upstream.port,
    held,
    bodies,
    seen,
    releaseAll() {
      for (const r of held.splice(0)) r.end('released');
    },
    close: () => upstream.close(),
  };
}

let u: HoldingUpstream;
const proxies: RunningProxy[] = [];
const sockets: net.Socket[] = [];

beforeAll(async () => {
  u = await holdingUpstream();
});
afterEach(async () => {
  u.releaseAll();
  for (const s of sockets.splice(0)) s.destroy();
  for (const p of proxies.splice(0)) await p.close();
});
afterAll(async () => {
  await u.close();
});

async function proxyWith(settings: Partial<ProxySettings>): Promise<RunningProxy> {
  const endpoints = new FakeEndpoints();
  endpoints.set('svc', [u.port]);
  const p = await startProxy({ routes: [{ host: 'app.test', key: 'svc' }], endpoints, settings });
  proxies.push(p);
  return p;
}

/** A raw client connection that keeps what it receives. */
async function openClient(port: number): Promise<{ sock: net.Socket; received: () => string }> {
  const sock = net.connect(port, '127.0.0.1');
  sockets.push(sock);
  let buf = '';
  sock.on('data', (d) => (buf += d.toString('latin1')));
  sock.on('error', () => {});
  await new Promise<void>((r) => sock.once('connect', () => r()));
  return { sock, received: () => buf };
}

describe('upstream connection slots', () => {
  it('beyond --max-connections-per-endpoint a request waits at most --upstream-queue-timeout, then 503', async () => {
    const p = await proxyWith({ maxConnectionsPerEndpoint: 2, upstreamQueueTimeoutMs: 300 });
    const held = [request(p.port, { path: '/hold/1' }), request(p.port, { path: '/hold/2' })];
    await until(() => u.held.length === 2, 3000, 'two held upstream requests');
    const t = Date.now();
    const busy = await request(p.port, { path: '/third', timeoutMs: 5000 });
    expect(busy.status).toBe(503);
    expect(busy.body.toString()).toBe('upstream busy\n');
    expect(Date.now() - t).toBeLessThan(2500);
    expect(u.seen).not.toContain('GET /third');
    expect(p.infos.at(-1)).toMatchObject({ status: 503, error: 'upstream_busy' });
    u.releaseAll();
    expect((await Promise.all(held)).map((r) => r.status)).toEqual([200, 200]);
    // the slots came back
    expect((await request(p.port, { path: '/after' })).status).toBe(200);
  });

  it('a waiting request is sent as soon as a connection comes free', async () => {
    const p = await proxyWith({ maxConnectionsPerEndpoint: 1, upstreamQueueTimeoutMs: 10_000 });
    const first = request(p.port, { path: '/hold/a' });
    await until(() => u.held.length === 1, 3000, 'the held request');
    const second = request(p.port, { path: '/second' });
    await until(() => p.proxy.inFlight.requests === 2, 3000, 'the second request to be in flight');
    expect(u.seen).not.toContain('GET /second');
    u.releaseAll();
    expect((await first).status).toBe(200);
    const r = await second;
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('ok /second');
  });

  it('a client that leaves while waiting gives its place up', async () => {
    const p = await proxyWith({ maxConnectionsPerEndpoint: 1, upstreamQueueTimeoutMs: 10_000 });
    const first = request(p.port, { path: '/hold/b' });
    await until(() => u.held.length === 1, 3000, 'the held request');
    const c = await openClient(p.port);
    c.sock.write(`GET /gone HTTP/1.1\r\n${H}\r\n`);
    await until(() => p.proxy.inFlight.requests === 2, 3000, 'the waiting request');
    c.sock.destroy();
    await until(() => p.proxy.inFlight.requests === 1, 3000, 'the waiting request to go');
    const third = request(p.port, { path: '/third' });
    u.releaseAll();
    expect((await first).status).toBe(200);
    expect((await third).status).toBe(200);
    expect(u.seen).not.toContain('GET /gone');
  });
});

describe('slow request bodies', () => {
  it('a small body is read in full before an upstream connection is taken', async () => {
    const p = await proxyWith({ maxConnectionsPerEndpoint: 1, upstreamQueueTimeoutMs: 300 });
    const slow = await openClient(p.port);
    slow.sock.write(`POST /small HTTP/1.1\r\n${H}Content-Length: 10\r\n\r\nabc`);
    await until(() => p.proxy.inFlight.requests === 1, 3000, 'the slow request');
    // the one connection slot is free: another client is served meanwhile
    expect((await request(p.port, { path: '/meanwhile' })).status).toBe(200);
    expect(u.seen).not.toContain('POST /small');
    slow.sock.write('defghij');
    await until(() => slow.received().includes('ok /small'), 3000, 'the slow request to be answered');
    expect(u.bodies.get('/small')).toBe('abcdefghij');
  });

  it('--client-body-timeout: a body that pauses too long gets 408, and its upstream connection is freed', async () => {
    const p = await proxyWith({ maxConnectionsPerEndpoint: 1, clientBodyBufferSize: 0, clientBodyTimeoutMs: 300, upstreamQueueTimeoutMs: 5000 });
    const slow = await openClient(p.port);
    const t = Date.now();
    slow.sock.write(`POST /stalled HTTP/1.1\r\n${H}Content-Length: 100\r\n\r\nabc`);
    await until(() => slow.received() !== '', 5000, 'an answer to the stalled upload');
    expect(statusOf(slow.received())).toBe(408);
    expect(Date.now() - t).toBeLessThan(3000);
    expect(p.infos.find((i) => i.path === '/stalled')).toMatchObject({ status: 408, error: 'client_timeout' });
    await until(() => slow.sock.destroyed || slow.sock.readableEnded, 3000, 'the connection to close');
    expect((await request(p.port, { path: '/next' })).status).toBe(200);
  });

  it('--client-body-deadline: a body trickling steadily is cut at the deadline (408)', async () => {
    const p = await proxyWith({ clientBodyBufferSize: 0, clientBodyTimeoutMs: 5000, clientBodyDeadlineMs: 400 });
    const slow = await openClient(p.port);
    const t = Date.now();
    slow.sock.write(`POST /trickle HTTP/1.1\r\n${H}Content-Length: 1000\r\n\r\n`);
    // one byte every 50 ms, at most 100 of them (5 s), until the proxy answers
    for (let i = 0; i < 100 && slow.received() === '' && !slow.sock.destroyed; i++) {
      slow.sock.write('x');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(statusOf(slow.received())).toBe(408);
    expect(Date.now() - t).toBeLessThan(3000);
  });

  it('the body limits end once the upstream has answered: a streaming upload it accepted goes on', async () => {
    const p = await proxyWith({ clientBodyBufferSize: 0, clientBodyTimeoutMs: 5000, clientBodyDeadlineMs: 300 });
    const c = await openClient(p.port);
    c.sock.write(`POST /early HTTP/1.1\r\n${H}Content-Length: 12\r\n\r\ny`);
    // (Node sends the relayed head with the first body byte, so wait on the upstream side)
    await until(() => u.seen.includes('POST /early'), 3000, 'the upstream to get the request');
    await until(() => p.proxy.inFlight.requests === 1, 3000, 'the exchange');
    // 11 more bytes over ~550 ms, beyond the deadline: one every 50 ms
    for (let i = 0; i < 11 && !c.sock.destroyed; i++) {
      c.sock.write('y');
      await new Promise((r) => setTimeout(r, 50));
    }
    await until(() => c.received().includes('early done'), 3000, 'the whole response');
    expect(c.received()).not.toContain('408');
  });
});

describe('HTTP/2 listener', () => {
  it('advertises 128 concurrent streams and refuses streams beyond the uploading limit', async () => {
    const endpoints = new FakeEndpoints();
    endpoints.set('svc', [u.port]);
    const proxy = new Proxy({
      config: () => new FakeConfig([{ host: 'app.test', key: 'svc' }]),
      endpoints,
      settings: { ...DEFAULT_PROXY_SETTINGS, clientBodyBufferSize: 0 },
      log: silentLogger,
    });
    const cert = await generateSelfSigned({ commonName: 'app.test', dnsNames: ['app.test'] });
    const listener = createHttpsListener(proxy, { tls: { cert: cert.certPem, key: cert.keyPem }, maxUploadingStreams: 3 });
    await new Promise<void>((r) => listener.server.listen(0, '127.0.0.1', () => r()));
    const port = (listener.server.address() as AddressInfo).port;
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca: cert.certPem, servername: 'app.test' });
    try {
      session.on('error', () => {});
      await new Promise<void>((r) => session.once('remoteSettings', () => r()));
      expect(session.remoteSettings.maxConcurrentStreams).toBe(128);
      const streams: http2.ClientHttp2Stream[] = [];
      const codes: number[] = [];
      for (let i = 0; i < 4; i++) {
        const s = session.request({ ':method': 'POST', ':path': `/up/${i}`, ':authority': 'app.test' }, { endStream: false });
        s.on('error', () => {});
        s.on('close', () => codes.push(s.rstCode ?? -1));
        s.write('partial');
        s.resume();
        streams.push(s);
      }
      await until(() => codes.length === 1, 3000, 'one refused stream');
      expect(codes).toEqual([http2.constants.NGHTTP2_REFUSED_STREAM]);
      // a stream without a body is not counted
      const get = session.request({ ':method': 'GET', ':path': '/plain', ':authority': 'app.test' });
      get.on('error', () => {});
      const status = await new Promise<number>((r) => get.once('response', (h) => r(Number(h[':status']))));
      expect(status).toBe(200);
      get.resume();
      // an upload ending frees its place
      streams[0]!.end();
      await until(() => codes.length === 2, 3000, 'the first upload to finish');
      // a stream already answered does not count, although its body is still open
      const early = session.request({ ':method': 'POST', ':path': '/early/h2', ':authority': 'app.test' }, { endStream: false });
      early.on('error', () => {});
      early.write('partial');
      expect(await new Promise<number>((r) => early.once('response', (h) => r(Number(h[':status']))))).toBe(200);
      early.resume();
      const again = session.request({ ':method': 'POST', ':path': '/up/again', ':authority': 'app.test' }, { endStream: false });
      again.on('error', () => {});
      again.end('done');
      const st = await new Promise<number>((r) => again.once('response', (h) => r(Number(h[':status']))));
      expect(st).toBe(200);
      again.resume();
    } finally {
      session.destroy();
      listener.closeAllConnections();
      await new Promise<void>((r) => listener.server.close(() => r()));
      await proxy.close(500);
    }
  });
});

describe('proxy-send-timeout (the upstream takes no more of the body)', () => {
  /** An upstream that accepts connections and never reads from them (its buffers fill up). */
  async function deafUpstream(): Promise<{ port: number; close(): Promise<void> }> {
    const conns: net.Socket[] = [];
    const server = net.createServer((s) => {
      s.pause();
      s.on('error', () => {});
      conns.push(s);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    return {
      port: (server.address() as AddressInfo).port,
      close: () => {
        for (const s of conns) s.destroy();
        return new Promise<void>((r) => server.close(() => r()));
      },
    };
  }

  /** POSTs a 64 MiB body (more than loopback buffers hold) and returns the client. */
  async function bigUpload(port: number, path: string): Promise<{ sock: net.Socket; received: () => string }> {
    const c = await openClient(port);
    const size = 64 * 1024 * 1024;
    c.sock.write(`POST ${path} HTTP/1.1\r\n${H}Content-Length: ${size}\r\n\r\n`);
    c.sock.write(Buffer.alloc(size, 'z'));
    return c;
  }

  for (const how of ['the route\'s proxy-send-timeout', '--send-timeout'] as const) {
    it(`${how}: 504 (not the client's 408) once the upstream stops taking the body`, async () => {
      const deaf = await deafUpstream();
      const endpoints = new FakeEndpoints();
      endpoints.set('deaf', [deaf.port]);
      const route = how === '--send-timeout' ? { host: 'app.test', key: 'deaf' } : { host: 'app.test', key: 'deaf', filters: { timeouts: { sendMs: 300 } } };
      const p = await startProxy({
        routes: [route],
        endpoints,
        // the client's own limits are far away: only the upstream's stall can end this
        settings: { bodyLimit: 0, clientBodyBufferSize: 0, clientBodyTimeoutMs: 30_000, idleTimeoutMs: 30_000, ...(how === '--send-timeout' ? { sendTimeoutMs: 300 } : { sendTimeoutMs: 30_000 }) },
        internals: { drainDeadlineMs: 100 },
      });
      proxies.push(p);
      try {
        const c = await bigUpload(p.port, '/upload');
        await until(() => c.received() !== '', 15_000, 'an answer to the upload the upstream does not read');
        expect(statusOf(c.received())).toBe(504);
        expect(p.infos.find((i) => i.path === '/upload')).toMatchObject({ status: 504, error: 'send_timeout' });
      } finally {
        await deaf.close();
      }
    });
  }

  it('a client that stops sending is still the client body timeout (408), whatever the send timeout', async () => {
    const p = await proxyWith({ clientBodyBufferSize: 0, clientBodyTimeoutMs: 300, sendTimeoutMs: 100 });
    const slow = await openClient(p.port);
    slow.sock.write(`POST /stalled-client HTTP/1.1\r\n${H}Content-Length: 100\r\n\r\nabc`);
    await until(() => slow.received() !== '', 5000, 'an answer to the stalled upload');
    expect(statusOf(slow.received())).toBe(408);
    expect(p.infos.find((i) => i.path === '/stalled-client')).toMatchObject({ status: 408, error: 'client_timeout' });
  });
});
