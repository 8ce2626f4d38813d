import { describe, expect, it } from 'vitest';
import { Store } from '../../src/store/store.ts';
import type { Ingress } from '../../src/store/types.ts';
import { translate } from '../../src/model/translate.ts';
import { build, ingress, ingressClass, OPTIONS, path, reasons, rule, service, svcBackend, target } from './helpers.ts';

const T1 = '2024-01-01T00:00:00Z';
const T2 = '2024-06-01T00:00:00Z';

function onShop(name: string, p: string, type: string, opts: { namespace?: string; created?: string; svc?: string } = {}): Ingress {
  return ingress(name, [rule('shop.com', [path(p, type, svcBackend(opts.svc ?? name))])], {
    namespace: opts.namespace ?? 'default',
    ...(opts.created ? { created: opts.created } : {}),
  });
}

describe('conflicts between Ingresses', () => {
  it('the oldest Ingress wins an identical host+path+pathType; the other gets a RuleConflict naming it', () => {
    const config = build({
      ingresses: [onShop('new', '/api', 'Prefix', { created: T2 }), onShop('old', '/api', 'Prefix', { created: T1 })],
      services: [service('default', 'new'), service('default', 'old')],
    });
    expect(config.match('shop.com', '/api')?.backend.service).toBe('old');
    expect(reasons(config)).toEqual(['default/new: RuleConflict']);
    expect(config.problems[0]?.message).toContain('default/old');
    expect(config.problems[0]?.message).toContain('older');
  });

  it('only the conflicting path is skipped; the loser\'s other paths still route', () => {
    const loser = ingress('new', [rule('shop.com', [path('/api', 'Prefix', svcBackend('new')), path('/web', 'Prefix', svcBackend('new'))])], { created: T2 });
    const config = build({
      ingresses: [loser, onShop('old', '/api', 'Prefix', { created: T1 })],
      services: [service('default', 'new'), service('default', 'old')],
    });
    expect(config.match('shop.com', '/web')?.backend.service).toBe('new');
    expect(config.match('shop.com', '/api')?.backend.service).toBe('old');
  });

  it('same creation time: namespace, then name decides', () => {
    const config = build({
      ingresses: [
        onShop('a', '/', 'Prefix', { namespace: 'zeta', created: T1 }),
        onShop('b', '/', 'Prefix', { namespace: 'alpha', created: T1 }),
        onShop('a', '/', 'Prefix', { namespace: 'alpha', created: T1 }),
      ],
      services: [service('zeta', 'a'), service('alpha', 'a'), service('alpha', 'b')],
    });
    expect(target(config.match('shop.com', '/'))).toBe('alpha/a shop.com|/|Prefix -> alpha/a:');
    expect(reasons(config)).toEqual(['alpha/b: RuleConflict', 'zeta/a: RuleConflict']);
    expect(config.problems[0]?.message).toContain('alpha/a');
    expect(config.problems[0]?.message).toContain('same creation time');
  });

  it('objects without creationTimestamp (from files) lose to dated ones, then go by name', () => {
    const config = build({
      ingresses: [onShop('a', '/', 'Prefix'), onShop('z', '/', 'Prefix', { created: T2 }), onShop('b', '/', 'Prefix')],
      services: [service('default', 'a'), service('default', 'b'), service('default', 'z')],
    });
    expect(config.match('shop.com', '/')?.backend.service).toBe('z');
    expect(reasons(config)).toEqual(['default/a: RuleConflict', 'default/b: RuleConflict']);
  });

  it('different path types on the same path do not conflict', () => {
    const config = build({
      ingresses: [onShop('exact', '/foo', 'Exact', { created: T2 }), onShop('prefix', '/foo', 'Prefix', { created: T1 })],
      services: [service('default', 'exact'), service('default', 'prefix')],
    });
    expect(config.problems).toEqual([]);
    expect(config.match('shop.com', '/foo')?.backend.service).toBe('exact');
    expect(config.match('shop.com', '/foo/x')?.backend.service).toBe('prefix');
  });

  it('Prefix /foo and /foo/ (and ImplementationSpecific /foo) match the same requests, so they conflict', () => {
    const config = build({
      ingresses: [
        onShop('slash', '/foo/', 'Prefix', { created: T2 }),
        onShop('plain', '/foo', 'Prefix', { created: T1 }),
        onShop('impl', '/foo', 'ImplementationSpecific', { created: T2 }),
      ],
      services: [service('default', 'slash'), service('default', 'plain'), service('default', 'impl')],
    });
    expect(config.match('shop.com', '/foo/')?.backend.service).toBe('plain');
    expect(reasons(config)).toEqual(['default/impl: RuleConflict', 'default/slash: RuleConflict']);
  });

  it('the same path twice in one Ingress: the first is used and the duplicate reported', () => {
    const ing = ingress('dup', [
      rule('shop.com', [path('/a', 'Prefix', svcBackend('one'))]),
      rule('shop.com', [path('/a', 'Prefix', svcBackend('two'))]),
    ]);
    const config = build({ ingresses: [ing], services: [service('default', 'one'), service('default', 'two')] });
    expect(config.match('shop.com', '/a')?.backend.service).toBe('one');
    expect(reasons(config)).toEqual(['default/dup: RuleConflict']);
    expect(config.problems[0]?.message).toContain('more than once');
  });

  it('conflicts are found the same way on a host with many rules', () => {
    const many = (name: string, created: string) =>
      ingress(
        name,
        [rule('shop.com', Array.from({ length: 12 }, (_, i) => path(`/p${i}${i % 2 ? '/' : ''}`, i % 3 ? 'Prefix' : 'Exact', svcBackend(name))))],
        { created },
      );
    const config = build({ ingresses: [many('new', T2), many('old', T1)], services: [service('default', 'new'), service('default', 'old')] });
    expect(config.problems.filter((p) => p.reason === 'RuleConflict' && p.object.name === 'new')).toHaveLength(12);
    expect(config.problems.every((p) => p.object.name === 'new')).toBe(true);
    for (let i = 0; i < 12; i++) expect(config.match('shop.com', `/p${i}${i % 2 ? '/' : ''}`)?.backend.service).toBe('old');
  });

  it('same path on different hosts is no conflict', () => {
    const config = build({
      ingresses: [
        ingress('a', [rule('a.com', [path('/', 'Prefix', svcBackend('s'))])]),
        ingress('b', [rule('b.com', [path('/', 'Prefix', svcBackend('s'))])]),
      ],
      services: [service('default', 's')],
    });
    expect(config.problems).toEqual([]);
  });

  it('is deterministic whatever order the store lists objects in', () => {
    const objs = [
      onShop('c', '/x', 'Prefix', { created: T2 }),
      onShop('a', '/x', 'Prefix', { created: T2 }),
      onShop('b', '/x', 'Prefix', { created: T1 }),
      onShop('d', '/x', 'Exact', { created: T2, namespace: 'other' }),
      ingress('bad', [rule('BAD_HOST', [])], { created: T1 }),
    ];
    const snapshots = [objs, [...objs].reverse(), [objs[2], objs[4], objs[0], objs[3], objs[1]]].map((order) => {
      const store = new Store();
      store.upsert('IngressClass', ingressClass('portico'));
      for (const s of ['a', 'b', 'c']) store.upsert('Service', service('default', s));
      for (const o of order) store.upsert('Ingress', o as Ingress);
      const config = translate(store, OPTIONS);
      return {
        problems: config.problems,
        ingresses: config.ingresses,
        routes: [...config.routes()].map(target).sort(),
        match: target(config.match('shop.com', '/x/y')),
      };
    });
    expect(snapshots[1]).toEqual(snapshots[0]);
    expect(snapshots[2]).toEqual(snapshots[0]);
    expect(snapshots[0]?.match).toBe('default/b shop.com|/x|Prefix -> default/b:');
  });
});
