// The access stages in memory (no sockets): source address lists over the global ones, basic
// authentication with its success cache and bounded bcrypt/apr1 queue, and how plans order and
// run them (IP filter first; only basic auth may make a plan wait).

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { BasicAuth, RouteFilters } from '../../src/model/types.ts';
import { BasicAuthVerifier, CACHE_TTL_MS, MAX_QUEUED, MAX_QUEUED_PER_CLIENT, WorkerHashChecker, basicAuthStage, basicCredentials, challengeOf, type SlowHashChecker } from '../../src/proxy/filters/basic-auth.ts';
import { globalSourceRange, NO_GLOBAL_SOURCE_RANGE, sourceRangeStage } from '../../src/proxy/filters/source-range.ts';
import type { PlanHead } from '../../src/proxy/plan.ts';
import { compilePlan, NO_PLAN_CONTEXT, runPlan, runPlanWaiting, type PlanContext } from '../../src/proxy/plan.ts';
import { makeRoute } from './fixtures.ts';

// "secret" hashed: bcrypt cost 4 ($2y$ as htpasswd -B writes it), apr1, {SHA}
const BCRYPT = '$2y$04$0DDawW9pO9nvXCRA1bAcLOEspifRONt7fR72SqNmoPQHTbR2tlPHG';
const APR1 = '$apr1$NCp56buS$IdZZrYHW7awSWgVUUOIuO1';
const SHA = '{SHA}' + createHash('sha1').update('secret').digest('base64');

function head(clientIp: string, headers: string[] = ['host', 'app.test']): PlanHead {
  return { host: 'app.test', url: '/', path: '/', hasBody: false, bodyLength: -1, reject: 0, requestId: 'r', clientIp, headers, upgrade: '', te: false, accessScheme: 'http', method: 'GET', answerHeaders: null, responseHeaders: null, onDone: null };
}

function basic(user: string, password: string): string[] {
  return ['host', 'app.test', 'authorization', 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64')];
}

describe('source address stage', () => {
  const run = (range: RouteFilters['sourceRange'], ip: string, global = NO_GLOBAL_SOURCE_RANGE): number => {
    const stage = sourceRangeStage(range, global);
    return stage === null ? 0 : stage(head(ip));
  };

  it.each([
    // allow-list: listed in, others 403 (IPv4, IPv6, IPv4-mapped IPv6 peers)
    [{ allow: ['10.0.0.0/8', '2001:db8::/32'] }, '10.1.2.3', 0],
    [{ allow: ['10.0.0.0/8', '2001:db8::/32'] }, '::ffff:10.1.2.3', 0],
    [{ allow: ['10.0.0.0/8', '2001:db8::/32'] }, '2001:db8::1', 0],
    [{ allow: ['10.0.0.0/8', '2001:db8::/32'] }, '11.0.0.1', 403],
    [{ allow: ['10.0.0.0/8', '2001:db8::/32'] }, '2001:db9::1', 403],
    [{ allow: ['192.168.0.7'] }, '192.168.0.7', 0],
    [{ allow: ['192.168.0.7'] }, '192.168.0.8', 403],
    // an IPv4-mapped CIDR covers the plain IPv4 form too
    [{ allow: ['::ffff:172.16.0.0/108'] }, '172.16.5.5', 0],
    // deny-list: listed 403, others in
    [{ deny: ['203.0.113.0/24'] }, '203.0.113.9', 403],
    [{ deny: ['203.0.113.0/24'] }, '198.51.100.1', 0],
    // both: deny is checked first (nginx renders deny lines before allow lines)
    [{ allow: ['10.0.0.0/8'], deny: ['10.0.0.1'] }, '10.0.0.1', 403],
    [{ allow: ['10.0.0.0/8'], deny: ['10.0.0.1'] }, '10.0.0.2', 0],
    // an unparseable client address is outside every list
    [{ allow: ['0.0.0.0/0'] }, 'garbage', 403],
    [{ deny: ['0.0.0.0/0'] }, 'garbage', 0],
  ] as const)('%j, client %s → %i', (range, ip, status) => {
    expect(run(range, ip)).toBe(status);
  });

  it('the global lists apply where the route has none; a route list replaces the global one of its kind', () => {
    const global = globalSourceRange(['10.0.0.0/8'], ['10.6.6.6']);
    expect(run(undefined, '10.0.0.1', global)).toBe(0);
    expect(run(undefined, '192.0.2.1', global)).toBe(403);
    expect(run(undefined, '10.6.6.6', global)).toBe(403);
    // the route's allow-list overrides the global allow-list, the global deny-list still applies
    expect(run({ allow: ['192.0.2.0/24'] }, '192.0.2.1', global)).toBe(0);
    expect(run({ allow: ['192.0.2.0/24'] }, '10.0.0.1', global)).toBe(403);
    expect(run({ allow: ['10.0.0.0/8'] }, '10.6.6.6', global)).toBe(403);
    // the route's deny-list overrides the global deny-list
    expect(run({ deny: ['192.0.2.1'] }, '10.6.6.6', global)).toBe(0);
    expect(sourceRangeStage(undefined, NO_GLOBAL_SOURCE_RANGE)).toBeNull();
  });

  it('a list that cannot be parsed fails closed (503), never open', () => {
    expect(run({ deny: ['not a cidr'] }, '10.0.0.1')).toBe(503);
    expect(run({ allow: ['10.0.0.0/99'] }, '10.0.0.1')).toBe(503);
  });
});

describe('plans with access stages', () => {
  const context = (over: Partial<PlanContext> = {}): PlanContext => ({ ...NO_PLAN_CONTEXT, ...over });

  it('a route without filters has no stages, unless a global list is set; then the IP stage runs for it', () => {
    const route = makeRoute({ host: 'app.test', key: 'svc' });
    expect(compilePlan(route).stages).toHaveLength(0);
    const global = globalSourceRange(['10.0.0.0/8'], []);
    const plan = compilePlan(route, context({ sourceRange: global, global: true }));
    expect(plan.sync).toBe(true);
    expect(runPlan(plan, head('10.0.0.1'))).toBe(0);
    expect(runPlan(plan, head('127.0.0.1'))).toBe(403);
  });

  it('the IP stage runs before the body limit and before basic auth', () => {
    const route = makeRoute({ host: 'app.test', key: 'svc', filters: { sourceRange: { allow: ['10.0.0.0/8'] }, bodyLimit: 10 } });
    const big = { ...head('127.0.0.1'), hasBody: true, bodyLength: 100 };
    expect(runPlan(compilePlan(route), big)).toBe(403);
    expect(runPlan(compilePlan(route), { ...big, clientIp: '10.0.0.1' })).toBe(413);

    const verifier = new BasicAuthVerifier({ slowHashes: neverBcrypt() });
    const auth: BasicAuth = { realm: 'r', users: [{ user: 'bob', hash: SHA }] };
    const both = makeRoute({ host: 'app.test', key: 'svc', filters: { sourceRange: { allow: ['10.0.0.0/8'] }, basicAuth: auth } });
    const plan = compilePlan(both, context({ verifier }));
    expect(plan.sync).toBe(false);
    expect(plan.challenge).toBe('Basic realm="r"');
    expect(runPlanWaiting(plan, head('127.0.0.1', basic('bob', 'secret')))).toBe(403);
    expect(runPlanWaiting(plan, head('10.0.0.1', basic('bob', 'wrong')))).toBe(401);
    expect(runPlanWaiting(plan, head('10.0.0.1', basic('bob', 'secret')))).toBe(0);
  });

  it('basic auth without a verifier answers 503 (never open)', () => {
    const route = makeRoute({ host: 'app.test', key: 'svc', filters: { basicAuth: { realm: '', users: [{ user: 'bob', hash: SHA }] } } });
    expect(runPlan(compilePlan(route), head('10.0.0.1', basic('bob', 'secret')))).toBe(503);
  });
});

/** A slow-hash checker that must not be called. */
function neverBcrypt(): SlowHashChecker {
  return {
    queued: 0,
    compare: () => Promise.reject(new Error('bcrypt must not be used here')),
    close: () => Promise.resolve(),
  };
}

/** A slow-hash checker whose answers the test releases by hand. */
function manualBcrypt(): SlowHashChecker & { release(ok: boolean): void; calls: number } {
  const waiting: ((ok: boolean) => void)[] = [];
  const checker = {
    calls: 0,
    get queued() {
      return waiting.length;
    },
    compare(password: string, hash: string): Promise<boolean> {
      checker.calls++;
      void password;
      void hash;
      return new Promise<boolean>((resolve) => waiting.push(resolve));
    },
    release(ok: boolean) {
      waiting.shift()?.(ok);
    },
    close: () => Promise.resolve(),
  };
  return checker;
}

describe('basic authentication stage', () => {
  it('reads Basic credentials; anything else is no credentials', () => {
    expect(basicCredentials(basic('al:ice', 'pa:ss').slice())).toEqual({ user: 'al', password: 'ice:pa:ss' });
    expect(basicCredentials(['authorization', 'basic ' + Buffer.from('a:b').toString('base64')])).toEqual({ user: 'a', password: 'b' });
    expect(basicCredentials(['Authorization', 'Basic ' + Buffer.from('a:').toString('base64')])).toEqual({ user: 'a', password: '' });
    expect(basicCredentials(['authorization', 'Bearer abc'])).toBeNull();
    expect(basicCredentials(['authorization', 'Basic !!!'])).toBeNull();
    expect(basicCredentials(['authorization', 'Basic ' + Buffer.from('nocolon').toString('base64')])).toBeNull();
    expect(basicCredentials(['host', 'x'])).toBeNull();
  });

  it('challengeOf quotes the realm', () => {
    expect(challengeOf({ realm: 'Authentication Required', users: [] })).toBe('Basic realm="Authentication Required"');
  });

  it('{SHA} is checked in line; missing, unknown user, wrong password → 401', () => {
    const verifier = new BasicAuthVerifier({ slowHashes: neverBcrypt() });
    const stage = basicAuthStage({ realm: '', users: [{ user: 'bob', hash: SHA }, { user: 'carol', hash: APR1 }] }, verifier);
    expect(stage(head('1.1.1.1', basic('bob', 'secret')))).toBe(0);
    expect(stage(head('1.1.1.1', basic('bob', 'Secret')))).toBe(401);
    expect(stage(head('1.1.1.1', basic('dave', 'secret')))).toBe(401);
    expect(stage(head('1.1.1.1'))).toBe(401);
  });

  it('apr1 is checked off the event loop, as bcrypt (a flood of wrong apr1 passwords held it: bench/abuse.ts), then cached', async () => {
    const slow = manualBcrypt();
    const verifier = new BasicAuthVerifier({ slowHashes: slow });
    const stage = basicAuthStage({ realm: '', users: [{ user: 'carol', hash: APR1 }] }, verifier);
    const wrong = stage(head('1.1.1.1', basic('carol', 'wrong')));
    expect(wrong).toBeInstanceOf(Promise);
    slow.release(false);
    expect(await wrong).toBe(401);
    const right = stage(head('1.1.1.1', basic('carol', 'secret')));
    expect(right).toBeInstanceOf(Promise);
    slow.release(true);
    expect(await right).toBe(0);
    expect(stage(head('1.1.1.1', basic('carol', 'secret')))).toBe(0);
    expect(slow.calls).toBe(2);
  });

  it('a user active during a flood stays cached: each hit restarts the TTL (no queueing behind wrong passwords)', async () => {
    let now = 1_000;
    const slow = manualBcrypt();
    const verifier = new BasicAuthVerifier({ slowHashes: slow, now: () => now });
    const stage = basicAuthStage({ realm: '', users: [{ user: 'alice', hash: BCRYPT }] }, verifier);
    const first = stage(head('1.1.1.1', basic('alice', 'secret')));
    slow.release(true);
    expect(await first).toBe(0);
    // the queue full of wrong guesses
    const guesses: (number | Promise<number>)[] = [];
    for (let i = 0; i < MAX_QUEUED; i++) guesses.push(stage(head(`6.6.${i}.6`, basic('alice', `guess${i}`))));
    for (let t = 0; t < 5; t++) {
      now += CACHE_TTL_MS - 1;
      expect(stage(head('1.1.1.1', basic('alice', 'secret')))).toBe(0);
    }
    // idle for a whole TTL: checked again (here: the queue is full, so 503)
    now += CACHE_TTL_MS + 1;
    expect(stage(head('1.1.1.1', basic('alice', 'secret')))).toBe(503);
    for (let i = 0; i < MAX_QUEUED; i++) slow.release(false);
    expect(await Promise.all(guesses)).toEqual(new Array(MAX_QUEUED).fill(401));
  });

  it('bcrypt: the first check waits for the checker; a success is then cached (synchronous) until it expires; failures are not cached', async () => {
    let now = 1_000;
    const bcrypt = manualBcrypt();
    const verifier = new BasicAuthVerifier({ slowHashes: bcrypt, now: () => now });
    const stage = basicAuthStage({ realm: '', users: [{ user: 'alice', hash: BCRYPT }] }, verifier);

    const first = stage(head('1.1.1.1', basic('alice', 'secret')));
    expect(first).toBeInstanceOf(Promise);
    bcrypt.release(true);
    expect(await first).toBe(0);

    // cached: no Promise, no checker call
    expect(stage(head('1.1.1.1', basic('alice', 'secret')))).toBe(0);
    expect(bcrypt.calls).toBe(1);
    expect(verifier.stats.cacheHits).toBe(1);

    // another password is not the cached one: it goes to the checker again
    const wrong = stage(head('1.1.1.1', basic('alice', 'guess')));
    expect(wrong).toBeInstanceOf(Promise);
    bcrypt.release(false);
    expect(await wrong).toBe(401);
    const again = stage(head('1.1.1.1', basic('alice', 'guess')));
    expect(again).toBeInstanceOf(Promise);
    bcrypt.release(false);
    expect(await again).toBe(401);

    // after the TTL the success is checked again
    now += 60_001;
    const expired = stage(head('1.1.1.1', basic('alice', 'secret')));
    expect(expired).toBeInstanceOf(Promise);
    bcrypt.release(true);
    expect(await expired).toBe(0);
  });

  it('the same Authorization value again passes from the token cache, only on routes whose Secret has that very user entry', () => {
    const verifier = new BasicAuthVerifier({ slowHashes: neverBcrypt() });
    const a = basicAuthStage({ realm: '', users: [{ user: 'bob', hash: SHA }] }, verifier);
    // another Ingress's Secret: a user of the same name with another password ("other")
    const b = basicAuthStage({ realm: '', users: [{ user: 'bob', hash: '{SHA}' + createHash('sha1').update('other').digest('base64') }] }, verifier);
    expect(a(head('1.1.1.1', basic('bob', 'secret')))).toBe(0);
    expect(verifier.stats.cacheHits).toBe(0);
    expect(a(head('1.1.1.1', basic('bob', 'secret')))).toBe(0);
    expect(verifier.stats.cacheHits).toBe(1);
    expect(b(head('1.1.1.1', basic('bob', 'secret')))).toBe(401);
    expect(b(head('1.1.1.1', basic('bob', 'other')))).toBe(0);
    expect(a(head('1.1.1.1', basic('bob', 'other')))).toBe(401);
    expect(a(head('1.1.1.1', basic('bob', 'secret')))).toBe(0);
  });

  it('a full bcrypt queue answers 503 instead of queueing without end', async () => {
    const bcrypt = manualBcrypt();
    const verifier = new BasicAuthVerifier({ slowHashes: bcrypt });
    const stage = basicAuthStage({ realm: '', users: [{ user: 'alice', hash: BCRYPT }] }, verifier);
    const pending: (number | Promise<number>)[] = [];
    for (let i = 0; i < MAX_QUEUED; i++) pending.push(stage(head(`10.0.${i}.1`, basic('alice', `guess${i}`))));
    expect(stage(head('1.1.1.1', basic('alice', 'one more')))).toBe(503);
    expect(verifier.stats.overloaded).toBe(1);
    for (let i = 0; i < MAX_QUEUED; i++) bcrypt.release(false);
    expect(await Promise.all(pending)).toEqual(new Array(MAX_QUEUED).fill(401));
  });

  it('one client address holds at most MAX_QUEUED_PER_CLIENT places of the queue: its flood leaves room for other logins', async () => {
    const bcrypt = manualBcrypt();
    const verifier = new BasicAuthVerifier({ slowHashes: bcrypt });
    const stage = basicAuthStage({ realm: '', users: [{ user: 'alice', hash: BCRYPT }] }, verifier);
    const flood: (number | Promise<number>)[] = [];
    for (let i = 0; i < MAX_QUEUED; i++) flood.push(stage(head('6.6.6.6', basic('alice', `guess${i}`))));
    const queued = flood.filter((r) => r instanceof Promise);
    expect(queued).toHaveLength(MAX_QUEUED_PER_CLIENT);
    expect(flood.filter((r) => r === 503)).toHaveLength(MAX_QUEUED - MAX_QUEUED_PER_CLIENT);
    expect(verifier.stats.clientOverloaded).toBe(MAX_QUEUED - MAX_QUEUED_PER_CLIENT);
    // another client's login is queued, not refused
    const login = stage(head('1.1.1.1', basic('alice', 'secret')));
    expect(login).toBeInstanceOf(Promise);
    for (let i = 0; i < MAX_QUEUED_PER_CLIENT; i++) bcrypt.release(false);
    bcrypt.release(true);
    expect(await Promise.all(queued)).toEqual(new Array(MAX_QUEUED_PER_CLIENT).fill(401));
    expect(await login).toBe(0);
    // the flooding client's places are given back when its checks end
    const again = stage(head('6.6.6.6', basic('alice', 'next')));
    expect(again).toBeInstanceOf(Promise);
    bcrypt.release(false);
    expect(await again).toBe(401);
  });

  it('a check that waited longer than its deadline for the worker is dropped: rejected, which the stage answers 503', async () => {
    const worker = new WorkerHashChecker({ maxWaitMs: 0 });
    try {
      await expect(worker.compare('secret', BCRYPT)).rejects.toThrow(/waited too long/);
      expect(worker.queued).toBe(0);
      const verifier = new BasicAuthVerifier({ slowHashes: worker });
      const stage = basicAuthStage({ realm: '', users: [{ user: 'alice', hash: BCRYPT }] }, verifier);
      expect(await stage(head('1.1.1.1', basic('alice', 'secret')))).toBe(503);
    } finally {
      await worker.close();
    }
  });

  it('the worker thread verifies real bcrypt ($2y$, $2a$, $2b$) and apr1 hashes off the event loop', async () => {
    const worker = new WorkerHashChecker();
    try {
      const a = BCRYPT.replace('$2y$', '$2a$');
      const b = BCRYPT.replace('$2y$', '$2b$');
      expect(await Promise.all([worker.compare('secret', BCRYPT), worker.compare('secret', a), worker.compare('secret', b), worker.compare('nope', BCRYPT)])).toEqual([true, true, true, false]);
      expect(await Promise.all([worker.compare('secret', APR1), worker.compare('Secret', APR1), worker.compare('secret', APR1.slice(0, -1) + 'x')])).toEqual([true, false, false]);
      expect(worker.queued).toBe(0);
    } finally {
      await worker.close();
    }
  });
});
