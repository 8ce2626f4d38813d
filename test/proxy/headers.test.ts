import type http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { isValidRequestId, newRequestId, responseHeaders, trailersToRelay } from '../../src/proxy/headers.ts';
import { FakeEndpoints, rawExchange, request, startProxy, startUpstream, statusOf, until } from './fixtures.ts';
import type { RunningProxy, Upstream } from './fixtures.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** Upstream that answers with the raw request headers it got, as JSON [[name, value], ...]. */
async function echo(extra?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean): Promise<Upstream> {
  const u = await startUpstream((req, res) => {
    if (extra?.(req, res)) return;
    const pairs: [string, string][] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) pairs.push([req.rawHeaders[i]!.toLowerCase(), req.rawHeaders[i + 1]!]);
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (body !== '') pairs.push(['x-body', body]);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(pairs));
    });
  });
  cleanups.push(() => u.close());
  return u;
}
async function proxyTo(u: Upstream, settings: Parameters<typeof startProxy>[0]['settings'] = {}): Promise<RunningProxy> {
  const endpoints = new FakeEndpoints();
  endpoints.set('svc', [u.port]);
  const p = await startProxy({ routes: [{ host: 'app.test', key: 'svc' }], endpoints, settings });
  cleanups.push(() => p.close());
  return p;
}
function headerMap(body: Buffer): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const [k, v] of JSON.parse(body.toString()) as [string, string][]) m.set(k, [...(m.get(k) ?? []), v]);
  return m;
}

describe('hop-by-hop headers', () => {
  it('are removed from requests, including every header named in Connection', async () => {
    const u = await echo();
    const p = await proxyTo(u);
    const raw = await rawExchange(
      p.port,
      [
        'GET / HTTP/1.1',
        'Host: app.test:8443',
        'Connection: keep-alive, X-Secret, x-other',
        'X-Secret: drop me',
        'X-Other: drop me too',
        'Keep-Alive: timeout=5',
        'Proxy-Connection: keep-alive',
        'TE: trailers',
        'Trailer: X-T',
        'Proxy-Authorization: Basic Zm9vOmJhcg==',
        'X-Keep: kept',
        'Cookie: a=1',
        'Cookie: b=2',
        '',
        '',
      ].join('\r\n'),
      500,
    );
    expect(statusOf(raw)).toBe(200);
    const h = headerMap(Buffer.from(/\[\[.*\]\]/.exec(raw)![0]));
    for (const gone of ['x-secret', 'x-other', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'proxy-authorization', 'upgrade', 'expect']) {
      expect(h.has(gone), gone).toBe(false);
    }
    expect(h.get('host')).toEqual(['app.test:8443']);
    expect(h.get('x-keep')).toEqual(['kept']);
    expect(h.get('cookie')).toEqual(['a=1', 'b=2']);
    // undici's own connection management, not the client's header
    expect(h.get('connection') ?? ['keep-alive']).toEqual(['keep-alive']);
  });

  it('drops Expect (Node answers 100-continue) and Transfer-Encoding (undici re-frames)', async () => {
    const u = await echo();
    const p = await proxyTo(u);
    const raw = await rawExchange(
      p.port,
      'POST / HTTP/1.1\r\nHost: app.test\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
    );
    expect(raw).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK/);
    const h = headerMap(Buffer.from(/\[\[.*\]\]/.exec(raw)![0]));
    expect(h.has('expect')).toBe(false);
    // undici frames the streamed body itself: chunked, or a length when it already has all of it
    const framing = h.get('transfer-encoding')?.[0] ?? `cl=${h.get('content-length')?.[0]}`;
    expect(['chunked', 'cl=5']).toContain(framing);
    expect(raw).toContain('"x-body","hello"');
  });

  it('treats a non-WebSocket Upgrade (h2c) as a plain request and strips Upgrade', async () => {
    const u = await echo();
    const p = await proxyTo(u);
    const raw = await rawExchange(
      p.port,
      'GET / HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n',
      1000,
    );
    expect(statusOf(raw)).toBe(200);
    expect(raw).not.toContain('"upgrade"');
    expect(raw).not.toContain('http2-settings');
  });

  it('are removed from responses, including those named in Connection; Set-Cookie lines stay apart', async () => {
    const u = await echo((_req, res) => {
      res.writeHead(200, [
        'Connection', 'X-Hop',
        'X-Hop', 'secret',
        'Keep-Alive', 'timeout=5',
        'Proxy-Authenticate', 'Basic',
        'Trailer', 'X-T',
        'Upgrade', 'foo',
        'Set-Cookie', 'a=1; Path=/',
        'Set-Cookie', 'b=2; Path=/',
        'X-Request-Id', 'upstream-id',
        'X-End', 'visible',
      ]);
      res.end('body');
      return true;
    });
    const p = await proxyTo(u, { responseRequestId: true });
    const raw = await rawExchange(p.port, 'GET / HTTP/1.1\r\nHost: app.test\r\nX-Request-Id: client-id\r\nConnection: close\r\n\r\n');
    const head = raw.slice(0, raw.indexOf('\r\n\r\n')).toLowerCase();
    expect(statusOf(raw)).toBe(200);
    for (const gone of ['x-hop:', 'keep-alive:', 'proxy-authenticate:', 'trailer:', 'upgrade:', 'upstream-id']) {
      expect(head.includes(gone), gone).toBe(false);
    }
    expect(head.match(/^set-cookie: /gm)?.length).toBe(2);
    expect(head).toContain('x-request-id: client-id'); // responseRequestId: ours replaces the upstream's
    expect(head).toContain('x-end: visible');
    expect(raw).toMatch(/\r\n\r\n(4\r\n)?body/);
    // names go out in lower case (undici's parsed header object), values as they came
    expect(raw).toContain('\r\nset-cookie: a=1; Path=/\r\nset-cookie: b=2; Path=/\r\n');
    expect(raw).toContain('\r\nx-end: visible\r\n');
  });
});

describe('forwarded headers', () => {
  const spoof = [
    'X-Forwarded-For', '1.2.3.4, 10.0.0.1',
    'X-Forwarded-Proto', 'https',
    'X-Forwarded-Host', 'public.example',
    'X-Forwarded-Port', '443',
    'X-Real-IP', '9.9.9.9',
  ];

  it('replaces client-supplied values when the peer is not trusted', async () => {
    const u = await echo();
    const p = await proxyTo(u);
    const r = await request(p.port, { headers: ['Host', 'app.test:8080', ...spoof] });
    const h = headerMap(r.body);
    expect(h.get('x-forwarded-for')).toEqual(['127.0.0.1']);
    expect(h.get('x-forwarded-proto')).toEqual(['http']);
    expect(h.get('x-forwarded-host')).toEqual(['app.test:8080']);
    expect(h.get('x-forwarded-port')).toEqual([String(p.port)]);
    expect(h.get('x-real-ip')).toEqual(['127.0.0.1']);
  });

  it('appends to / keeps inbound values from a trusted proxy; X-Real-IP = rightmost untrusted hop', async () => {
    const u = await echo();
    const p = await proxyTo(u, { trustedProxies: ['127.0.0.0/8'] });
    const r = await request(p.port, { headers: ['Host', 'app.test', ...spoof] });
    const h = headerMap(r.body);
    expect(h.get('x-forwarded-for')).toEqual(['1.2.3.4, 10.0.0.1, 127.0.0.1']);
    expect(h.get('x-forwarded-proto')).toEqual(['https']);
    expect(h.get('x-forwarded-host')).toEqual(['public.example']);
    expect(h.get('x-forwarded-port')).toEqual(['443']);
    expect(h.get('x-real-ip')).toEqual(['10.0.0.1']);
    // the request is reported when its response has finished, which may be after the client saw it
    await until(() => p.infos.length === 1, 3000, 'the request to be reported');
    expect(p.infos[0]!.clientIp).toBe('10.0.0.1');
  });

  it('walks past every trusted hop (several CIDRs, IPv6 too) and joins repeated XFF lines', async () => {
    const u = await echo();
    const p = await proxyTo(u, { trustedProxies: ['127.0.0.1/32', '10.0.0.0/8', 'fd00::/8'] });
    const r = await request(p.port, {
      headers: ['Host', 'app.test', 'X-Forwarded-For', '1.2.3.4', 'X-Forwarded-For', 'fd00::7, 10.9.8.7'],
    });
    const h = headerMap(r.body);
    expect(h.get('x-forwarded-for')).toEqual(['1.2.3.4, fd00::7, 10.9.8.7, 127.0.0.1']);
    expect(h.get('x-real-ip')).toEqual(['1.2.3.4']);
    expect(h.get('x-forwarded-proto')).toEqual(['http']); // no inbound value: our scheme
  });

  it('without inbound X-Forwarded-For a trusted peer is the client', async () => {
    const u = await echo();
    const p = await proxyTo(u, { trustedProxies: ['127.0.0.0/8'] });
    const h = headerMap((await request(p.port, {})).body);
    expect(h.get('x-forwarded-for')).toEqual(['127.0.0.1']);
    expect(h.get('x-real-ip')).toEqual(['127.0.0.1']);
  });
});

describe('X-Request-Id', () => {
  it('keeps a well-formed inbound id, upstream and (responseRequestId) in the response', async () => {
    const u = await echo();
    const p = await proxyTo(u, { responseRequestId: true });
    const id = 'Req_1.2-abc';
    const r = await request(p.port, { headers: { 'x-request-id': id } });
    expect(headerMap(r.body).get('x-request-id')).toEqual([id]);
    expect(r.headers['x-request-id']).toBe(id);
  });

  it("by default leaves proxied responses alone: none added, the upstream's own passes unchanged; local answers carry it", async () => {
    const u = await echo((req, res) => {
      if (req.url !== '/own') return false;
      res.setHeader('x-request-id', 'app-' + String(req.headers['x-request-id']));
      res.end('own');
      return true;
    });
    const p = await proxyTo(u);
    const plain = await request(p.port, {});
    const sent = headerMap(plain.body).get('x-request-id')!;
    expect(sent.length).toBe(1);
    expect(isValidRequestId(sent[0]!)).toBe(true);
    expect(plain.headers['x-request-id']).toBeUndefined();
    const own = await request(p.port, { path: '/own', headers: { 'x-request-id': 'abc' } });
    expect(own.headers['x-request-id']).toBe('app-abc');
    const local = await request(p.port, { host: 'unknown.test' });
    expect(local.status).toBe(404);
    expect(isValidRequestId(String(local.headers['x-request-id']))).toBe(true);
  });

  it('replaces malformed or oversized ids with a generated one', async () => {
    const u = await echo();
    const p = await proxyTo(u, { responseRequestId: true });
    for (const bad of ['has space', 'a'.repeat(201), 'semi;colon', 'ünï']) {
      const r = await request(p.port, { headers: { 'x-request-id': Buffer.from(bad).toString('latin1') } });
      const sent = headerMap(r.body).get('x-request-id')!;
      expect(sent.length).toBe(1);
      expect(sent[0]).not.toBe(bad);
      expect(isValidRequestId(sent[0]!)).toBe(true);
      expect(r.headers['x-request-id']).toBe(sent[0]);
    }
    const max = 'b'.repeat(200);
    expect((await request(p.port, { headers: { 'x-request-id': max } })).headers['x-request-id']).toBe(max);
  });

  it('generates unique, well-formed ids', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 10000; i++) {
      const id = newRequestId();
      expect(isValidRequestId(id)).toBe(true);
      seen.add(id);
    }
    expect(seen.size).toBe(10000);
  });
});

describe('upstream response headers and trailers', () => {
  it('response header objects become flat lists: arrays split, pseudo/hop-by-hop dropped, x-request-id replaced only when given one', () => {
    const upstream = { 'content-type': 'application/grpc', 'set-cookie': ['a=1', 'b=2'], ':status': '200', connection: 'close', 'keep-alive': 'x', 'x-request-id': 'theirs', skip: undefined };
    expect(responseHeaders(upstream, 'ours')).toEqual(['content-type', 'application/grpc', 'set-cookie', 'a=1', 'set-cookie', 'b=2', 'x-request-id', 'ours']);
    expect(responseHeaders(upstream, null)).toEqual(['content-type', 'application/grpc', 'set-cookie', 'a=1', 'set-cookie', 'b=2', 'x-request-id', 'theirs']);
  });

  it('fields named in Connection are dropped, from every Connection line', () => {
    const flat = responseHeaders(
      { connection: ['keep-alive, X-One', 'x-two'], 'x-one': '1', 'x-two': ['2', '3'], 'x-three': '3', vary: ['a', 'b'] },
      'id',
    );
    expect(flat).toEqual(['x-three', '3', 'vary', 'a', 'vary', 'b', 'x-request-id', 'id']);
  });

  it('trailers to relay: end-to-end fields only, null when none', () => {
    expect(trailersToRelay({})).toBeNull();
    expect(trailersToRelay(null)).toBeNull();
    expect(trailersToRelay({ 'content-length': '3', te: 'trailers', ':status': '200' })).toBeNull();
    expect(trailersToRelay({ 'grpc-status': '0', 'grpc-message': 'ok', 'X-Custom': ['a', 'b'], 'transfer-encoding': 'chunked' })).toEqual({
      'grpc-status': '0',
      'grpc-message': 'ok',
      'x-custom': ['a', 'b'],
    });
  });
});
