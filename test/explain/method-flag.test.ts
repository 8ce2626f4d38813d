// `portico explain --method`: passed to a running Portico's /debug/explain (which checks rules
// with method matches against it), shown on the Request line, and refused when it is no method.

import { describe, expect, it } from 'vitest';
import { explainCommand } from '../../src/explain/command.ts';
import type { Explanation } from '../../src/explain/explain.ts';

const answer: Explanation = {
  request: { scheme: 'http', host: 'a.test', path: '/x', query: '', method: 'POST' },
  virtualHost: 'a.test',
  candidates: [{ ingress: 'ns/r', path: '/x', pathType: 'Prefix', predicates: 'method POST', matches: true, chosen: 'the only rule that matches' }],
  route: { ingress: 'ns/r', path: '/x', pathType: 'Prefix', kind: 'rule' },
  why: 'the only rule that matches',
  outcome: 'forward',
  filters: [],
  backend: null,
  endpoints: [],
  tls: null,
};

describe('portico explain --method', () => {
  it('asks /debug/explain with the method (upper-cased) and prints it with the rule predicates', async () => {
    const asked: string[] = [];
    let out = '';
    const code = await explainCommand(['http://a.test/x', '--method', 'post', '--from', 'http://127.0.0.1:1'], {
      stdout: (t) => (out += t),
      stderr: () => {},
      env: {},
      fetch: (async (url: string) => {
        asked.push(url);
        return new Response(JSON.stringify(answer), { status: 200 });
      }) as typeof fetch,
    });
    expect(code).toBe(0);
    expect(new URL(asked[0]!).searchParams.get('method')).toBe('POST');
    expect(out).toContain('Request: POST http://a.test/x');
    expect(out).toContain('=> Prefix /x [method POST]  (ns/r)');
  });

  it('refuses what is not a method (exit 2)', async () => {
    let err = '';
    const code = await explainCommand(['http://a.test/x', '--method', 'GE T', '--from', 'http://127.0.0.1:1'], { stdout: () => {}, stderr: (t) => (err += t), env: {} });
    expect(code).toBe(2);
    expect(err).toContain('--method');
  });
});
