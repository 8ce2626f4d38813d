// ServedIngresses: which Ingresses get a Normal `Sync` event — first served or changed since the
// last configuration, never for the leader's baseline or for status-only writes.

import { describe, expect, it } from 'vitest';
import { ServedIngresses } from '../../src/cluster/sync-events.ts';
import type { ObjectRef, Route, RoutingConfig } from '../../src/model/types.ts';
import { makeRoute } from '../proxy/fixtures.ts';

const ref = (name: string): ObjectRef => ({ kind: 'Ingress', namespace: 'shop', name });

function config(names: string[], hosts: Record<string, string[]> = {}): RoutingConfig {
  const routes: Route[] = [];
  for (const n of names) for (const h of hosts[n] ?? [`${n}.test`]) routes.push({ ...makeRoute({ host: h, key: 'svc' }), ingress: ref(n) });
  return { version: 1, problems: [], tls: [], ingresses: names.map(ref), match: () => null, routes: () => routes };
}

describe('ServedIngresses', () => {
  it('the first configuration is the baseline; later a new Ingress and a changed one are announced', () => {
    const served = new ServedIngresses();
    const versions: Record<string, string> = { a: '1|{}', b: '1|{}' };
    const v = (r: ObjectRef) => versions[r.name];
    expect(served.changes(config(['a', 'b']), v)).toEqual([]);
    expect(served.changes(config(['a', 'b']), v)).toEqual([]);
    versions.c = '1|{}';
    versions.b = '1|{"nginx.ingress.kubernetes.io/rewrite-target":"/"}';
    const out = served.changes(config(['a', 'b', 'c'], { c: ['c.test', 'www.c.test'] }), v);
    expect(out).toEqual([
      { ingress: ref('b'), message: 'Configuration applied: serving b.test' },
      { ingress: ref('c'), message: 'Configuration applied: serving c.test, www.c.test' },
    ]);
  });

  it('an Ingress that stops being served and comes back is announced again; reset starts a new baseline', () => {
    const served = new ServedIngresses();
    const v = () => '1|{}';
    served.changes(config(['a']), v);
    expect(served.changes(config([]), v)).toEqual([]);
    expect(served.changes(config(['a']), v).map((x) => x.ingress.name)).toEqual(['a']);
    served.reset();
    expect(served.changes(config(['a', 'b']), v)).toEqual([]);
  });

  it('an Ingress of ours that routes nothing says so', () => {
    const served = new ServedIngresses();
    served.changes(config([]), () => '1');
    const empty: RoutingConfig = { ...config([]), ingresses: [ref('x')] };
    expect(served.changes(empty, () => '1')[0]!.message).toMatch(/routes nothing/);
  });
});
