// Request predicates (method, headers, query; Gateway API HTTPRouteMatch) on the routing model:
// their evaluation, the precedence of rules sharing a path, and the lookup's fall-through to a
// shorter path when none of a path's rules holds, in compared ("few") and hashed tables, on
// exact, wildcard, host-less and regex hosts; and the builder's conflicts.

import { describe, expect, it } from 'vitest';
import { buildVirtualHost } from '../../src/model/builder.ts';
import type { IngressContribution } from '../../src/model/ingress-processor.ts';
import { describeTable } from '../../src/model/describe.ts';
import { prefixKey } from '../../src/model/paths.ts';
import { comparePredicates, headerValue, NO_REQUEST, predicatesHold, routePredicates, type MatchRequest, type RoutePredicates, type ValueMatch } from '../../src/model/predicates.ts';
import { ProblemSink } from '../../src/model/problems.ts';
import { compileUserRegex, type UserRegex } from '../../src/model/regex.ts';
import { RouteTable, type VirtualHost } from '../../src/model/route-table.ts';
import { DEFAULT_POLICY, FORWARD, NO_FILTERS, type PathType, type Route } from '../../src/model/types.ts';
import { explain } from '../../src/explain/explain.ts';

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function regex(pattern: string): UserRegex {
  const r = compileUserRegex(pattern);
  if ('invalid' in r) throw new Error(r.invalid);
  return r;
}

function route(host: string, path: string, pathType: PathType, n: number, predicates?: RoutePredicates): Route {
  return {
    host,
    path,
    pathType,
    backend: { namespace: 'ns', service: `s${n}`, servicePort: 80, endpointsKey: `ns/s${n}:` },
    policy: DEFAULT_POLICY,
    action: FORWARD,
    filters: NO_FILTERS,
    regex: null,
    ingress: { kind: 'HTTPRoute', namespace: 'ns', name: `r${n}` },
    ...(predicates !== undefined ? { predicates } : {}),
  };
}

function req(method: string, url: string, headers: string[] = []): MatchRequest {
  return { method, url, rawHeaders: headers };
}

function table(hosts: VirtualHost[], defaultRoute: Route | null = null): RouteTable {
  return new RouteTable({ version: 1, virtualHosts: hosts, defaultRoute, problems: [], ingresses: [] });
}

const svc = (r: Route | null): string | null => r?.backend.service ?? null;

describe('predicates', () => {
  it('normalises: method upper case, header names lower case, the first entry of a name only, frozen; nothing asked is none', () => {
    const p = routePredicates({ method: 'post', headers: [{ name: 'X-Env', value: 'a' }, { name: 'x-env', value: 'b' }], query: [{ name: 'Q', value: '1' }, { name: 'q', value: '2' }, { name: 'Q', value: '3' }] })!;
    expect(p.method).toBe('POST');
    expect(p.headers).toEqual([{ name: 'x-env', value: 'a' }]);
    expect(p.query).toEqual([{ name: 'Q', value: '1' }, { name: 'q', value: '2' }]);
    expect(Object.isFrozen(p) && Object.isFrozen(p.headers) && Object.isFrozen(p.headers[0]) && Object.isFrozen(p.query)).toBe(true);
    expect(routePredicates({})).toBeUndefined();
    expect(routePredicates({ method: null, headers: [], query: [] })).toBeUndefined();
  });

  it('method: exact; headers: names in any case, values exact and case-sensitive, regexes unanchored; repeated lines joined with ", "', () => {
    const p = routePredicates({ method: 'GET', headers: [{ name: 'x-env', value: 'canary' }] })!;
    expect(predicatesHold(p, req('GET', '/', ['X-ENV', 'canary']))).toBe(true);
    expect(predicatesHold(p, req('GET', '/', ['x-env', 'Canary']))).toBe(false);
    expect(predicatesHold(p, req('POST', '/', ['x-env', 'canary']))).toBe(false);
    expect(predicatesHold(p, req('GET', '/', ['x-other', 'canary']))).toBe(false);
    expect(predicatesHold(p, req('GET', '/', ['x-env', 'canary', 'X-Env', 'b']))).toBe(false); // "canary, b"
    expect(headerValue(['A', '1', 'b', '2', 'a', '3'], 'a')).toBe('1, 3');
    expect(headerValue(['A', '1'], 'b')).toBeNull();
    // HTTP/2 pseudo-headers are never headers here
    expect(headerValue([':authority', 'a.com'], 'authority')).toBeNull();
    const rx = routePredicates({ headers: [{ name: 'user-agent', regex: regex('Mobile|Android') }] })!;
    expect(predicatesHold(rx, req('GET', '/', ['User-Agent', 'Mozilla/5.0 (Android 14)']))).toBe(true);
    expect(predicatesHold(rx, req('GET', '/', ['User-Agent', 'curl/8']))).toBe(false);
    expect(predicatesHold(rx, NO_REQUEST)).toBe(false);
  });

  it('query: names exact and case-sensitive, the first of repeated parameters, percent-decoded, "#" ends it', () => {
    const p = routePredicates({ query: [{ name: 'v', value: 'a b' }] })!;
    expect(predicatesHold(p, req('GET', '/x?v=a%20b'))).toBe(true);
    expect(predicatesHold(p, req('GET', '/x?v=a+b'))).toBe(false); // '+' is not form encoding here
    expect(predicatesHold(p, req('GET', '/x?V=a%20b'))).toBe(false);
    const one = routePredicates({ query: [{ name: 'page', value: '1' }, { name: 'flag', value: '' }] })!;
    expect(predicatesHold(one, req('GET', '/?page=1&flag'))).toBe(true);
    expect(predicatesHold(one, req('GET', '/?flag=&page=1'))).toBe(true);
    expect(predicatesHold(one, req('GET', '/?page=2&page=1&flag'))).toBe(false); // the first value counts
    expect(predicatesHold(one, req('GET', '/?page=1&page=2&flag'))).toBe(true);
    expect(predicatesHold(one, req('GET', '/?pag=1&flag'))).toBe(false);
    expect(predicatesHold(one, req('GET', '/?page=1#&flag'))).toBe(false);
    expect(predicatesHold(one, req('GET', '/'))).toBe(false);
    expect(predicatesHold(one, req('GET', '/?p%61ge=1&flag'))).toBe(true);
    expect(predicatesHold(one, req('GET', '/?page=%E0%A4%A&flag'))).toBe(false); // malformed: compared as sent
    const rx = routePredicates({ query: [{ name: 'id', regex: regex('^[0-9]+$') }] })!;
    expect(predicatesHold(rx, req('GET', '/?id=42'))).toBe(true);
    expect(predicatesHold(rx, req('GET', '/?id=4x2'))).toBe(false);
  });

  it('precedence: a method first, then more header matches, then more query matches', () => {
    const m = routePredicates({ method: 'GET' });
    const h2 = routePredicates({ headers: [{ name: 'a', value: '1' }, { name: 'b', value: '1' }] });
    const h1q2 = routePredicates({ headers: [{ name: 'a', value: '1' }], query: [{ name: 'a', value: '1' }, { name: 'b', value: '1' }] });
    const h1q1 = routePredicates({ headers: [{ name: 'a', value: '1' }], query: [{ name: 'a', value: '1' }] });
    const order = [undefined, h1q1, h2, h1q2, m].sort(comparePredicates);
    expect(order).toEqual([m, h2, h1q2, h1q1, undefined]);
  });
});

/** The rules read literally: the best path with a rule that holds; of one path's rules, precedence, then order. */
function naive(routes: readonly Route[], rawPath: string, r: MatchRequest): Route | null {
  const p = rawPath === '' ? '/' : rawPath;
  let best: Route | null = null;
  let bestLen = -1;
  let bestExact = false;
  for (const route of routes) {
    const exact = route.pathType === 'Exact';
    let len: number;
    if (exact) {
      if (route.path !== p) continue;
      len = p.length;
    } else {
      const key = prefixKey(route.path);
      if (!(key === '' || (p.startsWith(key) && (p.length === key.length || p.charCodeAt(key.length) === 47)))) continue;
      len = key.length;
    }
    if (route.predicates !== undefined && !predicatesHold(route.predicates, r)) continue;
    const better =
      best === null ||
      len > bestLen ||
      (len === bestLen && exact && !bestExact) ||
      (len === bestLen && exact === bestExact && comparePredicates(route.predicates, best.predicates) < 0);
    if (better) {
      best = route;
      bestLen = len;
      bestExact = exact;
    }
  }
  return best;
}

describe('lookup with predicates', () => {
  const get = (h: string[] = [], url = '/'): MatchRequest => req('GET', url, h);

  for (const [kind, filler] of [['few', 0], ['hashed', 12]] as const) {
    for (const host of ['a.com', '*.b.com', '']) {
      it(`${kind} table, host "${host}": precedence among rules of one path, fall-through to a shorter prefix, then the fallback`, () => {
        const routes: Route[] = [
          route(host, '/api', 'Prefix', 1), // plain, oldest: last of its path
          route(host, '/api', 'Prefix', 2, routePredicates({ headers: [{ name: 'x-v', value: '2' }] })),
          route(host, '/api', 'Prefix', 3, routePredicates({ headers: [{ name: 'x-v', value: '2' }, { name: 'x-beta', value: 'on' }] })),
          route(host, '/api', 'Prefix', 4, routePredicates({ method: 'POST' })),
          route(host, '/api', 'Prefix', 5, routePredicates({ query: [{ name: 'debug', value: '1' }] })),
          route(host, '/api/v1', 'Prefix', 6, routePredicates({ method: 'DELETE' })),
          route(host, '/api/v1/x', 'Exact', 7, routePredicates({ headers: [{ name: 'x-v', value: 'exact' }] })),
          route(host, '/web', 'Prefix', 8, routePredicates({ method: 'GET' })),
        ];
        for (let i = 0; i < filler; i++) routes.push(route(host, `/filler${i}`, i % 2 === 0 ? 'Exact' : 'Prefix', 100 + i));
        const fallback = route(host, '', 'Prefix', 99);
        const t = table([{ host, routes, fallback }], route('', '', 'Prefix', 0));
        const h = host === '' ? 'other.test' : host === '*.b.com' ? 'x.b.com' : host;
        expect(svc(t.match(h, '/api/x', get()))).toBe('s1');
        expect(svc(t.match(h, '/api/x', get(['X-V', '2'])))).toBe('s2');
        expect(svc(t.match(h, '/api/x', get(['x-beta', 'on', 'x-v', '2'])))).toBe('s3');
        expect(svc(t.match(h, '/api/x', req('POST', '/api/x', ['x-v', '2', 'x-beta', 'on'])))).toBe('s4'); // a method beats headers
        expect(svc(t.match(h, '/api/x', get(['x-v', '2'], '/api/x?debug=1')))).toBe('s2'); // a header beats a query
        expect(svc(t.match(h, '/api/x', get([], '/api/x?debug=1')))).toBe('s5');
        // a longer prefix whose rule does not hold: the next shorter one's rules
        expect(svc(t.match(h, '/api/v1/y', req('DELETE', '/api/v1/y')))).toBe('s6');
        expect(svc(t.match(h, '/api/v1/y', get(['x-v', '2'])))).toBe('s2');
        // an Exact rule that does not hold: the prefixes
        expect(svc(t.match(h, '/api/v1/x', get(['x-v', 'exact'])))).toBe('s7');
        expect(svc(t.match(h, '/api/v1/x', req('DELETE', '/api/v1/x')))).toBe('s6');
        expect(svc(t.match(h, '/api/v1/x', get()))).toBe('s1');
        // no rule holds: the host's fallback
        expect(svc(t.match(h, '/web', req('POST', '/web')))).toBe('s99');
        expect(svc(t.match(h, '/web/page', get()))).toBe('s8');
        // no request given: no method, headers or query
        expect(svc(t.match(h, '/web'))).toBe('s99');
        expect(svc(t.match(h, '/api/v1/x'))).toBe('s1');
        if (filler > 0) expect(svc(t.match(h, '/filler0', get()))).toBe('s100');
      });
    }
  }

  it("the '/' rule with predicates falls to the fallback, then the default backend (few and hashed)", () => {
    for (const filler of [0, 10]) {
      const routes = [route('a.com', '/', 'Prefix', 1, routePredicates({ method: 'PUT' }))];
      for (let i = 0; i < filler; i++) routes.push(route('a.com', `/f${i}`, 'Prefix', 100 + i));
      const t = table([{ host: 'a.com', routes, fallback: null }], route('', '', 'Prefix', 0));
      expect(svc(t.match('a.com', '/x', req('PUT', '/x')))).toBe('s1');
      expect(svc(t.match('a.com', '/x', req('GET', '/x')))).toBe('s0');
      expect(svc(t.match('a.com', '*', req('PUT', '*')))).toBe('s1');
    }
  });

  it('same path and same predicates: the first rule is kept; different predicates: both', () => {
    const p = () => routePredicates({ headers: [{ name: 'x', value: '1' }], method: 'get' });
    for (const filler of [0, 10]) {
      const routes = [route('a.com', '/a', 'Prefix', 1, p()), route('a.com', '/a/', 'Prefix', 2, p()), route('a.com', '/a', 'Prefix', 3, routePredicates({ method: 'GET' }))];
      for (let i = 0; i < filler; i++) routes.push(route('a.com', `/f${i}`, 'Prefix', 100 + i));
      const t = table([{ host: 'a.com', routes, fallback: null }]);
      expect(svc(t.match('a.com', '/a', req('GET', '/a', ['x', '1'])))).toBe('s1');
      expect(svc(t.match('a.com', '/a', req('GET', '/a')))).toBe('s3');
      expect(t.match('a.com', '/a', req('HEAD', '/a', ['x', '1']))).toBeNull();
    }
  });

  it('regex hosts: the first rule in order whose regex matches and whose predicates hold (few and indexed)', () => {
    for (const filler of [0, 12]) {
      const rx = (path: string, n: number, p?: RoutePredicates): Route => ({ ...route('r.com', path, 'ImplementationSpecific', n, p), regex: compileUserRegex(path, { anchor: '^', caseInsensitive: true }) as UserRegex });
      const routes = [rx('/api/v[0-9]+/items', 1, routePredicates({ method: 'POST' })), rx('/api/v[0-9]+/items', 2, routePredicates({ headers: [{ name: 'x', value: '1' }] })), rx('/api', 3)];
      for (let i = 0; i < filler; i++) routes.push(rx(`/filler-long-${i}/x`, 100 + i));
      const t = table([{ host: 'r.com', routes, fallback: null, regex: true }]);
      expect(svc(t.match('r.com', '/api/v2/items', req('POST', '/api/v2/items')))).toBe('s1');
      expect(svc(t.match('r.com', '/api/v2/items', req('GET', '/api/v2/items', ['x', '1'])))).toBe('s2');
      expect(svc(t.match('r.com', '/api/v2/items', req('GET', '/api/v2/items')))).toBe('s3');
    }
  });

  it('agrees with a naive reading of the rules on random rule sets with predicates', () => {
    const rand = rng(31);
    const types: PathType[] = ['Exact', 'Prefix', 'ImplementationSpecific'];
    const paths = ['/', '/a', '/a/b', '/a/b/c', '/b', '/ab', '/a/bc', '/long-segment-name/a'];
    const methods = ['GET', 'POST'];
    const headerPool: ValueMatch[] = [{ name: 'x-a', value: '1' }, { name: 'x-b', value: '1' }, { name: 'x-c', regex: regex('^[0-9]$') }];
    const queryPool: ValueMatch[] = [{ name: 'q', value: '1' }, { name: 'r', value: '' }];
    const randomPredicates = (): RoutePredicates | undefined => {
      if (rand() < 0.3) return undefined;
      const pick = (pool: ValueMatch[]) => pool.filter(() => rand() < 0.35);
      return routePredicates({ method: rand() < 0.3 ? (methods[Math.floor(rand() * 2)] as string) : null, headers: pick(headerPool), query: pick(queryPool) });
    };
    let compared = 0;
    let n = 0;
    for (let round = 0; round < 60; round++) {
      const count = 1 + Math.floor(rand() * (round % 2 === 0 ? 8 : 30));
      const routes: Route[] = [];
      for (let i = 0; i < count; i++) routes.push(route('a.com', paths[Math.floor(rand() * paths.length)] as string, types[Math.floor(rand() * 3)] as PathType, n++, randomPredicates()));
      const t = table([{ host: 'a.com', routes, fallback: null }]);
      for (let q = 0; q < 200; q++) {
        const path = (paths[Math.floor(rand() * paths.length)] as string) + ['', '', '/', '/x', 'x'][Math.floor(rand() * 5)]!;
        const headers: string[] = [];
        if (rand() < 0.5) headers.push('X-A', '1');
        if (rand() < 0.5) headers.push('x-b', rand() < 0.8 ? '1' : '2');
        if (rand() < 0.5) headers.push('x-c', String(Math.floor(rand() * 12)));
        const query = [rand() < 0.5 ? 'q=1' : '', rand() < 0.5 ? 'r' : ''].filter((x) => x !== '').join('&');
        const r = req(methods[Math.floor(rand() * 2)] as string, query === '' ? path : `${path}?${query}`, headers);
        expect(t.match('a.com', path, r), `${r.method} ${r.url} ${headers.join(' ')}`).toBe(naive(routes, path, r));
        compared++;
      }
    }
    expect(compared).toBe(12_000);
  });

  it('a table without predicates answers as before, with or without a request', () => {
    const routes = [route('a.com', '/a', 'Prefix', 1), route('a.com', '/a', 'Exact', 2)];
    const t = table([{ host: 'a.com', routes, fallback: null }]);
    expect(svc(t.match('a.com', '/a', req('POST', '/a?x=1', ['x', '1'])))).toBe('s2');
    expect(svc(t.match('a.com', '/a/b'))).toBe('s1');
  });
});

describe('builder, describe and explain with predicates', () => {
  const contribution = (name: string, routes: Route[], created: number): IngressContribution => ({
    ref: { kind: 'HTTPRoute', namespace: 'ns', name },
    created,
    hosts: new Map([['a.com', routes]]),
    defaultBackend: null,
    policy: DEFAULT_POLICY,
    action: FORWARD,
    filters: NO_FILTERS,
  });

  it('rules of one path with different predicates are kept; the same path and predicates is a conflict', () => {
    const sink = new ProblemSink();
    const a = route('a.com', '/x', 'Prefix', 1, routePredicates({ method: 'GET' }));
    const b = route('a.com', '/x', 'Prefix', 2, routePredicates({ method: 'POST' }));
    const c = route('a.com', '/x/', 'Prefix', 3, routePredicates({ method: 'get' }));
    const d = route('a.com', '/x', 'Prefix', 4);
    const vh = buildVirtualHost('a.com', [contribution('one', [a, b], 1), contribution('two', [c, d], 2)], sink);
    expect(vh.routes).toEqual([a, b, d]);
    expect(sink.sorted().map((p) => [p.object.name, p.reason])).toEqual([['two', 'RuleConflict']]);
  });

  it('/debug/routes shows predicates; explain takes the method and headers and tells why', () => {
    const routes = [
      route('a.com', '/x', 'Prefix', 1),
      route('a.com', '/x', 'Prefix', 2, routePredicates({ method: 'POST', headers: [{ name: 'x-env', value: 'canary' }, { name: 'x-id', regex: regex('^[0-9]+$') }], query: [{ name: 'v', value: '2' }] })),
    ];
    const t = table([{ host: 'a.com', routes, fallback: null }]);
    const doc = describeTable(t);
    expect(doc.hosts[0]!.rules[1]!.predicates).toEqual({ method: 'POST', headers: [{ name: 'x-env', value: 'canary' }, { name: 'x-id', regex: '^[0-9]+$' }], query: [{ name: 'v', value: '2' }] });
    expect(doc.hosts[0]!.rules[0]!.predicates).toBeUndefined();
    const endpoints = { get: () => ({ endpoints: [] }) } as never;
    const plain = explain(t, endpoints, { url: 'http://a.com/x/y?v=2', headers: [['X-Env', 'canary'], ['x-id', '7']] });
    expect(plain.route?.ingress).toBe('ns/r1');
    const post = explain(t, endpoints, { url: 'http://a.com/x/y?v=2', method: 'post', headers: [['X-Env', 'canary'], ['x-id', '7']] });
    expect(post.route?.ingress).toBe('ns/r2');
    expect(post.request.method).toBe('POST');
    expect(post.candidates[1]).toMatchObject({ predicates: 'method POST, header x-env: canary, header x-id ~ ^[0-9]+$, query v=2', matches: true });
    expect(post.why).toContain('precedence order');
  });
});
