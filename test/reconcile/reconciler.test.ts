import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Store, type StoreChange } from '../../src/store/store.ts';
import { Reconciler } from '../../src/reconcile/reconciler.ts';
import { translate } from '../../src/model/translate.ts';
import { incrementalTranslate } from '../../src/model/incremental.ts';
import { silentLogger } from '../../src/observe/log.ts';
import type { Ingress } from '../../src/store/types.ts';

const opts = { controllerName: 'portico.dev/ingress-controller', ingressClass: 'portico' };
const ing = (name: string, rv: string, extra: Partial<Ingress> = {}): Ingress => ({
  metadata: { namespace: 'a', name, resourceVersion: rv },
  spec: { ingressClassName: 'portico', rules: [{ host: `${name}.test` }] },
  ...extra,
});

function setup() {
  const store = new Store();
  store.upsert('IngressClass', { metadata: { name: 'portico' }, spec: { controller: opts.controllerName } });
  const r = new Reconciler({ store, log: silentLogger, translate: (s, v) => translate(s, { ...opts, version: v }), coalesceMs: 5, maxDelayMs: 20 });
  r.start();
  return { store, r };
}
// The reconciler coalesces changes on timers: fake ones, run to completion, so each step is
// decided (a rebuild happened or none was scheduled) instead of hoped for after a sleep.
beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});
const settle = (): void => {
  vi.runAllTimers();
};

describe('Reconciler', () => {
  it('coalesces a burst of 1,000 changes into a handful of rebuilds', async () => {
    const { store, r } = setup();
    const before = r.buildCount;
    for (let i = 0; i < 1000; i++) store.upsert('Ingress', ing(`i${i}`, '1'));
    settle();
    expect(r.buildCount - before).toBe(1); // one burst, one timer
    expect(r.current().ingresses.length).toBe(1000);
    r.stop();
  });

  it('ignores status-only and resourceVersion-only changes (our own status writes)', async () => {
    const { store, r } = setup();
    store.upsert('Ingress', ing('a', '1'));
    settle();
    const before = r.buildCount;
    store.upsert('Ingress', ing('a', '2', { status: { loadBalancer: { ingress: [{ ip: '192.0.2.1' }] } } }));
    settle();
    expect(r.buildCount).toBe(before);
    store.upsert('Ingress', ing('a', '3', { metadata: { namespace: 'a', name: 'a', resourceVersion: '3', annotations: { 'portico.dev/load-balance': 'least-conn' } } }));
    settle();
    expect(r.buildCount).toBe(before + 1);
    r.stop();
  });

  it("hands every build's problems to reportProblems (runtime/core.ts logs them, or not in a worker)", () => {
    const reported: string[][] = [];
    const store = new Store();
    store.upsert('IngressClass', { metadata: { name: 'portico' }, spec: { controller: opts.controllerName } });
    const broken = ing('b', '1', { spec: { ingressClassName: 'portico', rules: [{ host: 'b.test', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'svc' } } }] } }] } });
    store.upsert('Ingress', broken);
    const r = new Reconciler({ store, log: silentLogger, reportProblems: (problems) => void reported.push(problems.map((p) => p.reason)), translate: (s, v) => translate(s, { ...opts, version: v }), coalesceMs: 1 });
    r.start();
    store.upsert('Ingress', ing('c', '1'));
    settle();
    expect(r.buildCount).toBeGreaterThanOrEqual(2);
    expect(reported).toHaveLength(r.buildCount);
    for (const reasons of reported) expect(reasons).toContain('InvalidBackend');
    r.stop();
  });

  it('keeps serving the previous configuration when translation throws', async () => {
    const store = new Store();
    let fail = false;
    const failures: string[] = [];
    const r = new Reconciler({ store, log: silentLogger, translate: (s, v) => { if (fail) throw new Error('boom'); return translate(s, { ...opts, version: v }); }, coalesceMs: 1, onFailure: (err) => failures.push(err.message) });
    r.start();
    const good = r.current();
    expect(failures).toEqual([]);
    fail = true;
    store.upsert('Ingress', ing('a', '1'));
    settle();
    expect(r.current()).toBe(good);
    // reported (config_last_reload_successful turns 0)
    expect(failures).toEqual(['boom']);
    r.stop();
  });

  it('hands the translation the coalesced changes; from scratch at start and after a failure', async () => {
    const store = new Store();
    store.upsert('IngressClass', { metadata: { name: 'portico' }, spec: { controller: opts.controllerName } });
    const calls: (string[] | undefined)[] = [];
    let fail = false;
    const r = new Reconciler({
      store,
      log: silentLogger,
      coalesceMs: 1,
      translate: (s, v, changes?: readonly StoreChange[]) => {
        calls.push(changes?.map((c) => `${c.kind} ${c.key}`));
        if (fail) throw new Error('boom');
        return translate(s, { ...opts, version: v });
      },
    });
    r.start();
    expect(calls).toEqual([undefined, undefined]); // constructor, start
    store.upsert('Ingress', ing('a', '1'));
    store.upsert('Ingress', ing('a', '2', { status: { loadBalancer: { ingress: [{ ip: '192.0.2.1' }] } } })); // status only
    store.upsert('Service', { metadata: { namespace: 'a', name: 'web' }, spec: { ports: [{ port: 80 }] } });
    settle();
    expect(calls.slice(2)).toEqual([['Ingress a/a', 'Service a/web']]);
    fail = true;
    store.remove('Service', 'a/web');
    settle();
    fail = false;
    store.upsert('Ingress', ing('b', '1'));
    settle();
    expect(calls.slice(3)).toEqual([['Service a/web'], undefined]);
    store.upsert('Ingress', ing('c', '1'));
    settle();
    expect(calls.slice(5)).toEqual([['Ingress a/c']]);
    expect(r.current().ingresses.map((i) => i.name)).toEqual(['a', 'b', 'c']);
    r.stop();
  });

  it('with the incremental translator, follows the store like a full translation does', async () => {
    const store = new Store();
    store.upsert('IngressClass', { metadata: { name: 'portico' }, spec: { controller: opts.controllerName } });
    const r = new Reconciler({ store, log: silentLogger, translate: incrementalTranslate(opts), coalesceMs: 2, maxDelayMs: 10 });
    r.start();
    const routed = (i: number): Ingress => ({
      metadata: { namespace: 'a', name: `r${i}`, resourceVersion: '1' },
      spec: { ingressClassName: 'portico', rules: [{ host: `r${i}.test`, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: `svc${i % 3}`, port: { name: 'http' } } } }] } }] },
    });
    for (let i = 0; i < 30; i++) store.upsert('Ingress', routed(i));
    settle();
    expect(r.current().problems.filter((p) => p.reason === 'ServiceNotFound')).toHaveLength(30);
    store.upsert('Service', { metadata: { namespace: 'a', name: 'svc1' }, spec: { ports: [{ name: 'http', port: 80 }] } });
    store.remove('Ingress', 'a/r0');
    settle();
    const full = translate(store, { ...opts, version: r.current().version });
    expect(r.current().problems).toEqual(full.problems);
    expect(r.current().ingresses).toEqual(full.ingresses);
    expect(r.current().match('r1.test', '/x')?.backend.endpointsKey).toBe('a/svc1:http');
    expect(r.current().match('r0.test', '/')).toBeNull();
    r.stop();
  });
});
