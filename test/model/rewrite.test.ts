// ingress-nginx's regex and rewrite group on the route model: use-regex, rewrite-target,
// x-forwarded-prefix, upstream-vhost and proxy-body-size, under both prefixes.

import { describe, expect, it } from 'vitest';
import { NO_FILTERS } from '../../src/model/types.ts';
import { build, ingress, path, reasons, rule, service, svcBackend, target } from './helpers.ts';

const N = 'nginx.ingress.kubernetes.io/';

function one(annotations: Record<string, string>, paths: [string, string?][], host = 'shop.test') {
  return build({
    services: [service('default', 'app'), service('default', 'other')],
    ingresses: [ingress('web', [rule(host, paths.map(([p, t]) => path(p, t ?? 'ImplementationSpecific', svcBackend('app'))))], { annotations })],
  });
}

describe('use-regex', () => {
  it('paths are case-insensitive regexes anchored at the start, as nginx ~* "^path"', () => {
    const config = one({ [N + 'use-regex']: 'true' }, [['/api/v[0-9]+/users']]);
    expect(config.match('shop.test', '/api/v2/users')?.path).toBe('/api/v[0-9]+/users');
    expect(config.match('shop.test', '/API/V10/Users/7')?.path).toBe('/api/v[0-9]+/users');
    expect(config.match('shop.test', '/x/api/v2/users')).toBeNull();
    expect(reasons(config)).toEqual([]);
  });

  it('applies to every Ingress of the host (ingress-nginx does the same), not to other hosts', () => {
    const config = build({
      services: [service('default', 'app'), service('default', 'other')],
      ingresses: [
        ingress('regex', [rule('shop.test', [path('/img/.*\\.png', 'ImplementationSpecific', svcBackend('app'))])], { annotations: { [N + 'use-regex']: 'true' } }),
        ingress('plain', [rule('shop.test', [path('/api', 'Prefix', svcBackend('other'))]), rule('plain.test', [path('/api', 'Prefix', svcBackend('other'))])]),
      ],
    });
    // on the regex host, the plain Ingress's Prefix /api is ^/api, so /apiv2 matches too
    expect(target(config.match('shop.test', '/apiv2'))).toBe('default/plain shop.test|/api|Prefix -> default/other:');
    expect(target(config.match('shop.test', '/IMG/a.PNG'))).toBe('default/regex shop.test|/img/.*\\.png|ImplementationSpecific -> default/app:');
    // other hosts keep element-wise prefixes
    expect(config.match('plain.test', '/apiv2')).toBeNull();
  });

  it('longest path first, first match wins', () => {
    const config = one({ [N + 'use-regex']: 'true' }, [['/.*'], ['/api/.*'], ['/api/v1/.*']]);
    expect(config.match('shop.test', '/api/v1/x')?.path).toBe('/api/v1/.*');
    expect(config.match('shop.test', '/api/v2/x')?.path).toBe('/api/.*');
    expect(config.match('shop.test', '/other')?.path).toBe('/.*');
  });

  it('a path that is not RE2 syntax is skipped with a problem; the others route', () => {
    const config = one({ [N + 'use-regex']: 'true' }, [['/(?=lookahead)'], ['/ok']]);
    expect(config.match('shop.test', '/ok')?.path).toBe('/ok');
    expect(reasons(config)).toEqual(['default/web: InvalidPath']);
    expect(config.problems[0]!.message).toMatch(/linear-time engine.*skipped/);
  });

  it('portico.dev/use-regex is the same annotation; "false" changes nothing', () => {
    expect(one({ 'portico.dev/use-regex': 'true' }, [['/a.c']]).match('shop.test', '/abc')?.path).toBe('/a.c');
    expect(one({ [N + 'use-regex']: 'false' }, [['/a.c']]).match('shop.test', '/abc')).toBeNull();
    const bad = one({ [N + 'use-regex']: 'yes' }, [['/a.c']]);
    expect(reasons(bad)).toEqual(['default/web: InvalidAnnotation']);
    expect(bad.match('shop.test', '/abc')).toBeNull();
  });
});

describe('rewrite-target', () => {
  it('makes the host a regex host and gives each rule its rewrite', () => {
    const config = one({ [N + 'rewrite-target']: '/$2', [N + 'x-forwarded-prefix']: '/something' }, [['/something(/|$)(.*)']]);
    const route = config.match('shop.test', '/something/new')!;
    expect(route.regex?.source).toBe('/something(/|$)(.*)');
    expect(route.filters.rewrite?.template).toEqual(['/', 2]);
    expect(route.filters.forwardedPrefix).toBe('/something');
    expect(reasons(config)).toEqual([]);
  });

  it('a rule whose path equals the target is not rewritten (ingress-nginx needsRewrite)', () => {
    const config = one({ [N + 'rewrite-target']: '/' }, [['/']]);
    const route = config.match('shop.test', '/x')!;
    expect(route.filters).toBe(NO_FILTERS);
    expect(route.regex).toBeNull();
  });

  it('x-forwarded-prefix alone (no rewrite) sends nothing, as ingress-nginx', () => {
    expect(one({ [N + 'x-forwarded-prefix']: '/p' }, [['/']]).match('shop.test', '/')!.filters).toBe(NO_FILTERS);
  });

  it('a target with an nginx variable or a missing group: the rule answers 503 with a problem, never the wrong path', () => {
    for (const t of ['/$host/$1', '/$3']) {
      const config = one({ [N + 'rewrite-target']: t }, [['/a/(.*)']]);
      const route = config.match('shop.test', '/a/b')!;
      expect(route.action).toMatchObject({ kind: 'direct', status: 503 });
      expect(reasons(config)).toEqual(['default/web: InvalidAnnotation']);
      expect(config.problems[0]!.message).toContain('answers 503');
    }
  });
});

describe('upstream-vhost and proxy-body-size', () => {
  it.each([
    [{ [N + 'upstream-vhost']: 'internal.example.com' }, { upstreamHost: 'internal.example.com' }],
    [{ [N + 'upstream-vhost']: 'api:8080' }, { upstreamHost: 'api:8080' }],
    [{ [N + 'proxy-body-size']: '8m' }, { bodyLimit: 8 * 1024 * 1024 }],
    [{ [N + 'proxy-body-size']: '512k' }, { bodyLimit: 512 * 1024 }],
    [{ [N + 'proxy-body-size']: '0' }, { bodyLimit: 0 }],
    [{ 'portico.dev/proxy-body-size': '1G' }, { bodyLimit: 1024 ** 3 }],
  ])('%j → filters %j on every rule and the default backend', (annotations, filters) => {
    const config = build({
      services: [service('default', 'app')],
      ingresses: [ingress('web', [rule('shop.test', [path('/', 'Prefix', svcBackend('app'))])], { annotations, defaultBackend: svcBackend('app') })],
    });
    expect(config.match('shop.test', '/x')!.filters).toEqual(filters);
    expect(config.match('unknown.test', '/')!.filters).toEqual(filters);
    expect(reasons(config)).toEqual([]);
  });

  it.each([
    [{ [N + 'proxy-body-size']: '8mb' }, 'proxy-body-size'],
    [{ [N + 'proxy-body-size']: '-1' }, 'proxy-body-size'],
    [{ [N + 'upstream-vhost']: 'a b' }, 'upstream-vhost'],
    [{ [N + 'x-forwarded-prefix']: 'bad\u0001' }, 'x-forwarded-prefix'],
  ])('invalid %j: the default applies and a problem names the annotation and the value', (annotations, name) => {
    const config = one(annotations, [['/']]);
    expect(config.match('shop.test', '/')!.filters).toBe(NO_FILTERS);
    expect(reasons(config)).toEqual(['default/web: InvalidAnnotation']);
    expect(config.problems[0]!.message).toContain(`${N}${name}" has the value`);
  });
});

describe('regex lookups', () => {
  it('the literal-prefix shortcut agrees with the engine alone', async () => {
    const { compileUserRegex } = await import('../../src/model/regex.ts');
    const patterns = ['/', '/api', '/API/v2?', '/api/v[0-9]+/users', '/a+b', '/x*', '/static/.*\\.(js|css)', '/a|/b', '/caf\u00e9', '/{2}', '/k(/|$)(.*)', '/a.c'];
    const paths = ['/', '/api', '/Api/v', '/api/v2', '/api/v12/users', '/aab', '/b', '/x', '/', '/static/app.JS', '/STATIC/a.css', '/café', '/caf', '//', '/K', '/k/x', '/abc', '/a', ''];
    for (const p of patterns) {
      const rx = compileUserRegex(p, { anchor: '^', caseInsensitive: true });
      if ('invalid' in rx) throw new Error(rx.invalid);
      for (const path of paths) {
        const lower = path.toLowerCase();
        const shortcut = lower.startsWith(rx.prefix) && (rx.literal || rx.test(path));
        expect(shortcut, `${p} on ${path}`).toBe(rx.re.test(path));
        expect(rx.test(path), `${p} on ${path}: RE2 match and RE2JS.test`).toBe(rx.re.test(path));
      }
    }
  });
});

describe('regex hosts with many rules', () => {
  it('the bucketed lookup finds what a scan in match order finds', async () => {
    const { PathTable } = await import('../../src/model/path-table.ts');
    const { pathRegex } = await import('../../src/model/route-options.ts');
    const { FORWARD, NO_FILTERS, DEFAULT_POLICY } = await import('../../src/model/types.ts');
    const paths = ['/svc1/api', '/svc12/api', '/svc123/static/.*\\.(js|css)', '/svc1', '/svc12', '/', '/svc123/STATIC/', '/a|/svc1/x', '/longer-than-eight/x', '/longer-than-eight', '/(svc1|svc2)/y', '/svc2/y+'];
    const routes = paths
      .map((p, n) => {
        const regex = pathRegex(p);
        if ('invalid' in regex) throw new Error(regex.invalid);
        return {
          host: 'h', path: p, pathType: 'ImplementationSpecific' as const, regex, action: FORWARD, filters: NO_FILTERS, policy: DEFAULT_POLICY,
          backend: { namespace: 'n', service: `s${n}`, servicePort: 80, endpointsKey: `n/s${n}:` }, ingress: { kind: 'Ingress', namespace: 'n', name: `i${n}` },
        };
      })
      .sort((a, b) => b.path.length - a.path.length);
    const table = new PathTable({ host: 'h', routes, fallback: null, regex: true });
    const probes = ['/svc1/api/x', '/SVC12/API', '/svc123/static/a.JS', '/svc123/static/a.png', '/svc1', '/svc2/yyy', '/svc2/x', '/longer-than-eight/x/y', '/longer-than-eightx', '/b', '/x', '', '/svc1/x', '/svc2/y'];
    for (const probe of probes) {
      const naive = routes.find((r) => r.regex.re.test(probe === '' ? '/' : probe)) ?? null;
      expect(table.match(probe)?.path ?? null, probe).toBe(naive?.path ?? null);
    }
  });
});
