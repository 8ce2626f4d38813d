// Leader election, Ingress status and Events against the fake API server.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeApiServer, waitFor } from '../fake-apiserver/index.ts';
import { KubeApi } from '../../src/sources/kubernetes/api.ts';
import { LeaderElector, microTime } from '../../src/cluster/leader.ts';
import { StatusWriter } from '../../src/cluster/status.ts';
import { EventRecorder } from '../../src/cluster/events.ts';
import { Store } from '../../src/store/store.ts';
import { silentLogger } from '../../src/observe/log.ts';
import type { Ingress } from '../../src/store/types.ts';

const TIMING = { leaseDurationMs: 1500, renewDeadlineMs: 1000, retryPeriodMs: 200 };

describe('microTime', () => {
  it('has exactly six fractional digits', () => {
    expect(microTime(new Date('2026-01-01T00:00:00.123Z'))).toBe('2026-01-01T00:00:00.123000Z');
  });
});

describe('LeaderElector', () => {
  let api: FakeApiServer;
  const electors: LeaderElector[] = [];
  beforeEach(async () => {
    api = await FakeApiServer.start();
  });
  afterEach(async () => {
    for (const e of electors.splice(0)) await e.stop();
    sent.clear();
    await api.close();
  });

  /** Requests each candidate has sent: proof that it tried, instead of a sleep that hopes so. */
  const sent = new Map<string, number>();
  const triedAgain = (identity: string, n: number) => {
    const from = sent.get(identity) ?? 0;
    return waitFor(() => (sent.get(identity) ?? 0) >= from + n, 5000, `${identity} to send ${n} more requests`);
  };
  const elector = (identity: string, events: string[] = []) => {
    const counting = new KubeApi(api.kubeConfig());
    const request = counting.request.bind(counting);
    counting.request = ((...args: Parameters<KubeApi['request']>) => {
      sent.set(identity, (sent.get(identity) ?? 0) + 1);
      return request(...args);
    }) as KubeApi['request'];
    const e = new LeaderElector({
      api: counting,
      log: silentLogger,
      namespace: 'portico',
      name: 'portico-leader',
      identity,
      ...TIMING,
      onStartedLeading: () => events.push(`${identity} leads`),
      onStoppedLeading: () => events.push(`${identity} stops`),
    });
    electors.push(e);
    return e;
  };

  it('exactly one of two candidates leads; the Lease names it', async () => {
    const a = elector('a');
    const b = elector('b');
    a.start();
    b.start();
    await waitFor(() => a.isLeader || b.isLeader, 3000, 'a leader');
    // both go on: the leader renewing, the other trying to acquire
    await Promise.all([triedAgain('a', 3), triedAgain('b', 3)]);
    expect(a.isLeader !== b.isLeader).toBe(true);
    const lease = api.get('Lease', 'portico', 'portico-leader') as unknown as { spec: { holderIdentity: string; renewTime: string } };
    expect(lease.spec.holderIdentity).toBe(a.isLeader ? 'a' : 'b');
    expect(lease.spec.renewTime).toMatch(/\.\d{6}Z$/);
  });

  it('a crashed leader (no release) is replaced within the lease duration', async () => {
    const a = elector('a');
    a.start();
    await waitFor(() => a.isLeader, 3000, 'a leads');
    const b = elector('b');
    b.start();
    await triedAgain('b', 3);
    expect(b.isLeader).toBe(false);
    // Simulate a crash: a stops renewing without releasing (stop() would release).
    (a as unknown as { stopped: boolean }).stopped = true;
    const t0 = Date.now();
    await waitFor(() => b.isLeader, 5000, 'b takes over');
    // never before the lease ran out: a renewed at most one retry period before it stopped
    // (how soon after is timing, bounded by waitFor above, not a pass/fail speed target)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(TIMING.leaseDurationMs - TIMING.retryPeriodMs - 50);
    const lease = api.get('Lease', 'portico', 'portico-leader') as unknown as { spec: { leaseTransitions: number } };
    expect(lease.spec.leaseTransitions).toBe(1);
  });

  it('a leader that stops releases the lease so the other takes over at once', async () => {
    const events: string[] = [];
    const a = elector('a', events);
    a.start();
    await waitFor(() => a.isLeader, 3000, 'a leads');
    const b = elector('b', events);
    b.start();
    await triedAgain('b', 1);
    await a.stop();
    const t0 = Date.now();
    await waitFor(() => b.isLeader, 3000, 'b takes over');
    expect(Date.now() - t0).toBeLessThan(TIMING.leaseDurationMs);
    expect(events).toEqual(['a leads', 'a stops', 'b leads']);
  });

  it('steps down when it cannot renew before the deadline', async () => {
    const a = elector('a');
    a.start();
    await waitFor(() => a.isLeader, 3000, 'a leads');
    api.failNext(1000, 500, { pathPrefix: '/apis/coordination.k8s.io' });
    await waitFor(() => !a.isLeader, 4000, 'a steps down');
    api.clearFailures();
    await waitFor(() => a.isLeader, 4000, 'a leads again');
  });
});

describe('StatusWriter', () => {
  let api: FakeApiServer;
  beforeEach(async () => {
    api = await FakeApiServer.start();
  });
  afterEach(async () => {
    await api.close();
  });

  const ing = (name: string): Ingress => ({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name, namespace: 'default' }, spec: {} });

  it('publishes addresses into our Ingresses, only when they differ, and clears ones we no longer serve', async () => {
    const store = new Store();
    for (const n of ['ours', 'theirs', 'was-ours']) store.upsert('Ingress', api.create(ing(n)) as unknown as Ingress);
    let ours = [{ kind: 'Ingress', namespace: 'default', name: 'ours' }, { kind: 'Ingress', namespace: 'default', name: 'was-ours' }];
    const writer = new StatusWriter({
      api: new KubeApi(api.kubeConfig()),
      log: silentLogger,
      store,
      addresses: () => [{ ip: '203.0.113.7' }],
      ours: () => ours,
    });
    const refresh = () => {
      for (const n of ['ours', 'theirs', 'was-ours']) store.upsert('Ingress', api.get('Ingress', 'default', n) as unknown as Ingress);
    };
    writer.setEnabled(true);
    await writer.sync();
    refresh();
    expect(api.get('Ingress', 'default', 'ours')?.status).toEqual({ loadBalancer: { ingress: [{ ip: '203.0.113.7' }] } });
    expect((api.get('Ingress', 'default', 'theirs') as Ingress).status?.loadBalancer?.ingress).toBeUndefined();
    expect(writer.writes).toBe(2);

    await writer.sync(); // nothing differs: no writes
    expect(writer.writes).toBe(2);

    ours = [{ kind: 'Ingress', namespace: 'default', name: 'ours' }];
    await writer.sync();
    refresh();
    expect((api.get('Ingress', 'default', 'was-ours') as Ingress).status?.loadBalancer?.ingress ?? []).toEqual([]);
    expect(writer.writes).toBe(3);
  });

  it('retries a status write the API refused, with backoff', async () => {
    const store = new Store();
    store.upsert('Ingress', api.create(ing('ours')) as unknown as Ingress);
    const writer = new StatusWriter({
      api: new KubeApi(api.kubeConfig()),
      log: silentLogger,
      store,
      addresses: () => [{ ip: '203.0.113.9' }],
      ours: () => [{ kind: 'Ingress', namespace: 'default', name: 'ours' }],
    });
    api.failNext(2, 503, { methods: ['PATCH'] });
    writer.setEnabled(true);
    await waitFor(() => JSON.stringify(api.get('Ingress', 'default', 'ours')?.status ?? {}).includes('203.0.113.9'), 6000, 'status after retries');
    expect(api.requestCount({ method: 'PATCH' })).toBe(3);
    writer.setEnabled(false);
  });

  it('writes nothing while disabled (a follower)', async () => {
    const store = new Store();
    store.upsert('Ingress', api.create(ing('ours')) as unknown as Ingress);
    const writer = new StatusWriter({
      api: new KubeApi(api.kubeConfig()),
      log: silentLogger,
      store,
      addresses: () => [{ hostname: 'lb.example.com' }],
      ours: () => [{ kind: 'Ingress', namespace: 'default', name: 'ours' }],
    });
    await writer.sync();
    expect(writer.writes).toBe(0);
    expect(api.requestCount({ method: 'PATCH' })).toBe(0);
  });
});

describe('EventRecorder', () => {
  it('creates Warning events on the Ingress, once per problem within the repeat window, rate-limited', async () => {
    const api = await FakeApiServer.start();
    try {
      const rec = new EventRecorder({ api: new KubeApi(api.kubeConfig()), log: silentLogger, component: 'portico', instance: 'test', perSecond: 3 });
      const problem = (name: string) => ({ object: { kind: 'Ingress', namespace: 'default', name }, reason: 'ServiceNotFound', message: `service of ${name} not found` });
      rec.record([problem('a'), problem('a')]);
      rec.record([problem('a')]);
      await waitFor(() => api.list('Event', 'default').length === 1, 3000, 'one event');
      const ev = api.list('Event', 'default')[0] as unknown as { reason: string; type: string; involvedObject: { name: string } };
      expect(ev).toMatchObject({ reason: 'ServiceNotFound', type: 'Warning', involvedObject: { name: 'a' } });
      rec.record(['b', 'c', 'd', 'e', 'f'].map(problem));
      // the budget is spent synchronously: 3 of the 5 are dropped, so exactly 2 more are sent
      expect(rec.dropped).toBe(3);
      await waitFor(() => api.list('Event', 'default').length === 3, 3000, 'rate-limited events');
    } finally {
      await api.close();
    }
  });
});

describe('EventRecorder on the --nginx-configmap ConfigMap', () => {
  it('creates a Warning on the ConfigMap (core/v1), and none on kinds it does not report on', async () => {
    const api = await FakeApiServer.start();
    try {
      const rec = new EventRecorder({ api: new KubeApi(api.kubeConfig()), log: silentLogger, component: 'portico', instance: 'test' });
      rec.recordEvent({ kind: 'Service', namespace: 'ingress-nginx', name: 'svc' }, 'Warning', 'Nothing', 'not sent');
      rec.recordEvent({ kind: 'ConfigMap', namespace: 'ingress-nginx', name: 'ingress-nginx-controller' }, 'Warning', 'ConfigMapNotApplied', 'changed since the start');
      await waitFor(() => api.list('Event', 'ingress-nginx').length === 1, 3000, 'the ConfigMap event');
      expect(rec.sent + rec.dropped).toBeLessThanOrEqual(1);
      expect(api.list('Event', 'ingress-nginx')[0]).toMatchObject({
        reason: 'ConfigMapNotApplied',
        type: 'Warning',
        involvedObject: { apiVersion: 'v1', kind: 'ConfigMap', namespace: 'ingress-nginx', name: 'ingress-nginx-controller' },
      });
    } finally {
      await api.close();
    }
  });
});

describe('ClusterPublisher', () => {
  it('publishes the --publish-service load-balancer addresses into our Ingresses and follows their changes', async () => {
    const api = await FakeApiServer.start();
    const { ClusterPublisher } = await import('../../src/cluster/publisher.ts');
    const { translate } = await import('../../src/model/translate.ts');
    const store = new Store();
    process.env.POD_NAMESPACE = 'portico';
    try {
      const lb = api.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'portico', namespace: 'portico' }, spec: { type: 'LoadBalancer', ports: [{ port: 80 }] } });
      api.updateStatus({ ...lb, status: { loadBalancer: { ingress: [{ ip: '198.51.100.4' }] } } });
      store.upsert('IngressClass', { metadata: { name: 'portico' }, spec: { controller: 'portico.dev/ingress-controller' } });
      const ours = api.create({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'web', namespace: 'default' }, spec: { ingressClassName: 'portico' } });
      store.upsert('Ingress', ours as unknown as Ingress);
      const config = () => translate(store, { controllerName: 'portico.dev/ingress-controller', ingressClass: 'portico' });
      const pub = new ClusterPublisher({
        api: new KubeApi(api.kubeConfig()), store, log: silentLogger, config, electionId: 'lead', controllerName: 'portico.dev/ingress-controller',
        publishService: { namespace: 'portico', name: 'portico' }, publishStatusAddresses: [], ...TIMING,
      });
      pub.start();
      await waitFor(() => JSON.stringify(api.get('Ingress', 'default', 'web')?.status ?? {}).includes('198.51.100.4'), 5000, 'first address');
      // the load balancer gets a hostname instead: status follows (the Service is in the store here)
      store.upsert('Service', { metadata: { name: 'portico', namespace: 'portico', resourceVersion: 'x' }, status: { loadBalancer: { ingress: [{ hostname: 'lb.example.net' }] } } });
      await waitFor(() => JSON.stringify(api.get('Ingress', 'default', 'web')?.status ?? {}).includes('lb.example.net'), 5000, 'hostname');
      await pub.stop();
    } finally {
      delete process.env.POD_NAMESPACE;
      await api.close();
    }
  });

  it('--update-status=false: the leader writes Events but never Ingress status, so the other controller keeps it', async () => {
    const api = await FakeApiServer.start();
    const { ClusterPublisher } = await import('../../src/cluster/publisher.ts');
    const { translate } = await import('../../src/model/translate.ts');
    const store = new Store();
    process.env.POD_NAMESPACE = 'portico';
    try {
      store.upsert('IngressClass', { metadata: { name: 'nginx' }, spec: { controller: 'k8s.io/ingress-nginx' } });
      const created = api.create({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'web', namespace: 'default' }, spec: { ingressClassName: 'nginx', rules: [{ host: 'a.test', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'missing', port: { number: 80 } } } }] } }] } });
      // ingress-nginx published its address
      const theirs = { loadBalancer: { ingress: [{ ip: '198.51.100.1' }] } };
      store.upsert('Ingress', api.updateStatus({ ...created, status: theirs }) as unknown as Ingress);
      const config = () => translate(store, { controllerName: 'k8s.io/ingress-nginx', ingressClass: 'nginx' });
      expect(config().ingresses).toHaveLength(1);
      const pub = new ClusterPublisher({
        api: new KubeApi(api.kubeConfig()), store, log: silentLogger, config, electionId: 'lead', controllerName: 'k8s.io/ingress-nginx',
        publishService: undefined, publishStatusAddresses: ['203.0.113.10'], updateStatus: false, ...TIMING,
      });
      pub.start();
      await waitFor(() => pub.elector.isLeader, 5000, 'leadership');
      // the leader's work runs: the Ingress's problem (its Service is missing) becomes an Event
      await waitFor(() => api.list('Event', 'default').some((e) => JSON.stringify(e).includes('ServiceNotFound')), 5000, 'a ServiceNotFound event');
      // a status pass asked for now does nothing (it would write 203.0.113.10 with status on)
      await pub.status.sync();
      pub.onConfig(config());
      await pub.status.sync();
      expect(pub.status.writes).toBe(0);
      expect(api.requestCount((r) => r.method === 'PATCH' && r.path.endsWith('/status'))).toBe(0);
      expect(api.get('Ingress', 'default', 'web')?.status).toEqual(theirs);
      await pub.stop();
    } finally {
      delete process.env.POD_NAMESPACE;
      await api.close();
    }
  });
});
