import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  FakeConfig,
  FakeEndpoints,
  rawExchange,
  refusedPort,
  request,
  sleep,
  startProxy,
  startUpstream,
  statusOf,
  until,
} from './fixtures.ts';
import type { RunningProxy, Upstream } from './fixtures.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function upstream(handler: http.RequestListener, host?: string): Promise<Upstream> {
  const u = await startUpstream(handler, host);
  cleanups.push(() => u.close());
  return u;
}
async function proxyFor(opts: Parameters<typeof startProxy>[0]): Promise<RunningProxy> {
  const p = await startProxy(opts);
  cleanups.push(() => p.close());
  return p;
}
/**
 * A port whose TCP handshakes hang: a child process listens with backlog 1 and never
 * accepts (its event loop is blocked); once the accept queue is full the kernel drops SYNs.
 */
async function blackholePort(): Promise<number> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const net = require('node:net'); const s = net.createServer(); s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
         process.stdout.write(String(s.address().port) + '\\n');
         setTimeout(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20000), 50);
       });`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  cleanups.push(async () => {
    child.kill('SIGKILL');
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once('error', reject);
  });
  await sleep(100); // the child is now blocked
  // fill the accept queue (backlog 1 → two connections), further SYNs are dropped
  const fillers: net.Socket[] = [];
  for (let i = 0; i < 4; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    fillers.push(s);
  }
  await sleep(100);
  cleanups.push(async () => {
    for (const s of fillers) s.destroy();
  });
  return port;
}

function oneRoute(ports: number[], lb: 'round-robin' | 'least-conn' | 'ip-hash' = 'round-robin') {
  const endpoints = new FakeEndpoints();
  endpoints.set('svc', ports);
  return { routes: [{ host: 'app.test', key: 'svc', lb }], endpoints };
}

describe('routing', () => {
  it('proxies a matching host (port ignored, any case) and keeps Host as received', async () => {
    const u = await upstream((req, res) => res.end(`host=${req.headers.host} url=${req.url}`));
    const p = await proxyFor(oneRoute([u.port]));
    const r = await request(p.port, { path: '/a/b?x=1&y', host: 'APP.test:8080' });
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('host=APP.test:8080 url=/a/b?x=1&y');
    expect(r.headers['x-request-id']).toBeUndefined(); // responseRequestId is off by default
  });

  it('answers 404 when no route matches, 503 when the route has no endpoints', async () => {
    const endpoints = new FakeEndpoints();
    const p = await proxyFor({ routes: [{ host: 'app.test', key: 'empty' }], endpoints });
    const a = await request(p.port, { host: 'other.test' });
    expect(a.status).toBe(404);
    expect(a.body.toString()).toBe('not found\n');
    expect(a.headers['x-request-id']).toBeTruthy();
    const b = await request(p.port, { host: 'app.test' });
    expect(b.status).toBe(503);
    await until(() => p.infos.length === 2, 3000, '2 finished requests reported');
    expect(p.infos.map((i) => i.error)).toEqual(['no_route', 'no_endpoints']);
  });

  it('routes absolute-form targets by their authority', async () => {
    const u = await upstream((req, res) => res.end(`host=${req.headers.host} url=${req.url}`));
    const p = await proxyFor(oneRoute([u.port]));
    const raw = await rawExchange(p.port, 'GET http://app.test/x?q=1 HTTP/1.1\r\nHost: ignored.test\r\nConnection: close\r\n\r\n');
    expect(statusOf(raw)).toBe(200);
    expect(raw).toContain('host=app.test url=/x?q=1');
  });

  it('refuses OPTIONS * and duplicate Host with 400 without contacting the upstream', async () => {
    const u = await upstream((_req, res) => res.end('x'));
    const p = await proxyFor(oneRoute([u.port]));
    expect(statusOf(await rawExchange(p.port, 'OPTIONS * HTTP/1.1\r\nHost: app.test\r\n\r\n'))).toBe(400);
    expect(statusOf(await rawExchange(p.port, 'GET / HTTP/1.1\r\nHost: app.test\r\nHost: b.test\r\n\r\n'))).toBe(400);
    expect(u.requests).toBe(0);
  });

  it('redirects plain HTTP to HTTPS (308) for hosts with TLS when the policy says so', async () => {
    const u = await upstream((req, res) => res.end(`proxied ${req.url}`));
    const endpoints = new FakeEndpoints();
    endpoints.set('svc', [u.port]);
    const config = new FakeConfig(
      [
        { host: 'secure.test', key: 'svc' },
        { host: 'a.wild.test', key: 'svc' },
        { host: 'optout.test', key: 'svc', sslRedirect: false },
        { host: 'plain.test', key: 'svc' },
      ],
      1,
      ['secure.test', '*.wild.test', 'optout.test'],
    );
    const p = await proxyFor({ config, endpoints });
    const r = await request(p.port, { host: 'Secure.Test:8080', path: '/a?b=1', method: 'POST', body: 'x' });
    expect(r.status).toBe(308);
    expect(r.headers.location).toBe('https://secure.test/a?b=1');
    expect(r.headers['x-request-id']).toBeTruthy();
    expect((await request(p.port, { host: 'a.wild.test' })).status).toBe(308);
    expect((await request(p.port, { host: 'optout.test' })).body.toString()).toBe('proxied /');
    expect((await request(p.port, { host: 'plain.test' })).body.toString()).toBe('proxied /');
    // ACME HTTP-01 challenges are never redirected
    expect((await request(p.port, { host: 'secure.test', path: '/.well-known/acme-challenge/tok' })).body.toString()).toBe(
      'proxied /.well-known/acme-challenge/tok',
    );
    expect(u.requests).toBe(3);
    // the listener's scheme is what counts: behind an https listener the same request is proxied
    const tlsSide = http.createServer((req, res) => p.proxy.handle(req, res, 'https'));
    await new Promise<void>((r) => tlsSide.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise((r) => tlsSide.close(() => r())));
    const viaTls = await request((tlsSide.address() as net.AddressInfo).port, { host: 'secure.test' });
    expect(viaTls.body.toString()).toBe('proxied /');
    expect(u.requests).toBe(4);
  });

  it('force-ssl-redirect redirects any host; X-Forwarded-Proto counts only from a trusted proxy', async () => {
    const u = await upstream((req, res) => res.end(`proxied ${req.url}`));
    const endpoints = new FakeEndpoints();
    endpoints.set('svc', [u.port]);
    const config = new FakeConfig(
      [
        { host: 'forced.test', key: 'svc', forceSslRedirect: true },
        { host: 'secure.test', key: 'svc' },
      ],
      1,
      ['secure.test'],
    );
    // no trusted proxies: the client's X-Forwarded-Proto is ignored
    const open = await proxyFor({ config, endpoints });
    const forced = await request(open.port, { host: 'forced.test', path: '/p?q=1' });
    expect(forced.status).toBe(308);
    expect(forced.headers.location).toBe('https://forced.test/p?q=1');
    expect((await request(open.port, { host: 'forced.test', headers: { 'x-forwarded-proto': 'https' } })).status).toBe(308);
    expect((await request(open.port, { host: 'forced.test', path: '/.well-known/acme-challenge/t' })).body.toString()).toBe('proxied /.well-known/acme-challenge/t');

    // behind a trusted load balancer that terminated TLS: no redirect (and no loop) for https
    const behind = await proxyFor({ config, endpoints, settings: { trustedProxies: ['127.0.0.1/32'] } });
    for (const host of ['forced.test', 'secure.test']) {
      expect((await request(behind.port, { host, headers: { 'x-forwarded-proto': 'https' } })).body.toString(), host).toBe('proxied /');
      expect((await request(behind.port, { host, headers: { 'x-forwarded-proto': 'http' } })).status, host).toBe(308);
      expect((await request(behind.port, { host })).status, host).toBe(308);
    }
  });

  it('--ssl-redirect / --force-ssl-redirect decide for routes whose Ingress does not say; an annotation overrides them', async () => {
    const u = await upstream((req, res) => res.end(`proxied ${req.url}`));
    const endpoints = new FakeEndpoints();
    endpoints.set('svc', [u.port]);
    const config = new FakeConfig(
      [
        { host: 'quiet.test', key: 'svc' },
        { host: 'wants.test', key: 'svc', sslRedirect: true },
        { host: 'plain.test', key: 'svc' },
        { host: 'never.test', key: 'svc', forceSslRedirect: false },
      ],
      1,
      ['quiet.test', 'wants.test'],
    );
    // ingress-nginx's ConfigMap ssl-redirect: "false": only the Ingress that asks redirects
    const off = await proxyFor({ config, endpoints, settings: { sslRedirect: false } });
    expect((await request(off.port, { host: 'quiet.test' })).body.toString()).toBe('proxied /');
    expect((await request(off.port, { host: 'wants.test' })).status).toBe(308);
    expect(u.requests).toBe(1);
    // force-ssl-redirect "true" globally: every host without TLS too, but not an Ingress that says "false"
    const forced = await proxyFor({ config, endpoints, settings: { forceSslRedirect: true } });
    const r = await request(forced.port, { host: 'plain.test', path: '/x' });
    expect(r.status).toBe(308);
    expect(r.headers.location).toBe('https://plain.test/x');
    expect((await request(forced.port, { host: 'never.test' })).body.toString()).toBe('proxied /');
    expect(u.requests).toBe(2);
  });

  it('lets a listener intercept requests before routing (ACME challenges)', async () => {
    const u = await upstream((req, res) => res.end(`proxied ${req.url}`));
    const p = await proxyFor({
      ...oneRoute([u.port]),
      listener: {
        intercept: (req, res) => {
          if (req.url !== '/.well-known/acme-challenge/tok') return false;
          res.end('key-authorization');
          return true;
        },
      },
    });
    expect((await request(p.port, { path: '/.well-known/acme-challenge/tok' })).body.toString()).toBe('key-authorization');
    expect((await request(p.port, { path: '/x' })).body.toString()).toBe('proxied /x');
    expect(u.requests).toBe(1);
  });

  it('fills RequestInfo', async () => {
    const u = await upstream((_req, res) => res.end('hello'));
    const p = await proxyFor(oneRoute([u.port]));
    await request(p.port, { path: '/p?q', headers: { 'x-request-id': 'abc-1' } });
    await until(() => p.infos.length === 1, 3000, '1 finished request reported');
    const i = p.infos[0]!;
    expect(i).toMatchObject({
      method: 'GET',
      host: 'app.test',
      path: '/p',
      scheme: 'http',
      status: 200,
      bytesSent: 5,
      upstream: `127.0.0.1:${u.port}`,
      attempts: 1,
      ingress: { kind: 'Ingress', namespace: 'default', name: 'svc' },
      routePath: '/',
      backend: 'svc',
      requestId: 'abc-1',
      clientIp: '127.0.0.1',
      upgrade: false,
      error: null,
    });
    expect(i.durationMs).toBeGreaterThan(0);
  });
});

describe('streaming', () => {
  it('delivers chunked responses progressively (lock-step: chunk n+1 is sent only after the client saw chunk n)', async () => {
    let gotChunk: (() => void) | null = null;
    const u = await upstream(async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      for (let i = 0; i < 5; i++) {
        const seen = new Promise<void>((r) => (gotChunk = r));
        res.write(`chunk-${i};`);
        const ok = await Promise.race([seen.then(() => true), sleep(3000).then(() => false)]);
        if (!ok) {
          res.end('TIMEOUT');
          return;
        }
      }
      res.end();
    });
    const p = await proxyFor(oneRoute([u.port]));
    const body = await new Promise<string>((resolve, reject) => {
      const req = http.request({ port: p.port, host: '127.0.0.1', headers: { host: 'app.test' }, agent: false }, (res) => {
        expect(res.headers['transfer-encoding']).toBe('chunked');
        let s = '';
        res.on('data', (c: Buffer) => {
          s += c.toString();
          gotChunk?.();
        });
        res.on('end', () => resolve(s));
      });
      req.on('error', reject);
      req.end();
    });
    expect(body).toBe('chunk-0;chunk-1;chunk-2;chunk-3;chunk-4;');
  });

  it('carries large bodies both ways intact (64 MiB, content-length and chunked)', { timeout: 30_000 }, async () => {
    const size = 64 * 1024 * 1024;
    const block = crypto.randomBytes(1024 * 1024);
    const expected = crypto.createHash('sha256');
    for (let i = 0; i < size / block.length; i++) expected.update(block);
    const digest = expected.digest('hex');

    const u = await upstream((req, res) => {
      if (req.method === 'POST') {
        const h = crypto.createHash('sha256');
        let n = 0;
        req.on('data', (c: Buffer) => {
          h.update(c);
          n += c.length;
        });
        req.on('end', () => res.end(`${n} ${h.digest('hex')} te=${req.headers['transfer-encoding'] ?? ''}`));
        return;
      }
      res.writeHead(200, req.url === '/cl' ? { 'content-length': String(size) } : {});
      let i = 0;
      const pump = () => {
        while (i < size / block.length) {
          i++;
          if (!res.write(block)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
    });
    // no body limit: this is about streaming (the 1m default is tested in body-limit.test.ts)
    const p = await proxyFor({ ...oneRoute([u.port]), settings: { bodyLimit: 0 } });

    for (const path of ['/cl', '/chunked']) {
      const got = await new Promise<{ n: number; hash: string }>((resolve, reject) => {
        http
          .get({ port: p.port, host: '127.0.0.1', path, headers: { host: 'app.test' }, agent: false }, (res) => {
            const h = crypto.createHash('sha256');
            let n = 0;
            res.on('data', (c: Buffer) => {
              h.update(c);
              n += c.length;
            });
            res.on('end', () => resolve({ n, hash: h.digest('hex') }));
          })
          .on('error', reject);
      });
      expect(got).toEqual({ n: size, hash: digest });
    }

    for (const chunked of [false, true]) {
      const reply = await new Promise<string>((resolve, reject) => {
        const req = http.request(
          {
            port: p.port,
            host: '127.0.0.1',
            method: 'POST',
            headers: chunked ? { host: 'app.test' } : { host: 'app.test', 'content-length': String(size) },
            agent: false,
          },
          (res) => {
            let s = '';
            res.on('data', (c: Buffer) => (s += c));
            res.on('end', () => resolve(s));
          },
        );
        req.on('error', reject);
        let i = 0;
        const pump = () => {
          while (i < size / block.length) {
            i++;
            if (!req.write(block)) {
              req.once('drain', pump);
              return;
            }
          }
          req.end();
        };
        pump();
      });
      expect(reply).toBe(`${size} ${digest} te=${chunked ? 'chunked' : ''}`);
    }
  });

  it('keeps multiple Set-Cookie lines and passes HEAD / 204 / 304 without bodies', async () => {
    const u = await upstream((req, res) => {
      if (req.url === '/204') {
        res.writeHead(204);
        res.end();
        return;
      }
      if (req.url === '/304') {
        res.writeHead(304, { etag: '"x"' });
        res.end();
        return;
      }
      res.writeHead(200, [['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2'], ['Content-Length', '5']].flat());
      res.end(req.method === 'HEAD' ? undefined : 'hello');
    });
    const p = await proxyFor(oneRoute([u.port]));
    const r = await request(p.port, {});
    expect(r.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(r.body.toString()).toBe('hello');
    const h = await request(p.port, { method: 'HEAD' });
    expect(h.status).toBe(200);
    expect(h.headers['content-length']).toBe('5');
    expect(h.body.length).toBe(0);
    expect((await request(p.port, { path: '/204' })).status).toBe(204);
    expect((await request(p.port, { path: '/304' })).status).toBe(304);
  });

  it('serves many keep-alive requests over one client connection', async () => {
    const u = await upstream((req, res) => res.end(req.url));
    const p = await proxyFor(oneRoute([u.port]));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; i < 50; i++) {
        const body = await new Promise<string>((resolve, reject) => {
          http
            .get({ port: p.port, host: '127.0.0.1', path: `/${i}`, headers: { host: 'app.test' }, agent }, (res) => {
              let s = '';
              res.on('data', (c: Buffer) => (s += c));
              res.on('end', () => resolve(s));
            })
            .on('error', reject);
        });
        expect(body).toBe(`/${i}`);
      }
    } finally {
      agent.destroy();
    }
    expect(u.sockets.size).toBe(1);
  });
});

describe('upstream failures', () => {
  it('answers 502 when the only endpoint refuses connections', async () => {
    const dead = await refusedPort();
    const p = await proxyFor(oneRoute([dead]));
    const r = await request(p.port, {});
    expect(r.status).toBe(502);
    expect(r.body.toString()).toBe('bad gateway\n');
    await until(() => p.infos.length === 1, 3000, '1 finished request reported');
    expect(p.infos[0]!.error).toBe('connect');
  });

  it('retries a GET once on another endpoint when the first refuses', async () => {
    const u = await upstream((_req, res) => res.end('ok'));
    const dead = await refusedPort();
    const p = await proxyFor(oneRoute([dead, u.port]));
    for (let i = 0; i < 10; i++) {
      const r = await request(p.port, {});
      expect(r.status).toBe(200);
    }
    await until(() => p.infos.length === 10, 3000, '10 finished requests reported');
    expect(u.requests).toBe(10);
    const attempts = p.infos.map((i) => i.attempts);
    expect(attempts.filter((a) => a === 2).length).toBe(5); // round-robin alternates
    expect(p.infos.every((i) => i.upstream === `127.0.0.1:${u.port}` && i.status === 200)).toBe(true);
  });

  it('does not retry a POST with a body: 502', async () => {
    const u = await upstream((req, res) => {
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    const dead = await refusedPort();
    const p = await proxyFor(oneRoute([dead, u.port]));
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) {
      statuses.push((await request(p.port, { method: 'POST', body: 'payload', headers: { 'content-type': 'text/plain' } })).status);
    }
    expect(statuses.filter((s) => s === 502).length).toBe(5);
    expect(statuses.filter((s) => s === 200).length).toBe(5);
    expect(u.requests).toBe(5);
    await until(() => p.infos.length === 10, 3000, '10 finished requests reported');
    expect(p.infos.every((i) => i.attempts === 1)).toBe(true);
  });

  it('retries an idempotent request reset before any response byte; a POST with body gets 502', async () => {
    const resetter = await upstream((req) => req.socket.destroy()); // reads the request, then resets
    const good = await upstream((req, res) => {
      req.resume();
      req.on('end', () => res.end('good'));
    });
    const p = await proxyFor(oneRoute([resetter.port, good.port]));
    for (let i = 0; i < 4; i++) {
      const r = await request(p.port, { method: i % 2 === 0 ? 'GET' : 'DELETE' });
      expect(r.status).toBe(200);
      expect(r.body.toString()).toBe('good');
    }
    const posts: number[] = [];
    for (let i = 0; i < 4; i++) posts.push((await request(p.port, { method: 'POST', body: 'data' })).status);
    expect(posts.sort()).toEqual([200, 200, 502, 502]);
    await until(() => p.infos.length === 8, 3000, '8 finished requests reported');
    expect(p.infos.filter((i) => i.error === 'reset').length).toBe(2);
  });

  it('answers 504 when the upstream does not send headers in time (client idle timeout does not cut it first)', async () => {
    const u = await upstream(() => {
      /* never answers */
    });
    const p = await proxyFor({ ...oneRoute([u.port]), settings: { responseHeaderTimeoutMs: 600, idleTimeoutMs: 200 } });
    const t0 = Date.now();
    const r = await request(p.port, {});
    expect(r.status).toBe(504);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(500);
    await until(() => p.infos.length === 1, 3000, '1 finished request reported');
    expect(p.infos[0]!.error).toBe('headers_timeout');
    // the hung upstream connection is torn down, not leaked
    await until(() => u.sockets.size === 0, 3000, 'the upstream sockets to close');
  });

  it('answers 504 on connect timeout (and retries a GET first)', async () => {
    const port = await blackholePort();
    const endpoints = new FakeEndpoints();
    endpoints.set('svc', [port]);
    const p = await proxyFor({ routes: [{ host: 'app.test', key: 'svc' }], endpoints, settings: { connectTimeoutMs: 200 } });
    const t0 = Date.now();
    const r = await request(p.port, { method: 'POST', body: 'x' });
    expect(r.status).toBe(504);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    const g = await request(p.port, {});
    expect(g.status).toBe(504);
    await until(() => p.infos.length === 2, 3000, '2 finished requests reported');
    expect(p.infos.map((i) => [i.error, i.attempts])).toEqual([
      ['connect_timeout', 1],
      ['connect_timeout', 2],
    ]);
  });

  it('cuts the client connection when the upstream dies mid-body', async () => {
    const u = await upstream((_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
      setTimeout(() => res.socket?.destroy(), 50);
    });
    const p = await proxyFor(oneRoute([u.port]));
    const err = await new Promise<string>((resolve) => {
      http
        .get({ port: p.port, host: '127.0.0.1', headers: { host: 'app.test' }, agent: false }, (res) => {
          res.on('data', () => {});
          res.on('end', () => resolve('ended'));
          res.on('error', (e) => resolve(`error:${(e as NodeJS.ErrnoException).code ?? e.message}`));
          res.on('aborted', () => resolve('aborted'));
        })
        .on('error', (e) => resolve(`reqerror:${e.message}`));
    });
    expect(err).not.toBe('ended');
  });

  it('cuts the client connection when the upstream body stalls longer than idleTimeoutMs', async () => {
    const u = await upstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first');
      /* then stalls */
    });
    const p = await proxyFor({ ...oneRoute([u.port]), settings: { idleTimeoutMs: 300 } });
    const t0 = Date.now();
    const outcome = await new Promise<string>((resolve) => {
      http
        .get({ port: p.port, host: '127.0.0.1', headers: { host: 'app.test' }, agent: false }, (res) => {
          res.on('data', () => {});
          res.on('end', () => resolve('ended'));
          res.on('error', () => resolve('error'));
          res.on('aborted', () => resolve('aborted'));
        })
        .on('error', () => resolve('reqerror'));
    });
    expect(outcome).not.toBe('ended');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    await until(() => p.infos.length === 1, 3000, '1 finished request reported');
    expect(p.infos[0]!.error).toBe('body_timeout');
  });

  it('answers 502 to an invalid upstream response and keeps serving', async () => {
    const srv = net.createServer((s) => {
      s.once('data', () => s.end('HTTP/1.1 abc nonsense\r\n\r\n'));
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    cleanups.push(() => new Promise((r) => srv.close(() => r())));
    const p = await proxyFor(oneRoute([(srv.address() as net.AddressInfo).port]));
    const r = await request(p.port, { method: 'POST', body: 'x' });
    expect(r.status).toBe(502);
  });
});

describe('balancing through the proxy', () => {
  async function three() {
    const names: Upstream[] = [];
    for (const n of ['a', 'b', 'c']) names.push(await upstream((_req, res) => setTimeout(() => res.end(n), 5)));
    return names;
  }

  it('round-robin spreads evenly', async () => {
    const ups = await three();
    const p = await proxyFor(oneRoute(ups.map((u) => u.port)));
    const counts: Record<string, number> = {};
    for (let i = 0; i < 30; i++) {
      const b = (await request(p.port, {})).body.toString();
      counts[b] = (counts[b] ?? 0) + 1;
    }
    expect(counts).toEqual({ a: 10, b: 10, c: 10 });
  });

  it('ip-hash keeps a client (X-Real-IP behind a trusted proxy) on one endpoint and spreads clients', async () => {
    const ups = await three();
    const p = await proxyFor({ ...oneRoute(ups.map((u) => u.port), 'ip-hash'), settings: { trustedProxies: ['127.0.0.1/32'] } });
    const seen = new Set<string>();
    for (let c = 0; c < 30; c++) {
      const ip = `203.0.113.${c}`;
      const first = (await request(p.port, { headers: { 'x-forwarded-for': ip } })).body.toString();
      for (let i = 0; i < 3; i++) expect((await request(p.port, { headers: { 'x-forwarded-for': ip } })).body.toString()).toBe(first);
      seen.add(first);
    }
    expect(seen.size).toBe(3);
  });

  it('least-conn sends new requests to the endpoint with fewer in flight', async () => {
    let release: (() => void) | null = null;
    const slow = await upstream((_req, res) => {
      release = () => res.end('slow');
    });
    const fast = await upstream((_req, res) => res.end('fast'));
    const p = await proxyFor(oneRoute([slow.port, fast.port], 'least-conn'));
    // park one request on whichever endpoint gets it first; until it is the slow one, retry
    let parked: Promise<unknown> | null = null;
    for (let i = 0; i < 20 && parked === null; i++) {
      const r = request(p.port, {});
      await until(() => slow.requests > 0 || fast.requests > i, 3000, 'an upstream to receive the request');
      if (slow.requests > 0) parked = r;
      else await r;
    }
    expect(parked).not.toBeNull();
    for (let i = 0; i < 10; i++) expect((await request(p.port, {})).body.toString()).toBe('fast');
    release!();
    await parked;
  });
});

describe('upstream pools', () => {
  it('bounds connections per endpoint (maxConnectionsPerEndpoint); extra requests queue', async () => {
    let open = 0;
    let maxOpen = 0;
    const u = await upstream((_req, res) => {
      open++;
      maxOpen = Math.max(maxOpen, open);
      setTimeout(() => {
        open--;
        res.end('ok');
      }, 30);
    });
    const p = await proxyFor({ ...oneRoute([u.port]), settings: { maxConnectionsPerEndpoint: 2 } });
    const replies = await Promise.all(Array.from({ length: 10 }, () => request(p.port, {})));
    expect(replies.every((r) => r.status === 200)).toBe(true);
    expect(maxOpen).toBe(2);
    expect(u.sockets.size).toBeLessThanOrEqual(2);
  });

  it('closes idle upstream connections after upstreamKeepAliveMs (even when the upstream allows longer)', async () => {
    const u = await upstream((_req, res) => res.end('ok')); // Node upstream: Keep-Alive: timeout=5
    const p = await proxyFor({ ...oneRoute([u.port]), settings: { upstreamKeepAliveMs: 300 } });
    await request(p.port, {});
    expect(u.sockets.size).toBe(1);
    await until(() => u.sockets.size === 0, 2500, 'the upstream sockets to close');
  });

  it('reaches IPv6 endpoints over one keep-alive connection while the client Host changes', async () => {
    const u = await upstream((req, res) => res.end(`host=${req.headers.host} local=${req.socket.localAddress}`), '::1');
    const endpoints = new FakeEndpoints();
    endpoints.set('svc', [u.port], '::1');
    const p = await proxyFor({ routes: [{ host: 'a.test', key: 'svc' }, { host: 'b.test', key: 'svc' }], endpoints });
    for (let i = 0; i < 6; i++) {
      const host = i % 2 === 0 ? 'a.test' : 'b.test';
      const r = await request(p.port, { host });
      expect(r.status).toBe(200);
      expect(r.body.toString()).toBe(`host=${host} local=::1`);
    }
    // cleartext upstream connections do not depend on the client's Host (no TLS server name)
    expect(u.connections).toBe(1);
  });
});

describe('client aborts', () => {
  it('aborts the upstream request when the client goes away while waiting for headers, without leaking sockets', async () => {
    let closed = 0;
    const u = await upstream((req) => {
      req.socket.on('close', () => closed++);
    });
    const p = await proxyFor(oneRoute([u.port]));
    for (let i = 0; i < 5; i++) {
      const req = http.get({ port: p.port, host: '127.0.0.1', headers: { host: 'app.test' }, agent: false });
      req.on('error', () => {});
      await until(() => u.requests === i + 1, 3000, 'the upstream to receive the request');
      req.destroy();
    }
    await until(() => closed === 5, 3000, 'five closed client connections');
    await until(() => u.sockets.size === 0, 3000, 'the upstream sockets to close');
    await until(() => p.infos.length === 5, 3000, '5 finished requests reported');
    expect(p.infos.every((i) => i.error === 'client_abort')).toBe(true);
  });

  it('aborts a streaming download when the client goes away', async () => {
    let upstreamSawClose = 0;
    const u = await upstream((_req, res) => {
      res.writeHead(200);
      const t = setInterval(() => res.write(Buffer.alloc(16 * 1024)), 5);
      res.on('close', () => {
        clearInterval(t);
        upstreamSawClose++;
      });
    });
    const p = await proxyFor(oneRoute([u.port]));
    for (let i = 0; i < 3; i++) {
      await new Promise<void>((resolve) => {
        const req = http.get({ port: p.port, host: '127.0.0.1', headers: { host: 'app.test' }, agent: false }, (res) => {
          let n = 0;
          res.on('data', (c: Buffer) => {
            n += c.length;
            if (n > 64 * 1024) {
              req.destroy();
              resolve();
            }
          });
        });
        req.on('error', () => {});
      });
    }
    await until(() => upstreamSawClose === 3, 3000, 'the upstream to see three closes');
    await until(() => u.sockets.size === 0, 3000, 'the upstream sockets to close');
  });

  it('aborts an upload when the client goes away mid-body', async () => {
    let aborted = 0;
    const u = await upstream((req) => {
      req.on('data', () => {});
      req.on('close', () => {
        if (!req.complete) aborted++;
      });
    });
    const p = await proxyFor(oneRoute([u.port]));
    const c = net.connect(p.port, '127.0.0.1');
    c.on('error', () => {});
    c.write('POST /up HTTP/1.1\r\nHost: app.test\r\nContent-Length: 1000000\r\n\r\n' + 'x'.repeat(1000));
    await until(() => u.requests === 1, 3000, 'the upstream to receive the request');
    c.destroy();
    await until(() => aborted === 1, 3000, 'the upstream request to be aborted');
    await until(() => u.sockets.size === 0, 3000, 'the upstream sockets to close');
  });
});

describe('client side limits', () => {
  it('answers 431 to oversized headers (maxHeaderSize) and 400 to garbage', async () => {
    const u = await upstream((_req, res) => res.end('x'));
    const p = await proxyFor({ ...oneRoute([u.port]), listener: { maxHeaderSize: 4096 } });
    const big = await rawExchange(p.port, `GET / HTTP/1.1\r\nHost: app.test\r\nX-Big: ${'a'.repeat(5000)}\r\n\r\n`);
    expect(statusOf(big)).toBe(431);
    const longLine = await rawExchange(p.port, `GET /${'a'.repeat(5000)} HTTP/1.1\r\nHost: app.test\r\n\r\n`);
    expect(statusOf(longLine)).toBe(431);
    expect(statusOf(await rawExchange(p.port, 'HELLO\r\n\r\n'))).toBe(400);
    expect(statusOf(await rawExchange(p.port, 'CONNECT app.test:443 HTTP/1.1\r\nHost: app.test:443\r\n\r\n'))).toBe(405);
    expect(u.requests).toBe(0);
  });

  it('closes a client connection idle mid-upload after idleTimeoutMs', async () => {
    const u = await upstream((req, res) => {
      req.resume();
      req.on('end', () => res.end('x'));
    });
    const p = await proxyFor({ ...oneRoute([u.port]), settings: { idleTimeoutMs: 300 } });
    const t0 = Date.now();
    const out = await rawExchange(p.port, 'POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 10\r\n\r\nabc', 5000);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(statusOf(out)).not.toBe(200);
  });
});

describe('lifecycle', () => {
  it('close() waits for in-flight requests, then answers nothing more', async () => {
    const u = await upstream((_req, res) => setTimeout(() => res.end('late'), 200));
    const p = await startProxy(oneRoute([u.port]));
    const pending = request(p.port, {});
    await until(() => u.requests === 1, 3000, 'the upstream to receive the request');
    const t0 = Date.now();
    await p.proxy.close(5000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(100);
    expect((await pending).body.toString()).toBe('late');
    const after = await request(p.port, {});
    expect(after.status).toBe(503);
    await p.close();
  });

  it('the balancer config can be swapped between requests', async () => {
    const a = await upstream((_req, res) => res.end('A'));
    const b = await upstream((_req, res) => res.end('B'));
    const endpoints = new FakeEndpoints();
    endpoints.set('a', [a.port]);
    endpoints.set('b', [b.port]);
    const p = await proxyFor({ routes: [{ host: 'app.test', key: 'a' }], endpoints });
    expect((await request(p.port, {})).body.toString()).toBe('A');
    p.config.current = new FakeConfig([{ host: 'app.test', key: 'b' }], 2);
    expect((await request(p.port, {})).body.toString()).toBe('B');
  });
});
