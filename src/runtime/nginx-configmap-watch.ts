// --nginx-configmap after the start: the ConfigMap's keys became flags when Portico started
// (config/nginx-configmap.ts). ingress-nginx applies an edited ConfigMap within seconds, so the
// ConfigMap stays watched (it is in the store like every ConfigMap in scope) and an edit goes to
// the caller with its data: with workers, main.ts replaces them with the new settings (and
// --workers auto starts one even on one CPU for it); in one process (--workers 0), which cannot
// swap its settings under its listeners, the edit is said out loud: a
// warning naming the changed keys and the command that applies them, a Warning Event on the
// ConfigMap (from the leader), and portico_nginx_configmap_changed = 1 until the ConfigMap is
// back to what was applied or the pods are restarted.

import type { Store, StoreChange } from '../store/store.ts';

export interface ConfigMapRef {
  namespace: string;
  name: string;
}

/** The keys whose value differs between `applied` and `current` (added, changed or removed), sorted. */
export function changedKeys(applied: Readonly<Record<string, string>>, current: Readonly<Record<string, string>> | null): string[] {
  const keys = new Set<string>();
  const now = current ?? {};
  for (const k of Object.keys(applied)) if (now[k] !== applied[k]) keys.add(k);
  for (const k of Object.keys(now)) if (applied[k] !== now[k]) keys.add(k);
  return [...keys].sort();
}

export interface DriftReport {
  ref: ConfigMapRef;
  /** Keys that differ from what was applied at start; empty when the ConfigMap is back to it. */
  keys: readonly string[];
  /** The ConfigMap was deleted (the applied values stay in force until the next start). */
  deleted: boolean;
  /** Its data now (null when deleted). */
  data: Readonly<Record<string, string>> | null;
}

/**
 * Calls `onDrift` when the ConfigMap `ref` in `store` stops matching `applied` (once per
 * distinct content) and when it matches again. Returns the unsubscribe function.
 */
export function watchNginxConfigMap(
  store: Store,
  ref: ConfigMapRef,
  applied: Readonly<Record<string, string>>,
  onDrift: (report: DriftReport) => void,
): () => void {
  const key = `${ref.namespace}/${ref.name}`;
  let drifting = false;
  let lastSeen = '';
  return store.subscribe((change: StoreChange) => {
    if (change.kind !== 'ConfigMap' || change.key !== key) return;
    const current = change.current === undefined ? null : stringData(change.current);
    const keys = changedKeys(applied, current);
    const deleted = current === null;
    if (keys.length === 0 && !deleted) {
      // back to what was applied (or the first sight of it): said only after a drift
      if (drifting) onDrift({ ref, keys, deleted, data: current });
      drifting = false;
      lastSeen = '';
      return;
    }
    const seen = JSON.stringify([deleted, current]);
    if (drifting && seen === lastSeen) return; // the same content again (a resync, a label edit)
    drifting = true;
    lastSeen = seen;
    onDrift({ ref, keys, deleted, data: current });
  });
}

function stringData(obj: unknown): Record<string, string> {
  const data = (obj as { data?: unknown }).data;
  const out: Record<string, string> = {};
  if (data === null || typeof data !== 'object') return out;
  for (const [k, v] of Object.entries(data as Record<string, unknown>)) if (typeof v === 'string') out[k] = v;
  return out;
}
