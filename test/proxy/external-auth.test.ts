// The external-auth stage (proxy/filters/external-auth.ts) against a loopback auth service
// written here: the subrequest's headers, each outcome (2xx, 401, 403, sign-in 302, other
// statuses, refused, timeout), auth-response-headers, Set-Cookie, and the result cache with an
// injected clock. Then once through the proxy: plain requests, other routes unaffected by a
// dead auth service, and a WebSocket upgrade refused / let through by the same stage.
// Behaviour follows ingress-nginx's nginx.tmpl auth location and test/e2e/annotations/auth.go.

import http from 'node:http';
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseAuthUrl, readExternalAuthOptions } from '../../src/model/external-auth-options.ts';
import { NO_FILTERS, type ExternalAuth, type Route } from '../../src/model/types.ts';
import { AUTH_FAIL_FAST_MS, ExternalAuthClient } from '../../src/proxy/auth-client.ts';
import { externalAuthStage } from '../../src/proxy/filters/external-auth.ts';
import { compilePlan, NO_PLAN_CONTEXT, runPlanWaiting, type PlanHead } from '../../src/proxy/plan.ts';
import { FakeEndpoints, makeRoute, refusedPort, request, startProxy, startUpstream, type Upstream } from './fixtures.ts';

const N = 'nginx.ingress.kubernetes.io/';

/** An ExternalAuth from annotations, as the model builds it. */
function auth(annotations: Record<string, string>): ExternalAuth {
  const o = readExternalAuthOptions(annotations, (_r, m) => {
    throw new Error(m);
  });
  const a = o.filters.externalAuth;
  if (a === undefined) throw new Error('no externalAuth');
  return a;
}

function head(url = '/', headers: string[] = [], over: Partial<PlanHead> = {}): PlanHead {
  const q = url.indexOf('?');
  return {
    host: 'app.test',
    url,
    path: q < 0 ? url : url.slice(0, q),
    hasBody: false,
    bodyLength: -1,
    reject: 0,
    requestId: 'req-1',
    clientIp: '192.0.2.7',
    headers: ['host', 'app.test', ...headers, 'x-forwarded-for', '192.0.2.7', 'x-forwarded-proto', 'https', 'x-forwarded-host', 'app.test', 'x-real-ip', '192.0.2.7', 'x-request-id', 'req-1'],
    upgrade: '',
    te: false,
    method: 'GET',
    scheme: 'https',
    accessScheme: 'https',
    answerHeaders: null,
    responseHeaders: null,
    onDone: null,
    ...over,
  };
}

function route(filters = NO_FILTERS, host = 'app.test', path = '/'): Route {
  return { ...makeRoute({ host, key: 'default/app:80', filters }), path };
}

/** Header value(s) of a flat list. */
function values(flat: readonly string[] | null, name: string): string[] {
  const out: string[] = [];
  if (flat === null) return out;
  for (let i = 0; i < flat.length; i += 2) if (flat[i]!.toLowerCase() === name) out.push(flat[i + 1]!);
  return out;
}

// The auth service: answers what `next` says; records each request.
interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}
let authServer: Upstream;
let seen: Seen[] = [];
let next: (req: http.IncomingMessage, res: http.ServerResponse) => void = (_q, res) => res.end();
let clients: ExternalAuthClient[] = [];

function client(opts: ConstructorParameters<typeof ExternalAuthClient>[0] = {}): ExternalAuthClient {
  const c = new ExternalAuthClient(opts);
  clients.push(c);
  return c;
}

beforeAll(async () => {
  authServer = await startUpstream((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      next(req, res);
    });
  });
});
afterAll(async () => {
  await authServer.close();
});
afterEach(async () => {
  seen = [];
  next = (_q, res) => res.end();
  await Promise.all(clients.map((c) => c.close()));
  clients = [];
});

const base = (): string => `http://127.0.0.1:${authServer.port}`;

async function run(a: ExternalAuth, h: PlanHead, c = client(), r = route()): Promise<number> {
  return await externalAuthStage(a, r, c)(h);
}

describe('the subrequest', () => {
  it('carries the original headers and the auth_request ones, no body, client copies of ours dropped', async () => {
    next = (_q, res) => res.writeHead(200).end();
    const h = head('/shop/cart?a=b&c=d', ['cookie', 'session=1', 'authorization', 'Bearer t', 'content-length', '5', 'x-original-url', 'http://evil/', 'x-sent-from', 'me', 'host', 'dup'], { method: 'POST', hasBody: true, bodyLength: 5 });
    const status = await run(auth({ [N + 'auth-url']: `${base()}/check?u=$escaped_request_uri` }), h);
    expect(status).toBe(0);
    expect(seen).toHaveLength(1);
    const s = seen[0]!;
    expect(s.method).toBe('GET'); // auth-method's default, whatever the request's method
    expect(s.url).toBe('/check?u=%2Fshop%2Fcart%3Fa%3Db%26c%3Dd');
    expect(s.body).toBe('');
    expect(s.headers['content-length']).toBeUndefined();
    expect(s.headers['host']).toBe('127.0.0.1'); // the auth URL's host name, as ingress-nginx
    expect(s.headers['cookie']).toBe('session=1');
    expect(s.headers['authorization']).toBe('Bearer t');
    expect(s.headers['x-original-url']).toBe('https://app.test/shop/cart?a=b&c=d');
    expect(s.headers['x-original-method']).toBe('POST');
    expect(s.headers['x-sent-from']).toBe('nginx-ingress-controller');
    expect(s.headers['x-real-ip']).toBe('192.0.2.7');
    expect(s.headers['x-forwarded-for']).toBe('192.0.2.7');
    expect(s.headers['x-forwarded-proto']).toBe('https');
    expect(s.headers['x-forwarded-host']).toBe('app.test');
    expect(s.headers['x-auth-request-redirect']).toBe('/shop/cart?a=b&c=d');
    expect(s.headers['x-request-id']).toBe('req-1');
    expect(s.headers['x-original-uri']).toBeUndefined();
  });

  it('auth-method sets the method and adds X-Original-URI and X-Scheme; auth-request-redirect the redirect header', async () => {
    next = (_q, res) => res.writeHead(204).end();
    const a = auth({ [N + 'auth-url']: `${base()}/check`, [N + 'auth-method']: 'POST', [N + 'auth-request-redirect']: 'https://app.test/after' });
    expect(await run(a, head('/x?y=1'))).toBe(0);
    const s = seen[0]!;
    expect(s.method).toBe('POST');
    expect(s.headers['x-original-uri']).toBe('/x?y=1');
    expect(s.headers['x-scheme']).toBe('https');
    expect(s.headers['x-auth-request-redirect']).toBe('https://app.test/after');
  });

  it('auth-proxy-set-headers: the ConfigMap\'s headers are sent, replacing the client\'s; an empty value removes it', async () => {
    next = (_q, res) => res.writeHead(200).end();
    const a = auth({ [N + 'auth-url']: `${base()}/check` });
    const withSet: ExternalAuth = { ...a, proxySetHeaders: { configMap: 'default/auth-headers', headers: ['x-strip', '', 'x-tenant', 'shop', 'x-trace', '$literal'] } };
    const h = head('/', ['X-Tenant', 'mallory', 'x-strip', 'secret', 'accept', 'text/html']);
    expect(await run(withSet, h)).toBe(0);
    const s = seen[0]!;
    expect(s.headers['x-tenant']).toBe('shop'); // never the client's value too
    expect(s.headers['x-strip']).toBeUndefined();
    expect(s.headers['x-trace']).toBe('$literal');
    expect(s.headers['accept']).toBe('text/html');
    // the upstream request is not touched: the headers are for the auth service only
    expect(values(h.headers, 'x-tenant')).toEqual(['mallory']);
    // without the ConfigMap the client's value goes through as before
    expect(await run(a, head('/', ['X-Tenant', 'mallory']))).toBe(0);
    expect(seen[1]!.headers['x-tenant']).toBe('mallory');
  });

  it('$host in the auth host is the route\'s host; $host and $scheme in the target are the request\'s', async () => {
    next = (_q, res) => res.writeHead(200).end();
    const a = auth({ [N + 'auth-url']: `http://$host:${authServer.port}/check/$host/$scheme` });
    expect(a.originUsesHost).toBe(true);
    expect(await run(a, head('/', [], { host: '127.0.0.1:8443' }), client(), route(NO_FILTERS, '127.0.0.1'))).toBe(0);
    expect(seen[0]!.url).toBe('/check/127.0.0.1/https');
    // a route without an exact host never sends such a subrequest (fail closed)
    expect(await run(a, head(), client(), route(NO_FILTERS, '*.app.test'))).toBe(503);
    expect(await run(a, head(), client(), route(NO_FILTERS, ''))).toBe(503);
    expect(seen).toHaveLength(1);
  });
});

describe('outcomes', () => {
  it('2xx: the request goes on with auth-response-headers copied (client values replaced) and Set-Cookie for the response', async () => {
    next = (_q, res) => res.writeHead(202, { 'X-Auth-Request-User': 'alice', 'X-Auth-Request-Email': 'a@x', 'X-Other': 'no', 'Set-Cookie': ['s=1', 't=2'] }).end('ok');
    const a = auth({ [N + 'auth-url']: `${base()}/check`, [N + 'auth-response-headers']: 'X-Auth-Request-User, X-Auth-Request-Email, X-Absent' });
    const h = head('/', ['X-Auth-Request-User', 'mallory', 'x-absent', 'forged', 'accept', 'text/html']);
    expect(await run(a, h)).toBe(0);
    expect(values(h.headers, 'x-auth-request-user')).toEqual(['alice']);
    expect(values(h.headers, 'x-auth-request-email')).toEqual(['a@x']);
    expect(values(h.headers, 'x-absent')).toEqual([]); // never the client's value
    expect(values(h.headers, 'x-other')).toEqual([]);
    expect(values(h.headers, 'accept')).toEqual(['text/html']);
    expect(values(h.responseHeaders, 'set-cookie')).toEqual(['s=1', 't=2']);
    expect(h.answerHeaders).toBeNull();
  });

  it('401: answered with the auth service\'s WWW-Authenticate; Set-Cookie only with auth-always-set-cookie', async () => {
    next = (_q, res) => res.writeHead(401, { 'WWW-Authenticate': 'Bearer realm="x"', 'Set-Cookie': 'c=1' }).end();
    const h = head();
    expect(await run(auth({ [N + 'auth-url']: `${base()}/check` }), h)).toBe(401);
    expect(values(h.answerHeaders, 'www-authenticate')).toEqual(['Bearer realm="x"']);
    expect(values(h.answerHeaders, 'set-cookie')).toEqual([]);
    const always = head();
    expect(await run(auth({ [N + 'auth-url']: `${base()}/check`, [N + 'auth-always-set-cookie']: 'true' }), always)).toBe(401);
    expect(values(always.answerHeaders, 'set-cookie')).toEqual(['c=1']);
  });

  it('403: answered 403', async () => {
    next = (_q, res) => res.writeHead(403, { 'Set-Cookie': 'c=1' }).end();
    const h = head();
    expect(await run(auth({ [N + 'auth-url']: `${base()}/check` }), h)).toBe(403);
    expect(h.answerHeaders).toBeNull();
  });

  it('401 with auth-signin: 302 to the sign-in URL with the escaped original URL in rd, and the Set-Cookie', async () => {
    next = (_q, res) => res.writeHead(401, { 'Set-Cookie': 'csrf=1' }).end();
    const h = head('/?a=b&c=d', [], { host: 'app.test' });
    expect(await run(auth({ [N + 'auth-url']: `${base()}/check`, [N + 'auth-signin']: 'http://$host/auth/start' }), h)).toBe(302);
    // test/e2e/annotations/auth.go: http://<host>/auth/start?rd=http://<host> + url.QueryEscape("/?a=b&c=d"); the scheme is X-Forwarded-Proto's
    expect(values(h.answerHeaders, 'location')).toEqual(['http://app.test/auth/start?rd=https://app.test%2F%3Fa%3Db%26c%3Dd']);
    expect(values(h.answerHeaders, 'set-cookie')).toEqual(['csrf=1']);

    const param = head('/p');
    const a = auth({ [N + 'auth-url']: `${base()}/check`, [N + 'auth-signin']: 'https://login.test/start?x=1', [N + 'auth-signin-redirect-param']: 'orig' });
    expect(await run(a, param)).toBe(302);
    expect(values(param.answerHeaders, 'location')).toEqual(['https://login.test/start?x=1&orig=https://app.test%2Fp']);

    const own = head('/p q');
    expect(await run(auth({ [N + 'auth-url']: `${base()}/check`, [N + 'auth-signin']: 'https://$host/oauth2/start?rd=$escaped_request_uri' }), own)).toBe(302);
    expect(values(own.answerHeaders, 'location')).toEqual(['https://app.test/oauth2/start?rd=%2Fp%20q']);
  });

  it('403 with auth-signin stays 403', async () => {
    next = (_q, res) => res.writeHead(403).end();
    expect(await run(auth({ [N + 'auth-url']: `${base()}/check`, [N + 'auth-signin']: 'https://login.test/' }), head())).toBe(403);
  });

  it.each([302, 404, 500, 503])('auth status %i: 500', async (code) => {
    next = (_q, res) => res.writeHead(code, { Location: 'https://elsewhere/' }).end();
    const h = head();
    expect(await run(auth({ [N + 'auth-url']: `${base()}/check` }), h)).toBe(500);
    expect(h.answerHeaders).toBeNull();
  });

  it('an auth service that refuses connections: 500', async () => {
    const port = await refusedPort();
    const failures: string[] = [];
    const c = client({ onFailure: (origin, reason) => failures.push(`${origin} ${reason}`) });
    const a = auth({ [N + 'auth-url']: `http://127.0.0.1:${port}/check?token=secret` });
    expect(await run(a, head(), c)).toBe(500);
    expect(await run(a, head(), c)).toBe(500);
    expect(c.stats.failures).toBe(2);
    // reported once per origin and period, without the path or query
    expect(failures).toEqual([`http://127.0.0.1:${port} ECONNREFUSED`]);
  });

  it('an auth service that refuses connections is not tried again for AUTH_FAIL_FAST_MS (500 at once), then found again', async () => {
    const port = await refusedPort();
    let now = 1_000;
    const c = client({ now: () => now });
    const a = auth({ [N + 'auth-url']: `http://127.0.0.1:${port}/check` });
    expect(await run(a, head(), c)).toBe(500);
    expect(c.stats.failedFast).toBe(0);
    // the service comes up; within the pause it is not asked, other origins are
    let asked = 0;
    const up = http.createServer((_q, res) => {
      asked++;
      res.end();
    });
    await new Promise<void>((r) => up.listen(port, '127.0.0.1', () => r()));
    try {
      expect(await run(a, head(), c)).toBe(500);
      expect(c.stats.failedFast).toBe(1);
      expect(asked).toBe(0);
      expect(await run(auth({ [N + 'auth-url']: `${base()}/check` }), head(), c)).toBe(0);
      now += AUTH_FAIL_FAST_MS;
      expect(await run(a, head(), c)).toBe(0);
      expect(asked).toBe(1);
      expect(c.stats.failedFast).toBe(1);
    } finally {
      await c.close();
      up.closeAllConnections();
      await new Promise<void>((r) => up.close(() => r()));
    }
  });

  it('an auth service that does not answer within the deadline: 500, and the next request is sent again', async () => {
    next = () => {}; // never answers
    const c = client({ timeoutMs: 150 });
    const t0 = performance.now();
    expect(await run(auth({ [N + 'auth-url']: `${base()}/check` }), head(), c)).toBe(500);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
    next = (_q, res) => res.writeHead(200).end();
    expect(await run(auth({ [N + 'auth-url']: `${base()}/check` }), head(), c)).toBe(0);
  });

  it('an auth response with a large body is read and dropped; the connection is reused', async () => {
    next = (_q, res) => res.writeHead(200).end('x'.repeat(32 * 1024));
    const c = client();
    const a = auth({ [N + 'auth-url']: `${base()}/check` });
    const before = authServer.connections;
    for (let i = 0; i < 10; i++) expect(await run(a, head(), c)).toBe(0);
    // keep-alive: ten sequential subrequests share one or two connections (undici may open a
    // second one while the first is still finishing its previous response)
    expect(authServer.connections - before).toBeLessThanOrEqual(2);
    expect(seen).toHaveLength(10);
  });
});

describe('the cache (auth-cache-key, auth-cache-duration)', () => {
  it('keeps listed statuses per rendered key for their duration; a hit answers synchronously', async () => {
    let now = 1_000_000;
    const c = client({ now: () => now });
    let status = 200;
    next = (_q, res) => res.writeHead(status, { 'X-User': 'alice' }).end();
    const a = auth({ [N + 'auth-url']: `${base()}/check`, [N + 'auth-cache-key']: '$http_authorization', [N + 'auth-cache-duration']: '200 1m, 401 10s', [N + 'auth-response-headers']: 'X-User' });
    const stage = externalAuthStage(a, route(), c);
    const as = (token: string): PlanHead => head('/', ['authorization', token]);

    expect(await stage(as('t1'))).toBe(0);
    expect(seen).toHaveLength(1);
    const hit = as('t1');
    const r = stage(hit);
    expect(r).toBe(0); // a number, not a Promise
    expect(values(hit.headers, 'x-user')).toEqual(['alice']); // copied headers are part of the result
    expect(seen).toHaveLength(1);
    expect(c.stats.cacheHits).toBe(1);

    status = 401;
    expect(await stage(as('t2'))).toBe(401); // another key: a miss
    expect(seen).toHaveLength(2);
    expect(stage(as('t2'))).toBe(401);
    now += 11_000; // the 401 expired, the 200 did not
    expect(await stage(as('t2'))).toBe(401);
    expect(seen).toHaveLength(3);
    expect(stage(as('t1'))).toBe(0);
    now += 60_000;
    expect(await stage(as('t1'))).toBe(401); // expired: asked again (and now refused)
    expect(seen).toHaveLength(4);
  });

  it('does not keep statuses not listed, responses with Set-Cookie or Cache-Control no-store, or failures', async () => {
    const c = client();
    const a = auth({ [N + 'auth-url']: `${base()}/check`, [N + 'auth-cache-key']: 'fixed', [N + 'auth-cache-duration']: '200 403 5m' });
    const stage = externalAuthStage(a, route(), c);
    for (const [code, headers] of [[202, {}], [200, { 'Set-Cookie': 'a=1' }], [200, { 'Cache-Control': 'private, max-age=60' }], [500, {}]] as const) {
      next = (_q, res) => res.writeHead(code, headers).end();
      await stage(head());
      await stage(head());
    }
    expect(seen).toHaveLength(8);
    expect(c.cacheSize).toBe(0);
  });

  it('the keyspace is per rule: the same key on another host or path asks again', async () => {
    next = (_q, res) => res.writeHead(200).end();
    const c = client();
    const a = auth({ [N + 'auth-url']: `${base()}/check`, [N + 'auth-cache-key']: 'fixed' });
    await externalAuthStage(a, route(NO_FILTERS, 'app.test', '/foo'), c)(head());
    expect(externalAuthStage(a, route(NO_FILTERS, 'app.test', '/foo'), c)(head())).toBe(0);
    await externalAuthStage(a, route(NO_FILTERS, 'app.test', '/bar'), c)(head());
    await externalAuthStage(a, route(NO_FILTERS, 'other.test', '/foo'), c)(head());
    expect(seen).toHaveLength(3);
  });

  it('is bounded: the oldest entry goes first', async () => {
    next = (_q, res) => res.writeHead(200).end();
    const c = client({ cacheMax: 2 });
    const stage = externalAuthStage(auth({ [N + 'auth-url']: `${base()}/check`, [N + 'auth-cache-key']: '$http_authorization' }), route(), c);
    for (const t of ['a', 'b', 'c']) await stage(head('/', ['authorization', t]));
    expect(c.cacheSize).toBe(2);
    expect(typeof stage(head('/', ['authorization', 'c']))).toBe('number');
    expect(typeof stage(head('/', ['authorization', 'a']))).not.toBe('number');
  });
});

describe('plans', () => {
  it('a route with external auth gets an asynchronous stage; routes without pay nothing; global auth and its opt-out', () => {
    const a = auth({ [N + 'auth-url']: `${base()}/check` });
    const c = client();
    const ctx = { ...NO_PLAN_CONTEXT, externalAuth: c };
    expect(compilePlan(route({ externalAuth: a }), ctx).sync).toBe(false);
    expect(compilePlan(route(), ctx)).toMatchObject({ stages: [], sync: true });
    const global = { ...ctx, global: true, globalAuth: a };
    expect(compilePlan(route(), global)).toMatchObject({ sync: false });
    expect(compilePlan(route({ noGlobalAuth: true }), global)).toMatchObject({ stages: [], sync: true });
    // without a client the stage fails closed
    expect(runPlanWaiting(compilePlan(route({ externalAuth: a }), NO_PLAN_CONTEXT), head())).toBe(503);
  });

  it('with basic auth on the same route, the Basic challenge goes only with basic auth\'s own 401, never with the auth service\'s', async () => {
    const { BasicAuthVerifier } = await import('../../src/proxy/filters/basic-auth.ts');
    const verifier = new BasicAuthVerifier();
    const basicAuth = { realm: 'Inner', users: [{ user: 'u', hash: '{SHA}' + (await import('node:crypto')).createHash('sha1').update('pw').digest('base64') }] };
    const c = client();
    const ctx = { ...NO_PLAN_CONTEXT, externalAuth: c, verifier };
    const plan = compilePlan(route({ basicAuth, externalAuth: auth({ [N + 'auth-url']: `${base()}/check` }) } as never), ctx);
    expect(plan.challenge).toBe('Basic realm="Inner"');
    // no credentials: basic auth refuses, with its challenge; the auth service is not asked
    const none = head();
    expect(await runPlanWaiting(plan, none)).toBe(401);
    expect(values(none.answerHeaders, 'www-authenticate')).toEqual(['Basic realm="Inner"']);
    expect(seen).toEqual([]);
    // right password: the auth service's 401 carries its own challenge only
    next = (_q, res) => res.writeHead(401, { 'WWW-Authenticate': 'Bearer realm="x"' }).end();
    const good = head('/', ['authorization', 'Basic ' + Buffer.from('u:pw').toString('base64')]);
    expect(await runPlanWaiting(plan, good)).toBe(401);
    expect(values(good.answerHeaders, 'www-authenticate')).toEqual(['Bearer realm="x"']);
    expect(seen).toHaveLength(1);
    await verifier.close();
  });

  it('parseAuthUrl values the stage cannot reach stay closed', async () => {
    expect('invalid' in parseAuthUrl('http://$host.evil/')).toBe(true);
  });
});

describe('through the proxy', () => {
  it('sign-in redirect, authorised request with the user header, dead auth service: 500, other routes unaffected; WebSocket upgrades too', async () => {
    const backend = await startUpstream((req, res) => {
      if (req.headers.upgrade === 'websocket') return; // handled below
      res.writeHead(200, { 'content-type': 'text/plain' }).end(`user=${req.headers['x-auth-request-user'] ?? ''}`);
    });
    backend.server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-User: ${String(req.headers['x-auth-request-user'])}\r\n\r\n`);
      socket.on('data', (d) => socket.write(d));
    });
    next = (req, res) => {
      if (req.headers.cookie === '_oauth2_proxy=ok') res.writeHead(202, { 'X-Auth-Request-User': 'alice' }).end();
      else res.writeHead(401).end();
    };
    const dead = await refusedPort();
    const endpoints = new FakeEndpoints();
    endpoints.set('app', [backend.port]);
    const annotations = { [N + 'auth-url']: `${base()}/oauth2/auth`, [N + 'auth-signin']: 'https://$host/oauth2/start', [N + 'auth-response-headers']: 'X-Auth-Request-User' };
    const proxy = await startProxy({
      routes: [
        { host: 'app.test', key: 'app', filters: { externalAuth: auth(annotations) } },
        { host: 'down.test', key: 'app', filters: { externalAuth: auth({ [N + 'auth-url']: `http://127.0.0.1:${dead}/check` }) } },
        { host: 'open.test', key: 'app' },
      ],
      endpoints,
    });
    try {
      const anon = await request(proxy.port, { path: '/shop?x=1', host: 'app.test' });
      expect(anon.status).toBe(302);
      expect(anon.headers.location).toBe('https://app.test/oauth2/start?rd=http://app.test%2Fshop%3Fx%3D1');
      expect(backend.requests).toBe(0);

      const ok = await request(proxy.port, { path: '/shop', host: 'app.test', headers: { cookie: '_oauth2_proxy=ok', 'x-auth-request-user': 'mallory' } });
      expect(ok.status).toBe(200);
      expect(ok.body.toString()).toBe('user=alice');

      const down = await request(proxy.port, { host: 'down.test' });
      expect(down.status).toBe(500);
      const open = await request(proxy.port, { host: 'open.test' });
      expect(open.status).toBe(200);
      expect(open.body.toString()).toBe('user=');

      // WebSocket: refused with the sign-in redirect, then let through with the user header
      const refused = await upgrade(proxy.port, 'app.test', '');
      expect(refused).toMatch(/^HTTP\/1\.1 302 /);
      expect(refused).toMatch(/\r\nlocation: https:\/\/app\.test\/oauth2\/start\?rd=http:\/\/app\.test%2Fws\r\n/i);
      const through = await upgrade(proxy.port, 'app.test', '_oauth2_proxy=ok');
      expect(through).toMatch(/^HTTP\/1\.1 101 /);
      expect(through).toMatch(/\r\nX-User: alice\r\n/i);
    } finally {
      await proxy.close();
      await backend.close();
    }
  });
});

/** A WebSocket handshake on a raw socket; resolves with what arrived until the head ended. */
function upgrade(port: number, host: string, cookie: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = '';
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`no upgrade answer: ${JSON.stringify(buf)}`));
    }, 5000);
    s.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.includes('\r\n\r\n')) {
        clearTimeout(t);
        s.destroy();
        resolve(buf);
      }
    });
    s.on('error', reject);
    s.write(
      `GET /ws HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n` +
        (cookie === '' ? '' : `Cookie: ${cookie}\r\n`) +
        '\r\n',
    );
  });
}

