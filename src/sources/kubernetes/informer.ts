// One resilient list+watch of one kind (in one namespace, or all), feeding the store.
//
// ListWatch (list-watch.ts: client-node's rules) relists on 410 and re-watches after its 30 s
// inactivity timeout, but it stops for good on every other failure (connection refused, reset,
// 5xx, a failed list) and only reports it to onError (LIBRARIES.md §2.2). This wrapper restarts
// it with capped exponential backoff and full jitter, so an API outage costs a handful of
// requests rather than a storm, and the store keeps the last good objects throughout. A
// relist is applied as a diff (deletes for vanished objects, then updates), never delete-all
// then add-all, so routes stay up while it happens.
//
// The backoff is per informer, but the API's health is not: when any request of this process
// succeeds after failures (another watch, a lease renewal; reachability.ts), a pending backoff
// is cut to a short jittered delay, so a change written after an outage is served within
// about a second instead of after the longest backoff reached during it. The failure count is
// kept: if the API fails again at once, the next wait is as gentle as before.

import { ListWatch, type KubeObject } from './list-watch.ts';
import type { Store } from '../../store/store.ts';
import { objectKey, type AnyObject } from '../../store/types.ts';
import type { Logger } from '../../observe/log.ts';
import type { KubeApi } from './api.ts';
import { collectionPath, type ResourceSpec } from './resources.ts';

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

const HEALTHY_AFTER_MS = 30_000;

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000 };

/**
 * After a recovery, a waiting informer retries within this long (full jitter, so the informers
 * of one process do not all hit the API in the same millisecond).
 */
export const RECOVERY_RETRY_MS = 500;

/** Time and timers, injectable so tests can drive the backoff without waiting. */
export interface InformerClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** In [0, 1): the jitter. */
  random(): number;
}

export const REAL_CLOCK: InformerClock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
  random: () => Math.random(),
};

export interface InformerStats {
  restarts: number;
  lastEventAt: number;
  synced: boolean;
}

export class ResilientInformer {
  readonly spec: ResourceSpec;
  readonly namespace: string;
  private readonly api: KubeApi;
  private readonly store: Store;
  private readonly log: Logger;
  private readonly backoff: BackoffOptions;
  private listWatch: ListWatch<KubeObject> | undefined;
  private failures = 0;
  private startedAt = 0;
  private timer: unknown;
  /** When the pending timer fires (clock time). */
  private retryAt = 0;
  private readonly clock: InformerClock;
  private unsubscribeRecovery: (() => void) | undefined;
  private stopped = false;
  private starting = false;
  private syncedOnce = false;
  private readonly syncWaiters: (() => void)[] = [];
  readonly stats: InformerStats = { restarts: 0, lastEventAt: 0, synced: false };
  onRestart: ((spec: ResourceSpec) => void) | undefined;

  constructor(opts: { api: KubeApi; store: Store; log: Logger; spec: ResourceSpec; namespace: string; backoff?: BackoffOptions; clock?: InformerClock }) {
    this.clock = opts.clock ?? REAL_CLOCK;
    this.api = opts.api;
    this.store = opts.store;
    this.spec = opts.spec;
    this.namespace = opts.namespace;
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
    this.log = opts.log.child({ resource: opts.spec.plural, ...(opts.namespace ? { namespace: opts.namespace } : {}) });
  }

  get synced(): boolean {
    return this.syncedOnce;
  }

  /** Resolves once the first list has been applied to the store (it may take retries). */
  whenSynced(): Promise<void> {
    if (this.syncedOnce) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  start(): void {
    this.stopped = false;
    const path = collectionPath(this.spec, this.namespace);
    const query: Record<string, string | undefined> = { labelSelector: this.spec.labelSelector, fieldSelector: this.spec.fieldSelector };
    const listFn = async () => {
      const { items, resourceVersion } = await this.api.listAll<KubeObject>(path, query);
      // List items carry no kind/apiVersion on a real server; add them so every stored
      // object looks the same whichever way it arrived.
      for (const item of items) {
        item.kind = this.spec.kind;
        item.apiVersion = this.spec.apiVersion;
      }
      return { apiVersion: this.spec.apiVersion, kind: `${this.spec.kind}List`, metadata: { resourceVersion }, items };
    };
    this.listWatch = new ListWatch<KubeObject>({
      path,
      credentials: this.api.kc,
      list: listFn,
      labelSelector: this.spec.labelSelector,
      fieldSelector: this.spec.fieldSelector,
      handlers: {
        add: (o) => this.upsert(o),
        update: (o) => this.upsert(o),
        delete: (o) => this.remove(o),
        error: (err) => this.onError(err),
      },
      reachability: this.api.reachability,
    });
    this.unsubscribeRecovery?.();
    this.unsubscribeRecovery = this.api.reachability.onRecovered(this.onApiRecovered);
    void this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribeRecovery?.();
    this.unsubscribeRecovery = undefined;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.listWatch?.stop();
  }

  private async run(): Promise<void> {
    const lw = this.listWatch;
    if (!lw || this.stopped || this.starting) return;
    this.starting = true;
    this.startedAt = this.clock.now();
    try {
      await lw.start();
    } finally {
      this.starting = false;
    }
    if (lw.latestResourceVersion() !== '' && !this.stopped) this.markSynced();
  }

  private markSynced(): void {
    if (this.syncedOnce) return;
    this.syncedOnce = true;
    this.stats.synced = true;
    this.log.info('synced', { objects: this.countInStore() });
    for (const w of this.syncWaiters.splice(0)) w();
  }

  private onError(err: unknown): void {
    if (this.stopped) return;
    // A watch that stayed up for a while was healthy: start the backoff from the bottom.
    if (this.clock.now() - this.startedAt > HEALTHY_AFTER_MS) this.failures = 0;
    const delay = this.nextDelay();
    this.stats.restarts++;
    this.onRestart?.(this.spec);
    const message = err instanceof Error ? err.message : String(err);
    this.log.warn('watch failed; restarting with backoff (the last known objects keep serving)', { err: message, retryInMs: delay });
    this.schedule(delay);
  }

  /** The pending retry's delay from now, or undefined when none is pending (tests, logs). */
  get pendingRetryMs(): number | undefined {
    return this.timer === undefined ? undefined : Math.max(0, this.retryAt - this.clock.now());
  }

  private schedule(delay: number): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.retryAt = this.clock.now() + delay;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, delay);
  }

  // Another request reached the API: a long wait left over from the outage is pointless now.
  private readonly onApiRecovered = (): void => {
    if (this.stopped || this.timer === undefined) return;
    const soon = Math.round(this.clock.random() * RECOVERY_RETRY_MS);
    const left = this.retryAt - this.clock.now();
    if (left <= soon) return;
    this.log.debug('the API answers again: retrying the watch now', { wasRetryingInMs: Math.round(left), retryInMs: soon });
    this.schedule(soon);
  };

  /** Full jitter: a random delay up to the capped exponential step. */
  private nextDelay(): number {
    const step = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** Math.min(this.failures, 20));
    this.failures++;
    return Math.round(step / 2 + this.clock.random() * (step / 2));
  }

  private upsert(obj: KubeObject): void {
    this.stats.lastEventAt = Date.now();
    if (!obj?.metadata?.name) return;
    if (this.syncedOnce === false && this.listWatch?.latestResourceVersion()) this.markSynced();
    stripBookkeeping(obj);
    this.store.upsert(this.spec.kind, obj as unknown as AnyObject as never);
  }

  private remove(obj: KubeObject): void {
    this.stats.lastEventAt = Date.now();
    if (!obj?.metadata?.name) return;
    this.store.remove(this.spec.kind, objectKey({ name: obj.metadata.name, ...(obj.metadata.namespace ? { namespace: obj.metadata.namespace } : {}) }));
  }

  private countInStore(): number {
    return this.store.size(this.spec.kind);
  }
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * Drops what nothing here reads and what is often larger than the rest of the object:
 * managedFields (server-side apply bookkeeping; client-go controllers strip it the same way)
 * and kubectl's last-applied-configuration annotation (a JSON copy of the whole object). It
 * would otherwise live in the store, in every worker's replica, and cross the IPC to them with
 * every change.
 */
function stripBookkeeping(obj: KubeObject): void {
  const md = obj.metadata;
  if (md === undefined) return;
  if (md.managedFields !== undefined) delete md.managedFields;
  const ann = md.annotations;
  if (ann !== undefined && ann[LAST_APPLIED] !== undefined) {
    const { [LAST_APPLIED]: _dropped, ...rest } = ann;
    md.annotations = rest;
  }
}
