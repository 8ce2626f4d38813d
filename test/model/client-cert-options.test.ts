// The client-certificate group (model/client-cert-options.ts, builder.ts applyClientCert):
// ingress-nginx's auth-tls-* annotations read into one policy per host. Behaviour from
// ingress-nginx's authtls parser (defaults verify "on", depth 1; an invalid verify value
// falls back to "on"; match-cn must start with "CN="), its controller (the host's oldest
// Ingress with a CA decides for the whole server) and its docs; Portico fails closed (503)
// where ingress-nginx answers 403 or silently drops client authentication.

import { beforeAll, describe, expect, it } from 'vitest';
import { IncrementalTranslator } from '../../src/model/incremental.ts';
import { readClientCertOptions } from '../../src/model/client-cert-options.ts';
import { FORWARD, type ClientCertPolicy, type RoutingConfig } from '../../src/model/types.ts';
import type { Secret } from '../../src/store/types.ts';
import { translate } from '../../src/model/translate.ts';
import { createTestCa } from '../fake-apiserver/certs.ts';
import { OPTIONS, ingress, path, reasons, rule, service, storeOf, svcBackend } from './helpers.ts';

const N = 'nginx.ingress.kubernetes.io/';
const P = 'portico.dev/';
const b64 = (text: string): string => Buffer.from(text).toString('base64');

let caPem: string;
let otherCaPem: string;
let CRL: string;

beforeAll(async () => {
  const [a, b] = await Promise.all([createTestCa('model-ca'), createTestCa('other-ca')]);
  caPem = a.certPem;
  otherCaPem = b.certPem;
  CRL = await a.crl();
});

function caSecret(name: string, data: Record<string, string>, namespace = 'default', type = 'Opaque'): Secret {
  return { metadata: { namespace, name }, type, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])) };
}

function world(annotations: Record<string, string>, secrets: Secret[] = [], more: ReturnType<typeof ingress>[] = []): RoutingConfig {
  const store = storeOf({
    services: [service('default', 'app'), service('default', 'other')],
    ingresses: [
      ingress('guarded', [rule('shop.test', [path('/admin', 'Prefix', svcBackend('app')), path('/', 'Prefix', svcBackend('app'))])], { annotations, created: '2024-01-01T00:00:00Z' }),
      ingress('neighbour', [rule('other.test', [path('/', 'Prefix', svcBackend('other'))])]),
      ...more,
    ],
  });
  for (const s of secrets) store.upsert('Secret', s);
  return translate(store, OPTIONS);
}

const policyOf = (config: RoutingConfig, host = 'shop.test', p = '/'): ClientCertPolicy | undefined => config.match(host, p)?.filters.clientCert;

describe('auth-tls annotations', () => {
  it.each([N, P])('%sauth-tls-secret alone: verify on, depth 1, no error page, no certificate upstream, no CN check', (prefix) => {
    const config = world({ [prefix + 'auth-tls-secret']: 'default/client-ca' }, [caSecret('client-ca', { 'ca.crt': caPem })]);
    for (const p of ['/admin', '/']) {
      const route = config.match('shop.test', p)!;
      expect(route.action).toBe(FORWARD);
      const c = route.filters.clientCert!;
      expect(c).toMatchObject({ secret: 'default/client-ca', verify: 'on', depth: 1, errorPage: '', passCertificate: false, matchCn: null, crlPem: '' });
      expect(c.caPem).toContain('-----BEGIN CERTIFICATE-----');
      expect(c.key).toMatch(/^[0-9a-f]{64}$/);
    }
    expect(reasons(config)).toEqual([]);
    expect(policyOf(config, 'other.test')).toBeUndefined();
  });

  it('a name without namespace is the Ingress\'s; Opaque and kubernetes.io/tls Secrets both work; ca.crl is read', () => {
    const config = world({ [N + 'auth-tls-secret']: 'client-ca' }, [caSecret('client-ca', { 'ca.crt': caPem, 'tls.crt': caPem, 'tls.key': 'x', 'ca.crl': CRL }, 'default', 'kubernetes.io/tls')]);
    expect(policyOf(config)!.crlPem).toBe(CRL);
    expect(reasons(config)).toEqual([]);
  });

  it('reads every option', () => {
    const config = world(
      {
        [N + 'auth-tls-secret']: 'default/client-ca',
        [N + 'auth-tls-verify-client']: 'optional_no_ca',
        [N + 'auth-tls-verify-depth']: '3',
        [N + 'auth-tls-error-page']: 'https://errors.example.com/cert?from=shop',
        [N + 'auth-tls-pass-certificate-to-upstream']: 'true',
        [N + 'auth-tls-match-cn']: 'CN=(alice|bob)',
      },
      [caSecret('client-ca', { 'ca.crt': caPem })],
    );
    const c = policyOf(config)!;
    expect(c).toMatchObject({ verify: 'optional_no_ca', depth: 3, errorPage: 'https://errors.example.com/cert?from=shop', passCertificate: true });
    expect(c.matchCn!.test('CN=bob,O=x')).toBe(true);
    expect(c.matchCn!.test('CN=carol')).toBe(false);
    expect(c.matchCn!.test('cn=bob')).toBe(false); // case-sensitive, as nginx's !~
    expect(reasons(config)).toEqual([]);
  });

  it.each(['off', 'optional'])('verify %s is kept', (mode) => {
    const config = world({ [N + 'auth-tls-secret']: 'client-ca', [N + 'auth-tls-verify-client']: mode }, [caSecret('client-ca', { 'ca.crt': caPem })]);
    expect(policyOf(config)!.verify).toBe(mode);
  });

  it('an unknown verify value is "on" (ingress-nginx\'s fallback), with a problem', () => {
    const config = world({ [N + 'auth-tls-secret']: 'client-ca', [N + 'auth-tls-verify-client']: 'maybe' }, [caSecret('client-ca', { 'ca.crt': caPem })]);
    expect(policyOf(config)!.verify).toBe('on');
    expect(reasons(config)).toEqual(['default/guarded: InvalidAnnotation']);
  });

  it('depth 0 means the default (ingress-nginx reads 0 as unset)', () => {
    const config = world({ [N + 'auth-tls-secret']: 'client-ca', [N + 'auth-tls-verify-depth']: '0' }, [caSecret('client-ca', { 'ca.crt': caPem })]);
    expect(policyOf(config)!.depth).toBe(1);
  });

  it('the handshake key changes with the CA, the mode and the depth, not with per-request options', () => {
    const key = (a: Record<string, string>, ca = caPem): string => policyOf(world({ [N + 'auth-tls-secret']: 'client-ca', ...a }, [caSecret('client-ca', { 'ca.crt': ca })]))!.key;
    const base = key({});
    expect(key({ [N + 'auth-tls-pass-certificate-to-upstream']: 'true', [N + 'auth-tls-match-cn']: 'CN=x' })).toBe(base);
    expect(key({}, otherCaPem)).not.toBe(base);
    expect(key({ [N + 'auth-tls-verify-client']: 'optional' })).not.toBe(base);
    expect(key({ [N + 'auth-tls-verify-depth']: '2' })).not.toBe(base);
  });

  it('keeps PEM bundles out of JSON', () => {
    const config = world({ [N + 'auth-tls-secret']: 'client-ca' }, [caSecret('client-ca', { 'ca.crt': caPem })]);
    const json = JSON.stringify(policyOf(config));
    expect(json).not.toContain('BEGIN');
    expect(JSON.parse(json)).toMatchObject({ secret: 'default/client-ca', verify: 'on', depth: 1, caCertificates: 1, crl: false });
  });

  it('options without auth-tls-secret do nothing, with a problem saying so', () => {
    const config = world({ [N + 'auth-tls-verify-client']: 'on', [N + 'auth-tls-match-cn']: 'CN=x' });
    expect(policyOf(config)).toBeUndefined();
    expect(config.match('shop.test', '/')!.action).toBe(FORWARD);
    expect(reasons(config)).toEqual(['default/guarded: InvalidAnnotation']);
  });
});

describe('auth-tls fails closed', () => {
  const deniedEverywhere = (config: RoutingConfig): void => {
    for (const p of ['/admin', '/']) {
      const route = config.match('shop.test', p)!;
      expect(route.action).toEqual({ kind: 'direct', status: 503, body: expect.stringContaining('client certificate') });
    }
    expect(config.match('other.test', '/')!.action).toBe(FORWARD);
  };

  it.each([
    ['a missing Secret', { [N + 'auth-tls-secret']: 'nope' }, [], 'AuthSecretInvalid'],
    ['a Secret without ca.crt (ingress-nginx would drop client authentication)', { [N + 'auth-tls-secret']: 'client-ca' }, [caSecret('client-ca', { 'tls.crt': 'x' })], 'AuthSecretInvalid'],
    ['a ca.crt without certificates', { [N + 'auth-tls-secret']: 'client-ca' }, [caSecret('client-ca', { 'ca.crt': 'hello' })], 'AuthSecretInvalid'],
    ['a certificate that does not parse', { [N + 'auth-tls-secret']: 'client-ca' }, [caSecret('client-ca', { 'ca.crt': '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' })], 'AuthSecretInvalid'],
    ['a ca.crl that does not parse', { [N + 'auth-tls-secret']: 'client-ca' }, [caSecret('client-ca', { 'ca.crt': 'CA', 'ca.crl': '-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n' })], 'AuthSecretInvalid'],
    ['a ca.crl without a CRL', { [N + 'auth-tls-secret']: 'client-ca' }, [caSecret('client-ca', { 'ca.crt': 'CA', 'ca.crl': 'nothing' })], 'AuthSecretInvalid'],
    ['an invalid Secret name', { [N + 'auth-tls-secret']: 'a/b/c' }, [], 'InvalidAnnotation'],
    ['an invalid depth', { [N + 'auth-tls-secret']: 'client-ca', [N + 'auth-tls-verify-depth']: 'deep' }, [caSecret('client-ca', { 'ca.crt': 'CA' })], 'InvalidAnnotation'],
    ['a relative error page (nginx internal redirect)', { [N + 'auth-tls-secret']: 'client-ca', [N + 'auth-tls-error-page']: '/error.html' }, [caSecret('client-ca', { 'ca.crt': 'CA' })], 'InvalidAnnotation'],
    ['an error page with a scheme other than http(s)', { [N + 'auth-tls-secret']: 'client-ca', [N + 'auth-tls-error-page']: 'javascript:alert(1)' }, [caSecret('client-ca', { 'ca.crt': 'CA' })], 'InvalidAnnotation'],
    ['pass-certificate not a boolean', { [N + 'auth-tls-secret']: 'client-ca', [N + 'auth-tls-pass-certificate-to-upstream']: 'yes' }, [caSecret('client-ca', { 'ca.crt': 'CA' })], 'InvalidAnnotation'],
    ['match-cn without CN=', { [N + 'auth-tls-secret']: 'client-ca', [N + 'auth-tls-match-cn']: 'alice' }, [caSecret('client-ca', { 'ca.crt': 'CA' })], 'InvalidAnnotation'],
    ['match-cn with a backreference', { [N + 'auth-tls-secret']: 'client-ca', [N + 'auth-tls-match-cn']: 'CN=(a)\\1' }, [caSecret('client-ca', { 'ca.crt': 'CA' })], 'InvalidAnnotation'],
  ] as const)('%s: every rule of the host answers 503', (_what, annotations, secrets, reason) => {
    const fixed = secrets.map((s) => (s.data?.['ca.crt'] === b64('CA') ? caSecret(s.metadata.name, { ...Object.fromEntries(Object.entries(s.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()])), 'ca.crt': caPem }) : s));
    const config = world(annotations, fixed);
    deniedEverywhere(config);
    expect(reasons(config)).toContain(`default/guarded: ${reason}`);
  });

  it('never quotes the CA bundle in a problem', () => {
    const config = world({ [N + 'auth-tls-secret']: 'client-ca' }, [caSecret('client-ca', { 'ca.crt': 'garbage-token-123' })]);
    expect(JSON.stringify(config.problems)).not.toContain('garbage-token-123');
  });
});

describe('client authentication belongs to the host', () => {
  const other = (annotations: Record<string, string> = {}, created = '2025-01-01T00:00:00Z'): ReturnType<typeof ingress> =>
    ingress('younger', [rule('shop.test', [path('/api', 'Prefix', svcBackend('other'))])], { annotations, created });

  it('the oldest Ingress with auth-tls-secret protects every path of the host, other Ingresses\' too', () => {
    const config = world({ [N + 'auth-tls-secret']: 'client-ca' }, [caSecret('client-ca', { 'ca.crt': caPem })], [other()]);
    const mine = policyOf(config, 'shop.test', '/')!;
    expect(policyOf(config, 'shop.test', '/api')).toBe(mine);
    expect(reasons(config)).toEqual([]);
  });

  it('a younger Ingress with other settings is overruled, with a problem', () => {
    const config = world({ [N + 'auth-tls-secret']: 'client-ca' }, [caSecret('client-ca', { 'ca.crt': caPem }), caSecret('other-ca', { 'ca.crt': otherCaPem })], [other({ [N + 'auth-tls-secret']: 'other-ca' })]);
    expect(policyOf(config, 'shop.test', '/api')!.secret).toBe('default/client-ca');
    expect(reasons(config)).toEqual(['default/younger: RuleConflict']);
  });

  it('when the oldest setting is unusable the whole host answers 503', () => {
    const config = world({ [N + 'auth-tls-secret']: 'missing' }, [], [other()]);
    expect(config.match('shop.test', '/api')!.action).toMatchObject({ kind: 'direct', status: 503 });
  });

  it('a younger Ingress alone still sets it for the host', () => {
    const config = world({}, [caSecret('client-ca', { 'ca.crt': caPem })], [other({ [N + 'auth-tls-secret']: 'client-ca' })]);
    expect(policyOf(config, 'shop.test', '/')!.secret).toBe('default/client-ca');
  });

  it('the incremental translator follows a Secret change and agrees with a full translation', () => {
    const store = storeOf({
      services: [service('default', 'app')],
      ingresses: [ingress('guarded', [rule('shop.test', [path('/', 'Prefix', svcBackend('app'))])], { annotations: { [N + 'auth-tls-secret']: 'client-ca' } })],
    });
    const t = new IncrementalTranslator(OPTIONS);
    let config = t.apply(store, undefined, 1);
    expect(config.match('shop.test', '/')!.action.kind).toBe('direct');
    store.upsert('Secret', caSecret('client-ca', { 'ca.crt': caPem }));
    config = t.apply(store, [{ kind: 'Secret', key: 'default/client-ca' }], 2);
    expect(config.match('shop.test', '/')!.action).toBe(FORWARD);
    const full = translate(store, { ...OPTIONS, version: 2 });
    expect(JSON.stringify([...config.routes()])).toBe(JSON.stringify([...full.routes()]));
    expect(config.match('shop.test', '/')!.filters.clientCert!.key).toBe(full.match('shop.test', '/')!.filters.clientCert!.key);
  });
});

describe('readClientCertOptions', () => {
  it('returns undefined for Ingresses without annotations', () => {
    const store = storeOf({});
    expect(readClientCertOptions(undefined, store, 'default', () => {})).toBeUndefined();
    expect(readClientCertOptions({}, store, 'default', () => {})).toBeUndefined();
  });
});
