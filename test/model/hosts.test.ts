import { describe, expect, it } from 'vitest';
import { normalizeRequestHost, parseRuleHost } from '../../src/model/host.ts';
import { isInvalid } from '../../src/model/read.ts';
import { build, ingress, path, reasons, rule, service, svcBackend } from './helpers.ts';

/** One Ingress per host (each to its own Service, named after the host). */
function hostsConfig(hosts: (string | undefined)[], opts: { defaultBackend?: boolean } = {}) {
  const name = (h: string | undefined) => (h === undefined ? 'nohost' : h.replace('*', 'star').replace(/\./g, '-'));
  return build({
    ingresses: [
      ...hosts.map((h) => ingress(name(h), [rule(h, [path('/', 'Prefix', svcBackend(name(h)))])])),
      ...(opts.defaultBackend ? [ingress('global', [], { defaultBackend: svcBackend('global') })] : []),
    ],
    services: [...hosts.map((h) => service('default', name(h))), service('default', 'global')],
  });
}

function served(config: ReturnType<typeof build>, host: string, p = '/'): string | null {
  const r = config.match(host, p);
  return r === null ? null : r.path === '' ? `default(${r.backend.service})` : r.host;
}

describe('host selection', () => {
  const all = hostsConfig(['foo.com', 'bar.foo.com', '*.foo.com', '*.bar.foo.com', undefined]);
  it.each([
    ['foo.com', 'foo.com', 'exact'],
    ['bar.foo.com', 'bar.foo.com', 'exact beats wildcard'],
    ['baz.foo.com', '*.foo.com', 'wildcard, one label'],
    ['x.bar.foo.com', '*.bar.foo.com', 'the deeper wildcard is its own host'],
    ['x.baz.foo.com', '', '*.foo.com does not match two labels: rules without host'],
    ['other.org', '', 'no host matches: rules without host'],
    ['FOO.COM', 'foo.com', 'case-insensitive'],
    ['Baz.Foo.Com', '*.foo.com', 'case-insensitive wildcard'],
    ['foo.com:8080', 'foo.com', 'port ignored'],
    ['BAZ.foo.com:443', '*.foo.com', 'port ignored on wildcard'],
    ['foo.com.', 'foo.com', 'trailing dot ignored'],
    ['foo.com.:80', 'foo.com', 'trailing dot and port'],
    ['', '', 'no Host header'],
    ['[::1]:8080', '', 'IPv6 literal with port'],
    ['[::1]', '', 'IPv6 literal'],
    ['10.0.0.1:80', '', 'IPv4 literal'],
    ['.foo.com', '', 'empty first label is not a wildcard match'],
  ])('%s → %s (%s)', (requestHost, expected) => {
    expect(served(all, requestHost)).toBe(expected);
  });

  const noCatchAll = hostsConfig(['foo.com', '*.foo.com']);
  it.each([
    ['foo.com', 'foo.com'],
    ['a.foo.com', '*.foo.com'],
    ['a.b.foo.com', null],
    ['example.org', null],
  ])('without rules without host: %s → %s', (requestHost, expected) => {
    expect(served(noCatchAll, requestHost)).toBe(expected);
  });

  it('*.foo.com does not match foo.com itself', () => {
    expect(served(hostsConfig(['*.foo.com']), 'foo.com')).toBeNull();
  });

  it('requests that match no host go to the global default backend', () => {
    expect(served(hostsConfig(['foo.com'], { defaultBackend: true }), 'bar.com')).toBe('default(global)');
  });

  it('chooses the host first and never falls through to a less specific host', () => {
    const config = build({
      ingresses: [
        ingress('exact', [rule('a.foo.com', [path('/api', 'Prefix', svcBackend('api'))])]),
        ingress('wild', [rule('*.foo.com', [path('/', 'Prefix', svcBackend('wild'))])]),
        ingress('any', [rule(undefined, [path('/', 'Prefix', svcBackend('any'))])]),
      ],
      services: [service('default', 'api'), service('default', 'wild'), service('default', 'any')],
    });
    expect(config.match('a.foo.com', '/api/x')?.backend.service).toBe('api');
    expect(config.match('a.foo.com', '/web')).toBeNull();
    expect(config.match('b.foo.com', '/web')?.backend.service).toBe('wild');
  });

  it('upper-case rule hosts are lower-cased', () => {
    const config = build({
      ingresses: [ingress('i', [rule('WWW.Example.COM', [path('/', 'Prefix', svcBackend('s'))])])],
      services: [service('default', 's')],
    });
    expect(config.problems).toEqual([]);
    expect(config.match('www.example.com', '/')?.host).toBe('www.example.com');
  });

  it('rules for one host from several Ingresses in several namespaces merge', () => {
    const config = build({
      ingresses: [
        ingress('a', [rule('shop.com', [path('/cart', 'Prefix', svcBackend('cart'))])], { namespace: 'team-a' }),
        ingress('b', [rule('shop.com', [path('/pay', 'Prefix', svcBackend('pay'))])], { namespace: 'team-b' }),
      ],
      services: [service('team-a', 'cart'), service('team-b', 'pay')],
    });
    expect(config.match('shop.com', '/cart/1')?.backend.endpointsKey).toBe('team-a/cart:');
    expect(config.match('shop.com', '/pay')?.backend.endpointsKey).toBe('team-b/pay:');
  });
});

describe('rule host validation', () => {
  it.each([
    [undefined, ''],
    ['', ''],
    ['foo.com', 'foo.com'],
    ['Foo.COM', 'foo.com'],
    ['*.foo.com', '*.foo.com'],
    ['localhost', 'localhost'],
    ['a-b.c0.io', 'a-b.c0.io'],
  ])('%j is accepted as %j', (raw, host) => {
    expect(parseRuleHost(raw)).toBe(host);
  });

  it.each([
    ['foo.com:80'],
    ['1.2.3.4'],
    ['[::1]'],
    ['::1'],
    ['*'],
    ['*foo.com'],
    ['foo.*.com'],
    ['*.*.foo.com'],
    ['foo.com.'],
    ['-foo.com'],
    ['foo_bar.com'],
    ['a..b'],
    [`${'a'.repeat(250)}.com`],
    [42],
    [['foo.com']],
  ])('%j is refused', (raw) => {
    expect(isInvalid(parseRuleHost(raw))).toBe(true);
  });

  it('an invalid host skips only its rule and says why', () => {
    const config = build({
      ingresses: [
        ingress('i', [
          rule('bad_host.com', [path('/', 'Prefix', svcBackend('s'))]),
          rule('good.com', [path('/', 'Prefix', svcBackend('s'))]),
        ]),
      ],
      services: [service('default', 's')],
    });
    expect(reasons(config)).toEqual(['default/i: InvalidHost']);
    expect(config.problems[0]?.message).toContain('"bad_host.com"');
    expect(config.problems[0]?.message).toContain('spec.rules[0]');
    expect(config.match('good.com', '/')).not.toBeNull();
    expect([...config.routes()].map((r) => r.host)).toEqual(['good.com']);
  });
});

describe('request host normalisation', () => {
  it.each([
    ['example.com', 'example.com'],
    ['Example.COM', 'example.com'],
    ['example.com:8443', 'example.com'],
    ['example.com.', 'example.com'],
    ['EXAMPLE.com.:1', 'example.com'],
    ['[::1]:80', '[::1]'],
    ['[FE80::1]', '[fe80::1]'],
    ['', ''],
    [':80', ''],
  ])('%j → %j', (raw, expected) => {
    expect(normalizeRequestHost(raw)).toBe(expected);
  });

  it('returns the same string when nothing needs changing (no allocation)', () => {
    const h = ['www', 'example', 'com'].join('.');
    expect(normalizeRequestHost(h)).toBe(h);
  });
});

describe('request hosts with non-ASCII letters', () => {
  it('are never folded into a rule host (the Kelvin sign is not "k")', () => {
    expect(normalizeRequestHost('\u212Aoo.com')).toBe('\u212Aoo.com');
    expect(normalizeRequestHost('A\u00C9.COM:80')).toBe('a\u00C9.com');
    const config = build({
      ingresses: [ingress('k', [rule('koo.com', [path('/', 'Prefix', svcBackend('s'))]), rule('*.koo.com', [path('/', 'Prefix', svcBackend('s'))])])],
      services: [service('default', 's')],
    });
    expect(config.match('\u212Aoo.com', '/')).toBeNull();
    expect(config.match('a.\u212Aoo.com', '/')).toBeNull();
    expect(config.match('KOO.com', '/')?.host).toBe('koo.com');
  });
});
