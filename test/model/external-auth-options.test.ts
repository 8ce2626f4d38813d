// The external-auth annotation group (model/external-auth-options.ts): auth-url and companions
// read into RouteFilters.externalAuth with ingress-nginx's defaults (authreq/main.go,
// template.go buildAuthSignURL); anything that cannot be honoured turns every rule of the
// Ingress into a 503, never an open route.

import { describe, expect, it } from 'vitest';
import {
  DENIED_EXTERNAL_AUTH,
  parseAuthUrl,
  parseCacheDuration,
  parseHeaderList,
  globalExternalAuth,
  parseSigninUrl,
  readExternalAuthOptions,
} from '../../src/model/external-auth-options.ts';
import { FORWARD, type RoutingConfig } from '../../src/model/types.ts';
import { translate } from '../../src/model/translate.ts';
import { OPTIONS, ingress, path, reasons, rule, service, storeOf, svcBackend } from './helpers.ts';

const N = 'nginx.ingress.kubernetes.io/';
const P = 'portico.dev/';

function read(annotations: Record<string, string>): { options: ReturnType<typeof readExternalAuthOptions>; problems: string[] } {
  const problems: string[] = [];
  const options = readExternalAuthOptions(annotations, (_r, m) => problems.push(m));
  return { options, problems };
}

function world(annotations: Record<string, string>, host = 'shop.test'): RoutingConfig {
  const store = storeOf({
    services: [service('default', 'app'), service('default', 'other')],
    ingresses: [
      ingress('guarded', [rule(host, [path('/admin', 'Prefix', svcBackend('app')), path('/', 'Prefix', svcBackend('app'))])], { annotations }),
      ingress('neighbour', [rule('other.test', [path('/', 'Prefix', svcBackend('other'))])]),
    ],
  });
  return translate(store, OPTIONS);
}

describe('auth-url', () => {
  it.each([
    ['http://auth.auth.svc.cluster.local/check', 'http://auth.auth.svc.cluster.local', ['/check']],
    ['https://Auth.Example.com:8443', 'https://auth.example.com:8443', ['/']],
    ['http://10.0.0.5:4180/oauth2/auth?x=1', 'http://10.0.0.5:4180', ['/oauth2/auth?x=1']],
    ['http://[::1]:9000?q', 'http://[::1]:9000', ['/?q']],
    ['HTTP://auth/verify/$request_uri', 'http://auth', ['/verify/', { variable: 'request_uri' }]],
    ['http://auth/v?u=${escaped_request_uri}&h=$host&s=$scheme', 'http://auth', ['/v?u=', { variable: 'escaped_request_uri' }, '&h=', { variable: 'host' }, '&s=', { variable: 'scheme' }]],
  ])('%s: origin %s, target %j', (raw, origin, target) => {
    const u = parseAuthUrl(raw);
    expect(u).toEqual({ origin, originUsesHost: false, target });
  });

  it('$host in the host part is the rule host (with an optional port)', () => {
    expect(parseAuthUrl('https://$host/oauth2/auth')).toEqual({ origin: 'https://$host', originUsesHost: true, target: ['/oauth2/auth'] });
    expect(parseAuthUrl('http://$host:4180/oauth2/auth')).toEqual({ origin: 'http://$host:4180', originUsesHost: true, target: ['/oauth2/auth'] });
  });

  it.each([
    '',
    'auth.svc/check', // no scheme
    'ftp://auth/check',
    'https://invalid..auth.url', // ingress-nginx's e2e example of an invalid host
    'http://user:pw@auth/check',
    'http://auth:99999/',
    'http://auth/check#frag',
    'http://auth/ check',
    'http://$remote_addr/check', // only $host in the host part
    'http://$host.evil/check',
    'http://auth/$remote_user', // a variable Portico does not fill in
    'http://auth/$',
  ])('%j is refused', (raw) => {
    expect('invalid' in parseAuthUrl(raw)).toBe(true);
  });

  it('a URL longer than 2048 characters is refused', () => {
    expect(parseAuthUrl('http://auth/' + 'a'.repeat(2100))).toEqual({ invalid: 'it is longer than 2048 characters' });
  });
});

describe('readExternalAuthOptions', () => {
  it('reads auth-url under either prefix with ingress-nginx defaults', () => {
    for (const prefix of [N, P]) {
      const { options, problems } = read({ [prefix + 'auth-url']: 'http://auth.svc/check' });
      expect(problems).toEqual([]);
      expect(options.denied).toBeNull();
      expect(options.filters.externalAuth).toEqual({
        url: 'http://auth.svc/check',
        origin: 'http://auth.svc',
        originUsesHost: false,
        target: ['/check'],
        method: 'GET',
        methodSet: false,
        signin: null,
        signinJoin: '',
        responseHeaders: [],
        requestRedirect: '',
        cache: null,
        alwaysSetCookie: false,
      });
    }
  });

  it('reads every companion', () => {
    const { options, problems } = read({
      [N + 'auth-url']: 'https://$host/oauth2/auth',
      [N + 'auth-method']: 'POST',
      [N + 'auth-signin']: 'https://$host/oauth2/start',
      [N + 'auth-signin-redirect-param']: 'orig',
      [N + 'auth-response-headers']: 'X-Auth-Request-User, X-Auth-Request-Email,,x-auth-request-user',
      [N + 'auth-request-redirect']: 'https://shop.test/after',
      [N + 'auth-cache-key']: '$http_authorization$cookie__oauth2_proxy',
      [N + 'auth-cache-duration']: '200 202 10m, 401 30s',
      [N + 'auth-always-set-cookie']: 'true',
      [N + 'auth-keepalive']: '10',
      [N + 'auth-keepalive-timeout']: '30',
    });
    expect(problems).toEqual([]);
    const a = options.filters.externalAuth!;
    expect(a.originUsesHost).toBe(true);
    expect([a.method, a.methodSet]).toEqual(['POST', true]);
    expect(a.signin).toEqual(['https://', { variable: 'host' }, '/oauth2/start']);
    expect(a.signinJoin).toBe('?orig=');
    expect(a.responseHeaders).toEqual(['x-auth-request-user', 'x-auth-request-email']);
    expect(a.requestRedirect).toBe('https://shop.test/after');
    expect(a.cache).toEqual({
      key: [{ header: 'authorization' }, { cookie: '_oauth2_proxy' }],
      valid: [{ status: 200, ms: 600_000 }, { status: 202, ms: 600_000 }, { status: 401, ms: 30_000 }],
    });
    expect(a.alwaysSetCookie).toBe(true);
  });

  it.each([
    ['https://auth/start', 'rd', '?rd='],
    ['https://auth/start?x=1', 'rd', '&rd='],
    ['https://$host/oauth2/start?rd=$escaped_request_uri', 'rd', ''], // the URL carries it already
    ['https://auth/start?rd=', 'rd', '&rd='], // an empty rd does not count (Go's q.Get)
    ['/oauth2/start', 'rd', '?rd='],
  ])('auth-signin %s joins the original URL with %j', (signin, _param, join) => {
    const { options } = read({ [N + 'auth-url']: 'http://auth/check', [N + 'auth-signin']: signin });
    expect(options.filters.externalAuth!.signinJoin).toBe(join);
  });

  it('auth-cache-key alone caches with the default duration 200 202 401 5m', () => {
    const { options } = read({ [N + 'auth-url']: 'http://auth/check', [N + 'auth-cache-key']: 'fixed' });
    expect(options.filters.externalAuth!.cache).toEqual({
      key: ['fixed'],
      valid: [{ status: 200, ms: 300_000 }, { status: 202, ms: 300_000 }, { status: 401, ms: 300_000 }],
    });
  });

  it('an auth-cache-key Portico cannot render disables the cache with a problem (still protected)', () => {
    const { options, problems } = read({ [N + 'auth-url']: 'http://auth/check', [N + 'auth-cache-key']: '$remote_user' });
    expect(options.denied).toBeNull();
    expect(options.filters.externalAuth!.cache).toBeNull();
    expect(problems.join()).toMatch(/auth-cache-key.*not cached/);
  });

  it.each([
    [N + 'auth-method', 'get'],
    [N + 'auth-method', 'BREW'],
    [N + 'auth-signin', 'javascript:alert(1)'],
    [N + 'auth-signin', 'https://$host/start?u=$remote_addr'],
    [N + 'auth-response-headers', 'X-User, X User'],
    [N + 'auth-response-headers', 'X-User:1'],
    [N + 'auth-request-redirect', 'https://x/ y'],
    [N + 'auth-cache-duration', '200 5'],
    [N + 'auth-cache-duration', '5m 200'],
    [N + 'auth-always-set-cookie', 'yes'],
  ])('%s %j fails closed', (key, value) => {
    const { options, problems } = read({ [N + 'auth-url']: 'http://auth/check', [key]: value });
    expect(options.denied).toBe(DENIED_EXTERNAL_AUTH);
    expect(options.filters.externalAuth).toBeUndefined();
    expect(problems.join()).toContain(key);
  });

  it('companions without auth-url have no effect and say so', () => {
    const { options, problems } = read({ [N + 'auth-signin']: 'https://auth/start', [N + 'auth-response-headers']: 'X-User' });
    expect(options.filters).toEqual({});
    expect(options.denied).toBeNull();
    expect(problems.join()).toMatch(/no effect without auth-url/);
  });

  it('enable-global-auth "false" opts out; other values keep global auth with a problem', () => {
    expect(read({ [N + 'enable-global-auth']: 'false' }).options.filters).toEqual({ noGlobalAuth: true });
    expect(read({ [N + 'enable-global-auth']: 'true' }).options.filters).toEqual({});
    const bad = read({ [N + 'enable-global-auth']: 'nope' });
    expect(bad.options.filters).toEqual({});
    expect(bad.problems.join()).toMatch(/stays on/);
  });
});

describe('value parsers', () => {
  it('auth-cache-duration follows proxy_cache_valid', () => {
    expect(parseCacheDuration('5m')).toEqual([{ status: 200, ms: 300_000 }, { status: 301, ms: 300_000 }, { status: 302, ms: 300_000 }]);
    expect(parseCacheDuration('any 1h30m')).toEqual([{ status: 0, ms: 5_400_000 }]);
    expect(parseCacheDuration('200 1s, 200 1h')).toEqual([{ status: 200, ms: 1000 }]);
    expect(parseCacheDuration('')).toBeUndefined();
    expect(parseCacheDuration('200 abc')).toBeUndefined();
  });

  it('header lists', () => {
    expect(parseHeaderList(' A-b ,c_d ')).toEqual(['a-b', 'c_d']);
    expect(parseHeaderList('a;b')).toBeUndefined();
  });

  it('sign-in URLs', () => {
    expect(parseSigninUrl('$scheme://$host/start')).toEqual([{ variable: 'scheme' }, '://', { variable: 'host' }, '/start']);
    expect('invalid' in parseSigninUrl('//evil.test/start')).toBe(true);
  });
});

describe('translation', () => {
  it('every rule of the Ingress gets the filter; others do not', () => {
    const config = world({ [N + 'auth-url']: 'http://auth.svc/check' });
    for (const p of ['/admin', '/']) {
      const route = config.match('shop.test', p)!;
      expect(route.action).toBe(FORWARD);
      expect(route.filters.externalAuth?.origin).toBe('http://auth.svc');
    }
    expect(reasons(config)).toEqual([]);
    expect(config.match('other.test', '/')!.filters.externalAuth).toBeUndefined();
  });

  it('an invalid auth-url makes every rule answer 503 with a problem', () => {
    const config = world({ [N + 'auth-url']: 'https://invalid..auth.url' });
    expect(config.match('shop.test', '/')!.action).toEqual(DENIED_EXTERNAL_AUTH);
    expect(config.match('shop.test', '/admin')!.action).toEqual(DENIED_EXTERNAL_AUTH);
    expect(config.match('other.test', '/')!.action).toBe(FORWARD);
    expect(config.problems.map((p) => p.reason)).toContain('InvalidAnnotation');
  });

  it('$host in the auth service host is refused on a wildcard rule (the client would choose it)', () => {
    const config = world({ [N + 'auth-url']: 'https://$host/oauth2/auth' }, '*.shop.test');
    expect(config.match('a.shop.test', '/')!.action).toEqual(DENIED_EXTERNAL_AUTH);
    expect(config.problems.map((p) => p.message).join()).toMatch(/exact host/);
    const exact = world({ [N + 'auth-url']: 'https://$host/oauth2/auth' });
    expect(exact.match('shop.test', '/')!.action).toBe(FORWARD);
  });

  it('auth-proxy-set-headers naming a missing ConfigMap fails closed (more in configmap-headers.test.ts)', () => {
    const config = world({ [N + 'auth-url']: 'http://auth.svc/check', [N + 'auth-proxy-set-headers']: 'default/headers' });
    const route = config.match('shop.test', '/')!;
    expect(route.action).toEqual(DENIED_EXTERNAL_AUTH);
    expect(reasons(config)).toEqual(['default/guarded: ConfigMapInvalid']);
    expect(config.problems[0]!.message).toContain('ConfigMap "default/headers" was not found');
  });

  it('auth-proxy-set-headers in --global-auth-url style reading (no snapshot) fails closed', () => {
    const { options, problems } = read({ [N + 'auth-url']: 'http://auth.svc/check', [N + 'auth-proxy-set-headers']: 'headers' });
    expect(options.denied).toBe(DENIED_EXTERNAL_AUTH);
    expect(problems.join()).toContain('cannot be used');
  });

  it('auth-keepalive names are accepted as no-ops', () => {
    const config = world({ [N + 'auth-url']: 'http://auth.svc/check', [N + 'auth-keepalive']: '10', [N + 'auth-keepalive-requests']: '100', [N + 'auth-keepalive-share-vars']: 'true', [N + 'auth-keepalive-timeout']: '60' });
    expect(config.match('shop.test', '/')!.action).toBe(FORWARD);
    expect(reasons(config)).toEqual([]);
  });
});

describe('--global-auth-url and companions', () => {
  const flags = (over: Partial<{ url: string; method: string; signin: string; responseHeaders: string }>) => ({ url: '', method: '', signin: '', responseHeaders: '', ...over });

  it('none without a URL; the same parser as the annotations with one', () => {
    expect(globalExternalAuth(flags({}))).toBeNull();
    const a = globalExternalAuth(flags({ url: 'http://auth.auth.svc/check', method: 'HEAD', signin: 'https://login.test/start', responseHeaders: 'X-User' }))!;
    expect(a).toMatchObject({ origin: 'http://auth.auth.svc', method: 'HEAD', signin: ['https://login.test/start'], signinJoin: '?rd=', responseHeaders: ['x-user'] });
  });

  it('an invalid value stops the start with the flag named; companions alone too', () => {
    expect(() => globalExternalAuth(flags({ url: 'auth.svc/check' }))).toThrow(/--global-auth-url/);
    expect(() => globalExternalAuth(flags({ url: 'http://auth/', method: 'get' }))).toThrow(/--global-auth-method/);
    expect(() => globalExternalAuth(flags({ signin: 'https://login.test/' }))).toThrow(/--global-auth-signin has no effect/);
  });
});
