import { describe, expect, it } from 'vitest';
import { Store } from '../../src/store/store.ts';
import { Reconciler } from '../../src/reconcile/reconciler.ts';
import { translate } from '../../src/model/translate.ts';
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
const settle = () => new Promise((res) => setTimeout(res, 40));

describe('Reconciler', () => {
  it('coalesces a burst of 1,000 changes into a handful of rebuilds', async () => {
    const { store, r } = setup();
    const before = r.buildCount;
    for (let i = 0; i < 1000; i++) store.upsert('Ingress', ing(`i${i}`, '1'));
    await settle();
    expect(r.buildCount - before).toBeLessThanOrEqual(3);
    expect(r.current().ingresses.length).toBe(1000);
    r.stop();
  });

  it('ignores status-only and resourceVersion-only changes (our own status writes)', async () => {
    const { store, r } = setup();
    store.upsert('Ingress', ing('a', '1'));
    await settle();
    const before = r.buildCount;
    store.upsert('Ingress', ing('a', '2', { status: { loadBalancer: { ingress: [{ ip: '192.0.2.1' }] } } }));
    await settle();
    expect(r.buildCount).toBe(before);
    store.upsert('Ingress', ing('a', '3', { metadata: { namespace: 'a', name: 'a', resourceVersion: '3', annotations: { 'portico.dev/load-balance': 'least-conn' } } }));
    await settle();
    expect(r.buildCount).toBe(before + 1);
    r.stop();
  });

  it('keeps serving the previous configuration when translation throws', async () => {
    const store = new Store();
    let fail = false;
    const r = new Reconciler({ store, log: silentLogger, translate: (s, v) => { if (fail) throw new Error('boom'); return translate(s, { ...opts, version: v }); }, coalesceMs: 1 });
    r.start();
    const good = r.current();
    fail = true;
    store.upsert('Ingress', ing('a', '1'));
    await settle();
    expect(r.current()).toBe(good);
    r.stop();
  });
});
