import { describe, expect, it } from 'vitest';
import { ANNOTATIONS, boolean, oneOf, parsePolicy } from '../../src/model/annotations.ts';
import { DEFAULT_POLICY } from '../../src/model/types.ts';
import { build, ingress, path, reasons, rule, service, svcBackend } from './helpers.ts';

function policyOf(annotations: unknown) {
  const problems: string[] = [];
  const policy = parsePolicy(annotations, (reason, message) => problems.push(`${reason}: ${message}`));
  return { policy, problems };
}

describe('annotations', () => {
  it.each([
    [undefined, 'round-robin'],
    [{}, 'round-robin'],
    [{ 'portico.dev/load-balance': 'round-robin' }, 'round-robin'],
    [{ 'portico.dev/load-balance': 'least-conn' }, 'least-conn'],
    [{ 'portico.dev/load-balance': 'ip-hash' }, 'ip-hash'],
    [{ 'portico.dev/load-balance': '  ip-hash ' }, 'ip-hash'],
    [{ 'nginx.ingress.kubernetes.io/load-balance': 'ewma' }, 'round-robin'],
  ])('%j → loadBalance %s, no problem', (annotations, expected) => {
    const r = policyOf(annotations);
    expect(r.policy.loadBalance).toBe(expected);
    expect(r.problems).toEqual([]);
  });

  it('the default policy is shared, not copied', () => {
    expect(policyOf({ 'portico.dev/load-balance': 'round-robin' }).policy).toBe(DEFAULT_POLICY);
    expect(Object.isFrozen(policyOf({ 'portico.dev/load-balance': 'ip-hash' }).policy)).toBe(true);
  });

  it.each([
    ['ewma', '"ewma"'],
    ['Round-Robin', '"Round-Robin"'],
    ['', '""'],
  ])('invalid value %j → InvalidAnnotation naming the annotation, the value and the accepted values; default used', (value, shown) => {
    const r = policyOf({ 'portico.dev/load-balance': value });
    expect(r.policy).toBe(DEFAULT_POLICY);
    expect(r.problems).toHaveLength(1);
    const msg = r.problems[0] ?? '';
    expect(msg).toMatch(/^InvalidAnnotation: /);
    expect(msg).toContain('portico.dev/load-balance');
    expect(msg).toContain(shown);
    expect(msg).toContain('"round-robin", "least-conn" or "ip-hash"');
  });

  it('a non-string value (YAML number or boolean) is invalid, not an exception', () => {
    expect(policyOf({ 'portico.dev/load-balance': 3 }).problems).toHaveLength(1);
    expect(policyOf({ 'portico.dev/load-balance': true }).problems).toHaveLength(1);
  });

  it('unknown portico.dev/* annotations are reported (typos), others are not ours to judge', () => {
    const r = policyOf({ 'portico.dev/load-balence': 'ip-hash', 'example.com/x': 'y', 'portico.dev.other/x': 'z' });
    expect(r.problems).toHaveLength(1);
    expect(r.problems[0]).toMatch(/^UnknownAnnotation: .*"portico.dev\/load-balence".*portico.dev\/load-balance/);
  });

  it('every table entry\'s default is the DEFAULT_POLICY value, and names are portico.dev/*', () => {
    for (const p of ANNOTATIONS) {
      expect(p.default).toBe(DEFAULT_POLICY[p.field]);
      expect(p.name.startsWith('portico.dev/')).toBe(true);
    }
  });

  it('value helpers', () => {
    expect(oneOf(['a']).accepted).toBe('"a"');
    expect(oneOf(['a', 'b', 'c']).parse('b')).toBe('b');
    expect(oneOf(['a', 'b']).parse('B')).toBeUndefined();
    expect([boolean.parse('true'), boolean.parse('false'), boolean.parse('yes')]).toEqual([true, false, undefined]);
  });

  it('the policy applies to every route of the Ingress, and a bad value still routes', () => {
    const config = build({
      ingresses: [
        ingress('hash', [rule('a.com', [path('/', 'Prefix', svcBackend('s'))])], { annotations: { 'portico.dev/load-balance': 'ip-hash' }, defaultBackend: svcBackend('s') }),
        ingress('bad', [rule('b.com', [path('/', 'Prefix', svcBackend('s'))])], { annotations: { 'portico.dev/load-balance': 'random' } }),
      ],
      services: [service('default', 's')],
    });
    expect(config.match('a.com', '/x')?.policy.loadBalance).toBe('ip-hash');
    expect(config.match('zzz', '/x')?.policy.loadBalance).toBe('ip-hash');
    expect(config.match('b.com', '/x')?.policy.loadBalance).toBe('round-robin');
    expect(reasons(config)).toEqual(['default/bad: InvalidAnnotation']);
  });
});
