// Storage of the fake API server: one global resourceVersion counter (like etcd's revision)
// shared by every kind, a bounded event history for watch resumption and paging snapshots, and
// the write semantics of the real registry (optimistic concurrency, status subresource,
// generation, no-op writes, Lease quirks).

import { randomUUID, randomInt } from 'node:crypto';
import { apiError } from './errors.ts';
import type { ResourceDef } from './resources.ts';
import { canonicalJson, clone, isJsonObject, jsonPatch, mergePatch } from './patch.ts';
import type { JsonObject, JsonValue } from './patch.ts';

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  readonly rv: number;
  readonly def: ResourceDef;
  readonly type: EventType;
  /** The object after the change (for DELETED: its last state, carrying the deletion RV). Includes kind/apiVersion. */
  readonly object: JsonObject;
  /** The object before the change (undefined for ADDED). */
  readonly prev: JsonObject | undefined;
}

export type PatchType = 'merge' | 'json' | 'strategic';

export interface WriteResult {
  object: JsonObject;
  /** True when a PUT created the object (Lease) — HTTP 201. */
  created: boolean;
}

export interface DeletePreconditions {
  uid?: string;
  resourceVersion?: string;
}

const MICROTIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$/;
const SUBDOMAIN_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1035_RE = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

export function objKey(ns: string | undefined, name: string): string {
  return ns ? `${ns}/${name}` : name;
}

export function metaOf(obj: JsonObject): JsonObject {
  const m = obj.metadata;
  return isJsonObject(m) ? m : {};
}

function str(v: JsonValue | undefined): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** RFC 3339 with second precision, like metav1.Time. */
export function nowTimestamp(): string {
  return new Date().toISOString().replace(/\.\d+Z$/, 'Z');
}

/** Everything except identity/metadata/status: a change here bumps metadata.generation. */
function specPart(obj: JsonObject): string {
  const rest: JsonObject = {};
  for (const [k, v] of Object.entries(obj)) {
    if (k !== 'metadata' && k !== 'status' && k !== 'kind' && k !== 'apiVersion') rest[k] = v;
  }
  return canonicalJson(rest);
}

function withoutRv(obj: JsonObject): string {
  const c = clone(obj);
  const m = metaOf(c);
  delete m.resourceVersion;
  return canonicalJson(c);
}

function qualifiedKind(def: ResourceDef): string {
  return def.group === '' ? def.kind : `${def.kind}.${def.group}`;
}

export function notFound(def: ResourceDef, name: string): Error {
  return apiError(404, `${def.qualifiedResource} "${name}" not found`, 'NotFound', {
    name,
    group: def.group,
    kind: def.plural,
  });
}

export function conflict(def: ResourceDef, name: string, why?: string): Error {
  return apiError(
    409,
    `Operation cannot be fulfilled on ${def.qualifiedResource} "${name}": ${
      why ?? 'the object has been modified; please apply your changes to the latest version and try again'
    }`,
    'Conflict',
    { name, group: def.group, kind: def.plural },
  );
}

export function invalid(def: ResourceDef, name: string, field: string, detail: string): Error {
  return apiError(422, `${qualifiedKind(def)} "${name}" is invalid: ${field}: ${detail}`, 'Invalid', {
    name,
    group: def.group,
    kind: def.kind,
    causes: [{ reason: 'FieldValueInvalid', message: detail, field }],
  });
}

export function expired(message: string): Error {
  return apiError(410, message, 'Expired');
}

export interface StoreOptions {
  /** Max number of events kept for watch resumption / continue tokens. */
  historyWindow: number;
}

export class Store {
  private rv = 0;
  /** Events with rv <= compactedRv are gone; watching/continuing from an RV below this is 410. */
  private compactedRv = 0;
  private readonly objects = new Map<string, Map<string, JsonObject>>();
  private history: StoreEvent[] = [];
  private head = 0;
  private readonly listeners = new Set<(ev: StoreEvent) => void>();
  private readonly historyWindow: number;

  constructor(opts: StoreOptions) {
    this.historyWindow = Math.max(1, Math.floor(opts.historyWindow));
  }

  get currentRv(): number {
    return this.rv;
  }

  /** The oldest RV that can still be watched from / continued at. */
  get oldestRv(): number {
    return this.compactedRv;
  }

  subscribe(fn: (ev: StoreEvent) => void): () => void {
    this.listeners.add(fn);
    return () => {
      this.listeners.delete(fn);
    };
  }

  private table(def: ResourceDef): Map<string, JsonObject> {
    let t = this.objects.get(def.id);
    if (!t) {
      t = new Map();
      this.objects.set(def.id, t);
    }
    return t;
  }

  /** The stored object (shared reference: callers must not mutate). */
  peek(def: ResourceDef, ns: string | undefined, name: string): JsonObject | undefined {
    return this.table(def).get(objKey(def.namespaced ? ns : undefined, name));
  }

  /** Current objects of a kind, sorted by namespace/name (shared references). */
  current(def: ResourceDef): JsonObject[] {
    return [...this.table(def).entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((e) => e[1]);
  }

  /** The objects of a kind as they were at `rv` (reconstructed from history). 410 if compacted. */
  snapshotAt(def: ResourceDef, rv: number): JsonObject[] {
    if (rv >= this.rv) return this.current(def);
    if (rv < this.compactedRv) {
      throw expired(`too old resource version: ${rv} (${this.compactedRv})`);
    }
    const m = new Map(this.table(def));
    for (let i = this.history.length - 1; i >= this.head; i--) {
      const ev = this.history[i];
      if (!ev || ev.rv <= rv) break;
      if (ev.def !== def) continue;
      const meta = metaOf(ev.object);
      const key = objKey(str(meta.namespace), str(meta.name) ?? '');
      if (ev.type === 'ADDED' || !ev.prev) m.delete(key);
      else m.set(key, ev.prev);
    }
    return [...m.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((e) => e[1]);
  }

  /** Events strictly after `rv`. Throws 410 Expired when `rv` is older than the history window. */
  eventsAfter(rv: number): StoreEvent[] {
    if (rv < this.compactedRv) {
      throw expired(`too old resource version: ${rv} (${this.compactedRv})`);
    }
    const out: StoreEvent[] = [];
    for (let i = this.head; i < this.history.length; i++) {
      const ev = this.history[i];
      if (ev && ev.rv > rv) out.push(ev);
    }
    return out;
  }

  /**
   * Drop the whole history and advance the RV by one (as unrelated writes elsewhere in a real cluster
   * would), so every RV handed out so far is too old to watch from or continue at.
   */
  compact(): void {
    this.rv++;
    this.compactedRv = this.rv;
    this.history = [];
    this.head = 0;
  }

  private commit(def: ResourceDef, type: EventType, obj: JsonObject, prev: JsonObject | undefined): JsonObject {
    this.rv++;
    const stored = clone(obj);
    stored.apiVersion = def.apiVersion;
    stored.kind = def.kind;
    const meta = metaOf(stored);
    meta.resourceVersion = String(this.rv);
    stored.metadata = meta;
    const key = objKey(str(meta.namespace), str(meta.name) ?? '');
    if (type === 'DELETED') this.table(def).delete(key);
    else this.table(def).set(key, stored);
    const ev: StoreEvent = { rv: this.rv, def, type, object: stored, prev };
    this.history.push(ev);
    while (this.history.length - this.head > this.historyWindow) {
      const dropped = this.history[this.head];
      if (dropped) this.compactedRv = dropped.rv;
      this.head++;
    }
    if (this.head > 1024) {
      this.history = this.history.slice(this.head);
      this.head = 0;
    }
    for (const l of [...this.listeners]) {
      try {
        l(ev);
      } catch {
        // a broken watcher must not break writes
      }
    }
    return stored;
  }

  private validate(def: ResourceDef, obj: JsonObject): void {
    const meta = metaOf(obj);
    const name = str(meta.name) ?? '';
    if (!name) throw invalid(def, name, 'metadata.name', 'Required value: name or generateName is required');
    const nameOk =
      def.kind === 'Service'
        ? name.length <= 63 && DNS1035_RE.test(name)
        : name.length <= 253 && SUBDOMAIN_RE.test(name);
    if (!nameOk) {
      throw invalid(
        def,
        name,
        'metadata.name',
        `Invalid value: "${name}": ${
          def.kind === 'Service'
            ? "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character"
            : "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
        }`,
      );
    }
    if (def.namespaced && !str(meta.namespace)) {
      throw invalid(def, name, 'metadata.namespace', 'Required value');
    }
    for (const field of ['labels', 'annotations'] as const) {
      const m = meta[field];
      if (m === undefined || m === null) continue;
      if (!isJsonObject(m) || Object.values(m).some((v) => typeof v !== 'string')) {
        throw apiError(
          400,
          `${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: json: cannot unmarshal into Go struct field ObjectMeta.metadata.${field} of type string`,
        );
      }
    }
    for (const path of def.microTimeFields) {
      let cur: JsonValue | undefined = obj;
      for (const p of path) cur = isJsonObject(cur) ? cur[p] : undefined;
      if (cur === undefined || cur === null) continue;
      if (typeof cur !== 'string' || !MICROTIME_RE.test(cur)) {
        throw apiError(
          400,
          `${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: parsing time ${JSON.stringify(
            cur,
          )} as "2006-01-02T15:04:05.000000Z07:00": cannot parse as RFC3339Micro (field ${path.join('.')})`,
        );
      }
    }
  }

  /** Per-kind defaulting/normalisation done by the real registry on every write. */
  private normalize(def: ResourceDef, obj: JsonObject): void {
    if (def.kind === 'Secret' && def.group === '') {
      const sd = obj.stringData;
      if (isJsonObject(sd)) {
        const data = isJsonObject(obj.data) ? obj.data : {};
        for (const [k, v] of Object.entries(sd)) {
          if (typeof v === 'string') data[k] = Buffer.from(v, 'utf8').toString('base64');
        }
        obj.data = data;
      }
      delete obj.stringData;
      if (typeof obj.type !== 'string' || obj.type === '') obj.type = 'Opaque';
    }
    const meta = metaOf(obj);
    if (!def.namespaced) delete meta.namespace;
    obj.metadata = meta;
  }

  /**
   * Create. `strict` (HTTP) rejects a preset resourceVersion and drops `.status` of kinds with a status
   * subresource, like the real server; non-strict (direct helper) strips server-owned metadata so objects
   * read back from the fake can be re-created, and keeps `.status` so tests can seed it.
   */
  create(def: ResourceDef, ns: string | undefined, body: JsonObject, strict: boolean): JsonObject {
    const obj = clone(body);
    const meta = metaOf(obj);
    obj.metadata = meta;
    this.checkKind(def, obj);
    if (def.namespaced) {
      const bodyNs = str(meta.namespace);
      if (ns !== undefined && bodyNs && bodyNs !== ns) {
        throw apiError(400, 'the namespace of the provided object does not match the namespace sent on the request');
      }
      meta.namespace = ns ?? bodyNs ?? 'default';
    }
    if (strict) {
      if (str(meta.resourceVersion)) throw apiError(400, 'resourceVersion should not be set on objects to be created');
      // PrepareForCreate of kinds with a status subresource resets .status
      if (def.statusSubresource) delete obj.status;
    }
    delete meta.resourceVersion;
    delete meta.uid;
    delete meta.creationTimestamp;
    delete meta.deletionTimestamp;
    delete meta.generation;
    if (!str(meta.name) && str(meta.generateName)) {
      for (let i = 0; i < 8; i++) {
        let suffix = '';
        for (let j = 0; j < 5; j++) suffix += NAME_ALPHABET[randomInt(NAME_ALPHABET.length)];
        const candidate = `${str(meta.generateName) ?? ''}${suffix}`;
        if (!this.peek(def, str(meta.namespace), candidate)) {
          meta.name = candidate;
          break;
        }
      }
    }
    this.normalize(def, obj);
    this.validate(def, obj);
    const name = str(meta.name) ?? '';
    if (this.peek(def, str(meta.namespace), name)) {
      throw apiError(409, `${def.qualifiedResource} "${name}" already exists`, 'AlreadyExists', {
        name,
        group: def.group,
        kind: def.plural,
      });
    }
    meta.uid = randomUUID();
    meta.creationTimestamp = nowTimestamp();
    meta.generation = 1;
    return this.commit(def, 'ADDED', obj, undefined);
  }

  private checkKind(def: ResourceDef, obj: JsonObject): void {
    const kind = str(obj.kind);
    const apiVersion = str(obj.apiVersion);
    if ((kind && kind !== def.kind) || (apiVersion && apiVersion !== def.apiVersion)) {
      throw apiError(
        400,
        `the API version in the data (${apiVersion ?? ''}) does not match the expected API version (${def.apiVersion})` +
          (kind && kind !== def.kind ? ` or kind (${kind} != ${def.kind})` : ''),
      );
    }
  }

  /**
   * PUT semantics. `subresource: 'status'` copies only `.status`; the main resource ignores `.status`
   * for kinds with a status subresource unless `includeStatus` (direct test helper).
   */
  update(
    def: ResourceDef,
    ns: string | undefined,
    name: string,
    body: JsonObject,
    opts: { subresource?: 'status'; includeStatus?: boolean; skipRvCheck?: boolean } = {},
  ): WriteResult {
    const obj = clone(body);
    const meta = metaOf(obj);
    obj.metadata = meta;
    this.checkKind(def, obj);
    const bodyName = str(meta.name) ?? '';
    if (bodyName !== name) {
      throw apiError(400, `the name of the object (${bodyName}) does not match the name on the URL (${name})`);
    }
    if (def.namespaced) {
      const bodyNs = str(meta.namespace);
      if (bodyNs && ns !== undefined && bodyNs !== ns) {
        throw apiError(400, 'the namespace of the provided object does not match the namespace sent on the request');
      }
      meta.namespace = ns ?? bodyNs ?? 'default';
    }
    const existing = this.peek(def, str(meta.namespace), name);
    if (!existing) {
      if (def.allowCreateOnUpdate && !opts.subresource) {
        return { object: this.create(def, str(meta.namespace), obj, false), created: true };
      }
      throw notFound(def, name);
    }
    const bodyRv = str(meta.resourceVersion) ?? '';
    const existingMeta = metaOf(existing);
    if (!opts.skipRvCheck) {
      if (bodyRv === '') {
        if (!def.allowUnconditionalUpdate) {
          throw invalid(def, name, 'metadata.resourceVersion', 'Invalid value: 0: must be specified for an update');
        }
      } else if (bodyRv !== str(existingMeta.resourceVersion)) {
        throw conflict(def, name);
      }
    }
    let next: JsonObject;
    if (opts.subresource === 'status') {
      next = clone(existing);
      if (obj.status === undefined) delete next.status;
      else next.status = obj.status;
    } else {
      next = obj;
      const nm = metaOf(next);
      nm.uid = existingMeta.uid ?? null;
      nm.creationTimestamp = existingMeta.creationTimestamp ?? null;
      nm.generation = existingMeta.generation ?? 1;
      nm.name = name;
      if (def.namespaced) nm.namespace = existingMeta.namespace ?? null;
      if (existingMeta.deletionTimestamp !== undefined) nm.deletionTimestamp = existingMeta.deletionTimestamp;
      else delete nm.deletionTimestamp;
      if (def.statusSubresource && !opts.includeStatus) {
        if (existing.status === undefined) delete next.status;
        else next.status = clone(existing.status);
      }
      this.normalize(def, next);
      if (specPart(next) !== specPart(existing)) {
        const g = existingMeta.generation;
        nm.generation = (typeof g === 'number' ? g : 0) + 1;
      }
    }
    metaOf(next).resourceVersion = existingMeta.resourceVersion ?? null;
    next.apiVersion = def.apiVersion;
    next.kind = def.kind;
    this.validate(def, next);
    if (withoutRv(next) === withoutRv(existing)) {
      // A no-op write: the real server neither bumps the RV nor emits a watch event.
      return { object: existing, created: false };
    }
    return { object: this.commit(def, 'MODIFIED', next, existing), created: false };
  }

  patch(
    def: ResourceDef,
    ns: string | undefined,
    name: string,
    type: PatchType,
    patch: JsonValue,
    subresource?: 'status',
  ): JsonObject {
    const existing = this.peek(def, ns, name);
    if (!existing) throw notFound(def, name);
    const base = clone(existing);
    let result: JsonValue;
    if (type === 'json') {
      result = jsonPatch(base, patch);
    } else {
      if (!isJsonObject(patch)) throw apiError(400, 'json: cannot unmarshal array into Go value of type map[string]interface {}');
      result = mergePatch(base, patch);
    }
    if (!isJsonObject(result)) throw apiError(422, 'patched object is not a JSON object');
    const rm = metaOf(result);
    result.metadata = rm;
    const em = metaOf(existing);
    const patchedRv = str(rm.resourceVersion);
    if (patchedRv !== undefined && patchedRv !== '' && patchedRv !== str(em.resourceVersion)) {
      throw conflict(def, name);
    }
    if (str(rm.name) !== name) throw invalid(def, name, 'metadata.name', 'Invalid value: field is immutable');
    if (def.namespaced && str(rm.namespace) !== str(em.namespace)) {
      throw invalid(def, name, 'metadata.namespace', 'Invalid value: field is immutable');
    }
    rm.resourceVersion = em.resourceVersion ?? null;
    const opts: { subresource?: 'status'; skipRvCheck: boolean } = { skipRvCheck: true };
    if (subresource) opts.subresource = subresource;
    return this.update(def, ns, name, result, opts).object;
  }

  /** Delete; returns the object as it was before deletion. */
  remove(def: ResourceDef, ns: string | undefined, name: string, pre?: DeletePreconditions): JsonObject {
    const existing = this.peek(def, ns, name);
    if (!existing) throw notFound(def, name);
    const em = metaOf(existing);
    if (pre?.uid && pre.uid !== str(em.uid)) {
      throw conflict(
        def,
        name,
        `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${str(em.uid) ?? ''}`,
      );
    }
    if (pre?.resourceVersion && pre.resourceVersion !== str(em.resourceVersion)) {
      throw conflict(
        def,
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${
          str(em.resourceVersion) ?? ''
        }`,
      );
    }
    this.commit(def, 'DELETED', existing, existing);
    return existing;
  }
}
