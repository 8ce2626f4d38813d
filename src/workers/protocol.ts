// The messages between the primary (sources, store, leader work) and the proxy workers, and
// the two ends of store replication.
//
// The primary numbers every store change (seq, strictly increasing) and sends them in batches,
// one message per event-loop turn. A worker starts from a snapshot of the whole store (with
// the seq it reflects), then applies only changes with a higher seq, so a batch that was
// already pending when the snapshot was taken is harmlessly ignored. Workers translate the
// replicated objects themselves (the same deterministic input gives the same configuration),
// but only the primary reports the problems it finds (log, Events, problem metrics).
//
// The primary also owns the TLS session ticket keys: every worker encrypts and decrypts
// tickets with the same keys, so a session resumes whichever worker the next connection
// reaches. Keys travel base64-encoded and are never logged.
//
// The channel uses Node's "advanced" (structured clone) serialisation. What goes to every
// worker (store batches, snapshot parts, tokens, keys) is serialised once, by `pack`, and the
// same bytes are sent to each worker: Node copies a byte array into the channel as it is, where
// a message object would be serialised again per worker. The bytes are JSON, not v8.serialize:
// for store objects JSON.parse was twice as fast as v8.deserialize and built a third less heap
// (10,000 Ingresses and 20,000 EndpointSlices: 190 against 380 ms, 16 against 24 MiB).

import type { Store, StoreChange } from '../store/store.ts';
import type { AnyObject, Kind, Secret } from '../store/types.ts';
import { KINDS } from '../store/types.ts';
import { routingRelevant } from '../store/routing-relevant.ts';
import type { Settings } from '../config/settings.ts';
import type { LogLevel } from '../observe/log.ts';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { RateGrantMessage, RateReleaseMessage, RateSlotMessage, RateTakeMessage } from '../runtime/rate-limit-arbiter.ts';

export interface ChangeMessage {
  t: 'change';
  seq: number;
  kind: Kind;
  key: string;
  /** The object after the change; null when it was removed. */
  obj: AnyObject | null;
}

/** Primary → worker: the changes of one event-loop turn. */
export interface BatchMessage {
  t: 'batch';
  changes: ChangeMessage[];
}

/**
 * Primary → worker: the whole store as of `seq`, in parts (a part holds at most
 * SNAPSHOT_PART_OBJECTS objects; the last has `final`). Sent first, and before a worker may
 * listen. Parts go out one after the other as the channel takes them, so batches newer than
 * `seq` may arrive between parts: the replica keeps them until the final part.
 */
export interface SnapshotMessage {
  t: 'snapshot';
  seq: number;
  objects: [Kind, AnyObject[]][];
  final: boolean;
}

/**
 * Objects per snapshot part. A message is serialised in one piece; at 40,000 objects a
 * whole-store message was tens of MiB per worker at once, and V8 kept the heap it grew for
 * them (the primary's RSS at ready was ~65 MiB above a single process's).
 */
export const SNAPSHOT_PART_OBJECTS = 2000;

/** Primary → worker, once, first: what to run. */
export interface InitMessage {
  t: 'init';
  settings: Settings;
  logLevel: LogLevel;
  /** The default certificate, generated once so every worker serves the same one. */
  fallback: { certPem: string; keyPem: string };
  /** Whether HTTP-01 challenges are answered (then `challenges` messages follow). */
  acme: boolean;
  /** The current TLS session ticket keys: 48 bytes (tls.Server#setTicketKeys), base64. */
  ticketKeys: string;
}

/** Primary → worker: the ticket keys were rotated; new tickets use these (48 bytes, base64). */
export interface TicketKeysMessage {
  t: 'ticket-keys';
  keys: string;
}

/** Primary → worker: the ACME challenge Secret changed (null: gone). */
export interface ChallengesMessage {
  t: 'challenges';
  secret: Secret | null;
}

/** Primary → worker: stop gracefully (the existing drain), then exit 0. */
export interface DrainMessage {
  t: 'drain';
  delayMs: number;
  graceMs: number;
}

/** Primary → worker: a replacement with new settings is serving; hand over (DataPlane.retire) and exit. */
export interface RetireMessage {
  t: 'retire';
  graceMs: number;
}

/** Primary → worker: send your metrics. */
export interface MetricsRequest {
  t: 'metrics-req';
  id: number;
}

/** Primary → worker: one of the other messages, serialised once for every worker (`pack`). */
export interface PackedMessage {
  t: 'packed';
  data: Uint8Array;
}

export type PrimaryMessage = InitMessage | SnapshotMessage | BatchMessage | ChallengesMessage | TicketKeysMessage | DrainMessage | RetireMessage | MetricsRequest | RateGrantMessage | PackedMessage;

/** Serialises a message once; the result can be sent to any number of workers. */
export function pack(msg: Exclude<PrimaryMessage, PackedMessage>): PackedMessage {
  return { t: 'packed', data: Buffer.from(JSON.stringify(msg)) };
}

const utf8 = new TextDecoder();

/** The message `pack` serialised (what the worker handles). */
export function unpack(msg: PackedMessage): PrimaryMessage {
  const inner: unknown = JSON.parse(utf8.decode(msg.data));
  if (!isPrimaryMessage(inner) || inner.t === 'packed') throw new Error('a packed message from the primary holds no message');
  return inner;
}

/** Worker → primary: listening, serving the configuration of `seq`. */
export interface ReadyMessage {
  t: 'ready';
  seq: number;
  pid: number;
  httpPort: number;
  httpsPort: number;
}

/** Worker → primary: every change up to `seq` is applied and its configuration built. */
export interface AckMessage {
  t: 'ack';
  seq: number;
}

export interface MetricsResponse {
  t: 'metrics-res';
  id: number;
  metrics: MetricObjectWithValues<MetricValue<string>>[];
}

/** Worker → primary, first: the message handler is installed; send init and the snapshot. */
export interface HelloMessage {
  t: 'hello';
}

export type WorkerMessage = HelloMessage | ReadyMessage | AckMessage | MetricsResponse | RateTakeMessage | RateSlotMessage | RateReleaseMessage;

function hasTag(m: unknown): boolean {
  return typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string';
}

/** Ours (not prom-client's or Node's cluster internals). */
export function isPrimaryMessage(m: unknown): m is PrimaryMessage {
  return hasTag(m);
}

export function isWorkerMessage(m: unknown): m is WorkerMessage {
  return hasTag(m);
}

/**
 * Primary side: numbers the store's changes and hands them to `send` in one batch per
 * event-loop turn (or sooner, on `flush()`).
 */
export class ChangeFeed {
  private last = 0;
  private pending: ChangeMessage[] = [];
  private scheduled = false;
  private unsubscribe: (() => void) | undefined;
  private readonly store: Store;
  private readonly send: (batch: BatchMessage) => void;
  private readonly schedule: (fn: () => void) => void;

  constructor(opts: { store: Store; send: (batch: BatchMessage) => void; schedule?: (fn: () => void) => void }) {
    this.store = opts.store;
    this.send = opts.send;
    this.schedule = opts.schedule ?? ((fn) => setImmediate(fn));
  }

  /** The seq of the newest change (sent or pending). */
  get seq(): number {
    return this.last;
  }

  start(): void {
    this.unsubscribe ??= this.store.subscribe((c) => this.onChange(c));
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  /**
   * The whole store now, with the seq it reflects (pending changes included), as parts to send
   * in order. Store objects are never mutated, so holding references keeps the parts consistent
   * with `seq` however late they are serialised.
   */
  snapshot(partObjects = SNAPSHOT_PART_OBJECTS): SnapshotMessage[] {
    const seq = this.last;
    const parts: SnapshotMessage[] = [];
    let current: [Kind, AnyObject[]][] = [];
    let count = 0;
    for (const kind of KINDS) {
      let list: AnyObject[] = [];
      current.push([kind, list]);
      for (const obj of this.store.list(kind)) {
        if (count === partObjects) {
          parts.push({ t: 'snapshot', seq, objects: current, final: false });
          list = [];
          current = [[kind, list]];
          count = 0;
        }
        list.push(obj);
        count++;
      }
    }
    parts.push({ t: 'snapshot', seq, objects: current, final: true });
    return parts;
  }

  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const changes = this.pending;
    this.pending = [];
    this.send({ t: 'batch', changes });
  }

  private onChange(c: StoreChange): void {
    // An Ingress update that changes none of what routing reads (spec, annotations, name,
    // creationTimestamp) is not sent: the leader writes the status of every Ingress it serves,
    // each write comes back as a watch event, and at 10,000 Ingresses that was 10,000 objects
    // serialised to every worker after each address change. Workers never read status. (Other
    // kinds carry their payload outside spec: EndpointSlice endpoints, Secret data.)
    if (c.kind === 'Ingress' && !routingRelevant(c)) return;
    this.pending.push({ t: 'change', seq: ++this.last, kind: c.kind, key: c.key, obj: c.current ?? null });
    if (!this.scheduled) {
      this.scheduled = true;
      this.schedule(() => this.flush());
    }
  }
}

/** Worker side: a replica store fed by snapshots and batches, in seq order. */
export class Replica {
  private last = -1;
  private readonly store: Store;
  /** Snapshot parts received so far, by kind (until the final part). */
  private partial: Map<Kind, AnyObject[]> | undefined;
  /** Batches that arrived between snapshot parts, applied after the final one. */
  private held: BatchMessage[] = [];

  constructor(store: Store) {
    this.store = store;
  }

  /** The seq applied so far; -1 before the snapshot. */
  get seq(): number {
    return this.last;
  }

  get hasSnapshot(): boolean {
    return this.last >= 0;
  }

  /**
   * Takes one snapshot part; on the final part replaces the store's contents, then applies the
   * batches held meanwhile. Returns true when the snapshot is complete.
   */
  applySnapshot(msg: SnapshotMessage): boolean {
    const byKind = (this.partial ??= new Map());
    for (const [kind, objects] of msg.objects) {
      const list = byKind.get(kind);
      if (list === undefined) byKind.set(kind, objects);
      else for (const o of objects) list.push(o);
    }
    if (!msg.final) return false;
    this.partial = undefined;
    for (const kind of KINDS) this.store.replaceKind(kind, byKind.get(kind) ?? []);
    this.last = msg.seq;
    const held = this.held;
    this.held = [];
    for (const b of held) this.applyBatch(b);
    return true;
  }

  /** Applies the changes newer than what is applied; returns how many were. */
  applyBatch(msg: BatchMessage): number {
    if (!this.hasSnapshot) {
      // between snapshot parts: newer than the snapshot's seq, applied after its final part
      // (before any part arrived, the snapshot will carry them)
      if (this.partial !== undefined) this.held.push(msg);
      return 0;
    }
    let applied = 0;
    for (const c of msg.changes) {
      if (c.seq <= this.last) continue;
      if (c.obj === null) this.store.remove(c.kind, c.key);
      else this.store.upsert(c.kind, c.obj);
      this.last = c.seq;
      applied++;
    }
    return applied;
  }
}
