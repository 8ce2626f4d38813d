// The object cache every source writes into and the translator reads from.
// One map per kind, keyed by `namespace/name`. Writers call upsert/remove/replaceKind;
// listeners are told which objects changed (batched per synchronous burst by the caller
// that coalesces, not here: the store itself notifies on every change, cheaply).

import { type AnyObject, type Kind, type KindMap, KINDS, objectKey } from './types.ts';

export interface StoreChange {
  kind: Kind;
  key: string;
  /** The object before the change, undefined when it was added. */
  old: AnyObject | undefined;
  /** The object after the change, undefined when it was removed. */
  current: AnyObject | undefined;
}

export type StoreListener = (change: StoreChange) => void;

/** A read-only view of the store at one moment, what the model translates. */
export interface Snapshot {
  get<K extends Kind>(kind: K, key: string): KindMap[K] | undefined;
  list<K extends Kind>(kind: K): Iterable<KindMap[K]>;
  size(kind: Kind): number;
}

export class Store implements Snapshot {
  private readonly maps = new Map<Kind, Map<string, AnyObject>>();
  private readonly listeners = new Set<StoreListener>();
  /** Bumped on every change; lets consumers tell whether anything moved. */
  private revision = 0;

  constructor() {
    for (const k of KINDS) this.maps.set(k, new Map());
  }

  get rev(): number {
    return this.revision;
  }

  get<K extends Kind>(kind: K, key: string): KindMap[K] | undefined {
    return this.map(kind).get(key) as KindMap[K] | undefined;
  }

  list<K extends Kind>(kind: K): Iterable<KindMap[K]> {
    return this.map(kind).values() as Iterable<KindMap[K]>;
  }

  size(kind: Kind): number {
    return this.map(kind).size;
  }

  keys(kind: Kind): Iterable<string> {
    return this.map(kind).keys();
  }

  /** Adds or replaces an object. Returns false (and notifies nobody) when nothing changed. */
  upsert<K extends Kind>(kind: K, obj: KindMap[K]): boolean {
    const key = objectKey(obj.metadata);
    const m = this.map(kind);
    const old = m.get(key);
    if (old === obj) return false;
    if (old !== undefined && sameVersion(old, obj)) {
      m.set(key, obj);
      return false;
    }
    m.set(key, obj);
    this.emit({ kind, key, old, current: obj });
    return true;
  }

  remove(kind: Kind, key: string): boolean {
    const m = this.map(kind);
    const old = m.get(key);
    if (old === undefined) return false;
    m.delete(key);
    this.emit({ kind, key, old, current: undefined });
    return true;
  }

  /**
   * Makes the objects of one kind exactly `objs`: a diff, never delete-all then add-all, so a
   * relist after a watch failure does not drop routes in between.
   */
  replaceKind<K extends Kind>(kind: K, objs: Iterable<KindMap[K]>): void {
    const seen = new Set<string>();
    for (const o of objs) {
      seen.add(objectKey(o.metadata));
      this.upsert(kind, o);
    }
    for (const key of [...this.map(kind).keys()]) if (!seen.has(key)) this.remove(kind, key);
  }

  subscribe(listener: StoreListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private map(kind: Kind): Map<string, AnyObject> {
    const m = this.maps.get(kind);
    if (m === undefined) throw new Error(`unknown kind ${String(kind)}`);
    return m;
  }

  private emit(change: StoreChange): void {
    this.revision++;
    for (const l of this.listeners) l(change);
  }
}

/**
 * Two copies of an object are the same version when the API server says so (equal
 * resourceVersion). Objects from files have none; they are compared by content.
 */
function sameVersion(a: AnyObject, b: AnyObject): boolean {
  const ra = a.metadata.resourceVersion;
  const rb = b.metadata.resourceVersion;
  if (ra !== undefined && rb !== undefined) return ra === rb;
  return JSON.stringify(a) === JSON.stringify(b);
}
