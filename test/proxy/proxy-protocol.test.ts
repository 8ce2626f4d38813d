// PROXY protocol v1/v2 on the listeners: the parser in memory, then through sockets: the header
// is required on every connection (missing or malformed: closed without an answer), its source
// becomes the client address (X-Real-IP, X-Forwarded-For, source address lists) when the peer
// is trusted, bytes after the header (the request, a TLS ClientHello) are not lost.

import net from 'node:net';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observe/log.ts';
import { createHttpsListener } from '../../src/proxy/https-listener.ts';
import { DEFAULT_PROXY_SETTINGS, Proxy, createHttpListener } from '../../src/proxy/proxy.ts';
import { parseProxyHeader, requireProxyProtocol } from '../../src/proxy/proxy-protocol.ts';
import type { RouteFilters } from '../../src/model/types.ts';
import { generateSelfSigned } from '../../src/tls/default-certificate.ts';
import { parseCidrs } from '../../src/values/cidr.ts';
import { FakeConfig, FakeEndpoints, closeServer, startUpstream, statusOf } from './fixtures.ts';

const SIG = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

function v2(command: number, family: number, body: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head[0] = 0x20 | command;
  head[1] = family;
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([SIG, head, body]);
}

function v2Tcp4(src: string, sport: number, tlv = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(12);
  src.split('.').forEach((o, i) => (b[i] = Number(o)));
  [127, 0, 0, 1].forEach((o, i) => (b[4 + i] = o));
  b.writeUInt16BE(sport, 8);
  b.writeUInt16BE(80, 10);
  return v2(1, 0x11, Buffer.concat([b, tlv]));
}

function v2Tcp6(groups: number[], sport: number): Buffer {
  const b = Buffer.alloc(36);
  groups.forEach((g, i) => b.writeUInt16BE(g, i * 2));
  b[31] = 1;
  b.writeUInt16BE(sport, 32);
  b.writeUInt16BE(443, 34);
  return v2(1, 0x21, b);
}

describe('PROXY header parser', () => {
  it.each([
    ['v1 TCP4', Buffer.from('PROXY TCP4 203.0.113.7 10.0.0.1 51234 80\r\nGET /'), { address: '203.0.113.7', port: 51234 }, 42],
    ['v1 TCP6', Buffer.from('PROXY TCP6 2001:DB8::7 2001:db8::1 51234 443\r\n'), { address: '2001:db8::7', port: 51234 }, 46],
    ['v1 UNKNOWN', Buffer.from('PROXY UNKNOWN\r\n'), null, 15],
    ['v2 TCP4', v2Tcp4('198.51.100.9', 40000), { address: '198.51.100.9', port: 40000 }, 28],
    ['v2 TCP4 with TLVs', v2Tcp4('198.51.100.9', 40000, Buffer.from([0x04, 0x00, 0x01, 0x00])), { address: '198.51.100.9', port: 40000 }, 32],
    ['v2 TCP6', v2Tcp6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 7], 4444), { address: '2001:db8::7', port: 4444 }, 52],
    ['v2 TCP6 IPv4-mapped', v2Tcp6([0, 0, 0, 0, 0, 0xffff, 0xc633, 0x6409], 4444), { address: '::ffff:198.51.100.9', port: 4444 }, 52],
    ['v2 LOCAL (health check)', v2(0, 0x00, Buffer.alloc(0)), null, 16],
  ] as const)('%s', (_name, buf, source, length) => {
    expect(parseProxyHeader(buf)).toEqual({ source, length });
  });

  it('incomplete headers ask for more; anything else is invalid', () => {
    expect(parseProxyHeader(Buffer.from('PROXY TCP4 203.0.113.7'))).toBe('more');
    expect(parseProxyHeader(Buffer.from('PRO'))).toBe('more');
    expect(parseProxyHeader(v2Tcp4('1.2.3.4', 1).subarray(0, 20))).toBe('more');
    expect(parseProxyHeader(SIG.subarray(0, 5))).toBe('more');
    for (const bad of [
      'GET / HTTP/1.1\r\n',
      'POST / HTTP/1.1\r\n',
      'PROXY TCP4 999.0.0.1 10.0.0.1 1 2\r\n',
      'PROXY TCP4 1.2.3.4 10.0.0.1 1\r\n',
      'PROXY TCP4 1.2.3.4 10.0.0.1 1 99999\r\n',
      'PROXY TCP4 2001:db8::1 10.0.0.1 1 2\r\n',
      'PROXY UDP4 1.2.3.4 10.0.0.1 1 2\r\n',
      'PROXY TCP4 ' + '1'.repeat(120),
    ]) {
      expect(parseProxyHeader(Buffer.from(bad)), bad).toBe('invalid');
    }
    const wrongVersion = v2Tcp4('1.2.3.4', 1);
    wrongVersion[12] = 0x11;
    expect(parseProxyHeader(wrongVersion)).toBe('invalid');
    expect(parseProxyHeader(v2(1, 0x31, Buffer.alloc(216)))).toBe('invalid'); // AF_UNIX
    expect(parseProxyHeader(v2(1, 0x11, Buffer.alloc(4)))).toBe('invalid'); // too short for IPv4
  });
});

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

let cert = { certPem: '', keyPem: '' };
beforeAll(async () => {
  cert = await generateSelfSigned({ commonName: 'app.test', dnsNames: ['app.test'] });
});

async function setup(opts: { filters?: RouteFilters; trusted?: string[]; tls?: boolean; timeoutMs?: number } = {}) {
  const seen: { realIp: string; xff: string; url: string }[] = [];
  const u = await startUpstream((req, res) => {
    seen.push({ realIp: String(req.headers['x-real-ip']), xff: String(req.headers['x-forwarded-for']), url: req.url ?? '' });
    res.end('ok');
  });
  const endpoints = new FakeEndpoints();
  endpoints.set('svc', [u.port]);
  const config = new FakeConfig([{ host: 'app.test', key: 'svc', ...(opts.filters ? { filters: opts.filters } : {}) }]);
  const proxy = new Proxy({ config: () => config, endpoints, settings: DEFAULT_PROXY_SETTINGS, log: silentLogger });
  const rejected: string[] = [];
  const ppOpts = { trusted: opts.trusted ? parseCidrs(opts.trusted) : null, onRejected: (r: string) => rejected.push(r), ...(opts.timeoutMs ? { headerTimeoutMs: opts.timeoutMs } : {}) };
  let server: net.Server;
  let closeAll: () => void;
  if (opts.tls) {
    const l = createHttpsListener(proxy, { tls: { cert: cert.certPem, key: cert.keyPem }, http2: false });
    server = l.server;
    closeAll = () => l.closeAllConnections();
  } else {
    const h = createHttpListener(proxy);
    server = h;
    closeAll = () => h.closeAllConnections();
  }
  requireProxyProtocol(server, ppOpts);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanups.push(
    () => u.close(),
    () => proxy.close(500),
    async () => {
      closeAll();
      await closeServer(server);
    },
  );
  return { port: (server.address() as AddressInfo).port, seen, rejected };
}

/** Writes `data` on a fresh connection; resolves with everything read until the server closes. */
function exchange(port: number, data: Buffer, waitMs = 3000): Promise<{ text: string; closedByServer: boolean }> {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    let text = '';
    const t = setTimeout(() => {
      c.destroy();
      resolve({ text, closedByServer: false });
    }, waitMs);
    c.on('data', (d) => {
      text += d.toString('latin1');
      // one response is enough: the tests send Connection: close
    });
    c.on('close', () => {
      clearTimeout(t);
      resolve({ text, closedByServer: true });
    });
    c.on('error', () => {});
    c.write(data);
  });
}

const GET = 'GET /p HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n';

describe('PROXY protocol on the HTTP listener', () => {
  it('v1 in the same packet as the request: the source is the client (X-Real-IP, X-Forwarded-For)', async () => {
    const { port, seen } = await setup();
    const r = await exchange(port, Buffer.from('PROXY TCP4 203.0.113.7 127.0.0.1 51234 80\r\n' + GET));
    expect(statusOf(r.text)).toBe(200);
    expect(seen).toEqual([{ realIp: '203.0.113.7', xff: '203.0.113.7', url: '/p' }]);
  });

  it('v2 (IPv6 source) in its own packet, the request after it', async () => {
    const { port, seen } = await setup();
    const r = await new Promise<string>((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      let text = '';
      c.on('data', (d) => (text += d.toString('latin1')));
      c.on('close', () => resolve(text));
      c.on('error', () => {});
      c.write(v2Tcp6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 7], 4444), () => setImmediate(() => c.write(GET)));
    });
    expect(statusOf(r)).toBe(200);
    expect(seen[0]?.realIp).toBe('2001:db8::7');
  });

  it('a request without a header, or with a malformed one, is closed without an answer', async () => {
    const { port, seen, rejected } = await setup();
    for (const data of [GET, 'PROXY TCP4 1.2.3.4 nope 1 2\r\n' + GET, 'PROXY TCP9 1.2.3.4 1.2.3.4 1 2\r\n' + GET]) {
      const r = await exchange(port, Buffer.from(data));
      expect(r, data).toEqual({ text: '', closedByServer: true });
    }
    expect(seen).toEqual([]);
    expect(rejected).toEqual(['invalid', 'invalid', 'invalid']);
  });

  it('a connection that never completes its header is closed after the header timeout', async () => {
    const { port, rejected } = await setup({ timeoutMs: 100 });
    const r = await exchange(port, Buffer.from('PROXY TCP4 1.2.3.4'), 3000);
    expect(r).toEqual({ text: '', closedByServer: true });
    expect(rejected).toEqual(['timeout']);
  });

  it('LOCAL (a load-balancer health check) keeps the peer as the client', async () => {
    const { port, seen } = await setup();
    expect(statusOf((await exchange(port, Buffer.concat([v2(0, 0, Buffer.alloc(0)), Buffer.from(GET)]))).text)).toBe(200);
    expect(seen[0]?.realIp).toBe('127.0.0.1');
  });

  it('from a peer outside --proxy-protocol-trusted-cidrs the header is required but not believed', async () => {
    const { port, seen } = await setup({ trusted: ['10.0.0.0/8'] });
    expect(statusOf((await exchange(port, Buffer.from('PROXY TCP4 203.0.113.7 127.0.0.1 51234 80\r\n' + GET))).text)).toBe(200);
    expect(seen[0]?.realIp).toBe('127.0.0.1');
    expect((await exchange(port, Buffer.from(GET))).text).toBe('');
  });

  it('the PROXY source is what source address lists check', async () => {
    const { port, seen } = await setup({ filters: { sourceRange: { allow: ['203.0.113.0/24'] } } });
    expect(statusOf((await exchange(port, Buffer.from('PROXY TCP4 203.0.113.7 127.0.0.1 1 80\r\n' + GET))).text)).toBe(200);
    expect(statusOf((await exchange(port, Buffer.from('PROXY TCP4 198.51.100.1 127.0.0.1 1 80\r\n' + GET))).text)).toBe(403);
    expect(seen).toHaveLength(1);
  });
});

describe('PROXY protocol on the HTTPS listener', () => {
  it('the header, then the TLS handshake: the source is the client', async () => {
    const { port, seen } = await setup({ tls: true });
    const text = await new Promise<string>((resolve, reject) => {
      const raw = net.connect(port, '127.0.0.1', () => {
        raw.write('PROXY TCP4 203.0.113.7 127.0.0.1 51234 443\r\n');
        const s = tls.connect({ socket: raw, servername: 'app.test', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => s.write(GET));
        let out = '';
        s.on('data', (d: Buffer) => (out += d.toString('latin1')));
        s.on('close', () => resolve(out));
        s.on('error', reject);
      });
      raw.on('error', reject);
    });
    expect(statusOf(text)).toBe(200);
    expect(seen[0]?.realIp).toBe('203.0.113.7');
  });

  it('a TLS handshake without a header is closed', async () => {
    const { port, seen } = await setup({ tls: true });
    const outcome = await new Promise<string>((resolve) => {
      const s = tls.connect({ port, host: '127.0.0.1', servername: 'app.test', rejectUnauthorized: false }, () => resolve('handshake completed'));
      s.on('error', () => resolve('closed'));
      s.on('close', () => resolve('closed'));
    });
    expect(outcome).toBe('closed');
    expect(seen).toEqual([]);
  });
});
