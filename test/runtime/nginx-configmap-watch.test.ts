// runtime/nginx-configmap-watch.ts: an edit of the --nginx-configmap ConfigMap after the start
// is reported (which keys), once per content, and again when it is back to what was applied.

import { describe, expect, it } from 'vitest';
import { changedKeys, watchNginxConfigMap, type DriftReport } from '../../src/runtime/nginx-configmap-watch.ts';
import { Store } from '../../src/store/store.ts';
import type { ConfigMap } from '../../src/store/types.ts';

const REF = { namespace: 'ingress-nginx', name: 'ingress-nginx-controller' };
let rv = 0;
function cm(data: Record<string, string>, name = REF.name, labels: Record<string, string> = {}): ConfigMap {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: REF.namespace, name, resourceVersion: String(++rv), labels }, data } as ConfigMap;
}

describe('changedKeys', () => {
  it('names added, changed and removed keys, sorted', () => {
    expect(changedKeys({ a: '1', b: '2', c: '3' }, { a: '1', b: '20', d: '4' })).toEqual(['b', 'c', 'd']);
    expect(changedKeys({ a: '1' }, { a: '1' })).toEqual([]);
    expect(changedKeys({ a: '1' }, null)).toEqual(['a']);
  });
});

describe('watchNginxConfigMap', () => {
  it('reports an edit once per content, a deletion, and the return to the applied data', () => {
    const store = new Store();
    const reports: DriftReport[] = [];
    const applied = { 'proxy-body-size': '8m', hsts: 'false' };
    const stop = watchNginxConfigMap(store, REF, applied, (r) => reports.push(r));

    store.upsert('ConfigMap', cm({ ...applied })); // the first sight: what was applied
    store.upsert('ConfigMap', cm({ ...applied }, 'other')); // another ConfigMap
    expect(reports).toEqual([]);

    store.upsert('ConfigMap', cm({ ...applied, 'proxy-body-size': '16m' }));
    expect(reports.map((r) => r.keys)).toEqual([['proxy-body-size']]);
    // the same content again (a label edit, a resync): not repeated
    store.upsert('ConfigMap', cm({ ...applied, 'proxy-body-size': '16m' }, REF.name, { touched: 'yes' }));
    expect(reports).toHaveLength(1);
    store.upsert('ConfigMap', cm({ 'proxy-body-size': '16m' }));
    expect(reports.map((r) => r.keys)).toEqual([['proxy-body-size'], ['hsts', 'proxy-body-size']]);

    store.remove('ConfigMap', `${REF.namespace}/${REF.name}`);
    expect(reports.at(-1)).toMatchObject({ deleted: true, keys: ['hsts', 'proxy-body-size'] });

    store.upsert('ConfigMap', cm({ ...applied }));
    expect(reports.at(-1)).toMatchObject({ deleted: false, keys: [] });
    expect(reports).toHaveLength(4);

    stop();
    store.upsert('ConfigMap', cm({ hsts: 'true' }));
    expect(reports).toHaveLength(4);
  });
});
