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
    ['proxy-next-upstream', 'error http_418', /has the value "error http_418", which is not valid: "http_418" is not one of the accepted values error, timeout, .*\. Using "error timeout"/],
    ['proxy-next-upstream', '   ', /which is not valid: it is empty\. Using "error timeout"/],
    ['proxy-next-upstream-tries', '-1', /which is not valid; accepted values are a number of attempts from 0 to 100\. Using 3/],
    ['proxy-next-upstream-tries', '1000', /which is not valid; accepted values are a number of attempts from 0 to 100\. Using 3/],
    ['proxy-next-upstream-timeout', '5s', /has the value "5s", which is not valid; accepted values are a whole number of seconds from 0 to 86400 \(0: no limit\)\. No time limit is used/],
  ])('%s: %j is a problem and the default applies', (name, value, message) => {
    const { policy, problems } = read({ [N + name]: value });
    expect(problems.join('\n')).toMatch(message);
    expect(policy).toMatchObject({ error: true, timeout: true, tries: 3, timeoutMs: 0 });
  });
});
