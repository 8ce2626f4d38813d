import { describe, expect, it } from 'vitest';
import { build, ingress, path, reasons, rule, service, svcBackend, target } from './helpers.ts';

const T1 = '2024-01-01T00:00:00Z';
const T2 = '2024-06-01T00:00:00Z';

describe('default backend', () => {
  const services = ['app', 'app-default', 'other', 'other-default', 'wild', 'wild-default'].map((n) => service('default', n));

  const config = build({
    services,
    ingresses: [
      ingress('app', [rule('app.com', [path('/api', 'Prefix', svcBackend('app'))])], { created: T1, defaultBackend: svcBackend('app-default') }),
      ingress('other', [rule('other.com', [path('/', 'Exact', svcBackend('other'))])], { created: T2, defaultBackend: svcBackend('other-default') }),
      ingress('wild', [rule('*.wild.com', [path('/x', 'Exact', svcBackend('wild'))])], { created: T2, defaultBackend: svcBackend('wild-default') }),
      ingress('plain', [rule('plain.com', [path('/only', 'Exact', svcBackend('app'))])], { created: T2 }),
    ],
  });

  it.each([
    ['app.com', '/api/v1', 'default/app app.com|/api|Prefix -> default/app:'],
    ['app.com', '/web', 'default/app app.com||Prefix -> default/app-default:'],
    ['other.com', '/nope', 'default/other other.com||Prefix -> default/other-default:'],
    ['a.wild.com', '/y', 'default/wild *.wild.com||Prefix -> default/wild-default:'],
    ['plain.com', '/else', 'default/app ||Prefix -> default/app-default:'],
    ['unknown.com', '/', 'default/app ||Prefix -> default/app-default:'],
  ])('%s%s → %s', (host, p, expected) => {
    expect(target(config.match(host, p))).toBe(expected);
  });

  it('the global default goes to the oldest Ingress; the others get DefaultBackendConflict', () => {
    expect(reasons(config)).toEqual(['default/other: DefaultBackendConflict', 'default/wild: DefaultBackendConflict']);
    expect(config.problems[0]?.message).toContain('default/app');
    expect(config.problems[0]?.message).toContain('other.com');
  });

  it('an Ingress with only a default backend serves every unmatched request', () => {
    const c = build({ services: [service('default', 'fallback')], ingresses: [ingress('only', [], { defaultBackend: svcBackend('fallback') })] });
    expect(c.problems).toEqual([]);
    const r = c.match('any.host', '/any/path');
    expect(r?.path).toBe('');
    expect(r?.pathType).toBe('Prefix');
    expect(r?.backend.endpointsKey).toBe('default/fallback:');
  });

  it('no default backend and no match → null (the proxy answers 404)', () => {
    const c = build({ services: [service('default', 's')], ingresses: [ingress('i', [rule('a.com', [path('/a', 'Exact', svcBackend('s'))])])] });
    expect(c.match('a.com', '/b')).toBeNull();
    expect(c.match('b.com', '/a')).toBeNull();
  });

  it('a host-only rule (no http) is served by that Ingress\'s default backend', () => {
    const c = build({
      services: [service('default', 'd'), service('default', 'g')],
      ingresses: [
        ingress('global', [], { created: T1, defaultBackend: svcBackend('g') }),
        { metadata: { namespace: 'default', name: 'hostonly', creationTimestamp: T2 }, spec: { ingressClassName: 'portico', defaultBackend: svcBackend('d'), rules: [{ host: 'h.com' }] } },
      ],
    });
    expect(c.match('h.com', '/x')?.backend.service).toBe('d');
    expect(c.match('z.com', '/x')?.backend.service).toBe('g');
  });

  it('several Ingresses on one host: the oldest one\'s default backend serves that host', () => {
    const c = build({
      services: [service('default', 'a'), service('default', 'b'), service('default', 's')],
      ingresses: [
        ingress('b', [rule('h.com', [path('/b', 'Prefix', svcBackend('s'))])], { created: T2, defaultBackend: svcBackend('b') }),
        ingress('a', [rule('h.com', [path('/a', 'Prefix', svcBackend('s'))])], { created: T1, defaultBackend: svcBackend('a') }),
      ],
    });
    expect(c.match('h.com', '/c')?.backend.service).toBe('a');
    // b loses both the host fallback and the global default.
    expect(reasons(c)).toEqual(['default/b: DefaultBackendConflict', 'default/b: DefaultBackendConflict']);
  });

  it('the same default backend set by several Ingresses is no conflict', () => {
    const c = build({
      services: [service('default', 'd'), service('default', 's')],
      ingresses: [
        ingress('a', [rule('h.com', [path('/a', 'Prefix', svcBackend('s'))])], { created: T1, defaultBackend: svcBackend('d') }),
        ingress('b', [rule('h.com', [path('/b', 'Prefix', svcBackend('s'))])], { created: T2, defaultBackend: svcBackend('d') }),
      ],
    });
    expect(c.problems).toEqual([]);
  });

  it('a default backend whose Service is missing still routes (503 at the proxy)', () => {
    const c = build({ ingresses: [ingress('i', [], { defaultBackend: svcBackend('ghost', 'http') })] });
    expect(reasons(c)).toEqual(['default/i: ServiceNotFound']);
    expect(c.match('x', '/')?.backend.endpointsKey).toBe('default/ghost:http');
  });

  it('routes() lists rule routes, per-host fallbacks and the global default', () => {
    const all = [...config.routes()].map(target).sort();
    expect(all).toContain('default/app ||Prefix -> default/app-default:');
    expect(all).toContain('default/app app.com||Prefix -> default/app-default:');
    expect(all).toContain('default/plain plain.com|/only|Exact -> default/app:');
    expect(all.length).toBe(8);
  });
});
