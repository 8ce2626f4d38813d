// Per-route body buffering and response head size through sockets: ingress-nginx
// proxy-request-buffering "off" and client-body-buffer-size decide whether a body is read in
// full before an upstream connection is taken; proxy-buffer-size above 16 KiB lets a route's
// upstream send a larger response head (others keep undici's 16 KiB: 502 above it).

import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeEndpoints, request, startProxy, startUpstream, until, type RunningProxy, type Upstream } from './fixtures.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** An upstream that records `METHOD url` on arrival of each request head, and echoes bodies. */
async function recordingUpstream(): Promise<{ u: Upstream; seen: string[] }> {
  const seen: string[] = [];
  const u = await startUpstream((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    let body = '';
    req.setEncoding('latin1');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => res.end(`got ${body}`));
  });
  cleanups.push(() => u.close());
  return { u, seen };
}

async function rawClient(port: number): Promise<{ sock: net.Socket; received: () => string }> {
  const sock = net.connect(port, '127.0.0.1');
  let buf = '';
  sock.on('data', (d) => (buf += d.toString('latin1')));
  sock.on('error', () => {});
  await new Promise<void>((r) => sock.once('connect', () => r()));
  cleanups.push(async () => void sock.destroy());
  return { sock, received: () => buf };
}

async function proxyOver(port: number, routes: Parameters<typeof startProxy>[0]['routes'], bodyBufferSize: number): Promise<RunningProxy> {
  const endpoints = new FakeEndpoints();
  endpoints.set('svc', [port]);
  const p = await startProxy({ routes, endpoints, settings: { clientBodyBufferSize: bodyBufferSize }, internals: { drainDeadlineMs: 100 } });
  cleanups.push(() => p.close());
  return p;
}

describe('per-route request body buffering', () => {
  it('proxy-request-buffering "off": a small body streams to the upstream at once (the global 64k would hold it)', async () => {
    const { u, seen } = await recordingUpstream();
    const p = await proxyOver(u.port, [{ host: 'off.test', key: 'svc', filters: { bodyBufferSize: 0 } }, { host: 'on.test', key: 'svc' }], 64 * 1024);
    const off = await rawClient(p.port);
    off.sock.write('POST /off HTTP/1.1\r\nHost: off.test\r\nContent-Length: 10\r\n\r\nabc');
    await until(() => seen.includes('POST /off'), 3000, 'the upstream to get the head before the body is complete');
    off.sock.write('defghij');
    await until(() => off.received().includes('got abcdefghij'), 3000, 'the answer');
    // the other route keeps the global buffer: nothing reaches the upstream before the body is whole
    const on = await rawClient(p.port);
    on.sock.write('POST /on HTTP/1.1\r\nHost: on.test\r\nContent-Length: 10\r\n\r\nabc');
    await until(() => p.proxy.inFlight.requests === 1, 3000, 'the buffered request');
    expect((await request(p.port, { host: 'on.test', path: '/meanwhile' })).status).toBe(200);
    expect(seen).not.toContain('POST /on');
    on.sock.write('defghij');
    await until(() => on.received().includes('got abcdefghij'), 3000, 'the buffered answer');
  });

  it('client-body-buffer-size: a route reads bodies up to its size first even when the global says stream', async () => {
    const { u, seen } = await recordingUpstream();
    const p = await proxyOver(u.port, [{ host: 'buf.test', key: 'svc', filters: { bodyBufferSize: 1024 } }], 0);
    const c = await rawClient(p.port);
    c.sock.write('POST /buf HTTP/1.1\r\nHost: buf.test\r\nContent-Length: 10\r\n\r\nabc');
    await until(() => p.proxy.inFlight.requests === 1, 3000, 'the buffered request');
    expect((await request(p.port, { host: 'buf.test', path: '/meanwhile' })).status).toBe(200);
    expect(seen).not.toContain('POST /buf');
    c.sock.write('defghij');
    await until(() => c.received().includes('got abcdefghij'), 3000, 'the answer');
  });
});

describe('proxy-buffer-size', () => {
  it('a route with proxy-buffer-size 64k accepts a 20 KiB response head; a route without answers 502', async () => {
    const big = 'x'.repeat(20 * 1024);
    const u = await startUpstream((_req, res) => {
      res.setHeader('x-big', big);
      res.end('ok');
    });
    cleanups.push(() => u.close());
    const p = await proxyOver(u.port, [{ host: 'big.test', key: 'svc', filters: { responseHeadMax: 64 * 1024 } }, { host: 'plain.test', key: 'svc' }], 0);
    // (the test's own client needs a larger limit than Node's 16 KiB too)
    const ok = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: p.port, path: '/', headers: { host: 'big.test' }, agent: false, maxHeaderSize: 128 * 1024 }, (res) => (res.resume(), resolve(res))).on('error', reject);
    });
    expect(ok.statusCode).toBe(200);
    expect(ok.headers['x-big']).toBe(big);
    expect((await request(p.port, { host: 'plain.test' })).status).toBe(502);
  });
});
