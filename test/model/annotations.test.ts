import { describe, expect, it } from 'vitest';
import { ANNOTATIONS, boolean, dnsName, oneOf, oneOfUpper, parsePolicy } from '../../src/model/annotations.ts';
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
    [{ 'nginx.ingress.kubernetes.io/load-balance': 'ewma' }, 'least-conn'], // ingress-nginx's alias
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
  describe('backend protocol and TLS', () => {
    it.each([
      ['HTTP', 'HTTP'],
      ['HTTPS', 'HTTPS'],
      ['GRPC', 'GRPC'],
      ['GRPCS', 'GRPCS'],
      ['H2C', 'H2C'],
      ['grpc', 'GRPC'],
      [' Https ', 'HTTPS'],
      ['h2c', 'H2C'],
    ])('portico.dev/backend-protocol %j → %s (any case, like ingress-nginx)', (value, expected) => {
      const r = policyOf({ 'portico.dev/backend-protocol': value });
      expect(r.policy.backendProtocol).toBe(expected);
      expect(r.problems).toEqual([]);
    });

    it('absent or HTTP: the shared default policy (HTTP, no verification, Service DNS name)', () => {
      expect(policyOf({}).policy.backendProtocol).toBe('HTTP');
      expect(policyOf({ 'portico.dev/backend-protocol': 'http' }).policy).toBe(DEFAULT_POLICY);
      expect(DEFAULT_POLICY.backendTlsVerify).toBe(false);
      expect(DEFAULT_POLICY.backendTlsServerName).toBe('');
    });

    it.each(['FCGI', 'AUTO_HTTP', 'h2', 'HTTP2', ''])('backend-protocol %j is invalid: problem lists the accepted values, HTTP is used', (value) => {
      const r = policyOf({ 'portico.dev/backend-protocol': value });
      expect(r.policy).toBe(DEFAULT_POLICY);
      expect(r.problems).toHaveLength(1);
      expect(r.problems[0]).toMatch(/^InvalidAnnotation: .*portico\.dev\/backend-protocol/);
      expect(r.problems[0]).toContain('"HTTP", "HTTPS", "GRPC", "GRPCS" or "H2C" (any case)');
      expect(r.problems[0]).toContain('Using the default "HTTP"');
    });

    it('backend-tls-verify is a boolean, default false', () => {
      expect(policyOf({ 'portico.dev/backend-tls-verify': 'true' }).policy.backendTlsVerify).toBe(true);
      expect(policyOf({ 'portico.dev/backend-tls-verify': 'false' }).policy).toBe(DEFAULT_POLICY);
      const bad = policyOf({ 'portico.dev/backend-tls-verify': 'yes' });
      expect(bad.policy.backendTlsVerify).toBe(false);
      expect(bad.problems[0]).toMatch(/^InvalidAnnotation: .*backend-tls-verify.*"yes".*"true" or "false"/);
    });

    it.each([
      ['api.default.svc', 'api.default.svc'],
      ['API.Example.COM', 'api.example.com'],
      ['localhost', 'localhost'],
      ['a-b.c-d.e1', 'a-b.c-d.e1'],
    ])('backend-tls-server-name %j → %j', (value, expected) => {
      const r = policyOf({ 'portico.dev/backend-tls-server-name': value });
      expect(r.policy.backendTlsServerName).toBe(expected);
      expect(r.problems).toEqual([]);
    });

    it.each(['10.0.0.1', 'bad_name.svc', '-a.b', 'a..b', 'a.', '*.example.com', 'https://x.y', `${'a'.repeat(64)}.svc`, `${'a.'.repeat(127)}svc`])(
      'backend-tls-server-name %j is invalid: the Service DNS name stays the default',
      (value) => {
        const r = policyOf({ 'portico.dev/backend-tls-server-name': value });
        expect(r.policy.backendTlsServerName).toBe('');
        expect(r.problems).toHaveLength(1);
        expect(r.problems[0]).toContain('portico.dev/backend-tls-server-name');
        expect(r.problems[0]).toContain("Using the default (the Service's DNS name <service>.<namespace>.svc)");
      },
    );

    it('value helpers: oneOfUpper and dnsName', () => {
      const p = oneOfUpper(['A', 'BC']);
      expect([p.parse('a'), p.parse('Bc'), p.parse('d')]).toEqual(['A', 'BC', undefined]);
      expect(p.accepted).toBe('"A" or "BC" (any case)');
      expect([dnsName.parse('X.y'), dnsName.parse('1.2.3.4'), dnsName.parse('')]).toEqual(['x.y', undefined, undefined]);
    });

    it('the protocol policy reaches every route of the Ingress', () => {
      const config = build({
        ingresses: [
          ingress('grpc', [rule('g.com', [path('/', 'Prefix', svcBackend('s'))])], {
            annotations: { 'portico.dev/backend-protocol': 'GRPCS', 'portico.dev/backend-tls-verify': 'true', 'portico.dev/backend-tls-server-name': 's.example' },
          }),
          ingress('plain', [rule('p.com', [path('/', 'Prefix', svcBackend('s'))])]),
        ],
        services: [service('default', 's')],
      });
      expect(config.match('g.com', '/x')?.policy).toMatchObject({ backendProtocol: 'GRPCS', backendTlsVerify: true, backendTlsServerName: 's.example' });
      expect(config.match('p.com', '/x')?.policy).toBe(DEFAULT_POLICY);
      expect(reasons(config)).toEqual([]);
    });
  });
});
