// Kubernetes mode: one resilient informer per kind (per watched namespace), all feeding the
// same store that file mode feeds, so everything after the source is shared.

import type { Store } from '../../store/store.ts';
import { KINDS, type Kind } from '../../store/types.ts';
import type { Logger } from '../../observe/log.ts';
import type { KubeApi } from './api.ts';
import { ResilientInformer, type BackoffOptions, type InformerClock } from './informer.ts';
import { EXTRA_RESOURCES, RESOURCES } from './resources.ts';

export interface KubernetesSourceOptions {
  api: KubeApi;
  store: Store;
  log: Logger;
  /** Namespaces to watch; empty = all. Cluster-scoped kinds are always watched cluster-wide. */
  namespaces: readonly string[];
  kinds?: readonly Kind[];
  backoff?: BackoffOptions;
  /** Time and timers of the backoff (tests). */
  clock?: InformerClock;
  onRestart?: (kind: Kind) => void;
}

export class KubernetesSource {
  readonly informers: ResilientInformer[] = [];

  constructor(opts: KubernetesSourceOptions) {
    const namespaces = opts.namespaces.length > 0 ? opts.namespaces : [''];
    for (const kind of opts.kinds ?? KINDS) {
      for (const spec of [RESOURCES[kind], ...(EXTRA_RESOURCES[kind] ?? [])]) {
        for (const ns of spec.namespaced ? namespaces : ['']) {
          const informer = new ResilientInformer({
            api: opts.api,
            store: opts.store,
            log: opts.log,
            spec,
            namespace: ns,
            ...(opts.backoff ? { backoff: opts.backoff } : {}),
            ...(opts.clock ? { clock: opts.clock } : {}),
          });
          if (opts.onRestart) informer.onRestart = (s) => opts.onRestart!(s.kind);
          this.informers.push(informer);
        }
      }
    }
  }

  /** Starts every informer; resolves when each has applied its first list. */
  async start(): Promise<void> {
    for (const i of this.informers) i.start();
    await Promise.all(this.informers.map((i) => i.whenSynced()));
  }

  get synced(): boolean {
    return this.informers.every((i) => i.synced);
  }

  /** What has not been read in full yet: resource names, with the namespace when one is watched. */
  unread(): string[] {
    return this.informers
      .filter((i) => !i.synced)
      .map((i) => {
        const what = i.spec.fieldSelector === undefined ? i.spec.plural : `${i.spec.plural} (${i.spec.fieldSelector})`;
        return i.namespace === '' ? what : `${what} in ${i.namespace}`;
      });
  }

  async stop(): Promise<void> {
    await Promise.all(this.informers.map((i) => i.stop()));
  }
}
