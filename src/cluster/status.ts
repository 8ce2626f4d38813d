// Ingress status: the addresses clients reach us at, copied into every Ingress we serve.
// Writes happen on the leader only, and only where the stored status differs (our own
// writes come back as watch events: comparing first is what prevents a write loop).

import type { Snapshot } from '../store/store.ts';
import type { Ingress, LoadBalancerIngress } from '../store/types.ts';
import type { ObjectRef } from '../model/types.ts';
import type { Logger } from '../observe/log.ts';
import { ApiError, type KubeApi } from '../sources/kubernetes/api.ts';

export interface StatusWriterOptions {
  api: KubeApi;
  log: Logger;
  store: Snapshot;
  /** The addresses to publish now ([] = unknown yet: write nothing). */
  addresses: () => LoadBalancerIngress[];
  /** Ingresses we serve now. */
  ours: () => readonly ObjectRef[];
  concurrency?: number;
}

/** Canonical form for comparison: order-insensitive, ports ignored when absent. */
export function addressesKey(list: readonly LoadBalancerIngress[] | undefined): string {
  return (list ?? [])
    .map((a) => `${a.ip ?? ''}|${a.hostname ?? ''}`)
    .sort()
    .join(',');
}

export class StatusWriter {
  private readonly opts: StatusWriterOptions;
  private running: Promise<void> | undefined;
  private again = false;
  private enabled = false;
  /**
   * What we last wrote per Ingress, with the resourceVersion the object had then: until the
   * watch brings our write back, the stored copy is stale and must not trigger a rewrite.
   */
  private readonly written = new Map<string, string>();
  writes = 0;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(opts: StatusWriterOptions) {
    this.opts = opts;
  }

  /** Starts (leader) or stops (follower) writing. */
  setEnabled(enabled: boolean): void {
    this.enabled = enabled;
    if (enabled) void this.sync();
    else if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
  }

  /** Requests a reconciliation pass; passes never overlap, requests during one coalesce. */
  sync(): Promise<void> {
    if (!this.enabled) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.pass();
        } while (this.again && this.enabled);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  private async pass(): Promise<void> {
    const addresses = this.opts.addresses();
    if (addresses.length === 0) return;
    const want = addressesKey(addresses);
    const ours = this.oursSet();
    const jobs: { ing: Ingress; value: LoadBalancerIngress[] | null }[] = [];
    for (const ing of this.opts.store.list('Ingress')) {
      const { key, have } = this.facts(ing);
      const pendingWrite = this.written.get(key);
      if (ours.has(key)) {
        if (have !== want && pendingWrite !== `${want}@${ing.metadata.resourceVersion}`) jobs.push({ ing, value: addresses });
      } else if (have === want && pendingWrite !== `@${ing.metadata.resourceVersion}`) {
        // We published this status and no longer serve the Ingress: clear it.
        jobs.push({ ing, value: null });
      }
    }
    const concurrency = this.opts.concurrency ?? 8;
    let next = 0;
    const worker = async () => {
      while (next < jobs.length && this.enabled) {
        const job = jobs[next++]!;
        await this.write(job.ing, job.value);
      }
    };
    const failedBefore = this.failures;
    await Promise.all(Array.from({ length: Math.min(concurrency, jobs.length) }, worker));
    if (this.failures > failedBefore) this.scheduleRetry();
    else this.retryDelayMs = 1000;
  }

  private retryDelayMs = 1000;

  // A pass runs on every configuration change (throttled) over every Ingress, on the event
  // loop that also feeds the proxy workers: what it derives per object and per configuration
  // is kept, so a pass over 10,000 unchanged Ingresses builds no strings.
  private readonly factsOf = new WeakMap<Ingress, { key: string; have: string }>();
  private oursFrom: readonly ObjectRef[] | undefined;
  private ours = new Set<string>();

  /** Store objects are replaced on change, never mutated: their facts are computed once. */
  private facts(ing: Ingress): { key: string; have: string } {
    let f = this.factsOf.get(ing);
    if (f === undefined) {
      f = { key: `${ing.metadata.namespace}/${ing.metadata.name}`, have: addressesKey(ing.status?.loadBalancer?.ingress) };
      this.factsOf.set(ing, f);
    }
    return f;
  }

  /** The served Ingresses' keys, rebuilt only when the configuration's list changes. */
  private oursSet(): Set<string> {
    const list = this.opts.ours();
    if (list !== this.oursFrom) {
      this.oursFrom = list;
      this.ours = new Set(list.map((r) => `${r.namespace}/${r.name}`));
    }
    return this.ours;
  }

  /** A failed write (API down, conflict) is retried by a later pass, backing off to 30 s. */
  private scheduleRetry(): void {
    if (this.retryTimer !== undefined || !this.enabled) return;
    const delay = this.retryDelayMs;
    this.retryDelayMs = Math.min(30_000, this.retryDelayMs * 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.sync();
    }, delay);
    this.retryTimer.unref();
  }

  private async write(ing: Ingress, value: LoadBalancerIngress[] | null): Promise<void> {
    const { namespace = '', name } = ing.metadata;
    try {
      await this.opts.api.request('PATCH', `/apis/networking.k8s.io/v1/namespaces/${namespace}/ingresses/${name}/status`, {
        body: { status: { loadBalancer: { ingress: value } } },
        contentType: 'application/merge-patch+json',
        timeoutMs: 10_000,
      });
      this.writes++;
      this.written.set(`${namespace}/${name}`, `${value ? addressesKey(value) : ''}@${ing.metadata.resourceVersion}`);
      if (this.written.size > 100_000) this.written.clear();
      this.opts.log.debug(value ? 'ingress status published' : 'ingress status cleared', { ingress: `${namespace}/${name}` });
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return; // deleted meanwhile
      this.failures++;
      this.opts.log.warn('could not write ingress status; will retry', { ingress: `${namespace}/${name}`, err: (err as Error).message });
    }
  }
}
