// Routing on the normalised path (src/proxy/normalize-path.ts): dot segments, unreserved
// escapes and repeated slashes cannot steer a request past an Exact rule, and the upstream
// receives the path that was routed. Through real sockets, with the real RouteTable.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RouteTable } from '../../src/model/route-table.ts';
import { compileUserRegex } from '../../src/model/regex.ts';
import type { UserRegex } from '../../src/model/regex.ts';
import type { Route } from '../../src/model/types.ts';
import { decodeUnreserved, needsNormalising, normalisePath } from '../../src/proxy/normalize-path.ts';
import { FakeEndpoints, makeRoute, rawExchange, startProxy, startUpstream, statusOf } from './fixtures.ts';
import type { RunningProxy, Upstream } from './fixtures.ts';

describe('normalisePath', () => {
  const cases: [string, string][] = [
    ['/', '/'],
    ['/a/b', '/a/b'],
    ['/public/../admin', '/admin'],
    ['/public/%2e%2e/admin', '/admin'],
    ['/public/%2E%2e/admin', '/admin'],
    ['/./admin', '/admin'],
    ['//admin', '/admin'],
    ['/%61dmin', '/admin'],
    ['/../../admin', '/admin'],
    ['/a/b/..', '/a/'],
    ['/a/.', '/a/'],
    ['/a//b///c/', '/a/b/c/'],
    ['/..', '/'],
    ['/a/%2F../b', '/a/%2F../b'], // '%2F..' is one segment, not a dot segment
    ['/a%2Fb', '/a%2Fb'],
    ['/a%2fb/../c', '/c'],
    ['/a\\..\\admin', '/a\\..\\admin'],
    ['/%7euser/%41%42', '/~user/AB'],
    ['/%25', '/%25'],
    ['/%zz/%4', '/%zz/%4'],
    ['/a..b/.c/..d', '/a..b/.c/..d'],
    ['/caf%C3%A9', '/caf%C3%A9'],
  ];
  it.each(cases)('%s → %s', (raw, want) => {
    expect(normalisePath(raw)).toBe(want);
  });

  it('a dot segment with parameters (`..;`, `.;`, also escaped) has no normal form: null', () => {
    for (const p of ['/public/..;/admin', '/public/..;jsessionid=1/admin', '/.;/admin', '/a/%2e%2e;/b', '/a/%2E;x', '/..;']) {
      expect(needsNormalising(p), p).toBe(true);
      expect(normalisePath(p), p).toBeNull();
    }
    // parameters on other segments are ordinary text
    for (const [p, want] of [['/a;b/c', '/a;b/c'], ['/..a;/b', '/..a;/b'], ['/a/...;/b', '/a/...;/b'], ['/a/b;v=1/../c', '/a/c']] as const) {
      expect(normalisePath(p), p).toBe(want);
    }
  });

  it('the fast scan flags exactly the paths that may change', () => {
    for (const p of ['/', '/a/b', '/static/app.js', '/a..b/.c/..d', '/.well-known/acme', '/a.', '/a/b.']) {
      expect(needsNormalising(p), p).toBe(false);
    }
    for (const p of ['//', '/a//b', '/.', '/./a', '/..', '/a/../b', '/a/..', '/%61']) expect(needsNormalising(p), p).toBe(true);
    // whatever the scan passes is already normal
    for (const p of ['/', '/a/b', '/static/app.js', '/a..b/.c/..d', '/.well-known/acme']) expect(normalisePath(p)).toBe(p);
  });

  it('decodes unreserved escapes only', () => {
    expect(decodeUnreserved('/%2D%2e%5F%7E%30%7a')).toBe('/-._~0z');
    expect(decodeUnreserved('/%2F%5C%3F%23%20%00')).toBe('/%2F%5C%3F%23%20%00');
  });
});

describe('routing on the normalised path (real sockets)', () => {
  let pub: Upstream;
  let admin: Upstream;
  let root: Upstream;
  let rx: Upstream;
  let p: RunningProxy;
  const seen: Record<string, string[]> = { pub: [], admin: [], root: [], rx: [] };

  function upstream(name: string): Promise<Upstream> {
    return startUpstream((req, res) => {
      seen[name]!.push(req.url ?? '');
      req.resume();
      res.end(name);
    });
  }

  function route(host: string, key: string, path: string, pathType: Route['pathType'], regex: UserRegex | null = null): Route {
    return { ...makeRoute({ host, key, path }), pathType, regex };
  }

  beforeAll(async () => {
    [pub, admin, root, rx] = await Promise.all([upstream('pub'), upstream('admin'), upstream('root'), upstream('rx')]);
    const endpoints = new FakeEndpoints();
    endpoints.set('pub', [pub.port]);
    endpoints.set('admin', [admin.port]);
    endpoints.set('root', [root.port]);
    endpoints.set('rx', [rx.port]);
    const re = compileUserRegex('/admin(/|$)(.*)', { anchor: '^', caseInsensitive: true });
    if ('invalid' in re) throw new Error(re.invalid);
    const config = new RouteTable({
      version: 1,
      virtualHosts: [
        {
          host: 'app.test',
          fallback: null,
          routes: [route('app.test', 'admin', '/admin', 'Exact'), route('app.test', 'pub', '/public', 'Prefix'), route('app.test', 'root', '/', 'Prefix')],
        },
        {
          // ingress-nginx use-regex: the regex sees the same normalised path
          host: 'rx.test',
          regex: true,
          fallback: null,
          routes: [
            { ...route('rx.test', 'rx', '/admin(/|$)(.*)', 'ImplementationSpecific', re), filters: { rewrite: { template: ['/inner/', 2] } } },
            { ...route('rx.test', 'root', '/', 'Prefix', compileUserRegex('/', { anchor: '^' }) as UserRegex) },
          ],
        },
      ],
      defaultRoute: null,
      problems: [],
      ingresses: [],
    });
    p = await startProxy({ config, endpoints });
  });
  afterAll(async () => {
    await p.close();
    await Promise.all([pub.close(), admin.close(), root.close(), rx.close()]);
  });

  async function get(target: string, host = 'app.test'): Promise<string> {
    const out = await rawExchange(p.port, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`, 2000);
    expect(statusOf(out)).toBe(200);
    return out.slice(out.indexOf('\r\n\r\n') + 4);
  }

  const attacks: [string, string][] = [
    ['/public/../admin', '/admin'],
    ['/public/%2e%2e/admin', '/admin'],
    ['/./admin', '/admin'],
    ['//admin', '/admin'],
    ['/%61dmin', '/admin'],
    ['/public/..//admin?x=/../y', '/admin?x=/../y'],
  ];
  it.each(attacks)('%s reaches the Exact /admin rule, and the upstream gets %s', async (target, upstreamUrl) => {
    const n = seen.admin!.length;
    expect(await get(target)).toBe('admin');
    expect(seen.admin!.slice(n)).toEqual([upstreamUrl]);
  });

  it('escaped separators and backslashes are not separators: they stay as sent', async () => {
    expect(await get('/public%2F..%2Fadmin')).toBe('root');
    expect(seen.root!.at(-1)).toBe('/public%2F..%2Fadmin');
    expect(await get('/public/..%2Fadmin')).toBe('pub');
    expect(seen.pub!.at(-1)).toBe('/public/..%2Fadmin');
    expect(await get('/public\\..\\admin')).toBe('root');
    expect(seen.root!.at(-1)).toBe('/public\\..\\admin');
  });

  it('paths that need no normalising pass unchanged', async () => {
    expect(await get('/public/app.js?v=1')).toBe('pub');
    expect(seen.pub!.at(-1)).toBe('/public/app.js?v=1');
  });

  it('regex hosts match the normalised path too, and rewrite-target applies to it', async () => {
    expect(await get('/x/../admin/y?q=1', 'rx.test')).toBe('rx');
    expect(seen.rx!.at(-1)).toBe('/inner/y?q=1');
    expect(await get('/%61dmin', 'rx.test')).toBe('rx');
  });
});
