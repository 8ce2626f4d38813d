// proxy-next-upstream, -tries and -timeout → RetryPolicy, with ingress-nginx's defaults
// ("error timeout", 3 tries, no time limit) and its accepted tokens.

import { describe, expect, it } from 'vitest';
import { parseNextUpstream, readRetryOptions } from '../../src/model/retry-options.ts';

const N = 'nginx.ingress.kubernetes.io/';

function read(annotations: Record<string, unknown>): { policy: ReturnType<typeof readRetryOptions>; problems: string[] } {
  const problems: string[] = [];
  return { policy: readRetryOptions(annotations, (_r, m) => problems.push(m)), problems };
}

describe('retry annotations', () => {
  it('absent: no policy (Portico\'s own retry rule applies)', () => {
    expect(read({}).policy).toBeUndefined();
  });

  it('tries alone keeps "error timeout"', () => {
    expect(read({ [N + 'proxy-next-upstream-tries']: '5' }).policy).toEqual({ error: true, timeout: true, invalidHeader: false, statuses: [], nonIdempotent: false, tries: 5, timeoutMs: 0 });
  });

  it('reads every token, the timeout in seconds, and the portico.dev name', () => {
    const { policy, problems } = read({
      'portico.dev/proxy-next-upstream': 'error http_503  http_502 invalid_header non_idempotent http_503',
      [N + 'proxy-next-upstream-timeout']: '10',
    });
    expect(problems).toEqual([]);
    expect(policy).toEqual({ error: true, timeout: false, invalidHeader: true, statuses: [502, 503], nonIdempotent: true, tries: 3, timeoutMs: 10_000 });
    expect(Object.isFrozen(policy)).toBe(true);
  });

  it('"off" turns every condition off, whatever else is listed', () => {
    expect(parseNextUpstream('error off http_500')).toEqual({ error: false, timeout: false, invalidHeader: false, statuses: [], nonIdempotent: false });
  });

  it.each([
    ['proxy-next-upstream', 'error http_418', /"http_418" is not one of error, timeout, .*; "error timeout" is used/],
    ['proxy-next-upstream', '   ', /it is empty; "error timeout" is used/],
    ['proxy-next-upstream-tries', '-1', /not a number of attempts from 0 to 100; 3 is used/],
    ['proxy-next-upstream-tries', '1000', /not a number of attempts from 0 to 100; 3 is used/],
    ['proxy-next-upstream-timeout', '5s', /not a whole number of seconds up to 86400; no time limit is used/],
  ])('%s: %j is a problem and the default applies', (name, value, message) => {
    const { policy, problems } = read({ [N + name]: value });
    expect(problems.join('\n')).toMatch(message);
    expect(policy).toMatchObject({ error: true, timeout: true, tries: 3, timeoutMs: 0 });
  });
});
