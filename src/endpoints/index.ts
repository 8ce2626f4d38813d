// EndpointSlices → usable endpoints per Service port (`namespace/service:portName`).
//
// The index listens to the Store. Each EndpointSlice change re-parses that one slice and marks
// its Service dirty; dirty Services are recomputed once per synchronous burst (on a microtask),
// or at once when someone reads the index in between (`get`, `keys`, `size`, `flush`), so reads
// are always consistent and a relist of 20,000 slices costs one merge per Service instead of one
// per slice. A recompute touches only that Service's slices. Sets that did not change keep their
// object identity (balancers key their state on it); a changed set is a new frozen object.
//
// Semantics (LIBRARIES §3.6): slices of one Service are merged across address families and
// across slices, deduplicated by address+port. The key's port name is the slice port's `name`
// ('' when absent), which equals the Service port's name; the endpoint's port is the slice
// port's `port` (the resolved pod port, which may differ between slices of one Service).
// `ready` nil ⇒ ready. When no endpoint of a port is ready, the terminating endpoints that are
// still serving (`serving` nil ⇒ `ready`) are used, marked `terminating: true`.
//
// Addresses that are not IP literals of the slice's addressType are dropped, and FQDN slices
// are not used; each such slice has one current problem (`problems()`), logged as a warning
// when it appears or changes.

import { fixedEndpointSet } from './fixed.ts';
import type { Logger } from '../observe/log.ts';
import { silentLogger } from '../observe/log.ts';
import type { Store, StoreChange } from '../store/store.ts';
import { validAddress } from './address.ts';
import { fqdnProblem, invalidAddressProblem, unknownAddressTypeProblem } from './problems.ts';
import type { EndpointProblem } from './problems.ts';
import type { EndpointSet, EndpointLookup, UpstreamEndpoint } from './types.ts';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** The set returned for unknown keys and for ports without usable endpoints; shared and frozen. */
export const EMPTY_ENDPOINT_SET: EndpointSet = Object.freeze({
  endpoints: Object.freeze([]) as readonly UpstreamEndpoint[],
});

export type EndpointsChangeListener = (keys: string[]) => void;

export interface EndpointIndexOptions {
  /** Warnings about unusable slices go here (a worker whose primary reports passes none). */
  log?: Logger;
}

/** `namespace/service:portName`, the key routes carry in `Backend.endpointsKey`. */
export function endpointsKey(namespace: string, service: string, portName: string): string {
  return `${namespace}/${service}:${portName}`;
}

/** `ip:port`, or `[ip]:port` for IPv6. */
export function endpointKey(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

// A slice reduced to what the merge needs; built once per slice change. Endpoint objects are
// created (frozen, sorted by key, deduplicated) here, so a Service with a single slice per port
// reuses these arrays as its sets without copying.
interface ParsedPort {
  name: string;
  /** Ready endpoints. */
  ready: readonly UpstreamEndpoint[];
  /** Not ready, but serving while terminating: used only when no slice has a ready one. */
  fallback: readonly UpstreamEndpoint[];
}
interface ParsedSlice {
  /** `namespace/service` */
  service: string;
  ports: ParsedPort[];
}

const READY = 2;
const SERVING_TERMINATING = 1;
const UNUSABLE = 0;

export class EndpointIndex implements EndpointLookup {
  private readonly log: Logger;
  /** `namespace/service` → slice store key → parsed slice. */
  private readonly slicesByService = new Map<string, Map<string, ParsedSlice>>();
  /** slice store key → `namespace/service` it currently counts for. */
  private readonly serviceOfSlice = new Map<string, string>();
  /** endpoints key → non-empty set. Keys with no usable endpoint are absent. */
  private readonly sets = new Map<string, EndpointSet>();
  /** `namespace/service` → the endpoints keys (port names) it currently has sets for. */
  private readonly keysByService = new Map<string, Set<string>>();
  private readonly dirty = new Set<string>();
  private readonly changedKeys = new Set<string>();
  private readonly listeners = new Set<EndpointsChangeListener>();
  private notifyScheduled = false;
  private detachStore: (() => void) | undefined;
  /** slice store key → what is wrong with it now. */
  private readonly problemBySlice = new Map<string, EndpointProblem>();

  /** With a store, attaches to it at once (same as calling `attach(store)`). */
  constructor(store?: Store, opts: EndpointIndexOptions = {}) {
    this.log = opts.log ?? silentLogger;
    if (store !== undefined) this.attach(store);
  }

  /**
   * Loads the EndpointSlices already in the store and follows its changes. Returns a function
   * that stops following (the index keeps its last state).
   */
  attach(store: Store): () => void {
    this.detachStore?.();
    for (const key of store.keys('EndpointSlice')) this.applySlice(key, store.get('EndpointSlice', key));
    const unsubscribe = store.subscribe((change) => this.onStoreChange(change));
    this.detachStore = unsubscribe;
    return () => {
      unsubscribe();
      if (this.detachStore === unsubscribe) this.detachStore = undefined;
    };
  }

  /** Stops following the store. */
  detach(): void {
    this.detachStore?.();
    this.detachStore = undefined;
  }

  get(key: string): EndpointSet {
    if (this.dirty.size !== 0) this.flush();
    const set = this.sets.get(key);
    if (set !== undefined) return set;
    // ExternalName and service-upstream backends: one fixed address (fixed.ts)
    return key.charCodeAt(0) === 64 /* @ */ ? (fixedEndpointSet(key) ?? EMPTY_ENDPOINT_SET) : EMPTY_ENDPOINT_SET;
  }

  /** Number of keys that have at least one usable endpoint. */
  size(): number {
    this.flush();
    return this.sets.size;
  }

  /** Keys that have at least one usable endpoint, sorted. */
  keys(): string[] {
    this.flush();
    return [...this.sets.keys()].sort();
  }

  /**
   * Called (on a microtask after a burst of slice changes) with the keys whose set changed,
   * including keys that became empty. Returns an unsubscribe function.
   */
  onChange(listener: EndpointsChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Recomputes dirty Services now. Reads do this implicitly; useful in tests and benchmarks. */
  flush(): void {
    if (this.dirty.size === 0) return;
    const services = [...this.dirty];
    this.dirty.clear();
    for (const service of services) this.recompute(service);
  }

  /**
   * Applies one EndpointSlice (or its removal when `slice` is undefined) under its store key.
   * `attach` calls this for every store change; exposed for feeding the index without a Store.
   */
  applySlice(sliceKey: string, slice: unknown): void {
    let problem: EndpointProblem | undefined;
    const parsed = slice === undefined ? undefined : this.parse(sliceKey, slice, (p) => (problem = p));
    this.setProblem(sliceKey, problem);
    const before = this.serviceOfSlice.get(sliceKey);
    if (before !== undefined && (parsed === undefined || parsed.service !== before)) {
      const slices = this.slicesByService.get(before);
      if (slices !== undefined) {
        slices.delete(sliceKey);
        if (slices.size === 0) this.slicesByService.delete(before);
      }
      this.serviceOfSlice.delete(sliceKey);
      this.markDirty(before);
    }
    if (parsed !== undefined) {
      let slices = this.slicesByService.get(parsed.service);
      if (slices === undefined) {
        slices = new Map();
        this.slicesByService.set(parsed.service, slices);
      }
      slices.set(sliceKey, parsed);
      this.serviceOfSlice.set(sliceKey, parsed.service);
      this.markDirty(parsed.service);
    }
  }

  /** The current problems, one per slice at most, sorted by slice. */
  problems(): EndpointProblem[] {
    return [...this.problemBySlice.values()].sort((a, b) => (a.slice < b.slice ? -1 : a.slice > b.slice ? 1 : 0));
  }

  // Logged once while it lasts: a relist or an unrelated change to the slice stays quiet.
  private setProblem(sliceKey: string, problem: EndpointProblem | undefined): void {
    const before = this.problemBySlice.get(sliceKey);
    if (problem === undefined) {
      if (before !== undefined) this.problemBySlice.delete(sliceKey);
      return;
    }
    this.problemBySlice.set(sliceKey, problem);
    if (before?.message !== problem.message) this.log.warn(problem.message, { reason: problem.reason, slice: problem.slice });
  }

  private onStoreChange(change: StoreChange): void {
    if (change.kind !== 'EndpointSlice') return;
    this.applySlice(change.key, change.current);
  }

  private markDirty(service: string): void {
    this.dirty.add(service);
    this.scheduleNotify();
  }

  private scheduleNotify(): void {
    if (this.notifyScheduled) return;
    this.notifyScheduled = true;
    queueMicrotask(() => {
      this.notifyScheduled = false;
      this.flush();
      if (this.changedKeys.size === 0) return;
      const keys = [...this.changedKeys];
      this.changedKeys.clear();
      for (const l of this.listeners) {
        try {
          l(keys);
        } catch (err) {
          this.log.error('endpoints change listener failed', { error: err });
        }
      }
    });
  }

  /** Merges all slices of one Service into sets per port name; keeps unchanged sets. */
  private recompute(service: string): void {
    const slices = this.slicesByService.get(service);
    // port name → contributions of every slice
    const byPort = new Map<string, { ready: (readonly UpstreamEndpoint[])[]; fallback: (readonly UpstreamEndpoint[])[] }>();
    if (slices !== undefined) {
      for (const slice of slices.values()) {
        for (const p of slice.ports) {
          let c = byPort.get(p.name);
          if (c === undefined) {
            c = { ready: [], fallback: [] };
            byPort.set(p.name, c);
          }
          if (p.ready.length !== 0) c.ready.push(p.ready);
          if (p.fallback.length !== 0) c.fallback.push(p.fallback);
        }
      }
    }

    const oldKeys = this.keysByService.get(service);
    const newKeys = new Set<string>();
    for (const [portName, c] of byPort) {
      const parts = c.ready.length !== 0 ? c.ready : c.fallback;
      if (parts.length === 0) continue;
      const key = `${service}:${portName}`;
      newKeys.add(key);
      const endpoints = parts.length === 1 ? parts[0]! : mergeSorted(parts);
      const old = this.sets.get(key);
      if (old !== undefined && sameEndpoints(old.endpoints, endpoints)) continue;
      this.sets.set(key, Object.freeze({ endpoints }));
      this.changedKeys.add(key);
    }
    if (oldKeys !== undefined) {
      for (const key of oldKeys) {
        if (newKeys.has(key)) continue;
        this.sets.delete(key);
        this.changedKeys.add(key);
      }
    }
    if (newKeys.size === 0) this.keysByService.delete(service);
    else this.keysByService.set(service, newKeys);
  }

  /** Validates and reduces a slice; undefined (logged at debug) when it cannot be used. */
  private parse(sliceKey: string, raw: unknown, report: (p: EndpointProblem) => void): ParsedSlice | undefined {
    const skip = (why: string): undefined => {
      if (this.log.enabled('debug')) this.log.debug('EndpointSlice skipped', { slice: sliceKey, reason: why });
      return undefined;
    };
    if (!isRecord(raw)) return skip('not an object');
    const meta = raw.metadata;
    if (!isRecord(meta)) return skip('no metadata');
    const name = meta.name;
    if (typeof name !== 'string' || name === '') return skip('no metadata.name');
    const ns = meta.namespace;
    if (ns !== undefined && ns !== null && typeof ns !== 'string') return skip('metadata.namespace is not a string');
    const labels = meta.labels;
    const svc = isRecord(labels) ? labels[SERVICE_NAME_LABEL] : undefined;
    if (typeof svc !== 'string' || svc === '') return skip(`no ${SERVICE_NAME_LABEL} label`);
    const namespace = typeof ns === 'string' && ns !== '' ? ns : 'default';
    const sliceName = `${namespace}/${name}`;
    const addressType = raw.addressType;
    if (addressType !== 'IPv4' && addressType !== 'IPv6') {
      report(addressType === 'FQDN' ? fqdnProblem(sliceName) : unknownAddressTypeProblem(sliceName, addressType));
      return skip(addressType === 'FQDN' ? 'FQDN slices are not supported' : 'unknown addressType');
    }

    const rawPorts = raw.ports;
    if (rawPorts !== undefined && rawPorts !== null && !Array.isArray(rawPorts)) return skip('ports is not a list');
    const rawEndpoints = raw.endpoints;
    if (rawEndpoints !== undefined && rawEndpoints !== null && !Array.isArray(rawEndpoints)) {
      return skip('endpoints is not a list');
    }

    // addresses and grades once; one endpoint object per (endpoint, port) below
    const addresses: string[] = [];
    const grades: number[] = [];
    let invalid: unknown[] | undefined;
    if (rawEndpoints) {
      for (const e of rawEndpoints as unknown[]) {
        if (!isRecord(e)) continue;
        const addrs = e.addresses;
        if (!Array.isArray(addrs) || addrs.length === 0) continue;
        const address: unknown = addrs[0];
        if (typeof address !== 'string' || !validAddress(address, addressType)) {
          (invalid ??= []).push(address);
          continue;
        }
        const g = grade(e.conditions);
        if (g === UNUSABLE) continue;
        addresses.push(address);
        grades.push(g);
      }
    }

    if (invalid !== undefined) report(invalidAddressProblem(sliceName, addressType, invalid));

    const ports: ParsedPort[] = [];
    if (rawPorts) {
      for (const p of rawPorts as unknown[]) {
        if (!isRecord(p)) continue;
        const port = p.port;
        if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) continue;
        const proto = p.protocol;
        if (proto !== undefined && proto !== null && proto !== 'TCP') continue; // a proxy speaks TCP only
        const pn = p.name;
        if (pn !== undefined && pn !== null && typeof pn !== 'string') continue;
        const ready: UpstreamEndpoint[] = [];
        const fallback: UpstreamEndpoint[] = [];
        for (let i = 0; i < addresses.length; i++) {
          const address = addresses[i]!;
          const terminating = grades[i] === SERVING_TERMINATING;
          const e = Object.freeze({ address, port, key: endpointKey(address, port), terminating });
          (terminating ? fallback : ready).push(e);
        }
        ports.push({ name: pn ?? '', ready: sortedUnique(ready), fallback: sortedUnique(fallback) });
      }
    }
    return { service: `${namespace}/${svc}`, ports };
  }
}

function grade(conditions: unknown): number {
  if (conditions === undefined || conditions === null) return READY;
  if (!isRecord(conditions)) return UNUSABLE;
  const ready = conditions.ready;
  // ready is authoritative: nil ⇒ ready, even when also marked terminating.
  if (ready === undefined || ready === null || ready === true) return READY;
  if (ready !== false) return UNUSABLE;
  const serving = conditions.serving;
  const isServing = serving === undefined || serving === null ? false : serving === true;
  return isServing && conditions.terminating === true ? SERVING_TERMINATING : UNUSABLE;
}

function byKey(a: UpstreamEndpoint, b: UpstreamEndpoint): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/** Sorts by key, drops repeated keys, freezes. */
function sortedUnique(list: UpstreamEndpoint[]): readonly UpstreamEndpoint[] {
  if (list.length > 1) {
    let sorted = true;
    for (let i = 1; i < list.length && sorted; i++) if (list[i - 1]!.key >= list[i]!.key) sorted = false;
    if (!sorted) {
      list.sort(byKey);
      let w = 1;
      for (let r = 1; r < list.length; r++) if (list[r]!.key !== list[w - 1]!.key) list[w++] = list[r]!;
      list.length = w;
    }
  }
  return Object.freeze(list);
}

function mergeSorted(parts: (readonly UpstreamEndpoint[])[]): readonly UpstreamEndpoint[] {
  const all: UpstreamEndpoint[] = [];
  for (const p of parts) for (const e of p) all.push(e);
  return sortedUnique(all);
}

function sameEndpoints(a: readonly UpstreamEndpoint[], b: readonly UpstreamEndpoint[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.key !== y.key || x.terminating !== y.terminating) return false;
  }
  return true;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
