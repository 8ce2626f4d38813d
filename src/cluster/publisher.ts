// Everything Portico writes to the cluster, behind leader election: Ingress status and
// Events for translation problems. Followers write nothing. With --update-status=false the
// leader writes Events only: another controller (ingress-nginx, during a side-by-side
// migration) keeps the Ingress status, which external-dns and others follow.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { RoutingConfig } from '../model/types.ts';
import type { Logger } from '../observe/log.ts';
import type { Store } from '../store/store.ts';
import type { Ingress, LoadBalancerIngress, Service } from '../store/types.ts';
import type { KubeApi } from '../sources/kubernetes/api.ts';
import { EventRecorder } from './events.ts';
import { ServedIngresses } from './sync-events.ts';
import { LeaderElector } from './leader.ts';
import { StatusWriter, addressesKey } from './status.ts';

export interface ClusterPublisherOptions {
  api: KubeApi;
  store: Store;
  log: Logger;
  config: () => RoutingConfig;
  electionId: string;
  controllerName: string;
  publishService: { namespace: string; name: string } | undefined;
  publishStatusAddresses: readonly string[];
  /** --update-status; false: never write Ingress status. Default true. */
  updateStatus?: boolean;
  /** Test hooks: shorter election timings. */
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onLeaderChange?: (leading: boolean) => void;
}

/** The pod's namespace: $POD_NAMESPACE (downward API), else the service account's, else default. */
export function podNamespace(env: NodeJS.ProcessEnv = process.env): string {
  if (env.POD_NAMESPACE) return env.POD_NAMESPACE;
  try {
    return readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/namespace', 'utf8').trim() || 'default';
  } catch {
    return 'default';
  }
}

/** Unique per process: pod name (or host name) plus a random suffix, as client-go does. */
export function electionIdentity(env: NodeJS.ProcessEnv = process.env): string {
  return `${env.POD_NAME || env.HOSTNAME || 'portico'}_${randomBytes(4).toString('hex')}`;
}

export class ClusterPublisher {
  readonly elector: LeaderElector;
  readonly status: StatusWriter;
  readonly events: EventRecorder;
  private readonly served = new ServedIngresses();
  /** Each stored Ingress object's version for Sync events (generation and annotations). */
  private readonly versions = new WeakMap<Ingress, string>();
  private readonly opts: ClusterPublisherOptions;
  private serviceAddresses: LoadBalancerIngress[] = [];
  private pollTimer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private unsubscribeIngresses: (() => void) | undefined;
  private pendingConfig: RoutingConfig | undefined;
  private configTimer: NodeJS.Timeout | undefined;

  constructor(opts: ClusterPublisherOptions) {
    this.opts = opts;
    const identity = electionIdentity();
    const log = opts.log.child({ component: 'cluster' });
    this.status = new StatusWriter({
      api: opts.api,
      log,
      store: opts.store,
      addresses: () => this.addresses(),
      ours: () => opts.config().ingresses,
    });
    this.events = new EventRecorder({
      api: opts.api,
      log,
      component: opts.controllerName,
      instance: identity,
      uidOf: (ns, name) => opts.store.get('Ingress', `${ns}/${name}`)?.metadata.uid,
    });
    this.elector = new LeaderElector({
      api: opts.api,
      log,
      namespace: podNamespace(),
      name: opts.electionId,
      identity,
      ...(opts.leaseDurationMs ? { leaseDurationMs: opts.leaseDurationMs } : {}),
      ...(opts.renewDeadlineMs ? { renewDeadlineMs: opts.renewDeadlineMs } : {}),
      ...(opts.retryPeriodMs ? { retryPeriodMs: opts.retryPeriodMs } : {}),
      onStartedLeading: () => {
        opts.onLeaderChange?.(true);
        if (this.updatesStatus) this.status.setEnabled(true);
        this.events.record(opts.config().problems);
        // what is served now is this term's baseline: only later changes are announced
        this.served.reset();
        this.announce(opts.config());
      },
      onStoppedLeading: () => {
        opts.onLeaderChange?.(false);
        this.status.setEnabled(false);
      },
    });
  }

  private get updatesStatus(): boolean {
    return this.opts.updateStatus !== false;
  }

  start(): void {
    // The status writer stays disabled for good; the addresses it would publish are not
    // needed either (no Service polling, no Ingress subscription).
    if (!this.updatesStatus) {
      this.elector.start();
      return;
    }
    // Someone else changed an Ingress's status (or the API lost our write): put ours back.
    // Our own writes come back as events too: only a status that differs from ours asks for
    // a pass (a pass walks every Ingress; 10,000 echoes must not each schedule one).
    this.unsubscribeIngresses = this.opts.store.subscribe((c) => {
      if (c.kind !== 'Ingress' || c.current === undefined) return;
      const status = (c.current as Ingress).status?.loadBalancer?.ingress;
      if (addressesKey(status) !== addressesKey(this.addresses())) this.requestSync();
    });
    const svc = this.opts.publishService;
    if (svc) {
      // Follow the Service through the store when it is watched; poll it otherwise (it may
      // live outside the watched namespaces).
      this.unsubscribe = this.opts.store.subscribe((c) => {
        if (c.kind === 'Service' && c.key === `${svc.namespace}/${svc.name}`) this.setServiceAddresses(c.current as Service | undefined);
      });
      const poll = async () => {
        try {
          this.setServiceAddresses(await this.opts.api.request<Service>('GET', `/api/v1/namespaces/${svc.namespace}/services/${svc.name}`));
        } catch (err) {
          this.opts.log.debug('could not read the publish service', { err: (err as Error).message });
        }
        this.pollTimer = setTimeout(() => void poll(), 30_000);
      };
      const known = this.opts.store.get('Service', `${svc.namespace}/${svc.name}`);
      if (known) this.setServiceAddresses(known);
      void poll();
    }
    this.elector.start();
  }

  /** After every configuration swap. */
  onConfig(config: RoutingConfig): void {
    if (!this.elector.isLeader) return;
    this.pendingConfig = config;
    this.requestSync();
  }

  /**
   * A status pass and the Event check walk every Ingress and problem: at most every 250 ms
   * (trailing), never once per swap during a burst of changes.
   */
  private requestSync(): void {
    if (this.configTimer !== undefined || !this.elector.isLeader) return;
    this.configTimer = setTimeout(() => {
      this.configTimer = undefined;
      if (!this.elector.isLeader) return;
      void this.status.sync();
      const latest = this.pendingConfig;
      this.pendingConfig = undefined;
      if (latest !== undefined) {
        this.events.record(latest.problems);
        this.announce(latest);
      }
    }, 250);
  }

  /**
   * An ACME order ended: a Normal `CertificateIssued` (first certificate) or
   * `CertificateRenewed` event, or a Warning `CertificateFailed`, on each Ingress whose
   * spec.tls names the Secret. Only the leader orders, so only the leader records these.
   */
  recordCertificate(secret: { namespace: string; name: string }, hosts: readonly string[], outcome: 'issued' | 'renewed' | 'failed', error?: string): void {
    const key = `${secret.namespace}/${secret.name}`;
    const seen = new Set<string>();
    for (const b of this.opts.config().tls) {
      if (b.secret !== key) continue;
      const ing = `${b.ingress.namespace}/${b.ingress.name}`;
      if (seen.has(ing)) continue;
      seen.add(ing);
      if (outcome === 'failed') this.events.recordEvent(b.ingress, 'Warning', 'CertificateFailed', `Could not obtain a certificate for ${hosts.join(', ')} into Secret ${key}: ${error ?? 'unknown error'}; the current certificate, if any, keeps serving`);
      else this.events.recordEvent(b.ingress, 'Normal', outcome === 'issued' ? 'CertificateIssued' : 'CertificateRenewed', `Certificate for ${hosts.join(', ')} ${outcome} into Secret ${key}`);
    }
  }

  /** Normal `Sync` events for the Ingresses first served or changed (sync-events.ts). */
  private announce(config: RoutingConfig): void {
    const store = this.opts.store;
    const changes = this.served.changes(config, (ref) => {
      const ing = store.get('Ingress', `${ref.namespace}/${ref.name}`) as Ingress | undefined;
      if (ing === undefined) return undefined;
      // the store replaces an object on every change: an unchanged one keeps its version
      let version = this.versions.get(ing);
      if (version === undefined) {
        version = `${ing.metadata.generation ?? ''}|${JSON.stringify(ing.metadata.annotations ?? {})}`;
        this.versions.set(ing, version);
      }
      return version;
    });
    for (const c of changes) this.events.recordEvent(c.ingress, 'Normal', 'Sync', c.message);
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribeIngresses?.();
    if (this.pollTimer) clearTimeout(this.pollTimer);
    if (this.configTimer) clearTimeout(this.configTimer);
    this.status.setEnabled(false);
    await this.elector.stop();
  }

  addresses(): LoadBalancerIngress[] {
    if (this.opts.publishStatusAddresses.length > 0) {
      return this.opts.publishStatusAddresses.map((a) => (isIP(a) ? { ip: a } : { hostname: a }));
    }
    return this.serviceAddresses;
  }

  private setServiceAddresses(svc: Service | undefined): void {
    const list = (svc?.status?.loadBalancer?.ingress ?? []).map((a) => ({ ...(a.ip ? { ip: a.ip } : {}), ...(a.hostname ? { hostname: a.hostname } : {}) }));
    const before = JSON.stringify(this.serviceAddresses);
    this.serviceAddresses = list;
    if (JSON.stringify(list) !== before && this.elector.isLeader) void this.status.sync();
  }
}
