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
// reaches. Keys travel base64-encoded (the channel is JSON) and are never logged.

import type { Store, StoreChange } from '../store/store.ts';
import type { AnyObject, Kind, Secret } from '../store/types.ts';
import { KINDS } from '../store/types.ts';
import type { Settings } from '../config/settings.ts';
import type { LogLevel } from '../observe/log.ts';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';

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

/** Primary → worker: the whole store as of `seq`; sent first, and before a worker may listen. */
export interface SnapshotMessage {
  t: 'snapshot';
  seq: number;
  objects: [Kind, AnyObject[]][];
}

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

/** Primary → worker: send your metrics. */
export interface MetricsRequest {
  t: 'metrics-req';
  id: number;
}

export type PrimaryMessage = InitMessage | SnapshotMessage | BatchMessage | ChallengesMessage | TicketKeysMessage | DrainMessage | MetricsRequest;

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

export type WorkerMessage = HelloMessage | ReadyMessage | AckMessage | MetricsResponse;

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

  /** The whole store now, with the seq it reflects (pending changes included). */
  snapshot(): SnapshotMessage {
    return { t: 'snapshot', seq: this.last, objects: KINDS.map((k) => [k, [...this.store.list(k)]] as [Kind, AnyObject[]]) };
  }

  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const changes = this.pending;
    this.pending = [];
    this.send({ t: 'batch', changes });
  }

  private onChange(c: StoreChange): void {
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

  applySnapshot(msg: SnapshotMessage): void {
    const byKind = new Map(msg.objects);
    for (const kind of KINDS) this.store.replaceKind(kind, byKind.get(kind) ?? []);
    this.last = msg.seq;
  }

  /** Applies the changes newer than what is applied; returns how many were. */
  applyBatch(msg: BatchMessage): number {
    if (!this.hasSnapshot) return 0; // the snapshot (sent first) will carry them
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
