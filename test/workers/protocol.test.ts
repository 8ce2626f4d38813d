import { describe, expect, it } from 'vitest';
import { Store } from '../../src/store/store.ts';
import type { Ingress, Service } from '../../src/store/types.ts';
import { ChangeFeed, Replica, type BatchMessage } from '../../src/workers/protocol.ts';

const svc = (name: string, rv: string, port = 80): Service => ({
  metadata: { namespace: 'ns', name, resourceVersion: rv },
  spec: { ports: [{ port }] },
});

/** A feed whose batches are flushed by hand (one "event-loop turn" = one call of `turn`). */
function manualFeed(store: Store) {
  const sent: BatchMessage[] = [];
  const scheduled: (() => void)[] = [];
  const feed = new ChangeFeed({ store, send: (b) => sent.push(structuredClone(b)), schedule: (fn) => scheduled.push(fn) });
  const turn = () => {
    for (const fn of scheduled.splice(0)) fn();
  };
  return { feed, sent, turn, scheduled };
}

function dump(store: Store): unknown {
  return ['Service', 'Ingress'].map((k) => [...store.list(k as 'Service')].map((o) => o.metadata.name).sort());
}

describe('ChangeFeed (primary)', () => {
  it('numbers changes with a strictly increasing seq and sends one batch per turn', () => {
    const store = new Store();
    const { feed, sent, turn, scheduled } = manualFeed(store);
    feed.start();
    store.upsert('Service', svc('a', '1'));
    store.upsert('Service', svc('b', '1'));
    store.remove('Service', 'ns/a');
    expect(scheduled).toHaveLength(1); // one flush per turn, however many changes
    expect(sent).toHaveLength(0);
    turn();
    expect(sent).toHaveLength(1);
    expect(sent[0]!.changes.map((c) => [c.seq, c.key, c.obj === null])).toEqual([
      [1, 'ns/a', false],
      [2, 'ns/b', false],
      [3, 'ns/a', true],
    ]);
    store.upsert('Service', svc('c', '1'));
    turn();
    expect(sent).toHaveLength(2);
    expect(sent[1]!.changes.map((c) => c.seq)).toEqual([4]);
    expect(feed.seq).toBe(4);
  });

  it('sends nothing for unchanged objects or an empty turn, and nothing after stop', () => {
    const store = new Store();
    const { feed, sent, turn } = manualFeed(store);
    feed.start();
    store.upsert('Service', svc('a', '1'));
    turn();
    store.upsert('Service', svc('a', '1'));
    turn();
    feed.flush();
    expect(sent).toHaveLength(1);
    feed.stop();
    store.upsert('Service', svc('a', '2'));
    turn();
    expect(sent).toHaveLength(1);
  });

  it('a snapshot carries every object and the seq of the newest change, pending ones included', () => {
    const store = new Store();
    const { feed } = manualFeed(store);
    feed.start();
    store.upsert('Service', svc('a', '1'));
    store.upsert('Service', svc('b', '1'));
    const parts = feed.snapshot();
    expect(parts).toHaveLength(1);
    const snap = parts[0]!;
    expect(snap).toMatchObject({ seq: 2, final: true });
    expect(new Map(snap.objects).get('Service')!.map((o) => o.metadata.name)).toEqual(['a', 'b']);
  });

  it('a large snapshot comes in parts of at most N objects, across kinds, the last one final', () => {
    const store = new Store();
    const { feed } = manualFeed(store);
    feed.start();
    for (let i = 0; i < 7; i++) store.upsert('Service', svc(`s${i}`, '1'));
    store.upsert('IngressClass', { apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: 'portico' }, spec: { controller: 'portico.dev/ingress-controller' } });
    const parts = feed.snapshot(3);
    expect(parts.map((p) => p.objects.reduce((n, [, list]) => n + list.length, 0))).toEqual([3, 3, 2]);
    expect(parts.map((p) => p.final)).toEqual([false, false, true]);
    expect(new Set(parts.map((p) => p.seq))).toEqual(new Set([8]));
  });
});

describe('ChangeFeed skips what workers never read', () => {
  it('an Ingress status write (or resourceVersion churn) is not sent; spec and annotation changes are', () => {
    const store = new Store();
    const { feed, sent, turn } = manualFeed(store);
    feed.start();
    const ing = (rv: string, extra: object = {}): Ingress => ({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { namespace: 'ns', name: 'web', resourceVersion: rv },
      spec: { ingressClassName: 'portico' },
      ...extra,
    });
    store.upsert('Ingress', ing('1'));
    store.upsert('Ingress', ing('2', { status: { loadBalancer: { ingress: [{ ip: '192.0.2.1' }] } } }));
    store.upsert('Ingress', ing('3', { status: { loadBalancer: { ingress: [{ ip: '192.0.2.1' }] } } }));
    store.upsert('Ingress', { ...ing('4'), metadata: { namespace: 'ns', name: 'web', resourceVersion: '4', annotations: { 'portico.dev/ssl-redirect': 'true' } } });
    store.upsert('Ingress', { ...ing('5'), spec: { ingressClassName: 'other' } });
    store.remove('Ingress', 'ns/web');
    turn();
    const changes = sent.flatMap((b) => b.changes);
    expect(changes.map((c) => c.obj?.metadata.resourceVersion ?? 'removed')).toEqual(['1', '4', '5', 'removed']);
    expect(changes.map((c) => c.seq)).toEqual([1, 2, 3, 4]);
  });
});

describe('Replica (worker)', () => {
  it('applies the snapshot, then only newer changes, in order', () => {
    const primary = new Store();
    const { feed, sent, turn } = manualFeed(primary);
    feed.start();
    primary.upsert('Service', svc('a', '1'));
    primary.upsert('Service', svc('b', '1'));
    // The snapshot is taken while the batch with seq 1-2 is still pending.
    const [snap] = structuredClone(feed.snapshot());
    primary.upsert('Service', svc('a', '2', 81));
    primary.remove('Service', 'ns/b');
    turn();

    const replica = new Store();
    const seen: string[] = [];
    replica.subscribe((c) => seen.push(`${c.current ? 'set' : 'del'} ${c.key}`));
    const r = new Replica(replica);
    expect(r.applyBatch(sent[0]!)).toBe(0); // before the snapshot: ignored (the snapshot has it)
    expect(r.applySnapshot(snap!)).toBe(true);
    expect(r.seq).toBe(2);
    expect(r.applyBatch(sent[0]!)).toBe(2); // seq 1-2 skipped, 3-4 applied
    expect(r.seq).toBe(4);
    expect(seen).toEqual(['set ns/a', 'set ns/b', 'set ns/a', 'del ns/b']);
    expect(replica.get('Service', 'ns/a')?.spec?.ports?.[0]?.port).toBe(81);
    expect(dump(replica)).toEqual(dump(primary));
    // A repeated or older batch changes nothing.
    expect(r.applyBatch(sent[0]!)).toBe(0);
    expect(r.seq).toBe(4);
  });

  it('a replacement worker converges from a snapshot taken at any point', () => {
    const primary = new Store();
    const { feed, sent, turn } = manualFeed(primary);
    feed.start();
    for (let i = 0; i < 20; i++) {
      primary.upsert('Service', svc(`s${i % 5}`, String(i)));
      if (i % 3 === 0) primary.remove('Service', `ns/s${(i + 2) % 5}`);
      if (i % 4 === 0) turn();
    }
    const parts = structuredClone(feed.snapshot(2));
    expect(parts.length).toBeGreaterThan(1);
    const before = sent.length;
    for (let i = 20; i < 30; i++) primary.upsert('Service', svc(`s${i % 7}`, String(i)));
    turn();
    const replica = new Store();
    const r = new Replica(replica);
    // newer batches arrive between the parts (the primary paces them): held, applied after
    const newer = sent.slice(before);
    for (const b of sent.slice(0, before)) r.applyBatch(b); // before any part: ignored
    for (const part of parts) {
      r.applySnapshot(part);
      if (!part.final) for (const b of newer.splice(0)) expect(r.applyBatch(b)).toBe(0);
    }
    expect(sent.length).toBeGreaterThan(before);
    expect(r.seq).toBe(feed.seq);
    expect(dump(replica)).toEqual(dump(primary));
  });

  it('a snapshot replaces what a replica had (no stale objects survive)', () => {
    const replica = new Store();
    replica.upsert('Service', svc('stale', '1'));
    const r = new Replica(replica);
    r.applySnapshot({ t: 'snapshot', seq: 7, objects: [['Service', [svc('fresh', '1')]]], final: true });
    expect([...replica.keys('Service')]).toEqual(['ns/fresh']);
    expect(r.seq).toBe(7);
  });
});
