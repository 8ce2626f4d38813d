import { describe, expect, it } from 'vitest';
import { build, ingress, path, reasons, rule, service, svcBackend } from './helpers.ts';

/** An Ingress of ours with an arbitrary (possibly nonsensical) spec, as YAML might give it. */
function raw(name: string, spec: unknown, metadata: Record<string, unknown> = {}): unknown {
  return { metadata: { namespace: 'default', name, ...metadata }, spec };
}
const ours = (extra: Record<string, unknown>) => ({ ingressClassName: 'portico', ...extra });

const good = ingress('good', [rule('good.com', [path('/', 'Prefix', svcBackend('s'))])]);

describe('malformed Ingresses: a problem for the bad part, the rest keeps routing', () => {
  const cases: { name: string; ingress: unknown; expected: string[] }[] = [
    { name: 'spec: null (class from the legacy annotation)', ingress: raw('x', null, { annotations: { 'kubernetes.io/ingress.class': 'portico' } }), expected: ['InvalidIngress'] },
    { name: 'spec is a string', ingress: raw('x', 'oops', { annotations: { 'kubernetes.io/ingress.class': 'portico' } }), expected: ['InvalidIngress'] },
    { name: 'rules: "x"', ingress: raw('x', ours({ rules: 'x' })), expected: ['InvalidIngress'] },
    { name: 'rules: {}', ingress: raw('x', ours({ rules: { host: 'a.com' } })), expected: ['InvalidIngress'] },
    { name: 'a rule that is a number', ingress: raw('x', ours({ rules: [7] })), expected: ['InvalidRule'] },
    { name: 'a rule that is null', ingress: raw('x', ours({ rules: [null] })), expected: ['InvalidRule'] },
    { name: 'http without paths', ingress: raw('x', ours({ rules: [{ host: 'a.com', http: {} }] })), expected: ['InvalidRule'] },
    { name: 'http.paths: []', ingress: raw('x', ours({ rules: [{ host: 'a.com', http: { paths: [] } }] })), expected: ['InvalidRule'] },
    { name: 'http.paths is a string', ingress: raw('x', ours({ rules: [{ host: 'a.com', http: { paths: '/' } }] })), expected: ['InvalidRule'] },
    { name: 'http is a string', ingress: raw('x', ours({ rules: [{ host: 'a.com', http: 'yes' }] })), expected: ['InvalidRule'] },
    { name: 'a path entry that is a string', ingress: raw('x', ours({ rules: [{ host: 'a.com', http: { paths: ['/'] } }] })), expected: ['InvalidRule'] },
    { name: 'a path without backend', ingress: raw('x', ours({ rules: [{ host: 'a.com', http: { paths: [{ path: '/', pathType: 'Prefix' }] } }] })), expected: ['InvalidBackend'] },
    { name: 'a backend that is a string', ingress: raw('x', ours({ rules: [{ http: { paths: [{ path: '/', pathType: 'Prefix', backend: 's' }] } }] })), expected: ['InvalidBackend'] },
    { name: 'a service that is a string', ingress: raw('x', ours({ rules: [{ http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: 's' } }] } }] })), expected: ['InvalidBackend'] },
    { name: 'a port that is a number', ingress: raw('x', ours({ rules: [{ http: { paths: [{ path: '/', backend: { service: { name: 's', port: 80 } } }] } }] })), expected: ['InvalidBackend'] },
    { name: 'a host that is a number', ingress: raw('x', ours({ rules: [{ host: 42, http: { paths: [{ path: '/', backend: svcBackend('s') }] } }] })), expected: ['InvalidHost'] },
    { name: 'a path that is a number', ingress: raw('x', ours({ rules: [{ http: { paths: [{ path: 5, pathType: 'Prefix', backend: svcBackend('s') }] } }] })), expected: ['InvalidPath'] },
    { name: 'a relative path', ingress: raw('x', ours({ rules: [{ http: { paths: [{ path: 'api', pathType: 'Prefix', backend: svcBackend('s') }] } }] })), expected: ['InvalidPath'] },
    { name: 'an unknown pathType', ingress: raw('x', ours({ rules: [{ http: { paths: [{ path: '/', pathType: 'Regex', backend: svcBackend('s') }] } }] })), expected: ['InvalidPathType'] },
    { name: 'defaultBackend that is a list', ingress: raw('x', ours({ defaultBackend: [] })), expected: ['InvalidBackend'] },
    { name: 'annotations that are a list', ingress: raw('x', ours({}), { annotations: ['portico.dev/load-balance'] }), expected: ['InvalidAnnotation'] },
    { name: 'an empty spec is fine: it routes nothing', ingress: raw('x', ours({})), expected: [] },
    { name: 'rules: null is fine', ingress: raw('x', ours({ rules: null })), expected: [] },
  ];

  for (const c of cases) {
    it(`${c.name} → ${c.expected.join(', ') || 'no problem'}`, () => {
      const config = build({ ingresses: [good, c.ingress], services: [service('default', 's')] });
      expect(reasons(config)).toEqual(c.expected.map((r) => `default/x: ${r}`));
      for (const p of config.problems) expect(p.message).toMatch(/^([A-Z]|spec\.|metadata\.).*\.$/);
      expect(config.ingresses.map((i) => i.name)).toEqual(['good', 'x']);
      expect(config.match('good.com', '/')?.ingress.name).toBe('good');
    });
  }

  it('a bad path skips only that path: its siblings in the same rule route', () => {
    const config = build({
      ingresses: [
        raw('x', ours({ rules: [{ host: 'a.com', http: { paths: [{ path: 'bad', backend: svcBackend('s') }, { path: '/ok', pathType: 'Exact', backend: svcBackend('s') }] } }] })),
      ],
      services: [service('default', 's')],
    });
    expect(reasons(config)).toEqual(['default/x: InvalidPath']);
    expect(config.match('a.com', '/ok')).not.toBeNull();
  });

  it('an exception while reading one Ingress is reported against it; the others still route', () => {
    const spec = { ingressClassName: 'portico' };
    Object.defineProperty(spec, 'rules', { enumerable: true, get: () => { throw new Error('boom'); } });
    const config = build({ ingresses: [good, { metadata: { namespace: 'default', name: 'x' }, spec }], services: [service('default', 's')] });
    expect(reasons(config)).toEqual(['default/x: InvalidIngress']);
    expect(config.problems[0]?.message).toContain('boom');
    expect(config.match('good.com', '/')?.ingress.name).toBe('good');
  });

  it('match() never throws on odd input', () => {
    const config = build({ ingresses: [good], services: [service('default', 's')] });
    for (const [h, p] of [['', ''], ['[', '/'], [':', ''], ['good.com', '?'], ['..', '//'], ['[::1', '*']] as const) {
      expect(() => config.match(h, p)).not.toThrow();
    }
    expect(() => config.match(undefined as unknown as string, undefined as unknown as string)).not.toThrow();
  });
});
