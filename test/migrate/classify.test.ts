// migrate-check's verdicts: a table of annotations (with values) → verdict, and what the
// Ingress as a whole would do. The verdicts must be what the Ingress processor does, so a few
// rows are also checked against a translation of the same Ingress.

import { describe, expect, it } from 'vitest';
import { checkAnnotations, type Verdict } from '../../src/migrate/classify.ts';
import { nginxAnnotations } from '../../src/model/nginx-annotations.ts';
import { build, ingress, path, rule, service, svcBackend } from '../model/helpers.ts';

const N = 'nginx.ingress.kubernetes.io/';

const verdictOf = (key: string, value: string): Verdict | undefined => checkAnnotations({ [key]: value }).annotations.find((a) => a.key === key)?.verdict;

describe('annotation verdicts', () => {
  const rows: [key: string, value: string, verdict: Verdict][] = [
    // supported, with ingress-nginx's meaning
    [`${N}ssl-redirect`, 'false', 'supported'],
    [`${N}proxy-body-size`, '8m', 'supported'],
    [`${N}upstream-vhost`, 'internal.example.com', 'supported'],
    [`${N}x-forwarded-prefix`, '/shop', 'supported'],
    // supported with differences
    [`${N}rewrite-target`, '/$2', 'differs'],
    [`${N}use-regex`, 'true', 'differs'],
    [`${N}backend-protocol`, 'GRPC', 'differs'],
    [`${N}load-balance`, 'ewma', 'differs'],
    [`${N}proxy-ssl-verify`, 'on', 'differs'],
    // a supported annotation whose value Portico refuses: ignored (default used)
    [`${N}backend-protocol`, 'FCGI', 'unsupported'],
    [`${N}proxy-body-size`, 'lots', 'unsupported'],
    [`${N}ssl-redirect`, 'maybe', 'unsupported'],
    [`${N}rewrite-target`, 'https://elsewhere.example/', 'unsupported'],
    [`${N}rewrite-target`, '/$host/$1', 'unsupported'],
    // unsupported: ignored
    [`${N}http2-push-preload`, 'true', 'unsupported'],
    [`${N}proxy-read-timeout`, '3600', 'differs'],
    [`${N}proxy-read-timeout`, '60s', 'unsupported'],
    [`${N}configuration-snippet`, 'more_set_headers "X-Frame-Options: DENY";', 'unsupported'],
    [`${N}canary`, 'true', 'supported'],
    // issue #13 audit: Go booleans as ingress-nginx reads them; other values are refused
    [`${N}canary`, 'True', 'supported'],
    [`${N}canary`, 'yes', 'unsupported'],
    [`${N}from-to-www-redirect`, '1', 'differs'],
    [`${N}from-to-www-redirect`, 'yes', 'unsupported'],
    // accepted without effect, but a value ingress-nginx refuses is reported
    [`${N}proxy-buffering`, 'on', 'differs'],
    [`${N}proxy-buffering`, 'yes', 'unsupported'],
    [`${N}proxy-send-timeout`, '5s', 'unsupported'],
    [`${N}proxy-ssl-server-name`, 'true', 'unsupported'],
    [`${N}permanent-redirect`, 'https://x.example/$remote_addr', 'unsupported'],
    [`${N}secure-backends`, 'true', 'unsupported'],
    // access controls Portico does not enforce: the Ingress answers 503
    // enforced since issue #14
    [`${N}whitelist-source-range`, '10.0.0.0/8', 'supported'],
    [`${N}allowlist-source-range`, '10.0.0.0/8', 'supported'],
    [`${N}denylist-source-range`, '192.0.2.0/24', 'supported'],
    [`${N}auth-url`, 'https://auth.example.com/check', 'differs'],
    [`${N}auth-type`, 'basic', 'differs'],
    [`${N}auth-tls-verify-client`, 'on', 'differs'],
    [`${N}auth-snippet`, 'proxy_set_header X-Team a;', 'fails-closed'],
    // a snippet is an access control when it carries an access directive
    [`${N}configuration-snippet`, 'deny all;', 'fails-closed'],
    [`${N}server-snippet`, 'if ($http_x_token != "s3cr3t") { return 403; }', 'fails-closed'],
    // not in the catalogue
    [`${N}proxy-bdy-size`, '1m', 'unknown'],
    [`${N}totally-made-up`, 'x', 'unknown'],
    // Portico's own annotations
    ['portico.dev/load-balance', 'least-conn', 'supported'],
    ['portico.dev/rewrite-target', '/', 'supported'],
    ['portico.dev/acme', 'true', 'supported'],
    ['portico.dev/load-balance', 'fastest', 'unsupported'],
    ['portico.dev/loadbalance', 'round-robin', 'unknown'],
  ];
  for (const [key, value, verdict] of rows) {
    it(`${key}: ${JSON.stringify(value)} → ${verdict}`, () => {
      expect(verdictOf(key, value)).toBe(verdict);
    });
  }

  it('canary: "True" and "1" make a canary, as in ingress-nginx (Go booleans); "yes" does not', () => {
    expect(checkAnnotations({ [`${N}canary`]: 'True' }).effect).toBe('canary');
    expect(checkAnnotations({ [`${N}canary`]: '1' }).effect).toBe('canary');
    expect(checkAnnotations({ [`${N}canary`]: 'yes' }).effect).not.toBe('canary');
  });

  it('every catalogue entry gets its support level (or fails closed when it guards)', () => {
    for (const entry of nginxAnnotations()) {
      const got = checkAnnotations({ [N + entry.name]: '' }).annotations[0]!;
      // an empty value is refused by the parsers of supported annotations: only the unsupported
      // ones keep their catalogue verdict regardless of the value
      if (entry.support === 'unsupported') expect(got.verdict, entry.name).toBe(entry.guards ? 'fails-closed' : 'unsupported');
      expect(got.note.length, entry.name).toBeGreaterThan(0);
    }
  });

  it('ssl-passthrough: supported with differences under --enable-ssl-passthrough, unsupported (naming the flag) without it', () => {
    const key = `${N}ssl-passthrough`;
    const off = checkAnnotations({ [key]: 'true' }).annotations[0]!;
    expect(off).toMatchObject({ verdict: 'unsupported', note: expect.stringContaining('needs --enable-ssl-passthrough') });
    expect(checkAnnotations({ [key]: 'true' }).effect).toBe('routes-ignoring');
    const on = checkAnnotations({ [key]: 'true' }, { sslPassthrough: true });
    expect(on.annotations[0]!.verdict).toBe('differs');
    expect(on.effect).toBe('routes');
  });

  it("other annotations are not Portico's to judge", () => {
    expect(checkAnnotations({ 'cert-manager.io/cluster-issuer': 'le', 'kubernetes.io/ingress.class': 'nginx', 'nginx.org/client-max-body-size': '1m' }).annotations).toEqual([]);
  });

  it('a rewrite-target naming an nginx variable says so', () => {
    expect(checkAnnotations({ [`${N}rewrite-target`]: '/$host' }).annotations[0]!.note).toMatch(/the nginx variable \$host is not supported in a rewrite target.*answer 503/);
  });

  it('a refused value names the value and what is accepted', () => {
    const note = checkAnnotations({ [`${N}backend-protocol`]: 'FCGI' }).annotations[0]!.note;
    expect(note).toMatch(/^the value "FCGI" is not valid; accepted values are "HTTP", "HTTPS", "GRPC" or "GRPCS"/);
  });

  it('sorted by key; not a map: nothing to judge', () => {
    expect(checkAnnotations({ [`${N}b`]: '', [`${N}a`]: '', 'portico.dev/a': '' }).annotations.map((a) => a.key)).toEqual(['nginx.ingress.kubernetes.io/a', 'nginx.ingress.kubernetes.io/b', 'portico.dev/a']);
    expect(checkAnnotations(undefined)).toEqual({ annotations: [], effect: 'routes' });
    expect(checkAnnotations(['x'])).toEqual({ annotations: [], effect: 'routes' });
  });
});

describe('what the Ingress does', () => {
  const cases: [name: string, annotations: Record<string, string>, effect: string][] = [
    ['no annotations', {}, 'routes'],
    ['only supported ones', { [`${N}proxy-body-size`]: '8m', [`${N}rewrite-target`]: '/' }, 'routes'],
    ['an unsupported one is ignored', { [`${N}proxy-body-size`]: '8m', [`${N}http2-push-preload`]: 'true' }, 'routes-ignoring'],
    ['an unknown one is ignored', { [`${N}proxy-bdy-size`]: '8m' }, 'routes-ignoring'],
    ['an unenforced access control', { [`${N}auth-snippet`]: 'proxy_set_header X-Team a;', [`${N}http2-push-preload`]: 'true' }, 'answers-503'],
    ['an unusable rewrite-target', { [`${N}rewrite-target`]: 'https://elsewhere.example/' }, 'answers-503'],
    ['a rewrite-target with an nginx variable', { [`${N}rewrite-target`]: '/$scheme/x' }, 'answers-503'],
    ['a canary', { [`${N}canary`]: 'true', [`${N}canary-weight`]: '10' }, 'canary'],
    ['canary "false" is a normal Ingress', { [`${N}canary`]: 'false' }, 'routes'],
  ];
  for (const [name, annotations, effect] of cases) {
    it(`${name} → ${effect}`, () => {
      expect(checkAnnotations(annotations).effect).toBe(effect);
    });
  }

  it('agrees with the translation: 503 answers, ignored annotations, canaries', () => {
    const routeOf = (annotations: Record<string, string>) => {
      const config = build({ ingresses: [ingress('i', [rule('a.test', [path('/', 'Prefix', svcBackend('s'))])], { annotations })], services: [service('default', 's')] });
      return config.match('a.test', '/');
    };
    const fixed = (annotations: Record<string, string>) => routeOf(annotations)?.action;
    for (const [, annotations, effect] of cases) {
      const route = routeOf(annotations);
      // a canary without a primary Ingress: its rule joins nothing, so the host has no route
      if (effect === 'canary') expect(route, JSON.stringify(annotations)).toBeNull();
      else if (effect === 'answers-503') expect(JSON.stringify(fixed(annotations)), JSON.stringify(annotations)).toMatch(/503/);
      else expect(JSON.stringify(fixed(annotations)), JSON.stringify(annotations)).not.toMatch(/503/);
    }
  });
});
