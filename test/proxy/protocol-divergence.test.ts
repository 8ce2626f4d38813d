// Smaller protocol divergences of issue #15, over raw sockets: httpoxy, HTTP/2.0 on the HTTP/1
// port, TRACE, Host lists, an unhonoured Upgrade with a pipelined request behind it, and an
// upstream's 101 to a request that asked for no upgrade.

import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeEndpoints, rawExchange, startProxy, startUpstream, statusOf } from './fixtures.ts';
import type { RunningProxy, Upstream } from './fixtures.ts';

const H = 'Host: app.test\r\n';
let u: Upstream;
let p: RunningProxy;
let withTrace: RunningProxy;
const seen: { method: string; url: string; proxy: string | undefined }[] = [];

beforeAll(async () => {
  u = await startUpstream((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', proxy: req.headers['proxy'] as string | undefined });
    req.resume();
    req.on('end', () => res.end(`up ${req.method} ${req.url}`));
  });
  const endpoints = new FakeEndpoints();
  endpoints.set('svc', [u.port]);
  p = await startProxy({ routes: [{ host: 'app.test', key: 'svc' }], endpoints });
  withTrace = await startProxy({ routes: [{ host: 'app.test', key: 'svc' }], endpoints, settings: { allowTrace: true } });
});
afterAll(async () => {
  await p.close();
  await withTrace.close();
  await u.close();
});

/** rawExchange that also says whether the server closed the connection before `waitMs`. */
async function exchange(port: number, raw: string, waitMs = 3000): Promise<{ out: string; closedByServer: boolean }> {
  const t = Date.now();
  const out = await rawExchange(port, raw, waitMs);
  return { out, closedByServer: Date.now() - t < waitMs - 200 };
}

describe('protocol divergences', () => {
  it('removes the Proxy request header (httpoxy)', async () => {
    const { out } = await exchange(p.port, `GET /httpoxy HTTP/1.1\r\n${H}Proxy: http://evil.test:3128\r\nConnection: close\r\n\r\n`);
    expect(statusOf(out)).toBe(200);
    expect(seen.find((s) => s.url === '/httpoxy')).toEqual({ method: 'GET', url: '/httpoxy', proxy: undefined });
  });

  it('a request line claiming HTTP/2.0 on the HTTP/1 port → 505 and close, nothing upstream', async () => {
    const before = seen.length;
    const { out, closedByServer } = await exchange(p.port, `GET /h2 HTTP/2.0\r\n${H}\r\nGET /after HTTP/1.1\r\n${H}\r\n`);
    expect(statusOf(out)).toBe(505);
    expect(out.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 505']);
    expect(closedByServer).toBe(true);
    expect(seen.length).toBe(before);
  });

  it('TRACE → 405 with Allow, nothing upstream; proxied with allowTrace', async () => {
    const before = seen.length;
    const { out } = await exchange(p.port, `TRACE /t HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    expect(statusOf(out)).toBe(405);
    expect(out.toLowerCase()).toMatch(/\r\nallow: get, head, post/);
    expect(seen.length).toBe(before);
    const allowed = await exchange(withTrace.port, `TRACE /t HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
    expect(statusOf(allowed.out)).toBe(200);
    expect(seen.at(-1)?.method).toBe('TRACE');
  });

  it.each([
    ['Host: a, b', 'Host: app.test, evil.test\r\n'],
    ['Host with a space', 'Host: app.test evil.test\r\n'],
    ['Host with userinfo', 'Host: evil.test@app.test\r\n'],
    ['Host with a path', 'Host: app.test/x\r\n'],
  ])('%s → 400 and close, nothing upstream', async (_name, host) => {
    const before = seen.length;
    const { out, closedByServer } = await exchange(p.port, `GET /hosts HTTP/1.1\r\n${host}\r\nGET /after HTTP/1.1\r\n${H}\r\n`);
    expect(statusOf(out)).toBe(400);
    expect(out.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 400']);
    expect(closedByServer).toBe(true);
    expect(seen.slice(before)).toEqual([]);
  });

  it.each([
    ['GET + Upgrade: foo', `GET /up1 HTTP/1.1\r\n${H}Upgrade: foo\r\nConnection: upgrade\r\n\r\n`],
    ['POST with a body + Upgrade: foo', `POST /up2 HTTP/1.1\r\n${H}Upgrade: foo\r\nConnection: upgrade\r\nContent-Length: 5\r\n\r\nhello`],
    ['WebSocket upgrade on POST', `POST /up3 HTTP/1.1\r\n${H}Upgrade: websocket\r\nConnection: upgrade\r\nContent-Length: 0\r\n\r\n`],
  ])('%s followed by a pipelined request: answered, then closed (never hangs)', async (_name, first) => {
    const { out, closedByServer } = await exchange(p.port, first + `GET /pipelined HTTP/1.1\r\n${H}\r\n`, 4000);
    expect(statusOf(out)).toBe(200);
    expect(closedByServer).toBe(true);
    // either the pipelined request was answered too, or the connection closed after the first
    const statuses = out.match(/HTTP\/1\.1 \d{3}/g) ?? [];
    expect(statuses.length).toBeGreaterThanOrEqual(1);
    expect(statuses.every((s) => s === 'HTTP/1.1 200')).toBe(true);
  });
});

describe('an upstream answering 101 to a request that asked for no upgrade', () => {
  it('→ 502, and the request is not replayed', async () => {
    let hits = 0;
    const srv = net.createServer((s) => {
      s.on('error', () => {});
      s.on('data', (d) => {
        if (!d.toString('latin1').includes(' HTTP/1.1\r\n')) return;
        hits++;
        s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\nConnection: upgrade\r\n\r\nraw bytes');
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const endpoints = new FakeEndpoints();
    endpoints.set('svc', [(srv.address() as AddressInfo).port]);
    const q = await startProxy({ routes: [{ host: 'app.test', key: 'svc' }], endpoints });
    try {
      const { out } = await exchange(q.port, `GET /no-upgrade HTTP/1.1\r\n${H}Connection: close\r\n\r\n`);
      expect(statusOf(out)).toBe(502);
      expect(out).not.toContain('raw bytes');
      expect(hits).toBe(1);
      expect(q.infos.at(-1)).toMatchObject({ status: 502, attempts: 1, error: 'upstream_error' });
    } finally {
      await q.close();
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });
});
