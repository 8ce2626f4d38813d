// Which store changes can alter what the objects mean. It lives in store/ (not reconcile/)
// because two rooms filter with it: the reconciler, before it schedules a rebuild, and the
// workers' replication (workers/protocol.ts), before it sends a change to every worker; both
// may import store/, and it reads nothing but the changed object.

import type { StoreChange } from './store.ts';
import type { AnyObject } from './types.ts';

/**
 * Whether a change can alter the routing configuration. Status writes (ours included: every
 * Ingress status we publish comes back as a watch event) and metadata churn do not; without
 * this filter, publishing status for N Ingresses would trigger ~N full rebuilds.
 */
export function routingRelevant(change: StoreChange): boolean {
  const { old, current } = change;
  if (old === undefined || current === undefined) return true;
  return fingerprint(old) !== fingerprint(current);
}

function fingerprint(obj: AnyObject): string {
  // `data` and `type`: a Secret has no spec, and the users of a basic-auth Secret are routing
  // (an Ingress reads them through the snapshot); for other kinds they are absent
  const o = obj as { spec?: unknown; data?: unknown; type?: unknown; metadata: { annotations?: unknown; creationTimestamp?: unknown } };
  return JSON.stringify([o.spec ?? null, o.metadata.annotations ?? null, o.metadata.creationTimestamp ?? null, o.data ?? null, o.type ?? null]);
}
