// The compiled lookup (hash table, length masks, candidate scan) against a naive reading of
// the rules, on many random rule sets and paths: long paths (past the 31-character masks),
// deep nesting, shared prefixes, trailing slashes, Exact and Prefix on the same keys.

import { describe, expect, it } from 'vitest';
import { emptyRoutingConfig, RouteTable, type VirtualHost } from '../../src/model/route-table.ts';
import { prefixKey } from '../../src/model/paths.ts';
import { DEFAULT_POLICY, FORWARD, NO_FILTERS, type PathType, type Route } from '../../src/model/types.ts';

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

const SEGMENTS = ['a', 'b', 'ab', 'abc', 'x', 'long-segment-name', '%2e', 'Z'];

function randomPath(rand: () => number, maxDepth: number): string {
  const depth = Math.floor(rand() * (maxDepth + 1));
  let p = '';
  for (let i = 0; i < depth; i++) p += `/${SEGMENTS[Math.floor(rand() * SEGMENTS.length)]}`;
  if (p === '' || rand() < 0.2) p += '/';
  return p;
}

function route(host: string, path: string, pathType: PathType, n: number): Route {
  return {
    host,
    path,
    pathType,
    backend: { namespace: 'ns', service: `s${n}`, servicePort: 80, endpointsKey: `ns/s${n}:` },
    policy: DEFAULT_POLICY,
    action: FORWARD,
    filters: NO_FILTERS,
    regex: null,
    ingress: { kind: 'Ingress', namespace: 'ns', name: `i${n}` },
  };
}

/** The rules read literally: longest key wins, Exact over Prefix on equal length. */
function naive(routes: readonly Route[], rawPath: string): Route | null {
  const p = rawPath === '' ? '/' : rawPath;
  let best: Route | null = null;
  let bestLen = -1;
  let bestExact = false;
  for (const r of routes) {
    const exact = r.pathType === 'Exact';
    let len: number;
    if (exact) {
      if (r.path !== p) continue;
      len = p.length;
    } else {
      const key = prefixKey(r.path);
      const ok = key === '' || (p.startsWith(key) && (p.length === key.length || p.charCodeAt(key.length) === 47));
      if (!ok) continue;
      len = key.length;
    }
    if (len > bestLen || (len === bestLen && exact && !bestExact)) {
      best = r;
      bestLen = len;
      bestExact = exact;
    }
  }
  return best;
}

/** Routes without duplicate (kind, key), as builder.ts guarantees. */
function dedupe(routes: Route[]): Route[] {
  const seen = new Set<string>();
  return routes.filter((r) => {
    const k = r.pathType === 'Exact' ? `E${r.path}` : `P${prefixKey(r.path)}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

describe('compiled route table', () => {
  it('agrees with a naive reading of the rules on random rule sets', () => {
    const rand = rng(7);
    const types: PathType[] = ['Exact', 'Prefix', 'ImplementationSpecific'];
    let n = 0;
    let compared = 0;
    for (let round = 0; round < 40; round++) {
      const hosts: VirtualHost[] = [];
      for (let h = 0; h < 5; h++) {
        const host = h === 0 ? '' : `h${h}.example.com`;
        const routes: Route[] = [];
        const count = rand() < 0.5 ? Math.floor(rand() * 9) : Math.floor(rand() * 30);
        for (let i = 0; i < count; i++) {
          // Often reuse a path of this host with another type (or slash): ties to decide.
          const again = routes[Math.floor(rand() * routes.length)];
          const p = again !== undefined && rand() < 0.3 ? (rand() < 0.5 ? again.path : `${again.path}/`.replace('//', '/')) : randomPath(rand, 8);
          routes.push(route(host, p, types[Math.floor(rand() * 3)] as PathType, n++));
        }
        hosts.push({ host, routes: dedupe(routes), fallback: null });
      }
      const table = new RouteTable({ version: 1, virtualHosts: hosts, defaultRoute: null, problems: [], ingresses: [] });
      for (let q = 0; q < 400; q++) {
        const vh = hosts[Math.floor(rand() * hosts.length)] as VirtualHost;
        // Half the requests start from one of the host's own rule paths, so ties (Exact and
        // Prefix on the same key) and near misses are common.
        const own = vh.routes[Math.floor(rand() * vh.routes.length)];
        const p =
          rand() < 0.05
            ? ''
            : own !== undefined && rand() < 0.5
              ? own.path + ['', '', '/', 'x', '/sub', '/a/b'][Math.floor(rand() * 6)]
              : randomPath(rand, 10) + (rand() < 0.1 ? 'tail' : '');
        const requestHost = vh.host === '' ? 'nohost.test' : vh.host;
        expect(table.match(requestHost, p), `${requestHost} ${p}`).toBe(naive(vh.routes, p));
        compared++;
      }
    }
    expect(compared).toBe(16_000);
  });

  it('selects hosts like a naive reading of the rules (exact, one-label wildcard, no host)', () => {
    const rand = rng(11);
    const labels = ['a', 'b', 'foo', 'bar', 'x-y', '0'];
    const name = (n: number) => Array.from({ length: n }, () => labels[Math.floor(rand() * labels.length)]).join('.');
    for (let round = 0; round < 30; round++) {
      const hosts: VirtualHost[] = [];
      const names = new Set<string>();
      for (let i = 0; i < 25; i++) {
        const host = rand() < 0.4 ? `*.${name(1 + Math.floor(rand() * 2))}` : name(1 + Math.floor(rand() * 3));
        if (names.has(host)) continue;
        names.add(host);
        hosts.push({ host, routes: [route(host, '/', 'Prefix', i)], fallback: null });
      }
      const withAny = rand() < 0.5;
      if (withAny) hosts.push({ host: '', routes: [route('', '/', 'Prefix', 999)], fallback: null });
      const table = new RouteTable({ version: 1, virtualHosts: hosts, defaultRoute: null, problems: [], ingresses: [] });
      for (let q = 0; q < 300; q++) {
        const h = name(1 + Math.floor(rand() * 4));
        const expected = names.has(h) ? h : names.has(`*.${h.slice(h.indexOf('.') + 1)}`) && h.includes('.') ? `*.${h.slice(h.indexOf('.') + 1)}` : withAny ? '' : null;
        const shown = rand() < 0.3 ? `${h.toUpperCase()}:${8000 + q}` : h;
        expect(table.match(shown, '/x')?.host ?? null, shown).toBe(expected);
      }
    }
  });

  it('handles keys and paths far beyond the 31-character length masks', () => {
    const deep = `/${'segment/'.repeat(20)}end`;
    const routes = [route('a.com', deep, 'Exact', 1), route('a.com', `/${'segment/'.repeat(10)}`, 'Prefix', 2), route('a.com', '/', 'Prefix', 3)];
    const table = new RouteTable({ version: 1, virtualHosts: [{ host: 'a.com', routes, fallback: null }], defaultRoute: null, problems: [], ingresses: [] });
    expect(table.match('a.com', deep)?.backend.service).toBe('s1');
    expect(table.match('a.com', `${deep}/more`)?.backend.service).toBe('s2');
    expect(table.match('a.com', `/${'segment/'.repeat(10)}x`)?.backend.service).toBe('s2');
    expect(table.match('a.com', `/${'segment/'.repeat(9)}segmentx`)?.backend.service).toBe('s3');
  });

  it('keeps the first of duplicate keys and hosts it is given', () => {
    const table = new RouteTable({
      version: 1,
      virtualHosts: [
        { host: 'a.com', routes: [route('a.com', '/x', 'Prefix', 1), route('a.com', '/x/', 'ImplementationSpecific', 2), route('a.com', '/x', 'Exact', 3)], fallback: null },
        { host: 'a.com', routes: [route('a.com', '/', 'Prefix', 4)], fallback: null },
        { host: '*.b.com', routes: [route('*.b.com', '/', 'Prefix', 5)], fallback: null },
        { host: '*.b.com', routes: [route('*.b.com', '/', 'Prefix', 6)], fallback: null },
      ],
      defaultRoute: null,
      problems: [],
      ingresses: [],
    });
    expect(table.match('a.com', '/x/y')?.backend.service).toBe('s1');
    expect(table.match('a.com', '/x')?.backend.service).toBe('s3');
    expect(table.match('a.com', '/')).toBeNull();
    expect(table.match('c.b.com', '/')?.backend.service).toBe('s5');
  });

  it('an updated table (shared hosts, reused and new slots, re-indexed) answers like one built from scratch', () => {
    const rand = rng(23);
    const names = (i: number) => (i % 9 === 0 ? `*.w${i % 40}.com` : i % 50 === 1 ? '' : `h${i % 400}.com`);
    const current = new Map<string, VirtualHost>();
    let n = 0;
    const makeHost = (host: string): VirtualHost => {
      const routes: Route[] = [];
      const count = rand() < 0.1 ? 9 + Math.floor(rand() * 6) : 1 + Math.floor(rand() * 4);
      for (let i = 0; i < count; i++) routes.push(route(host, randomPath(rand, 3), rand() < 0.3 ? 'Exact' : 'Prefix', n++));
      return { host, routes: dedupe(routes), fallback: rand() < 0.2 ? route(host, '', 'Prefix', n++) : null };
    };
    for (let i = 0; i < 300; i++) {
      const vh = makeHost(names(Math.floor(rand() * 2000)));
      current.set(vh.host, vh);
    }
    let table = new RouteTable({ version: 0, virtualHosts: [...current.values()], defaultRoute: null, problems: [], ingresses: [] });
    const probes = ['h1.com', 'H2.com:80', 'h3.com.', 'a.w9.com', 'b.w18.com', 'x.y.w27.com', 'w36.com', 'nohost.org', '', '*.w0.com'];
    for (let i = 0; i < 500; i += 7) probes.push(`h${i}.com`, `q.w${i % 40}.com`);
    // 600 edits: empty slots and new hosts pile up and are re-indexed several times on the way.
    for (let step = 1; step <= 600; step++) {
      const set: VirtualHost[] = [];
      const removed: string[] = [];
      const edits = 1 + Math.floor(rand() * 3);
      for (let e = 0; e < edits; e++) {
        const host = names(Math.floor(rand() * 2000));
        if (rand() < 0.3) {
          removed.push(host);
          current.delete(host);
        } else {
          const vh = makeHost(host);
          const again = set.findIndex((x) => x.host === host);
          if (again >= 0) set[again] = vh;
          else set.push(vh);
          current.set(host, vh);
        }
      }
      // A host both removed and then set in one delta ends up set.
      for (const vh of set) if (removed.includes(vh.host)) current.set(vh.host, vh);
      const defaultRoute = rand() < 0.5 ? route('', '', 'Prefix', 0) : null;
      table = RouteTable.update(table, { version: step, virtualHosts: set, removedHosts: removed, defaultRoute, problems: [], ingresses: [], tls: [] });
      expect(table.hostCount).toBe(current.size);
      if (step % 6 === 0) {
        const fresh = new RouteTable({ version: step, virtualHosts: [...current.values()], defaultRoute, problems: [], ingresses: [] });
        for (const h of probes) {
          for (const p of ['/', '/a', '/a/b', '/ab/x', '/x', '']) expect(table.match(h, p), `step ${step}: ${h} ${p}`).toBe(fresh.match(h, p));
        }
        const routes = new Set(table.routes());
        const expected = [...fresh.routes()];
        expect(routes.size).toBe(expected.length);
        expect(expected.every((r) => routes.has(r))).toBe(true);
        const hosts = new Set(table.virtualHosts());
        expect(hosts.size).toBe(current.size);
        expect([...current.values()].every((vh) => hosts.has(vh))).toBe(true);
      }
    }
  });

  it('the empty config routes nothing', () => {
    const empty = emptyRoutingConfig(3);
    expect(empty.version).toBe(3);
    expect(empty.match('a.com', '/')).toBeNull();
    expect([...empty.routes()]).toEqual([]);
    expect(empty.problems).toEqual([]);
  });
});
