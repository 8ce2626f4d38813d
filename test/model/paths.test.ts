import { describe, expect, it } from 'vitest';
import { matchKey, parsePath, parsePathType, prefixKey } from '../../src/model/paths.ts';
import { isInvalid } from '../../src/model/read.ts';
import { build, ingress, path, rule, service, svcBackend } from './helpers.ts';

type RulePath = [string, 'Exact' | 'Prefix' | 'ImplementationSpecific'];

/** Routes `paths` on one host, each to its own Service, so a match tells which rule won. */
function matcher(paths: RulePath[], withDefault = false) {
  const services = paths.map((_, i) => service('default', `s${i}`));
  const ing = ingress(
    'docs',
    [rule('example.com', paths.map(([p, t], i) => path(p, t, svcBackend(`s${i}`))))],
    withDefault ? { defaultBackend: svcBackend('fallback') } : {},
  );
  const config = build({ ingresses: [ing], services: [...services, service('default', 'fallback')] });
  expect(config.problems).toEqual([]);
  return (requestPath: string): string | null => {
    const r = config.match('example.com', requestPath);
    return r === null ? null : r.path === '' ? 'default backend' : `${r.path} ${r.pathType}`;
  };
}

// Every row of the "Examples" table under "Path types" in
// kubernetes.io/docs/concepts/services-networking/ingress/, in its order. `expected` is the
// rule that must win, or null for "No".
const DOCS_TABLE: { kind: string; paths: RulePath[]; requests: string[]; expected: string | null; note: string }[] = [
  { kind: 'Prefix', paths: [['/', 'Prefix']], requests: ['/', '/foo', '/foo/bar/', '/a/b/c'], expected: '/ Prefix', note: 'Yes (all paths)' },
  { kind: 'Exact', paths: [['/foo', 'Exact']], requests: ['/foo'], expected: '/foo Exact', note: 'Yes' },
  { kind: 'Exact', paths: [['/foo', 'Exact']], requests: ['/bar'], expected: null, note: 'No' },
  { kind: 'Exact', paths: [['/foo', 'Exact']], requests: ['/foo/'], expected: null, note: 'No' },
  { kind: 'Exact', paths: [['/foo/', 'Exact']], requests: ['/foo'], expected: null, note: 'No' },
  { kind: 'Prefix', paths: [['/foo', 'Prefix']], requests: ['/foo', '/foo/'], expected: '/foo Prefix', note: 'Yes' },
  { kind: 'Prefix', paths: [['/foo/', 'Prefix']], requests: ['/foo', '/foo/'], expected: '/foo/ Prefix', note: 'Yes' },
  { kind: 'Prefix', paths: [['/aaa/bb', 'Prefix']], requests: ['/aaa/bbb'], expected: null, note: 'No' },
  { kind: 'Prefix', paths: [['/aaa/bbb', 'Prefix']], requests: ['/aaa/bbb'], expected: '/aaa/bbb Prefix', note: 'Yes' },
  { kind: 'Prefix', paths: [['/aaa/bbb/', 'Prefix']], requests: ['/aaa/bbb'], expected: '/aaa/bbb/ Prefix', note: 'Yes, ignores trailing slash' },
  { kind: 'Prefix', paths: [['/aaa/bbb', 'Prefix']], requests: ['/aaa/bbb/'], expected: '/aaa/bbb Prefix', note: 'Yes, matches trailing slash' },
  { kind: 'Prefix', paths: [['/aaa/bbb', 'Prefix']], requests: ['/aaa/bbb/ccc'], expected: '/aaa/bbb Prefix', note: 'Yes, matches subpath' },
  { kind: 'Prefix', paths: [['/aaa/bbb', 'Prefix']], requests: ['/aaa/bbbxyz'], expected: null, note: 'No, does not match string prefix' },
  { kind: 'Prefix', paths: [['/', 'Prefix'], ['/aaa', 'Prefix']], requests: ['/aaa/ccc'], expected: '/aaa Prefix', note: 'Yes, matches /aaa prefix' },
  {
    kind: 'Prefix',
    paths: [['/', 'Prefix'], ['/aaa', 'Prefix'], ['/aaa/bbb', 'Prefix']],
    requests: ['/aaa/bbb'],
    expected: '/aaa/bbb Prefix',
    note: 'Yes, matches /aaa/bbb prefix',
  },
  {
    kind: 'Prefix',
    paths: [['/', 'Prefix'], ['/aaa', 'Prefix'], ['/aaa/bbb', 'Prefix']],
    requests: ['/ccc'],
    expected: '/ Prefix',
    note: 'Yes, matches / prefix',
  },
  { kind: 'Prefix', paths: [['/aaa', 'Prefix']], requests: ['/ccc'], expected: null, note: 'No, uses default backend' },
  { kind: 'Mixed', paths: [['/foo', 'Prefix'], ['/foo', 'Exact']], requests: ['/foo'], expected: '/foo Exact', note: 'Yes, prefers Exact' },
];

describe('path matching: the Kubernetes documentation table', () => {
  for (const row of DOCS_TABLE) {
    const rules = row.paths.map(([p, t]) => `${p} ${t}`).join(', ');
    for (const request of row.requests) {
      it(`${row.kind} [${rules}] ← ${request}: ${row.note}`, () => {
        expect(matcher(row.paths)(request)).toBe(row.expected);
      });
    }
  }

  it('the "No, uses default backend" row falls to the default backend when there is one', () => {
    expect(matcher([['/aaa', 'Prefix']], true)('/ccc')).toBe('default backend');
  });
});

describe('path matching: more cases', () => {
  const cases: { name: string; paths: RulePath[]; request: string; expected: string | null }[] = [
    { name: '/foo Prefix does not match /foobar', paths: [['/foo', 'Prefix']], request: '/foobar', expected: null },
    { name: '/foo Prefix matches /foo/bar', paths: [['/foo', 'Prefix']], request: '/foo/bar', expected: '/foo Prefix' },
    { name: 'ImplementationSpecific behaves as Prefix', paths: [['/foo', 'ImplementationSpecific']], request: '/foo/bar', expected: '/foo ImplementationSpecific' },
    { name: 'ImplementationSpecific is element-wise too', paths: [['/foo', 'ImplementationSpecific']], request: '/foobar', expected: null },
    { name: 'empty request path is /', paths: [['/', 'Exact']], request: '', expected: '/ Exact' },
    { name: 'Exact / matches only /', paths: [['/', 'Exact']], request: '/a', expected: null },
    { name: 'longest prefix wins whatever the order', paths: [['/a/b/c', 'Prefix'], ['/a', 'Prefix'], ['/a/b', 'Prefix']], request: '/a/b/x', expected: '/a/b Prefix' },
    { name: 'Exact /a does not match /a/b, so Prefix /a/b wins', paths: [['/a', 'Exact'], ['/a/b', 'Prefix']], request: '/a/b', expected: '/a/b Prefix' },
    { name: 'Exact beats Prefix on the same path whatever their order', paths: [['/foo', 'Exact'], ['/foo', 'Prefix']], request: '/foo', expected: '/foo Exact' },
    { name: 'Exact /foo beats Prefix /foo/ on /foo (same elements)', paths: [['/foo/', 'Prefix'], ['/foo', 'Exact']], request: '/foo', expected: '/foo Exact' },
    { name: 'Exact /foo/ beats Prefix /foo on /foo/', paths: [['/foo', 'Prefix'], ['/foo/', 'Exact']], request: '/foo/', expected: '/foo/ Exact' },
    { name: 'Prefix /foo/ covers /foo/bar', paths: [['/foo/', 'Prefix']], request: '/foo/bar', expected: '/foo/ Prefix' },
    { name: 'matching is case-sensitive', paths: [['/Foo', 'Prefix']], request: '/foo', expected: null },
    { name: 'percent-encoding is not decoded (Exact)', paths: [['/a%20b', 'Exact']], request: '/a%20b', expected: '/a%20b Exact' },
    { name: 'a decoded path does not match an encoded rule', paths: [['/a%20b', 'Exact']], request: '/a b', expected: null },
    { name: 'an encoded slash is not a boundary', paths: [['/foo', 'Prefix']], request: '/foo%2Fbar', expected: null },
    { name: 'encoded elements match element-wise', paths: [['/caf%C3%A9', 'Prefix']], request: '/caf%C3%A9/menu', expected: '/caf%C3%A9 Prefix' },
    { name: 'double slashes in the request are boundaries', paths: [['/foo', 'Prefix']], request: '/foo//bar', expected: '/foo Prefix' },
    { name: 'a path longer than every rule still matches /', paths: [['/', 'Prefix'], ['/ab', 'Prefix']], request: `/abc/${'x'.repeat(500)}`, expected: '/ Prefix' },
    { name: 'a long path under a rule matches it', paths: [['/ab', 'Prefix']], request: `/ab/${'x/'.repeat(300)}`, expected: '/ab Prefix' },
    { name: '* (OPTIONS *) only matches the / prefix', paths: [['/', 'Prefix']], request: '*', expected: '/ Prefix' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(matcher(c.paths)(c.request)).toBe(c.expected);
    });
  }

  it('a missing path means /, a missing pathType means ImplementationSpecific', () => {
    const config = build({
      ingresses: [ingress('i', [rule('example.com', [path(undefined, undefined, svcBackend('s'))])])],
      services: [service('default', 's')],
    });
    expect(config.problems).toEqual([]);
    const r = config.match('example.com', '/anything/at/all');
    expect(r?.path).toBe('/');
    expect(r?.pathType).toBe('ImplementationSpecific');
  });
});

describe('path validation', () => {
  it.each([
    [undefined, 'ImplementationSpecific'],
    ['', 'ImplementationSpecific'],
    ['Exact', 'Exact'],
    ['Prefix', 'Prefix'],
    ['ImplementationSpecific', 'ImplementationSpecific'],
  ])('pathType %j reads as %s', (raw, expected) => {
    expect(parsePathType(raw)).toBe(expected);
  });

  it.each([['exact'], ['Regex'], [3]])('pathType %j is refused', (raw) => {
    expect(isInvalid(parsePathType(raw))).toBe(true);
  });

  it.each([
    ['foo', 'Prefix'],
    ['/a//b', 'Prefix'],
    ['/a/./b', 'Exact'],
    ['/a/../b', 'Prefix'],
    ['/a%2Fb', 'Exact'],
    ['/a/..', 'Prefix'],
    ['/a/.', 'Exact'],
  ] as const)('path %j (%s) is refused like the API server would', (raw, type) => {
    expect(isInvalid(parsePath(raw, type))).toBe(true);
  });

  it('ImplementationSpecific paths only need a leading slash', () => {
    expect(parsePath('/a//b', 'ImplementationSpecific')).toBe('/a//b');
    expect(isInvalid(parsePath(42, 'ImplementationSpecific'))).toBe(true);
  });

  it('prefix keys drop trailing slashes; exact keys are verbatim', () => {
    expect(prefixKey('/')).toBe('');
    expect(prefixKey('/foo/')).toBe('/foo');
    expect(prefixKey('/foo')).toBe('/foo');
    expect(matchKey('/foo/', 'Exact')).toBe('/foo/');
    expect(matchKey('/foo/', 'ImplementationSpecific')).toBe('/foo');
  });
});

describe('refused sequences, one by one', () => {
  it.each([
    ['/a//b', false],
    ['/a/./b', false],
    ['/a/../b', false],
    ['/a%2fb', false],
    ['/a%2Fb', false],
    ['/a/..', false],
    ['/a/.', false],
    ['/.', false],
    ['/a/.hidden', true],
    ['/a/..b', true],
    ['/a/b.', true],
    ['/a%20b', true],
    ['/a%2', true],
    ['/a%2e', true],
    ['/', true],
    ['/a/', true],
  ])('%j → accepted: %s', (p, ok) => {
    expect(!isInvalid(parsePath(p, 'Prefix'))).toBe(ok);
    expect(!isInvalid(parsePath(p, 'Exact'))).toBe(ok);
  });
});
