// CORS annotations → CorsPolicy, with ingress-nginx's defaults and validation (its
// annotations/cors parser and test/e2e/annotations/cors.go), and Portico's one difference:
// an origin list that does not parse allows no origin instead of every origin.

import { describe, expect, it } from 'vitest';
import { DEFAULT_CORS_HEADERS, DEFAULT_CORS_MAX_AGE, DEFAULT_CORS_METHODS, parseAllowOrigin, readCorsOptions } from '../../src/model/cors-options.ts';

const N = 'nginx.ingress.kubernetes.io/';
const P = 'portico.dev/';

function read(annotations: Record<string, unknown>): { policy: ReturnType<typeof readCorsOptions>; problems: string[] } {
  const problems: string[] = [];
  const policy = readCorsOptions(annotations, (_reason, message) => problems.push(message));
  return { policy, problems };
}

describe('CORS annotations', () => {
  it('enable-cors alone: every origin, ingress-nginx defaults', () => {
    const { policy, problems } = read({ [N + 'enable-cors']: 'true' });
    expect(problems).toEqual([]);
    expect(policy).toEqual({ origins: '*', methods: DEFAULT_CORS_METHODS, headers: DEFAULT_CORS_HEADERS, expose: '', credentials: true, maxAge: DEFAULT_CORS_MAX_AGE });
    expect(policy!.maxAge).toBe(1728000);
  });

  it('off unless enable-cors is "true"; cors-* without it is a problem', () => {
    expect(read({}).policy).toBeUndefined();
    expect(read({ [N + 'enable-cors']: 'false' }).policy).toBeUndefined();
    // Go's ParseBool, as ingress-nginx reads it
    for (const on of ['True', '1', 't', 'TRUE']) expect(read({ [N + 'enable-cors']: on }).policy, on).toBeDefined();
    expect(read({ [N + 'enable-cors']: '0' }).policy).toBeUndefined();
    const r = read({ [N + 'cors-allow-origin']: 'https://a.test' });
    expect(r.policy).toBeUndefined();
    expect(r.problems.join('\n')).toMatch(/cors-allow-origin" has no effect without enable-cors/);
    const bad = read({ [N + 'enable-cors']: 'yes' });
    expect(bad.policy).toBeUndefined();
    expect(bad.problems.join('\n')).toMatch(/the value "yes", which is not valid; accepted values are "true" or "false" \(also 1\/0.*\)\. false is used/);
  });

  it('reads every value under either prefix; portico.dev wins', () => {
    const { policy, problems } = read({
      [P + 'enable-cors']: 'true',
      [N + 'cors-allow-origin']: 'https://a.test, https://*.b.test:8443',
      [N + 'cors-allow-methods']: 'GET, POST',
      [P + 'cors-allow-headers']: 'X-Custom,Content-Type',
      [N + 'cors-expose-headers']: 'X-Total, *',
      [N + 'cors-allow-credentials']: 'false',
      [N + 'cors-max-age']: '600',
    });
    expect(problems).toEqual([]);
    expect(policy).toEqual({ origins: ['https://a.test', 'https://*.b.test:8443'], methods: 'GET, POST', headers: 'X-Custom,Content-Type', expose: 'X-Total, *', credentials: false, maxAge: 600 });
    expect(Object.isFrozen(policy)).toBe(true);
  });

  it.each([
    ['*', '*'],
    ['*, foo.bar.com', '*'], // `*` anywhere: every origin (ingress-nginx's e2e "with extra domain")
    ['      ', '*'], // blank: every origin (ingress-nginx's e2e "missing origins")
    ['https://origin-123.cors.com:8080,   ,https://origin-321.cors.com:8080,', ['https://origin-123.cors.com:8080', 'https://origin-321.cors.com:8080']],
    ['null', ['null']],
    ['myprotocol://*.abc.bar.foo:9000', ['myprotocol://*.abc.bar.foo:9000']],
  ])('cors-allow-origin %j', (raw, expected) => {
    const problems: string[] = [];
    expect(parseAllowOrigin(raw, (m) => problems.push(m))).toEqual(expected);
    expect(problems).toEqual([]);
  });

  it('origins that do not parse are skipped; none left allows no origin (never every origin)', () => {
    const problems: string[] = [];
    expect(parseAllowOrigin('https://ok.test, origin.cors.com:8080, HTTPS://upper.test', (m) => problems.push(m))).toEqual(['https://ok.test']);
    expect(problems).toEqual(['origin "origin.cors.com:8080", "HTTPS://upper.test" is not scheme://host[:port], scheme://*.domain, null or *; it is skipped']);
    const none: string[] = [];
    expect(parseAllowOrigin('not an origin', (m) => none.push(m))).toEqual([]);
    expect(none[0]).toMatch(/no origin is allowed \(ingress-nginx would allow every origin\)/);
  });

  it.each([
    ['cors-allow-methods', 'GET; DELETE', /"GET; DELETE", not a comma-separated list of method names; "GET, PUT, POST, DELETE, PATCH, OPTIONS" is used/, { methods: DEFAULT_CORS_METHODS }],
    ['cors-allow-headers', 'X-A\r\nX-Injected: 1', /not a comma-separated list of header names; "DNT,/, { headers: DEFAULT_CORS_HEADERS }],
    ['cors-expose-headers', 'X-A; X-B', /not a comma-separated list of header names or \*; it is ignored/, { expose: '' }],
    ['cors-max-age', '10m', /"10m", not a number of seconds; 1728000 is used/, { maxAge: 1728000 }],
    ['cors-allow-credentials', 'maybe', /the value "maybe", which is not valid; accepted values are "true" or "false".*\. true is used/, { credentials: true }],
  ])('an invalid %s falls back to its default with a problem', (name, value, message, expected) => {
    const { policy, problems } = read({ [N + 'enable-cors']: 'true', [N + name]: value });
    expect(problems.join('\n')).toMatch(message);
    expect(policy).toMatchObject(expected);
  });
});
