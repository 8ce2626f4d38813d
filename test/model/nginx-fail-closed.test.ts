// ingress-nginx annotations Portico does not implement: each is a problem on its Ingress, and
// an access control among them (allow/deny lists, auth, client certificates, or a snippet with
// an access directive) turns every rule of that Ingress into a 503 answer, never an open route.

import { describe, expect, it } from 'vitest';
import { nginxAnnotation, nginxAnnotations, snippetRestrictsAccess } from '../../src/model/nginx-annotations.ts';
import { FORWARD } from '../../src/model/types.ts';
import { build, ingress, path, reasons, rule, service, svcBackend } from './helpers.ts';

const N = 'nginx.ingress.kubernetes.io/';

function world(annotations: Record<string, string>, opts: { defaultBackend?: boolean } = {}) {
  return build({
    services: [service('default', 'app'), service('default', 'other')],
    ingresses: [
      ingress('guarded', [rule('shop.test', [path('/admin', 'Prefix', svcBackend('app')), path('/', 'Prefix', svcBackend('app'))])], {
        annotations,
        ...(opts.defaultBackend ? { defaultBackend: svcBackend('app') } : {}),
      }),
      ingress('neighbour', [rule('other.test', [path('/', 'Prefix', svcBackend('other'))])]),
    ],
  });
}

describe('ingress-nginx annotations Portico does not implement', () => {
  // allow/deny lists, basic and external auth and client certificates are enforced now
  // (test/model/access.test.ts, external-auth-options.test.ts, client-cert-options.test.ts),
  // and so is auth-proxy-set-headers (test/model/configmap-headers.test.ts)
  it.each([
    'auth-snippet',
  ])('%s: every rule of the Ingress answers 503, with a problem naming it', (name) => {
    const config = world({ [N + name]: 'x' });
    for (const p of ['/admin', '/admin/x', '/', '/other']) {
      const route = config.match('shop.test', p);
      expect(route).not.toBeNull();
      expect(route!.action).toEqual({ kind: 'direct', status: 503, body: expect.stringContaining('access controls') });
    }
    expect(reasons(config)).toEqual(['default/guarded: AccessControlNotEnforced', 'default/guarded: UnsupportedAnnotation']);
    const messages = config.problems.map((p) => p.message).join('\n');
    expect(messages).toContain(`"${N}${name}"`);
    expect(messages).toContain('503');
    // the neighbour is untouched
    expect(config.match('other.test', '/')!.action).toBe(FORWARD);
  });

  it('the default backend of a guarded Ingress answers 503 too', () => {
    const config = world({ [N + 'auth-snippet']: 'any' }, { defaultBackend: true });
    const fallback = config.match('nohost.test', '/');
    expect(fallback?.ingress.name).toBe('guarded');
    expect(fallback?.action.kind).toBe('direct');
  });

  it('an annotation that is not an access control is a problem, and the Ingress still routes', () => {
    const config = world({ [N + 'http2-push-preload']: 'true', [N + 'enable-modsecurity']: 'true' });
    expect(config.match('shop.test', '/admin')!.action).toBe(FORWARD);
    expect(reasons(config)).toEqual(['default/guarded: UnsupportedAnnotation', 'default/guarded: UnsupportedAnnotation']);
    expect(config.problems.map((p) => p.message).join('\n')).toMatch(/enable-modsecurity.*not supported.*ignored/);
  });

  it('snippets are never executed; one carrying an access directive fails closed', () => {
    const headers = world({ [N + 'configuration-snippet']: 'more_set_headers "X-Frame-Options: DENY";\nadd_header X-A b;' });
    expect(headers.match('shop.test', '/')!.action).toBe(FORWARD);
    expect(reasons(headers)).toEqual(['default/guarded: UnsupportedAnnotation']);
    expect(headers.problems[0]!.message).toContain('never executed');

    for (const snippet of ['deny all;', 'allow 10.0.0.0/8;\ndeny all;', 'if ($x) { return 403; }', 'auth_basic "x";', 'auth_request /auth;']) {
      const guarded = world({ [N + 'server-snippet']: snippet });
      expect(guarded.match('shop.test', '/')!.action.kind, snippet).toBe('direct');
    }
    // words that merely contain a directive's name are not directives
    expect(snippetRestrictsAccess('configuration-snippet', 'proxy_set_header X-Denylist yes;')).toBe(false);
    expect(snippetRestrictsAccess('configuration-snippet', 'set $allowed 1;')).toBe(false);
  });

  it('a name ingress-nginx never had is a typo: UnknownAnnotation, ignored', () => {
    const config = world({ [N + 'rewrite-targett']: '/' });
    expect(config.match('shop.test', '/')!.action).toBe(FORWARD);
    expect(reasons(config)).toEqual(['default/guarded: UnknownAnnotation']);
    expect(config.problems[0]!.message).toContain('check its spelling');
  });

  it('a canary Ingress, even an older one, never takes its primary\'s rule: it joins it as the canary', () => {
    const config = build({
      services: [service('default', 'app'), service('default', 'canary')],
      ingresses: [
        ingress('canary', [rule('shop.test', [path('/', 'Prefix', svcBackend('canary'))])], {
          created: '2020-01-01T00:00:00Z',
          annotations: { [N + 'canary']: 'true', [N + 'canary-weight']: '100' },
        }),
        ingress('primary', [rule('shop.test', [path('/', 'Prefix', svcBackend('app'))])], { created: '2021-01-01T00:00:00Z' }),
      ],
    });
    const route = config.match('shop.test', '/')!;
    expect(route.backend.service).toBe('app');
    expect(route.action).toMatchObject({ kind: 'forward', canary: { weight: 100, backend: { service: 'canary' } } });
    expect(reasons(config)).toEqual([]);
  });

  it('the catalogue: unique names, a note for each, every access-control name guarded', () => {
    const all = nginxAnnotations();
    expect(new Set(all.map((a) => a.name)).size).toBe(all.length);
    for (const a of all) expect(a.note.length, a.name).toBeGreaterThan(10);
    for (const name of ['auth-snippet']) {
      const a = nginxAnnotation(N + name);
      expect(a?.guards && a.support === 'unsupported', name).toBe(true);
    }
    // enforced access controls keep their guards mark (they restrict access) and are implemented
    for (const name of ['whitelist-source-range', 'allowlist-source-range', 'denylist-source-range', 'auth-type', 'auth-secret', 'auth-secret-type', 'auth-realm', 'auth-url', 'auth-method', 'auth-signin', 'auth-signin-redirect-param', 'auth-response-headers', 'auth-request-redirect', 'auth-cache-key', 'auth-cache-duration', 'auth-always-set-cookie', 'auth-tls-secret', 'auth-tls-verify-client', 'auth-tls-verify-depth', 'auth-tls-error-page', 'auth-tls-pass-certificate-to-upstream', 'auth-tls-match-cn', 'satisfy']) {
      const a = nginxAnnotation(N + name);
      expect(a?.guards === true && a.support !== 'unsupported', name).toBe(true);
    }
    expect(nginxAnnotation('portico.dev/load-balance')).toBeUndefined();
  });
});

describe('ingress-nginx aliases of Portico annotations', () => {
  it('the catalogue marks every alias the policy table reads as implemented, and nothing else on that basis', async () => {
    const { NGINX_ALIASES } = await import('../../src/model/annotations.ts');
    for (const name of NGINX_ALIASES) expect(nginxAnnotation(name)?.support, name).not.toBe('unsupported');
  });

  it.each([
    [{ [N + 'ssl-redirect']: 'false' }, 'sslRedirect', false],
    [{ [N + 'ssl-redirect']: 'False' }, 'sslRedirect', false],
    [{ [N + 'ssl-redirect']: '0' }, 'sslRedirect', false],
    [{ [N + 'backend-protocol']: 'grpcs' }, 'backendProtocol', 'GRPCS'],
    [{ [N + 'backend-protocol']: 'HTTPS' }, 'backendProtocol', 'HTTPS'],
    [{ [N + 'load-balance']: 'ewma' }, 'loadBalance', 'least-conn'],
    [{ [N + 'load-balance']: 'round_robin' }, 'loadBalance', 'round-robin'],
    [{ [N + 'proxy-ssl-verify']: 'on' }, 'backendTlsVerify', true],
    [{ [N + 'proxy-ssl-name']: 'api.internal' }, 'backendTlsServerName', 'api.internal'],
  ] as const)('%j sets %s to %j without a problem', (annotations, field, value) => {
    const config = world(annotations);
    expect(config.match('shop.test', '/')!.policy[field]).toBe(value);
    expect(reasons(config)).toEqual([]);
  });

  it.each([
    [{ [N + 'backend-protocol']: 'FCGI' }, 'backendProtocol', 'HTTP'],
    [{ [N + 'backend-protocol']: 'AUTO_HTTP' }, 'backendProtocol', 'HTTP'],
    [{ [N + 'load-balance']: 'chash' }, 'loadBalance', 'round-robin'],
    [{ [N + 'proxy-ssl-verify']: 'true' }, 'backendTlsVerify', false],
    [{ [N + 'ssl-redirect']: 'yes' }, 'sslRedirect', null],
  ] as const)('invalid %j: the default and a problem naming the value', (annotations, field, value) => {
    const config = world(annotations);
    expect(config.match('shop.test', '/')!.policy[field]).toBe(value);
    expect(reasons(config)).toEqual(['default/guarded: InvalidAnnotation']);
    const [name, raw] = Object.entries(annotations)[0]!;
    expect(config.problems[0]!.message).toContain(`"${name}" has the value "${raw}"`);
  });

  it('the portico.dev name wins over its ingress-nginx alias, with a problem', () => {
    const config = world({ 'portico.dev/ssl-redirect': 'true', [N + 'ssl-redirect']: 'false' });
    expect(config.match('shop.test', '/')!.policy.sslRedirect).toBe(true);
    expect(config.problems[0]!.message).toMatch(/both set; "portico.dev\/ssl-redirect" is used/);
  });
});

describe('the route-option group', () => {
  it('every name it reads is implemented in the catalogue', async () => {
    const { ROUTE_OPTION_NAMES } = await import('../../src/model/route-options.ts');
    for (const name of ROUTE_OPTION_NAMES) expect(nginxAnnotation(N + name)?.support, name).not.toBe('unsupported');
  });
});

describe('the access-option group', () => {
  it('every name it reads is implemented in the catalogue', async () => {
    const { ACCESS_OPTION_NAMES } = await import('../../src/model/access-options.ts');
    for (const name of ACCESS_OPTION_NAMES) expect(nginxAnnotation(N + name)?.support, name).not.toBe('unsupported');
  });
});

describe('the rate-limit group', () => {
  it('every name it reads is implemented in the catalogue', async () => {
    const { RATE_LIMIT_OPTION_NAMES } = await import('../../src/model/rate-limit-options.ts');
    for (const name of RATE_LIMIT_OPTION_NAMES) expect(nginxAnnotation(N + name)?.support, name).not.toBe('unsupported');
  });
});
