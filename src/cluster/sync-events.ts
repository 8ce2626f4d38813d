// Which Ingresses to announce with a Normal `Sync` event: those served for the first time, or
// changed (spec generation or annotations) since the last configuration this leader saw. The
// first configuration after a leader starts is the baseline and announces nothing, so a
// restart or a new leader does not post one event per Ingress of the cluster; an Ingress that
// stops being served and comes back is announced again. Status writes (ours) change neither
// the generation nor the annotations, so they never announce anything.

import type { ObjectRef, RoutingConfig } from '../model/types.ts';

export interface Announcement {
  readonly ingress: ObjectRef;
  readonly message: string;
}

export class ServedIngresses {
  private readonly versions = new Map<string, string>();
  private baselined = false;

  /** Forget everything: the next configuration is a new baseline (a new leader term). */
  reset(): void {
    this.versions.clear();
    this.baselined = false;
  }

  /**
   * The announcements for `config`. `versionOf` names an Ingress's current version (generation
   * and annotations), or undefined when the store does not hold it.
   */
  changes(config: RoutingConfig, versionOf: (ref: ObjectRef) => string | undefined): Announcement[] {
    const changed: ObjectRef[] = [];
    const live = new Set<string>();
    for (const ref of config.ingresses) {
      const key = `${ref.namespace}/${ref.name}`;
      live.add(key);
      const version = versionOf(ref) ?? '';
      if (this.versions.get(key) !== version) {
        if (this.baselined) changed.push(ref);
        this.versions.set(key, version);
      }
    }
    for (const key of this.versions.keys()) if (!live.has(key)) this.versions.delete(key);
    this.baselined = true;
    if (changed.length === 0) return [];
    const hosts = new Map<string, Set<string>>();
    for (const r of config.routes()) {
      const key = `${r.ingress.namespace}/${r.ingress.name}`;
      let set = hosts.get(key);
      if (set === undefined) hosts.set(key, (set = new Set()));
      set.add(r.host === '' ? '(any host)' : r.host);
    }
    return changed.map((ref) => {
      const h = [...(hosts.get(`${ref.namespace}/${ref.name}`) ?? [])].sort();
      return { ingress: ref, message: h.length === 0 ? 'Configuration applied: the Ingress is ours but routes nothing (see its Warning events)' : `Configuration applied: serving ${h.join(', ')}` };
    });
  }
}
