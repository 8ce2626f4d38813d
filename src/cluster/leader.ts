// Leader election on a coordination.k8s.io/v1 Lease, the algorithm client-go uses
// (tools/leaderelection): optimistic concurrency on resourceVersion, expiry judged by our own
// clock from when we last saw the record change (never from renewTime: clocks differ), renew
// until the renew deadline, release on shutdown. Only the leader writes to the API.

import type { Logger } from '../observe/log.ts';
import { ApiError, type KubeApi } from '../sources/kubernetes/api.ts';

export interface LeaderElectionOptions {
  api: KubeApi;
  log: Logger;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number; // 15 s
  renewDeadlineMs?: number; // 10 s
  retryPeriodMs?: number; // 2 s
  onStartedLeading?: () => void;
  onStoppedLeading?: () => void;
  onNewLeader?: (identity: string) => void;
}

interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number;
}

interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

const JITTER = 1.2;

/** RFC 3339 with exactly six fractional digits: the API server's MicroTime format. */
export function microTime(date: Date = new Date()): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  private readonly opts: Required<Pick<LeaderElectionOptions, 'leaseDurationMs' | 'renewDeadlineMs' | 'retryPeriodMs'>> & LeaderElectionOptions;
  private leading = false;
  private stopped = true;
  private timer: NodeJS.Timeout | undefined;
  private observedRecord = '';
  private observedAt = 0;
  private observedLease: Lease | undefined;
  private lastRenewAt = 0;
  private currentLeader = '';

  constructor(opts: LeaderElectionOptions) {
    const leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    const renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    const retryPeriodMs = opts.retryPeriodMs ?? 2_000;
    if (!(leaseDurationMs > renewDeadlineMs && renewDeadlineMs > JITTER * retryPeriodMs)) {
      throw new Error('leader election: lease duration must exceed the renew deadline, which must exceed 1.2 × the retry period');
    }
    this.opts = { ...opts, leaseDurationMs, renewDeadlineMs, retryPeriodMs };
  }

  get isLeader(): boolean {
    return this.leading;
  }

  get leader(): string {
    return this.currentLeader;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  /** Stops campaigning; a leader releases the lease so another replica takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.leading) {
      await this.release().catch((err: unknown) => this.opts.log.warn('could not release the leader lease', { err: String(err) }));
      this.setLeading(false);
    }
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), ms);
  }

  private async tick(): Promise<void> {
    this.timer = undefined;
    let ok = false;
    try {
      ok = await this.tryAcquireOrRenew();
    } catch (err) {
      this.opts.log.debug('leader election attempt failed', { err: err instanceof Error ? err.message : String(err) });
    }
    if (this.stopped) return;
    const now = Date.now();
    if (ok) {
      this.lastRenewAt = now;
      this.setLeading(true);
    } else if (this.leading && now - this.lastRenewAt > this.opts.renewDeadlineMs) {
      this.opts.log.warn('failed to renew the leader lease within the renew deadline; stepping down');
      this.setLeading(false);
    }
    const base = this.opts.retryPeriodMs;
    this.schedule(this.leading ? base : base * (1 + Math.random() * (JITTER - 1)));
  }

  private setLeading(leading: boolean): void {
    if (leading === this.leading) return;
    this.leading = leading;
    if (leading) {
      this.opts.log.info('became the leader', { lease: `${this.opts.namespace}/${this.opts.name}`, identity: this.opts.identity });
      this.opts.onStartedLeading?.();
    } else {
      this.opts.log.info('stopped leading', { lease: `${this.opts.namespace}/${this.opts.name}` });
      this.opts.onStoppedLeading?.();
    }
  }

  private path(name?: string): string {
    const base = `/apis/coordination.k8s.io/v1/namespaces/${this.opts.namespace}/leases`;
    return name ? `${base}/${name}` : base;
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { api, identity, name, namespace } = this.opts;
    const now = new Date();
    const durationSeconds = Math.ceil(this.opts.leaseDurationMs / 1000);

    // Fast path: we lead and our copy is current — renew with a PUT of that copy.
    if (this.leading && this.observedLease) {
      const renewed = structuredClone(this.observedLease);
      renewed.spec = { ...renewed.spec, renewTime: microTime(now), leaseDurationSeconds: durationSeconds, holderIdentity: identity };
      try {
        this.remember(await api.request<Lease>('PUT', this.path(name), { body: renewed, timeoutMs: this.opts.renewDeadlineMs }));
        return true;
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 409)) throw err;
        // someone else wrote it: fall through to a fresh read
      }
    }

    let lease: Lease;
    try {
      lease = await api.request<Lease>('GET', this.path(name), { timeoutMs: this.opts.renewDeadlineMs });
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
      const created: Lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name, namespace },
        spec: { holderIdentity: identity, leaseDurationSeconds: durationSeconds, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 },
      };
      try {
        this.remember(await api.request<Lease>('POST', this.path(), { body: created, timeoutMs: this.opts.renewDeadlineMs }));
        return true;
      } catch (e) {
        if (e instanceof ApiError && e.status === 409) return false; // another replica created it first
        throw e;
      }
    }

    const spec = lease.spec ?? {};
    const record = JSON.stringify(spec);
    if (record !== this.observedRecord) {
      this.observedRecord = record;
      this.observedAt = Date.now();
    }
    this.observedLease = lease;
    const holder = spec.holderIdentity ?? '';
    this.noteLeader(holder);
    const leaseMs = (spec.leaseDurationSeconds ?? durationSeconds) * 1000;
    if (holder !== '' && holder !== identity && this.observedAt + leaseMs > Date.now()) return false;

    const iHeld = holder === identity;
    const next: Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds: durationSeconds,
        renewTime: microTime(now),
        acquireTime: iHeld && spec.acquireTime ? spec.acquireTime : microTime(now),
        leaseTransitions: iHeld ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
      },
    };
    try {
      this.remember(await api.request<Lease>('PUT', this.path(name), { body: next, timeoutMs: this.opts.renewDeadlineMs }));
      return true;
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) return false;
      throw err;
    }
  }

  private remember(lease: Lease): void {
    this.observedLease = lease;
    this.observedRecord = JSON.stringify(lease.spec ?? {});
    this.observedAt = Date.now();
    this.noteLeader(lease.spec?.holderIdentity ?? '');
  }

  private noteLeader(holder: string): void {
    if (holder !== this.currentLeader) {
      this.currentLeader = holder;
      if (holder) this.opts.onNewLeader?.(holder);
    }
  }

  private async release(): Promise<void> {
    const lease = this.observedLease;
    if (!lease) return;
    const released: Lease = {
      ...lease,
      spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: microTime(), acquireTime: microTime() },
    };
    await this.opts.api.request('PUT', this.path(this.opts.name), { body: released, timeoutMs: 5000 });
    this.opts.log.info('released the leader lease');
  }
}
