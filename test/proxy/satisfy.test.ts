// satisfy: "any" (proxy/filters/satisfy.ts and its place in plan.ts): nginx's `satisfy any`
// over the access checks — the first that allows ends them, 401 wins over 403 when none does,
// the answer carries the headers of the refusal answered only, and failures end at once.

import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { RouteFilters } from '../../src/model/types.ts';
import { BasicAuthVerifier } from '../../src/proxy/filters/basic-auth.ts';
import { satisfyAnyStage } from '../../src/proxy/filters/satisfy.ts';
import { addAnswerHeaders, compilePlan, NO_PLAN_CONTEXT, runPlanWaiting, type PlanHead, type WaitingStage } from '../../src/proxy/plan.ts';
import { makeRoute } from './fixtures.ts';
import { readExternalAuthOptions } from '../../src/model/external-auth-options.ts';
import { ExternalAuthClient } from '../../src/proxy/auth-client.ts';

function head(headers: string[] = [], clientIp = '192.0.2.7'): PlanHead {
  return {
    host: 'app.test',
    url: '/',
    path: '/',
    hasBody: false,
    bodyLength: -1,
    reject: 0,
    requestId: 'r',
    clientIp,
    headers: ['host', 'app.test', ...headers],
    upgrade: '',
    te: false,
    method: 'GET',
    scheme: 'http',
    accessScheme: 'http',
    answerHeaders: null,
    responseHeaders: null,
    onDone: null,
  };
}

/** A check answering `status` (after a tick when `wait`), adding `headers` when it refuses; counts calls. */
function check(status: number, headers: string[] = [], wait = false): WaitingStage & { calls: number } {
  const f = ((h: PlanHead) => {
    f.calls++;
    if (status !== 0 && headers.length > 0) addAnswerHeaders(h, ...headers);
    return wait ? Promise.resolve(status) : status;
  }) as WaitingStage & { calls: number };
  f.calls = 0;
  return f;
}

describe('satisfyAnyStage', () => {
  it('the first check that allows ends it: later checks are not run, earlier refusals leave no header', async () => {
    const ip = check(403);
    const basic = check(0);
    const external = check(401, ['www-authenticate', 'Bearer']);
    const h = head();
    expect(await satisfyAnyStage([ip, basic, external])(h)).toBe(0);
    expect([ip.calls, basic.calls, external.calls]).toEqual([1, 1, 0]);
    expect(h.answerHeaders).toBeNull();
    const first = check(0);
    const never = check(401);
    expect(satisfyAnyStage([first, never])(head())).toBe(0); // synchronous when every check is
    expect(never.calls).toBe(0);
  });

  it('none allows: 401 wins over 403, in any order, with the headers of the 401', async () => {
    const h = head();
    expect(await satisfyAnyStage([check(403), check(401, ['www-authenticate', 'Basic realm="r"'], true), check(403, ['x-why', 'external'])])(h)).toBe(401);
    expect(h.answerHeaders).toEqual(['www-authenticate', 'Basic realm="r"']);
    const g = head();
    expect(await satisfyAnyStage([check(403, ['x-a', '1']), check(403, ['x-b', '2'])])(g)).toBe(403);
    expect(g.answerHeaders).toEqual(['x-b', '2']);
  });

  it('an answer that is not a refusal (500 from a dead auth service, a sign-in 302, 503) ends it at once with its own headers', async () => {
    const after = check(0);
    const h = head();
    expect(await satisfyAnyStage([check(401, ['www-authenticate', 'Basic']), check(500, [], true), after])(h)).toBe(500);
    expect(after.calls).toBe(0);
    expect(h.answerHeaders).toBeNull();
    const s = head();
    expect(await satisfyAnyStage([check(403), check(401, ['www-authenticate', 'Basic']), check(302, ['location', '/signin'], true)])(s)).toBe(302);
    expect(s.answerHeaders).toEqual(['location', '/signin']);
  });

  it('keeps headers a stage before it added (CORS) whatever the outcome', async () => {
    const h = head();
    h.answerHeaders = ['access-control-allow-origin', '*'];
    expect(await satisfyAnyStage([check(403, ['x-a', '1']), check(401, ['www-authenticate', 'Basic'])])(h)).toBe(401);
    expect(h.answerHeaders).toEqual(['access-control-allow-origin', '*', 'www-authenticate', 'Basic']);
    const ok = head();
    ok.answerHeaders = ['access-control-allow-origin', '*'];
    expect(await satisfyAnyStage([check(403, ['x-a', '1']), check(0)])(ok)).toBe(0);
    expect(ok.answerHeaders).toEqual(['access-control-allow-origin', '*']);
  });
});

describe('a route with satisfy: any', () => {
  const verifiers: BasicAuthVerifier[] = [];
  afterEach(async () => {
    while (verifiers.length > 0) await verifiers.pop()!.close();
  });
  const sha = (pw: string) => '{SHA}' + createHash('sha1').update(pw).digest('base64');
  const filters = (satisfy: boolean): RouteFilters =>
    Object.freeze({
      sourceRange: Object.freeze({ allow: Object.freeze(['10.0.0.0/8']) }),
      basicAuth: Object.freeze({ realm: 'Staff', users: Object.freeze([Object.freeze({ user: 'u', hash: sha('pw') })]) }),
      ...(satisfy ? { satisfy: 'any' as const } : {}),
    }) as RouteFilters;
  const plan = (satisfy: boolean) => {
    const verifier = new BasicAuthVerifier();
    verifiers.push(verifier);
    return compilePlan(makeRoute({ host: 'app.test', key: 'k', filters: filters(satisfy) }), { ...NO_PLAN_CONTEXT, verifier });
  };
  const creds = ['authorization', 'Basic ' + Buffer.from('u:pw').toString('base64')];

  it('an allowed address needs no password; another address with the password gets in; with neither, 401 and the Basic challenge', async () => {
    const any = plan(true);
    expect(any.stages).toHaveLength(1);
    expect(await runPlanWaiting(any, head([], '10.1.2.3'))).toBe(0);
    expect(await runPlanWaiting(any, head(creds, '192.0.2.7'))).toBe(0);
    const none = head([], '192.0.2.7');
    expect(await runPlanWaiting(any, none)).toBe(401);
    expect(none.answerHeaders).toEqual(['www-authenticate', 'Basic realm="Staff"']);
  });

  it('without it (satisfy all), both are needed: the address alone gets 401, the password alone 403', async () => {
    const all = plan(false);
    expect(await runPlanWaiting(all, head([], '10.1.2.3'))).toBe(401);
    expect(await runPlanWaiting(all, head(creds, '192.0.2.7'))).toBe(403);
    expect(await runPlanWaiting(all, head(creds, '10.1.2.3'))).toBe(0);
  });

  it('a request let in by its address skips the auth service, and the client\'s copies of auth-response-headers are removed all the same', async () => {
    const o = readExternalAuthOptions(
      { 'nginx.ingress.kubernetes.io/auth-url': 'http://127.0.0.1:9/check', 'nginx.ingress.kubernetes.io/auth-response-headers': 'X-Auth-Request-User' },
      (_r, m) => {
        throw new Error(m);
      },
    );
    const client = new ExternalAuthClient();
    const filters = Object.freeze({
      sourceRange: Object.freeze({ allow: Object.freeze(['10.0.0.0/8']) }),
      externalAuth: o.filters.externalAuth!,
      satisfy: 'any' as const,
    }) as RouteFilters;
    const plan = compilePlan(makeRoute({ host: 'app.test', key: 'k', filters }), { ...NO_PLAN_CONTEXT, externalAuth: client });
    const h = head(['X-Auth-Request-User', 'admin', 'x-other', '1'], '10.1.2.3');
    expect(await runPlanWaiting(plan, h)).toBe(0);
    expect(h.headers).toEqual(['host', 'app.test', 'x-other', '1']);
    await client.close();
  });
});
