// proxy-body-size through sockets: a declared Content-Length over the limit is answered 413
// before the upstream sees the request; a chunked body is cut at the limit; the global limit
// (1m by default, as ingress-nginx) applies to routes without their own; 0 means no limit.

import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpsListener } from '../../src/proxy/https-listener.ts';
import { generateSelfSigned } from '../../src/tls/default-certificate.ts';
import { FakeEndpoints, request, startProxy, startUpstream, until, type RunningProxy, type Upstream } from './fixtures.ts';
import type { RouteSpec } from './fixtures.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function setup(routes: RouteSpec[], settings: { bodyLimit?: number } = {}): Promise<{ p: RunningProxy; u: Upstream; bodies: number[] }> {
  const bodies: number[] = [];
  const u = await startUpstream((req, res) => {
    let n = 0;
    req.on('data', (c: Buffer) => (n += c.length));
    req.on('end', () => {
      bodies.push(n);
      res.end(`got ${n}`);
    });
  });
  const endpoints = new FakeEndpoints();
  endpoints.set('svc', [u.port]);
  const p = await startProxy({ routes, endpoints, settings });
  cleanups.push(() => p.close(), () => u.close());
  return { p, u, bodies };
}

/** A chunked POST of `size` bytes in 16 KiB chunks; resolves with the status (0 if the connection died first). */
function chunkedPost(port: number, size: number): Promise<number> {
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/up', headers: { host: 'app.test' }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', () => resolve(0));
    const chunk = Buffer.alloc(16 * 1024, 'x');
    let sent = 0;
    const pump = (): void => {
      while (sent < size) {
        sent += chunk.length;
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

describe('request body limit', () => {
  it('the global default is 1m: a larger Content-Length gets 413 and the upstream sees nothing', async () => {
    const { p, u } = await setup([{ host: 'app.test', key: 'svc' }], { bodyLimit: 1024 * 1024 });
    const big = await request(p.port, { method: 'POST', path: '/up', body: Buffer.alloc(1024 * 1024 + 1) });
    expect(big.status).toBe(413);
    expect(big.headers['x-request-id']).toBeTruthy();
    expect(big.headers.connection).toBe('close');
    expect(u.requests).toBe(0);
    const ok = await request(p.port, { method: 'POST', path: '/up', body: Buffer.alloc(1024 * 1024) });
    expect(ok.status).toBe(200);
    expect(ok.body.toString()).toBe(`got ${1024 * 1024}`);
    expect(p.infos.some((i) => i.error === 'body_too_large' && i.status === 413)).toBe(true);
  });

  it('a route limit overrides the global one, either way', async () => {
    const { p } = await setup(
      [
        { host: 'app.test', key: 'svc', filters: { bodyLimit: 100 } },
        { host: 'big.test', key: 'svc', filters: { bodyLimit: 0 } },
      ],
      { bodyLimit: 1000 },
    );
    expect((await request(p.port, { method: 'POST', body: Buffer.alloc(101) })).status).toBe(413);
    expect((await request(p.port, { method: 'POST', body: Buffer.alloc(100) })).status).toBe(200);
    expect((await request(p.port, { method: 'POST', host: 'big.test', body: Buffer.alloc(5000) })).status).toBe(200);
  });

  it('a chunked body is counted as it streams and answered 413 at the limit', async () => {
    const { p, bodies } = await setup([{ host: 'app.test', key: 'svc' }], { bodyLimit: 64 * 1024 });
    const status = await chunkedPost(p.port, 1024 * 1024);
    // 413, or the connection closed under a client still writing: never 200, never a full body upstream
    expect([413, 0]).toContain(status);
    expect(bodies.every((n) => n <= 64 * 1024 + 16 * 1024)).toBe(true);
    await until(() => p.infos.some((i) => i.error === 'body_too_large'), 3000);
    expect(p.infos.some((i) => i.error === 'body_too_large')).toBe(true);
    expect(await chunkedPost(p.port, 32 * 1024)).toBe(200);
  });

  it('an HTTP/2 body without a length is cut at the limit too: 413, the stream reset, the session still usable', async () => {
    const { p, bodies } = await setup([{ host: 'app.test', key: 'svc' }], { bodyLimit: 64 * 1024 });
    const cert = await generateSelfSigned({ commonName: 'app.test', dnsNames: ['app.test'] });
    const listener = createHttpsListener(p.proxy, { tls: { cert: cert.certPem, key: cert.keyPem } });
    await new Promise<void>((r) => listener.server.listen(0, '127.0.0.1', () => r()));
    cleanups.push(async () => {
      listener.closeAllConnections();
      await new Promise<void>((r) => listener.server.close(() => r()));
    });
    const session = http2.connect(`https://127.0.0.1:${(listener.server.address() as AddressInfo).port}`, { ca: cert.certPem, servername: 'app.test' });
    session.on('error', () => {});
    cleanups.push(async () => void session.destroy());
    /**
     * POSTs `size` bytes in 16 KiB DATA frames without content-length; resolves once the stream
     * is closed by either side (a Node client keeps a stream whose writes are blocked after a
     * RST_STREAM(NO_ERROR) undestroyed: `closed` and `rstCode` say the reset arrived).
     */
    const post = async (size: number): Promise<{ status: number; rstCode: number | undefined }> => {
      const s = session.request({ ':method': 'POST', ':path': '/up', ':authority': 'app.test' }, { endStream: false });
      let status = 0;
      s.on('response', (h) => (status = Number(h[':status'])));
      s.on('error', () => {});
      s.resume();
      const chunk = Buffer.alloc(16 * 1024, 'x');
      let sent = 0;
      const pump = (): void => {
        while (sent < size && !s.closed) {
          sent += chunk.length;
          if (!s.write(chunk)) {
            s.once('drain', pump);
            return;
          }
        }
        if (!s.closed) s.end();
      };
      pump();
      await until(() => s.closed && status !== 0, 5000, 'the stream to be answered and closed');
      const rstCode = s.rstCode;
      s.destroy();
      return { status, rstCode };
    };
    // 4 MiB against a 64 KiB limit: the stream must end (not spin) long before the client is done
    const over = await post(4 * 1024 * 1024);
    expect(over).toEqual({ status: 413, rstCode: http2.constants.NGHTTP2_NO_ERROR });
    await until(() => p.infos.some((i) => i.error === 'body_too_large'), 3000, 'the 413 to be reported');
    expect(bodies.every((n) => n <= 64 * 1024 + 16 * 1024)).toBe(true);
    // the same session goes on: a body under the limit gets through whole
    expect((await post(32 * 1024)).status).toBe(200);
    expect(bodies.at(-1)).toBe(32 * 1024);
  });
});
