// The request stages of proxy/filters and proxy/plan.ts, in memory (no sockets): rewrite with
// captures and nginx's query rule, header edits, the body limit, and plan compilation.

import { describe, expect, it } from 'vitest';
import { compileUserRegex, parseRewriteTemplate } from '../../src/model/regex.ts';
import { FORWARD, NO_FILTERS, type Route, type RouteFilters, type UserRegex } from '../../src/model/types.ts';
import { declaredTooLarge } from '../../src/proxy/filters/body-limit.ts';
import { setHeader } from '../../src/proxy/filters/request-headers.ts';
import { rewriteUrl } from '../../src/proxy/filters/rewrite.ts';
import type { PlanHead } from '../../src/proxy/plan.ts';
import { compilePlan, runPlan } from '../../src/proxy/plan.ts';
import { makeRoute } from './fixtures.ts';

function regex(path: string): UserRegex {
  const r = compileUserRegex(path, { anchor: '^', caseInsensitive: true });
  if ('invalid' in r) throw new Error(r.invalid);
  return r;
}

function rewrite(path: string, target: string, requestPath: string, url = requestPath): string | null {
  const re = regex(path);
  const template = parseRewriteTemplate(target, re.groups);
  if ('invalid' in template) throw new Error(template.invalid);
  return rewriteUrl({ template }, re, requestPath, url);
}

function head(url: string, headers: string[] = ['host', 'app.test']): PlanHead {
  const q = url.indexOf('?');
  return { host: 'app.test', url, path: q < 0 ? url : url.slice(0, q), hasBody: false, bodyLength: -1, reject: 0, requestId: 'r', clientIp: '127.0.0.1', headers, upgrade: '', te: false, accessScheme: 'http', method: 'GET', answerHeaders: null, responseHeaders: null, onDone: null };
}

describe('rewrite (ingress-nginx rewrite-target)', () => {
  it.each([
    // ingress-nginx's documented example: /something(/|$)(.*) with /$2
    ['/something(/|$)(.*)', '/$2', '/something', '/'],
    ['/something(/|$)(.*)', '/$2', '/something/', '/'],
    ['/something(/|$)(.*)', '/$2', '/something/new', '/new'],
    ['/something(/|$)(.*)', '/$2', '/SOMETHING/New', '/New'], // case-insensitive match, captured text as sent
    ['/api(/|$)(.*)', '/v2/${2}', '/api/users/1', '/v2/users/1'],
    // no capture groups: the whole path is replaced, as nginx does (why captures are needed)
    ['/api', '/', '/api/users', '/'],
    // a target without a leading slash gets one
    ['/a/(.*)', '$1', '/a/b', '/b'],
  ])('%s → %s: %s becomes %s', (path, target, requestPath, expected) => {
    expect(rewrite(path, target, requestPath)).toBe(expected);
  });

  it('keeps the query string; after & when the target has arguments; drops it when the target ends with ?', () => {
    expect(rewrite('/a(/|$)(.*)', '/$2', '/a/b', '/a/b?x=1&y=2')).toBe('/b?x=1&y=2');
    expect(rewrite('/a(/|$)(.*)', '/$2?from=a', '/a/b', '/a/b?x=1')).toBe('/b?from=a&x=1');
    expect(rewrite('/a(/|$)(.*)', '/$2?', '/a/b', '/a/b?x=1')).toBe('/b');
  });

  it('refuses nginx variables and groups the path does not have', () => {
    expect(parseRewriteTemplate('/$host/x', 1)).toEqual({ invalid: expect.stringContaining('$host') });
    expect(parseRewriteTemplate('/$3', 2)).toEqual({ invalid: expect.stringContaining('only 2') });
    expect(parseRewriteTemplate('/$1', 0)).toEqual({ invalid: expect.stringContaining('no capture groups') });
    expect(parseRewriteTemplate('/a$', 0)).toEqual({ invalid: expect.stringContaining('position 2') });
  });

  it('user regexes run on a linear-time engine: a catastrophic pattern answers at once', () => {
    const evil = regex('/(a+)+$');
    const input = '/' + 'a'.repeat(5000) + '!';
    const t0 = performance.now();
    expect(evil.re.test(input)).toBe(false);
    // V8's backtracking engine needs longer than the age of the universe here; RE2 is linear
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it('refuses lookahead, backreferences, and patterns too large', () => {
    expect(compileUserRegex('/(?=a)')).toEqual({ invalid: expect.stringContaining('RE2') });
    expect(compileUserRegex('/(a)\\1')).toEqual({ invalid: expect.stringContaining('RE2') });
    expect(compileUserRegex('/' + 'a'.repeat(2000))).toEqual({ invalid: expect.stringContaining('at most 1024') });
    expect(compileUserRegex('/a{1,1000}b{1,1000}c{1,1000}')).toEqual({ invalid: expect.stringContaining('instructions') });
  });
});

describe('request headers', () => {
  it('setHeader replaces every copy, case-insensitively, or appends', () => {
    const h = ['Host', 'a', 'x-y', '1', 'host', 'b'];
    setHeader(h, 'host', 'c');
    expect(h).toEqual(['Host', 'c', 'x-y', '1']);
    setHeader(h, 'x-forwarded-prefix', '/p');
    expect(h).toEqual(['Host', 'c', 'x-y', '1', 'x-forwarded-prefix', '/p']);
  });
});

describe('plans', () => {
  function route(filters: RouteFilters, path = '/api(/|$)(.*)'): Route {
    return { ...makeRoute({ host: 'app.test', key: 'svc' }), filters, regex: regex(path), action: FORWARD };
  }

  it('a route without filters has no stages', () => {
    expect(compilePlan({ ...makeRoute({ host: 'app.test', key: 'svc' }), filters: NO_FILTERS }).stages).toEqual([]);
  });

  it('runs the rewrite, then Host and X-Forwarded-Prefix', () => {
    const template = parseRewriteTemplate('/$2', 2) as (string | number)[];
    const plan = compilePlan(route({ rewrite: { template }, upstreamHost: 'internal.svc', forwardedPrefix: '/api' }));
    const h = head('/api/users?x=1');
    expect(runPlan(plan, h)).toBe(0);
    expect(h.url).toBe('/users?x=1');
    expect(h.headers).toEqual(['host', 'internal.svc', 'x-forwarded-prefix', '/api']);
  });

  it('a declared body over the route limit is answered 413; 0 means no limit', () => {
    const plan = compilePlan(route({ bodyLimit: 10 }));
    expect(plan.bodyLimit).toBe(10);
    expect(runPlan(plan, { ...head('/api'), hasBody: true, bodyLength: 11 })).toBe(413);
    expect(runPlan(plan, { ...head('/api'), hasBody: true, bodyLength: 10 })).toBe(0);
    expect(declaredTooLarge(1e12, 0)).toBe(false);
    expect(compilePlan(route({ bodyLimit: 0 })).bodyLimit).toBe(0);
  });
});
