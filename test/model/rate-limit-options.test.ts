// The rate-limit group (model/rate-limit-options.ts): limit-rps, limit-rpm,
// limit-burst-multiplier, limit-connections and limit-allowlist/limit-whitelist read into one
// RateLimit per Ingress (its zone), under both prefixes, with ingress-nginx's defaults
// (internal/ingress/annotations/ratelimit). Invalid values are problems and are ignored; an
// invalid allowlist exempts nobody.

import { describe, expect, it } from 'vitest';
import { parseLimitValue, readRateLimitOptions } from '../../src/model/rate-limit-options.ts';
import { translate } from '../../src/model/translate.ts';
import { FORWARD, type ObjectRef, type RoutingConfig } from '../../src/model/types.ts';
import { OPTIONS, ingress, path, reasons, rule, service, storeOf, svcBackend } from './helpers.ts';

const N = 'nginx.ingress.kubernetes.io/';
const P = 'portico.dev/';
const REF: ObjectRef = { kind: 'Ingress', namespace: 'shop', name: 'api' };

function read(annotations: Record<string, string>): { limit: ReturnType<typeof readRateLimitOptions>['rateLimit']; problems: string[] } {
  const problems: string[] = [];
  const out = readRateLimitOptions(annotations, REF, (reason, message) => problems.push(`${reason}: ${message}`));
  return { limit: out.rateLimit, problems };
}

describe('limit values', () => {
  it.each([
    ['10', 10],
    ['0', 0],
    ['+7', 7],
    [' 12 ', 12],
    ['007', 7],
    ['2147483647', 2147483647],
    ['2147483648', undefined],
    ['-1', undefined],
    ['1.5', undefined],
    ['10r/s', undefined],
    ['', undefined],
    ['1e3', undefined],
  ] as const)('%j → %s', (raw, n) => {
    expect(parseLimitValue(raw)).toBe(n);
  });
  it('non-strings are not values', () => {
    expect(parseLimitValue(10)).toBeUndefined();
    expect(parseLimitValue(null)).toBeUndefined();
  });
});

describe('readRateLimitOptions', () => {
  it('limit-rps alone: the Ingress zone, default multiplier 5, no connection limit, no problem', () => {
    const { limit, problems } = read({ [N + 'limit-rps']: '10' });
    expect(limit).toEqual({ zone: 'shop/api', rps: 10, rpm: 0, burstMultiplier: 5, connections: 0 });
    expect(Object.isFrozen(limit)).toBe(true);
    expect(problems).toEqual([]);
  });

  it('every name under either prefix; rps and rpm and connections together', () => {
    const { limit, problems } = read({
      [P + 'limit-rps']: '5',
      [N + 'limit-rpm']: '300',
      [P + 'limit-connections']: '8',
      [N + 'limit-burst-multiplier']: '2',
      [P + 'limit-allowlist']: '10.0.0.0/8, 2001:db8::/32 ,192.0.2.7',
    });
    expect(limit).toEqual({ zone: 'shop/api', rps: 5, rpm: 300, burstMultiplier: 2, connections: 8, exempt: ['10.0.0.0/8', '2001:db8::/32', '192.0.2.7'] });
    expect(problems).toEqual([]);
  });

  it('limit-whitelist is the older name of limit-allowlist; limit-allowlist wins when both are set', () => {
    expect(read({ [N + 'limit-rps']: '1', [N + 'limit-whitelist']: '10.0.0.1' }).limit?.exempt).toEqual(['10.0.0.1']);
    const both = read({ [N + 'limit-rps']: '1', [N + 'limit-whitelist']: '10.0.0.1', [N + 'limit-allowlist']: '10.0.0.2' });
    expect(both.limit?.exempt).toEqual(['10.0.0.2']);
    expect(both.problems.join('\n')).toMatch(/"nginx.ingress.kubernetes.io\/limit-allowlist" is used and "nginx.ingress.kubernetes.io\/limit-whitelist" is ignored/);
  });

  it('the portico.dev name wins over its alias, with a problem', () => {
    const { limit, problems } = read({ [P + 'limit-rps']: '3', [N + 'limit-rps']: '30' });
    expect(limit?.rps).toBe(3);
    expect(problems.join('\n')).toMatch(/both set; "portico.dev\/limit-rps" is used/);
  });

  it('0 means no limit: nothing set, no filter', () => {
    expect(read({ [N + 'limit-rps']: '0', [N + 'limit-connections']: '0' })).toEqual({ limit: undefined, problems: [] });
    expect(read({})).toEqual({ limit: undefined, problems: [] });
  });

  it('multiplier 0 is accepted (burst 0: one request per 1/rate)', () => {
    expect(read({ [N + 'limit-rps']: '2', [N + 'limit-burst-multiplier']: '0' }).limit?.burstMultiplier).toBe(0);
  });

  it('an invalid limit is a problem and is ignored; the other limits still apply', () => {
    const { limit, problems } = read({ [N + 'limit-rps']: 'ten', [N + 'limit-rpm']: '60' });
    expect(limit).toEqual({ zone: 'shop/api', rps: 0, rpm: 60, burstMultiplier: 5, connections: 0 });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^InvalidAnnotation: Annotation "nginx.ingress.kubernetes.io\/limit-rps" has the value "ten".*not applied/);
  });

  it('a negative limit is invalid (ingress-nginx renders none for it)', () => {
    const { limit, problems } = read({ [N + 'limit-connections']: '-3' });
    expect(limit).toBeUndefined();
    expect(problems[0]).toMatch(/limit-connections.*"-3"/);
  });

  it('an invalid multiplier is a problem and the default 5 is used', () => {
    const { limit, problems } = read({ [N + 'limit-rps']: '1', [N + 'limit-burst-multiplier']: '-2' });
    expect(limit?.burstMultiplier).toBe(5);
    expect(problems[0]).toMatch(/limit-burst-multiplier.*default 5 is used/);
  });

  it('an invalid allowlist exempts nobody (the limits apply to every client), with a problem', () => {
    const { limit, problems } = read({ [N + 'limit-rps']: '1', [N + 'limit-whitelist']: '10.0.0.0/8, not-an-ip' });
    expect(limit).toEqual({ zone: 'shop/api', rps: 1, rpm: 0, burstMultiplier: 5, connections: 0 });
    expect(problems[0]).toMatch(/limit-whitelist.*No client is exempt/);
  });

  it('a multiplier or allowlist without a limit has no effect, and says so', () => {
    const { limit, problems } = read({ [N + 'limit-burst-multiplier']: '3', [N + 'limit-allowlist']: '10.0.0.0/8' });
    expect(limit).toBeUndefined();
    expect(problems).toEqual([
      'InvalidAnnotation: "nginx.ingress.kubernetes.io/limit-burst-multiplier" and "nginx.ingress.kubernetes.io/limit-allowlist" have no effect without limit-rps, limit-rpm or limit-connections above 0',
    ]);
  });
});

describe('in translation', () => {
  function world(annotations: Record<string, string>): RoutingConfig {
    return translate(
      storeOf({
        services: [service('default', 'app'), service('default', 'other')],
        ingresses: [
          ingress('limited', [rule('shop.test', [path('/api', 'Prefix', svcBackend('app')), path('/', 'Prefix', svcBackend('app'))]), rule('www.shop.test', [path('/', 'Prefix', svcBackend('app'))])], { annotations }),
          ingress('twin', [rule('other.test', [path('/', 'Prefix', svcBackend('other'))])], { annotations }),
          ingress('neighbour', [rule('plain.test', [path('/', 'Prefix', svcBackend('other'))])]),
        ],
      }),
      OPTIONS,
    );
  }

  it('every rule of an Ingress shares one RateLimit (one zone); another Ingress with the same annotations has its own', () => {
    const config = world({ [N + 'limit-rps']: '10' });
    const a = config.match('shop.test', '/api')!.filters.rateLimit;
    expect(a?.zone).toBe('default/limited');
    expect(config.match('shop.test', '/')!.filters.rateLimit).toBe(a);
    expect(config.match('www.shop.test', '/')!.filters.rateLimit).toBe(a);
    const b = config.match('other.test', '/')!.filters.rateLimit;
    expect(b?.zone).toBe('default/twin');
    expect(b).not.toBe(a);
    expect(config.match('plain.test', '/')!.filters.rateLimit).toBeUndefined();
    expect(config.problems).toEqual([]);
  });

  it('an invalid value is reported against the Ingress, which still routes', () => {
    const config = world({ [N + 'limit-rpm']: 'lots' });
    const route = config.match('shop.test', '/')!;
    expect(route.action).toBe(FORWARD);
    expect(route.filters.rateLimit).toBeUndefined();
    expect(reasons(config)).toEqual(['default/limited: InvalidAnnotation', 'default/twin: InvalidAnnotation']);
  });

  it('the limit annotations are known (no unknown/unsupported problem)', () => {
    const config = world({ [P + 'limit-rps']: '1', [N + 'limit-rpm']: '1', [N + 'limit-connections']: '1', [N + 'limit-burst-multiplier']: '1', [N + 'limit-whitelist']: '10.0.0.1' });
    expect(config.problems).toEqual([]);
  });
});
