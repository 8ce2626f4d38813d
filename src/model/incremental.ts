// Incremental translation: the same RoutingConfig as translate.ts, made from the previous one
// and the store changes since. DESIGN.md: "Translation is pure per virtual host, so a change
// re-translates only the hosts that the changed objects touch and reuses the rest of the
// previous config (structural sharing)."
//
// Kept between applies, per Ingress that is ours: its contribution (ingress-processor.ts), its
// own problems, and the objects it read from the snapshot (the Services its backends name,
// found or not: a missing one must re-process it when it appears). Indexes from those: which
// Ingresses read an object; which contributions name a host, a TLS host, or set a default
// backend (each list oldest first, as translate.ts sorts them).
//
// An apply:
//   1. Ingresses to re-process: those changed, plus those that read a changed object;
//   2. each is re-processed (or dropped: deleted, or no longer ours) and re-indexed;
//   3. hosts touched (old ∪ new hosts of those contributions) are rebuilt with
//      buildVirtualHost from the contributions that name them; likewise TLS hosts, and the
//      global default backend if a changed contribution has/had one;
//   4. RouteTable.update compiles those hosts and shares every other host's compiled table;
//      problems, Ingress and TLS lists are updated by merging, not re-sorted.
// An IngressClass change that alters which classes are ours (rare) rebuilds everything, as
// does a batch that touches a large part of the Ingresses (a relist): then that is cheaper.
// Any exception leaves no half-updated state behind: the next apply rebuilds everything.

import type { Snapshot, StoreChange } from '../store/store.ts';
import { objectKey, type Kind, type KindMap } from '../store/types.ts';
import { buildDefaultRoute, buildTlsBinding, buildVirtualHost, globalDefaultRoute } from './builder.ts';
import type { GlobalErrorBackend } from './error-backend-options.ts';
import { classSelector, type ClassOptions, type ClassSelector } from './ingress-class.ts';
import { compareAge, compareRefs, processIngressSafely, processOptions, type IngressContribution, type ProcessOptions } from './ingress-processor.ts';
import { compareProblems, ProblemSink, sameProblem } from './problems.ts';
import { RouteTable } from './route-table.ts';
import type { ObjectRef, Problem, Route, RoutingConfig, TlsBinding } from './types.ts';
import type { VirtualHost } from './virtual-host.ts';

/** What the last apply did, for logs, metrics and tests. */
export interface ApplyStats {
  /** Everything was rebuilt (first apply, our IngressClasses changed, or a large batch). */
  full: boolean;
  /** Ingresses processed. */
  ingresses: number;
  /** Virtual hosts rebuilt (or found gone). */
  hosts: number;
}

/** What an apply needs to know of a change: which object. */
export type ChangeRef = Pick<StoreChange, 'kind' | 'key'>;

interface Entry {
  /** The Ingress's key in the store. */
  readonly key: string;
  readonly contribution: IngressContribution;
  /** Problems found while processing it, sorted. */
  readonly problems: readonly Problem[];
  /** `kind\0key` of every object it read from the snapshot, found or not. */
  readonly deps: readonly string[];
  /** Kinds it listed whole (none today; any object of such a kind then counts). */
  readonly lists: readonly Kind[];
}

const NO_PROBLEMS: readonly Problem[] = Object.freeze([]);
const NO_KINDS: readonly Kind[] = Object.freeze([]);

function depKey(kind: string, key: string): string {
  return `${kind}\0${key}`;
}

/** The snapshot, recording what the Ingress processor reads from it. */
class RecordingSnapshot implements Snapshot {
  private readonly inner: Snapshot;
  /** Usually one or two: a list; a Set as well once there are many. */
  private deps: string[] = [];
  private many: Set<string> | null = null;
  private readonly lists = new Set<Kind>();

  constructor(inner: Snapshot) {
    this.inner = inner;
  }

  get<K extends Kind>(kind: K, key: string): KindMap[K] | undefined {
    const dep = depKey(kind, key);
    const deps = this.deps;
    if (this.many !== null) {
      if (!this.many.has(dep)) {
        this.many.add(dep);
        deps.push(dep);
      }
    } else if (!deps.includes(dep)) {
      deps.push(dep);
      if (deps.length === 32) this.many = new Set(deps);
    }
    return this.inner.get(kind, key);
  }

  list<K extends Kind>(kind: K): Iterable<KindMap[K]> {
    this.lists.add(kind);
    return this.inner.list(kind);
  }

  size(kind: Kind): number {
    this.lists.add(kind);
    return this.inner.size(kind);
  }

  /** What was read since the last take. */
  take(): { deps: string[]; lists: readonly Kind[] } {
    const deps = this.deps;
    this.deps = [];
    this.many = null;
    if (this.lists.size === 0) return { deps, lists: NO_KINDS };
    const lists = [...this.lists];
    this.lists.clear();
    return { deps, lists };
  }
}

function sameSelection(a: ClassSelector, b: ClassSelector): boolean {
  if (a.defaultIsOurs !== b.defaultIsOurs || a.ours.size !== b.ours.size) return false;
  for (const name of a.ours) if (!b.ours.has(name)) return false;
  return true;
}

/** Index of the first element of sorted `list` that is not before `x`. */
function lowerBound<T>(list: readonly T[], x: T, cmp: (a: T, b: T) => number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cmp(list[mid] as T, x) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index after the last element of sorted `list` that is not after `x`. */
function upperBound<T>(list: readonly T[], x: T, cmp: (a: T, b: T) => number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cmp(list[mid] as T, x) <= 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function insertSorted<T>(list: T[], x: T, cmp: (a: T, b: T) => number): void {
  list.splice(upperBound(list, x, cmp), 0, x);
}

/** Removes `x` itself (by identity) from sorted `list`. */
function removeSorted<T>(list: T[], x: T, cmp: (a: T, b: T) => number): void {
  for (let i = lowerBound(list, x, cmp); i < list.length && cmp(list[i] as T, x) === 0; i++) {
    if (list[i] === x) {
      list.splice(i, 1);
      return;
    }
  }
  // Not where the order says (should not happen): look everywhere.
  const i = list.indexOf(x);
  if (i >= 0) list.splice(i, 1);
}

/** Whether two lists hold the same refs by value, in any order. */
function sameRefs(a: ObjectRef[], b: ObjectRef[]): boolean {
  if (a.length !== b.length) return false;
  if (a.length > 1) {
    a.sort(compareRefs);
    b.sort(compareRefs);
  }
  for (let i = 0; i < a.length; i++) if (compareRefs(a[i] as ObjectRef, b[i] as ObjectRef) !== 0) return false;
  return true;
}

function compareTls(a: TlsBinding, b: TlsBinding): number {
  return a.host < b.host ? -1 : a.host > b.host ? 1 : 0;
}

/** `list` without adjacent repeats (sorted input: all repeats); `list` itself when it has none. */
function dedupeSorted(list: readonly Problem[]): readonly Problem[] {
  let i = 1;
  while (i < list.length && !sameProblem(list[i - 1] as Problem, list[i] as Problem)) i++;
  if (i >= list.length) return list;
  const out = list.slice(0, i);
  for (; i < list.length; i++) {
    const p = list[i] as Problem;
    if (!sameProblem(out[out.length - 1] as Problem, p)) out.push(p);
  }
  return out;
}

export class IncrementalTranslator {
  private readonly options: ClassOptions;
  private readonly processOptions: ProcessOptions;
  /** --default-backend-service: the default route when no Ingress has a spec.defaultBackend. */
  private readonly globalErrors: GlobalErrorBackend | undefined;
  /** Store key of its Service: a change to it rebuilds the default route. */
  private readonly globalServiceKey: string | null;
  private readonly sink = new ProblemSink();
  private selector: ClassSelector | null = null;
  private config: RouteTable | null = null;
  /** Set when the snapshot keys Ingresses other than by objectKey: then every apply is full. */
  private untracked = false;

  private readonly entries = new Map<string, Entry>();
  /** `kind\0key` of an object → key of the Ingress that read it, or a Set of them. */
  private readonly dependents = new Map<string, string | Set<string>>();
  /** Kind → keys of the Ingresses that listed it whole. */
  private readonly listDependents = new Map<Kind, Set<string>>();

  /** Rule host → contributions that name it, oldest first. */
  private readonly byHost = new Map<string, IngressContribution[]>();
  /** server-alias: aliased host → its alias hosts (with how many contributions alias them), so a canary change there rebuilds them. */
  private readonly aliasHosts = new Map<string, Map<string, number>>();
  private readonly contributionsOf = (host: string): readonly IngressContribution[] => this.byHost.get(host) ?? [];
  /** Rule host → problems of merging it (conflicts), when there are any. */
  private readonly hostProblems = new Map<string, readonly Problem[]>();
  /** Contributions with a default backend, oldest first. */
  private readonly withDefault: IngressContribution[] = [];
  private defaultRoute: Route | null = null;
  private defaultProblems: readonly Problem[] = NO_PROBLEMS;
  /** TLS host → contributions whose spec.tls names it, oldest first. */
  private readonly tlsByHost = new Map<string, IngressContribution[]>();
  private readonly tlsBindings = new Map<string, TlsBinding>();
  private readonly tlsProblems = new Map<string, readonly Problem[]>();

  private tls: readonly TlsBinding[] = [];
  private refs: readonly ObjectRef[] = [];
  /** Every problem of every source (Ingress, host, TLS host, default), sorted; may repeat. */
  private allProblems: readonly Problem[] = NO_PROBLEMS;
  private problems: readonly Problem[] = NO_PROBLEMS;

  private stats: ApplyStats = { full: true, ingresses: 0, hosts: 0 };

  constructor(options: ClassOptions & ProcessOptions) {
    this.options = { controllerName: options.controllerName, ingressClass: options.ingressClass, watchWithoutClass: options.watchWithoutClass === true };
    this.processOptions = processOptions(options);
    const g = options.globalErrors;
    this.globalErrors = g;
    this.globalServiceKey = g === undefined ? null : `${g.service.namespace}/${g.service.name}`;
  }

  /** What the last apply did. */
  get lastApply(): ApplyStats {
    return this.stats;
  }

  /**
   * The config for `snapshot`, which is the snapshot of the previous apply with `changes`
   * applied (every change since, in any order, repeats allowed; changes that cannot alter
   * routing may be left out, see store/routing-relevant.ts). Without `changes`,
   * or on the first apply, everything is built from the snapshot.
   */
  apply(snapshot: Snapshot, changes: readonly ChangeRef[] | undefined, version: number): RoutingConfig {
    try {
      if (this.config === null || changes === undefined || this.untracked) return this.rebuild(snapshot, version);
      return this.update(snapshot, changes, version);
    } catch (err) {
      this.reset();
      throw err;
    }
  }

  /** Forgets everything: the next apply rebuilds. */
  reset(): void {
    this.selector = null;
    this.config = null;
    this.untracked = false;
    this.entries.clear();
    this.dependents.clear();
    this.listDependents.clear();
    this.byHost.clear();
    this.aliasHosts.clear();
    this.hostProblems.clear();
    this.withDefault.length = 0;
    this.defaultRoute = null;
    this.defaultProblems = NO_PROBLEMS;
    this.tlsByHost.clear();
    this.tlsBindings.clear();
    this.tlsProblems.clear();
    this.tls = [];
    this.refs = [];
    this.allProblems = NO_PROBLEMS;
    this.problems = NO_PROBLEMS;
  }

  // ---- full ------------------------------------------------------------------------------

  private rebuild(snapshot: Snapshot, version: number): RouteTable {
    this.reset();
    const selector = classSelector(snapshot.list('IngressClass'), this.options);
    this.selector = selector;
    const recorder = new RecordingSnapshot(snapshot);
    const sources: (readonly Problem[])[] = [];
    const refs: ObjectRef[] = [];
    for (const ingress of snapshot.list('Ingress')) {
      if (!selector.isOurs(ingress)) continue;
      const key = keyOf(ingress);
      // The store keys objects by objectKey; should this snapshot not, changes could not be
      // matched with entries, so every apply rebuilds.
      if (key === undefined || snapshot.get('Ingress', key) !== ingress || this.entries.has(key)) this.untracked = true;
      const entry = this.process(key ?? '', ingress, recorder);
      if (key !== undefined) this.entries.set(key, entry);
      this.index(entry, false);
      refs.push(entry.contribution.ref);
      sources.push(entry.problems);
    }
    for (const list of this.byHost.values()) list.sort(compareAge);
    for (const list of this.tlsByHost.values()) list.sort(compareAge);
    this.withDefault.sort(compareAge);

    const sink = this.sink;
    const virtualHosts: VirtualHost[] = [];
    for (const [host, list] of this.byHost) {
      const vh = this.rebuildKey(this.hostProblems, host, () => buildVirtualHost(host, list, sink, this.contributionsOf), null, sources);
      // A host that ended with neither routes nor a fallback (all its paths invalid) is left
      // out, so it does not hide a wildcard or host-less rule that would have served it.
      if (vh.fallback !== null || vh.routes.length !== 0) virtualHosts.push(vh);
    }
    this.defaultRoute = buildDefaultRoute(this.withDefault, sink) ?? globalDefaultRoute(this.globalErrors, snapshot, sink);
    this.defaultProblems = sink.drain();
    sources.push(this.defaultProblems);
    const tls: TlsBinding[] = [];
    for (const [host, list] of this.tlsByHost) {
      const binding = this.rebuildKey(this.tlsProblems, host, () => buildTlsBinding(host, list, sink), null, sources);
      if (binding !== null) {
        this.tlsBindings.set(host, binding);
        tls.push(binding);
      }
    }
    this.tls = Object.freeze(tls.sort(compareTls));
    this.refs = Object.freeze(refs.sort(compareRefs));
    this.allProblems = Object.freeze(sources.flat().sort(compareProblems));
    this.problems = Object.freeze(dedupeSorted(this.allProblems));

    const config = new RouteTable({ version, virtualHosts, defaultRoute: this.defaultRoute, problems: this.problems, ingresses: this.refs, tls: this.tls });
    this.config = config;
    this.stats = { full: true, ingresses: this.entries.size, hosts: this.byHost.size };
    return config;
  }

  // ---- incremental -----------------------------------------------------------------------

  private update(snapshot: Snapshot, changes: readonly ChangeRef[], version: number): RouteTable {
    const previous = this.config as RouteTable;
    let selector = this.selector as ClassSelector;
    const keys = new Set<string>();
    let classes = false;
    let globalService = false;
    for (const { kind, key } of changes) {
      if (kind === 'IngressClass') classes = true;
      else if (kind === 'Service' && key === this.globalServiceKey) globalService = true;
      else if (kind === 'Ingress') keys.add(key);
      const readers = this.dependents.get(depKey(kind, key));
      if (typeof readers === 'string') keys.add(readers);
      else if (readers !== undefined) for (const k of readers) keys.add(k);
      const listers = this.listDependents.get(kind);
      if (listers !== undefined) for (const k of listers) keys.add(k);
    }
    if (classes) {
      const next = classSelector(snapshot.list('IngressClass'), this.options);
      if (!sameSelection(next, selector)) return this.rebuild(snapshot, version);
      selector = this.selector = next;
    }
    // A relist or a mass edit: one pass over everything beats many sorted inserts.
    if (keys.size > 256 && keys.size > this.entries.size / 4) return this.rebuild(snapshot, version);

    const recorder = new RecordingSnapshot(snapshot);
    const hosts = new Set<string>();
    const tlsHosts = new Set<string>();
    let defaults = globalService;
    const goneProblems: (readonly Problem[])[] = [];
    const newProblems: (readonly Problem[])[] = [];
    const goneRefs: ObjectRef[] = [];
    const newRefs: ObjectRef[] = [];
    let processed = 0;
    const touch = (c: IngressContribution): void => {
      for (const h of c.hosts.keys()) {
        hosts.add(h);
        // the aliases of a host serve all of its rules (and its canaries): they change with it
        for (const alias of this.aliasHosts.get(h)?.keys() ?? []) hosts.add(alias);
      }
      if (c.tls !== undefined) for (const h of c.tls.keys()) tlsHosts.add(h);
      if (c.defaultBackend !== null) defaults = true;
    };

    for (const key of keys) {
      const old = this.entries.get(key);
      const ingress = snapshot.get('Ingress', key);
      let next: Entry | undefined;
      if (ingress !== undefined && selector.isOurs(ingress)) {
        next = this.process(key, ingress, recorder);
        processed++;
      }
      if (old !== undefined) {
        touch(old.contribution);
        this.unindex(old);
        this.entries.delete(key);
        goneRefs.push(old.contribution.ref);
        if (old.problems.length !== 0) goneProblems.push(old.problems);
      }
      if (next !== undefined) {
        touch(next.contribution);
        this.entries.set(key, next);
        this.index(next, true);
        newRefs.push(next.contribution.ref);
        if (next.problems.length !== 0) newProblems.push(next.problems);
      }
    }

    const sink = this.sink;
    const virtualHosts: VirtualHost[] = [];
    const removedHosts: string[] = [];
    for (const host of hosts) {
      const list = this.byHost.get(host);
      const vh = this.rebuildKey(this.hostProblems, host, () => (list === undefined ? null : buildVirtualHost(host, list, sink, this.contributionsOf)), goneProblems, newProblems);
      if (vh !== null && (vh.fallback !== null || vh.routes.length !== 0)) virtualHosts.push(vh);
      else removedHosts.push(host);
    }

    if (defaults) {
      goneProblems.push(this.defaultProblems);
      this.defaultRoute = buildDefaultRoute(this.withDefault, sink) ?? globalDefaultRoute(this.globalErrors, snapshot, sink);
      this.defaultProblems = sink.drain();
      newProblems.push(this.defaultProblems);
    }

    if (tlsHosts.size !== 0) this.updateTls(tlsHosts, goneProblems, newProblems);
    // The list only says which Ingresses are ours: an edit (same namespace/name out and in)
    // leaves it as it is, so one list serves many configs. Refs are removed by value.
    if (!sameRefs(goneRefs, newRefs)) {
      const refs = this.refs.slice();
      for (const r of goneRefs) {
        const i = lowerBound(refs, r, compareRefs);
        if (i < refs.length && compareRefs(refs[i] as ObjectRef, r) === 0) refs.splice(i, 1);
      }
      for (const r of newRefs) insertSorted(refs, r, compareRefs);
      this.refs = refs;
    }
    this.mergeProblems(goneProblems, newProblems);

    const config = RouteTable.update(previous, {
      version,
      virtualHosts,
      removedHosts,
      defaultRoute: this.defaultRoute,
      problems: this.problems,
      ingresses: this.refs,
      tls: this.tls,
    });
    this.config = config;
    this.stats = { full: false, ingresses: processed, hosts: hosts.size };
    return config;
  }

  private updateTls(hosts: ReadonlySet<string>, goneProblems: (readonly Problem[])[], newProblems: (readonly Problem[])[]): void {
    const sink = this.sink;
    let tls: TlsBinding[] | null = null;
    for (const host of hosts) {
      const list = this.tlsByHost.get(host);
      const binding = this.rebuildKey(this.tlsProblems, host, () => (list === undefined ? null : buildTlsBinding(host, list, sink)), goneProblems, newProblems);
      const old = this.tlsBindings.get(host);
      if (old === undefined && binding === null) continue;
      if (old !== undefined && binding !== null && old.secret === binding.secret && old.ingress === binding.ingress) continue;
      tls ??= this.tls.slice();
      if (old !== undefined) removeSorted(tls, old, compareTls);
      if (binding !== null) {
        insertSorted(tls, binding, compareTls);
        this.tlsBindings.set(host, binding);
      } else {
        this.tlsBindings.delete(host);
      }
    }
    if (tls !== null) this.tls = tls;
  }

  /**
   * Builds the result for one key (a virtual host, a TLS host) with the shared sink and swaps
   * that key's problems: its previous list goes to `gone` (null on a full rebuild, where there
   * is none), the new one to `added` and to `problemsByKey`. The one place that does this
   * bookkeeping, whatever the kind of key.
   */
  private rebuildKey<T>(
    problemsByKey: Map<string, readonly Problem[]>,
    key: string,
    build: () => T,
    gone: (readonly Problem[])[] | null,
    added: (readonly Problem[])[],
  ): T {
    const oldProblems = problemsByKey.get(key);
    if (oldProblems !== undefined && gone !== null) gone.push(oldProblems);
    const result = build();
    const problems = this.sink.drain();
    if (problems.length !== 0) {
      problemsByKey.set(key, problems);
      added.push(problems);
    } else if (oldProblems !== undefined) {
      problemsByKey.delete(key);
    }
    return result;
  }

  /** Takes the problems of sources that were redone out of the list, and theirs now in. */
  private mergeProblems(gone: readonly (readonly Problem[])[], added: readonly (readonly Problem[])[]): void {
    let goneCount = 0;
    for (const g of gone) goneCount += g.length;
    const incoming = added.flat();
    if (goneCount === 0 && incoming.length === 0) return;
    let kept = this.allProblems;
    if (goneCount !== 0) {
      const drop = new Set<Problem>();
      for (const g of gone) for (const p of g) drop.add(p);
      kept = kept.filter((p) => !drop.has(p));
    }
    incoming.sort(compareProblems);
    const merged: Problem[] = new Array<Problem>(kept.length + incoming.length);
    let i = 0;
    let j = 0;
    let k = 0;
    while (i < kept.length && j < incoming.length) {
      merged[k++] = compareProblems(kept[i] as Problem, incoming[j] as Problem) <= 0 ? (kept[i++] as Problem) : (incoming[j++] as Problem);
    }
    while (i < kept.length) merged[k++] = kept[i++] as Problem;
    while (j < incoming.length) merged[k++] = incoming[j++] as Problem;
    this.allProblems = merged;
    this.problems = dedupeSorted(merged);
  }

  // ---- per Ingress -----------------------------------------------------------------------

  private process(key: string, ingress: unknown, recorder: RecordingSnapshot): Entry {
    const contribution = processIngressSafely(ingress, recorder, this.sink, this.processOptions);
    const problems = this.sink.drain();
    const { deps, lists } = recorder.take();
    return { key, contribution, problems: problems.length === 0 ? NO_PROBLEMS : Object.freeze(problems), deps, lists };
  }

  /** Adds an entry to the indexes; `sorted`: keep lists in age order now (else sort later). */
  private index(entry: Entry, sorted: boolean): void {
    const c = entry.contribution;
    for (const host of c.hosts.keys()) addTo(this.byHost, host, c, sorted);
    if (c.aliasSource !== undefined) this.countAliases(c, 1);
    if (c.tls !== undefined) for (const host of c.tls.keys()) addTo(this.tlsByHost, host, c, sorted);
    if (c.defaultBackend !== null) {
      if (sorted) insertSorted(this.withDefault, c, compareAge);
      else this.withDefault.push(c);
    }
    for (const dep of entry.deps) {
      const readers = this.dependents.get(dep);
      if (readers === undefined) this.dependents.set(dep, entry.key);
      else if (typeof readers !== 'string') readers.add(entry.key);
      else if (readers !== entry.key) this.dependents.set(dep, new Set([readers, entry.key]));
    }
    for (const kind of entry.lists) {
      const set = this.listDependents.get(kind);
      if (set === undefined) this.listDependents.set(kind, new Set([entry.key]));
      else set.add(entry.key);
    }
  }

  /** Adds (+1) or removes (-1) a contribution's server-alias hosts in aliasHosts. */
  private countAliases(c: IngressContribution, delta: 1 | -1): void {
    const source = c.aliasSource!;
    let m = this.aliasHosts.get(source);
    for (const [host, routes] of c.hosts) {
      if (routes[0]?.alias !== true) continue;
      if (m === undefined) this.aliasHosts.set(source, (m = new Map()));
      const n = (m.get(host) ?? 0) + delta;
      if (n <= 0) m.delete(host);
      else m.set(host, n);
    }
    if (m !== undefined && m.size === 0) this.aliasHosts.delete(source);
  }

  private unindex(entry: Entry): void {
    const c = entry.contribution;
    for (const host of c.hosts.keys()) removeFrom(this.byHost, host, c);
    if (c.aliasSource !== undefined) this.countAliases(c, -1);
    if (c.tls !== undefined) for (const host of c.tls.keys()) removeFrom(this.tlsByHost, host, c);
    if (c.defaultBackend !== null) removeSorted(this.withDefault, c, compareAge);
    for (const dep of entry.deps) {
      const readers = this.dependents.get(dep);
      if (readers === undefined) continue;
      if (typeof readers === 'string') {
        if (readers === entry.key) this.dependents.delete(dep);
      } else {
        readers.delete(entry.key);
        if (readers.size === 0) this.dependents.delete(dep);
      }
    }
    for (const kind of entry.lists) {
      const set = this.listDependents.get(kind);
      if (set === undefined) continue;
      set.delete(entry.key);
      if (set.size === 0) this.listDependents.delete(kind);
    }
  }
}

/**
 * A translate function for the reconciler: `changes` undefined builds from scratch, otherwise
 * the previous config is updated (see IncrementalTranslator.apply).
 */
export function incrementalTranslate(options: ClassOptions & ProcessOptions): (snapshot: Snapshot, version: number, changes?: readonly ChangeRef[]) => RoutingConfig {
  const translator = new IncrementalTranslator(options);
  return (snapshot, version, changes) => translator.apply(snapshot, changes, version);
}

function keyOf(obj: { metadata?: unknown }): string | undefined {
  const meta = obj.metadata;
  if (typeof meta !== 'object' || meta === null) return undefined;
  return objectKey(meta as { namespace?: string; name: string });
}

function addTo(index: Map<string, IngressContribution[]>, host: string, c: IngressContribution, sorted: boolean): void {
  const list = index.get(host);
  if (list === undefined) index.set(host, [c]);
  else if (sorted) insertSorted(list, c, compareAge);
  else list.push(c);
}

function removeFrom(index: Map<string, IngressContribution[]>, host: string, c: IngressContribution): void {
  const list = index.get(host);
  if (list === undefined) return;
  removeSorted(list, c, compareAge);
  if (list.length === 0) index.delete(host);
}
