// Headers from a ConfigMap (model/configmap-headers.ts) and the two annotations that name one:
// custom-headers (response headers) and auth-proxy-set-headers (auth subrequest headers).
// ingress-nginx (internal/ingress/annotations/customheaders, authreq) denies the location
// for a missing ConfigMap or an invalid entry; so does Portico (503 with a problem).

import { describe, expect, it } from 'vitest';
import { parseConfigMapRef, readConfigMapHeaders, type HeaderRules } from '../../src/model/configmap-headers.ts';
import { DENIED_CUSTOM_HEADERS } from '../../src/model/custom-headers-options.ts';
import { DENIED_EXTERNAL_AUTH } from '../../src/model/external-auth-options.ts';
import { translate } from '../../src/model/translate.ts';
import { FORWARD } from '../../src/model/types.ts';
import { Store } from '../../src/store/store.ts';
import { OPTIONS, ingress, ingressClass, path, reasons, rule, service, svcBackend } from './helpers.ts';

const N = 'nginx.ingress.kubernetes.io/';
const P = 'portico.dev/';
const RESPONSE: HeaderRules = { allowEmpty: false, allowDollar: true };

function storeWith(data: Record<string, unknown> | undefined, annotations: Record<string, string>): Store {
  const store = new Store();
  store.upsert('IngressClass', ingressClass('portico'));
  store.upsert('Service', service('default', 'app'));
  if (data !== undefined) store.upsert('ConfigMap', { metadata: { namespace: 'default', name: 'headers' }, data: data as Record<string, string> });
  store.upsert('Ingress', ingress('web', [rule('shop.test', [path('/', 'Prefix', svcBackend('app'))])], { annotations }));
  store.upsert('Ingress', ingress('neighbour', [rule('other.test', [path('/', 'Prefix', svcBackend('app'))])]));
  return store;
}

describe('parseConfigMapRef', () => {
  it.each([
    ['headers', { namespace: 'default', name: 'headers' }],
    [' shop/headers ', { namespace: 'shop', name: 'headers' }],
    ['shop/my.headers-1', { namespace: 'shop', name: 'my.headers-1' }],
    ['shop/a/b', undefined],
    ['Shop/headers', undefined],
    ['/headers', undefined],
    ['', undefined],
  ])('%j → %j', (raw, ref) => {
    expect(parseConfigMapRef(raw, 'default')).toEqual(ref);
  });
});

describe('readConfigMapHeaders', () => {
  const read = (data: Record<string, unknown> | undefined, rules = RESPONSE, raw: unknown = 'default/headers') => readConfigMapHeaders(raw, storeWith(data, {}), 'default', rules);

  it('lower-case names sorted, values literal', () => {
    expect(read({ 'X-B': 'two', 'x-a': 'one $x' })).toEqual({ configMap: 'default/headers', headers: ['x-a', 'one $x', 'x-b', 'two'] });
  });

  it.each([
    [{ 'X A': '1' }, 'is not a header name'],
    [{ 'X:A': '1' }, 'is not a header name'],
    [{ 'Transfer-Encoding': 'chunked' }, 'frames or routes the message'],
    [{ Host: 'x' }, 'frames or routes the message'],
    [{ 'X-A': '1', 'x-a': '2' }, 'listed twice'],
    [{ 'X-A': '' }, 'is empty'],
    [{ 'X-A': 'a\r\nSet-Cookie: x=1' }, 'outside printable ASCII'],
    [{ 'X-A': 'tab\there' }, 'outside printable ASCII'],
  ])('refuses %j (%s)', (data, why) => {
    const r = read(data);
    expect(r).toHaveProperty('invalid');
    expect((r as { invalid: string }).invalid).toContain(why);
  });

  it('a value with CR LF is never quoted back in the message', () => {
    const r = read({ 'X-A': 'secret\r\nvalue' }) as { invalid: string };
    expect(r.invalid).not.toContain('secret');
  });

  it('auth rules: empty values allowed, "$" and the stage\'s own names refused', () => {
    const rules: HeaderRules = { allowEmpty: true, allowDollar: false, reserved: new Map([['x-real-ip', 'set by the stage']]) };
    expect(read({ 'X-Empty': '' }, rules)).toEqual({ configMap: 'default/headers', headers: ['x-empty', ''] });
    expect((read({ 'X-A': '$remote_addr' }, rules) as { invalid: string }).invalid).toContain('nginx variable');
    expect((read({ 'X-Real-IP': '1.2.3.4' }, rules) as { invalid: string }).invalid).toContain('set by the stage');
  });

  it('missing, another namespace, not a string, no data', () => {
    expect(read(undefined)).toEqual({ invalid: 'ConfigMap "default/headers" was not found' });
    expect((read({}, RESPONSE, 'kube-system/headers') as { invalid: string }).invalid).toContain('another namespace');
    expect(read({}, RESPONSE, 42)).toEqual({ invalid: 'it is not a string' });
    expect(read({})).toEqual({ configMap: 'default/headers', headers: [] });
  });
});

describe('custom-headers annotation', () => {
  it('every rule of the Ingress gets the filter; the neighbour nothing', () => {
    const config = translate(storeWith({ 'X-Frame-Options': 'DENY' }, { [N + 'custom-headers']: 'default/headers' }), OPTIONS);
    expect(reasons(config)).toEqual([]);
    const route = config.match('shop.test', '/')!;
    expect(route.action).toBe(FORWARD);
    expect(route.filters.customHeaders).toEqual({ configMap: 'default/headers', headers: ['x-frame-options', 'DENY'] });
    expect(config.match('other.test', '/')!.filters.customHeaders).toBeUndefined();
  });

  it('a missing ConfigMap: every rule answers 503 with a ConfigMapInvalid problem', () => {
    const config = translate(storeWith(undefined, { [N + 'custom-headers']: 'default/headers' }), OPTIONS);
    expect(config.match('shop.test', '/')!.action).toEqual(DENIED_CUSTOM_HEADERS);
    expect(reasons(config)).toEqual(['default/web: ConfigMapInvalid']);
    expect(config.match('other.test', '/')!.action).toBe(FORWARD);
  });

  it('both prefixes set: portico.dev/ wins, with a problem', () => {
    const config = translate(storeWith({ 'X-A': '1' }, { [P + 'custom-headers']: 'headers', [N + 'custom-headers']: 'default/nope' }), OPTIONS);
    expect(config.match('shop.test', '/')!.filters.customHeaders?.headers).toEqual(['x-a', '1']);
    expect(reasons(config)).toEqual(['default/web: InvalidAnnotation']);
  });
});

describe('auth-proxy-set-headers annotation', () => {
  it('sets ExternalAuth.proxySetHeaders; an invalid entry denies the rules', () => {
    const ok = translate(storeWith({ 'X-Tenant': 'shop' }, { [N + 'auth-url']: 'http://auth.svc/check', [N + 'auth-proxy-set-headers']: 'headers' }), OPTIONS);
    expect(reasons(ok)).toEqual([]);
    expect(ok.match('shop.test', '/')!.filters.externalAuth?.proxySetHeaders).toEqual({ configMap: 'default/headers', headers: ['x-tenant', 'shop'] });
    const bad = translate(storeWith({ 'X-Original-URL': 'x' }, { [N + 'auth-url']: 'http://auth.svc/check', [N + 'auth-proxy-set-headers']: 'headers' }), OPTIONS);
    expect(bad.match('shop.test', '/')!.action).toEqual(DENIED_EXTERNAL_AUTH);
    expect(reasons(bad)).toEqual(['default/web: ConfigMapInvalid']);
  });
});
