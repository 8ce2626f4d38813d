// Access controls through sockets: source address lists (route and global, with the
// X-Forwarded-For client behind a trusted proxy) answer 403, basic authentication answers 401
// with WWW-Authenticate, and the upstream never sees a refused request; WebSocket upgrades are
// refused the same way. The client is always 127.0.0.1 (loopback only).

import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { RouteFilters } from '../../src/model/types.ts';
import type { ProxySettings } from '../../src/proxy/settings.ts';
import { FakeEndpoints, rawExchange, request, startProxy, startUpstream, statusOf, type RunningProxy } from './fixtures.ts';

const BCRYPT = '$2y$04$0DDawW9pO9nvXCRA1bAcLOEspifRONt7fR72SqNmoPQHTbR2tlPHG';
const SHA = '{SHA}' + createHash('sha1').update('secret').digest('base64');

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function setup(filters: RouteFilters | undefined, settings: Partial<ProxySettings> = {}): Promise<{ p: RunningProxy; seen: string[] }> {
  const seen: string[] = [];
  const u = await startUpstream((req, res) => {
    seen.push(`${req.url} ${req.headers['x-real-ip'] ?? ''}`);
    res.end('ok');
  });
  const endpoints = new FakeEndpoints();
  endpoints.set('svc', [u.port]);
  const p = await startProxy({ routes: [{ host: 'app.test', key: 'svc', ...(filters ? { filters } : {}) }], endpoints, settings });
  cleanups.push(() => p.close(), () => u.close());
  return { p, seen };
}

const auth = (user: string, password: string): Record<string, string> => ({ authorization: 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64') });

const WS_REQUEST = (extra = ''): string =>
  'GET /ws HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' + extra + '\r\n';

describe('source address lists through the proxy', () => {
  it('an allow-list without the client answers 403 and the upstream sees nothing; with it, the request passes', async () => {
    const denied = await setup({ sourceRange: { allow: ['10.0.0.0/8', '2001:db8::/32'] } });
    const r = await request(denied.p.port, { path: '/x' });
    expect(r.status).toBe(403);
    expect(r.body.toString()).toBe('forbidden\n');
    expect(r.headers['x-request-id']).toBeDefined();
    expect(denied.seen).toEqual([]);
    expect(denied.p.infos.at(-1)).toMatchObject({ status: 403, error: 'access_denied', clientIp: '127.0.0.1' });

    const allowed = await setup({ sourceRange: { allow: ['127.0.0.1'] } });
    expect((await request(allowed.p.port, { path: '/x' })).status).toBe(200);
    expect(allowed.seen).toEqual(['/x 127.0.0.1']);
  });

  it('a deny-list with the client answers 403', async () => {
    const { p, seen } = await setup({ sourceRange: { deny: ['127.0.0.0/8'] } });
    expect((await request(p.port, {})).status).toBe(403);
    expect(seen).toEqual([]);
  });

  it('behind a trusted proxy the X-Forwarded-For client is checked, not the peer', async () => {
    const { p, seen } = await setup({ sourceRange: { allow: ['10.0.0.0/8'] } }, { trustedProxies: ['127.0.0.1/32'] });
    expect((await request(p.port, { headers: { 'x-forwarded-for': '10.1.2.3' } })).status).toBe(200);
    expect((await request(p.port, { headers: { 'x-forwarded-for': '192.0.2.1' } })).status).toBe(403);
    // no X-Forwarded-For: the peer itself, outside the list
    expect((await request(p.port, {})).status).toBe(403);
    expect(seen).toEqual(['/ 10.1.2.3']);
  });

  it('an untrusted peer cannot pick its address with X-Forwarded-For', async () => {
    const { p, seen } = await setup({ sourceRange: { allow: ['10.0.0.0/8'] } });
    expect((await request(p.port, { headers: { 'x-forwarded-for': '10.1.2.3' } })).status).toBe(403);
    expect(seen).toEqual([]);
  });

  it('global lists (--whitelist-source-range / --denylist-source-range) cover routes without their own; a route list overrides', async () => {
    const plain = await setup(undefined, { allowSourceRange: ['10.0.0.0/8'] });
    expect((await request(plain.p.port, {})).status).toBe(403);
    const own = await setup({ sourceRange: { allow: ['127.0.0.1'] } }, { allowSourceRange: ['10.0.0.0/8'] });
    expect((await request(own.p.port, {})).status).toBe(200);
    const globalDeny = await setup({ sourceRange: { allow: ['127.0.0.1'] } }, { denySourceRange: ['127.0.0.1'] });
    expect((await request(globalDeny.p.port, {})).status).toBe(403);
  });

  it('a WebSocket upgrade from outside the allow-list is refused with 403 before any upstream connection', async () => {
    const { p, seen } = await setup({ sourceRange: { allow: ['10.0.0.0/8'] } });
    const raw = await rawExchange(p.port, WS_REQUEST());
    expect(statusOf(raw)).toBe(403);
    expect(raw).toMatch(/^connection: close\r$/im);
    expect(seen).toEqual([]);
    expect(p.infos.at(-1)).toMatchObject({ upgrade: true, status: 403, error: 'access_denied' });
  });
});

describe('basic authentication through the proxy', () => {
  const filters: RouteFilters = { basicAuth: { realm: 'Authentication Required', users: [{ user: 'alice', hash: BCRYPT }, { user: 'bob', hash: SHA }] } };

  it('no or wrong credentials: 401 with WWW-Authenticate and the realm; the upstream sees nothing', async () => {
    const { p, seen } = await setup(filters);
    for (const headers of [{}, auth('bob', 'wrong'), auth('nobody', 'secret'), auth('alice', 'wrong'), { authorization: 'Bearer x' }]) {
      const r = await request(p.port, { headers });
      expect(r.status, JSON.stringify(headers)).toBe(401);
      expect(r.headers['www-authenticate']).toBe('Basic realm="Authentication Required"');
    }
    expect(seen).toEqual([]);
  });

  it('right credentials pass ({SHA} in line, bcrypt through the worker thread, then from the cache)', async () => {
    const { p, seen } = await setup(filters);
    expect((await request(p.port, { path: '/a', headers: auth('bob', 'secret') })).status).toBe(200);
    expect((await request(p.port, { path: '/b', headers: auth('alice', 'secret') })).status).toBe(200);
    expect((await request(p.port, { path: '/c', headers: auth('alice', 'secret') })).status).toBe(200);
    expect(seen.map((s) => s.split(' ')[0])).toEqual(['/a', '/b', '/c']);
  });

  it('a POST with a body waiting for a bcrypt check is forwarded whole', async () => {
    const bodies: string[] = [];
    const u = await startUpstream((req, res) => {
      let b = '';
      req.on('data', (c: Buffer) => (b += c.toString()));
      req.on('end', () => {
        bodies.push(b);
        res.end('ok');
      });
    });
    const endpoints = new FakeEndpoints();
    endpoints.set('svc', [u.port]);
    const p = await startProxy({ routes: [{ host: 'app.test', key: 'svc', filters }], endpoints });
    cleanups.push(() => p.close(), () => u.close());
    const r = await request(p.port, { method: 'POST', headers: { ...auth('alice', 'secret'), 'content-type': 'text/plain' }, body: 'x'.repeat(50_000) });
    expect(r.status).toBe(200);
    expect(bodies).toEqual(['x'.repeat(50_000)]);
  });

  it('a WebSocket upgrade without credentials gets 401 with WWW-Authenticate; with a wrong bcrypt password too', async () => {
    const { p, seen } = await setup(filters);
    const none = await rawExchange(p.port, WS_REQUEST());
    expect(statusOf(none)).toBe(401);
    expect(none).toMatch(/^www-authenticate: Basic realm="Authentication Required"\r$/im);
    const wrong = await rawExchange(p.port, WS_REQUEST(`Authorization: Basic ${Buffer.from('alice:nope').toString('base64')}\r\n`));
    expect(statusOf(wrong)).toBe(401);
    expect(seen).toEqual([]);
  });
});
