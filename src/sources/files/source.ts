// File mode: the objects of a manifests directory, kept in the store while the files change.
//
// The directory (top level only; hidden names skipped) is scanned once at start, then again
// after every change reported by fs.watch (debounced, so a burst of writes is one scan), or
// every second when watching is not possible. A scan lists the directory and stats every
// manifest file (following symlinks, so a ConfigMap-style `..data` swap shows as new inodes);
// only files whose device/inode/size/mtime/ctime changed are read again, and only content that
// changed is parsed. Each file's contribution is remembered: re-reading a file diffs its
// objects against the previous ones (upsert changed, remove vanished) and a deleted file's
// objects are removed.
//
// Failure never drops routes: a file that does not parse keeps serving its last good objects;
// an invalid object keeps its last good version from that file; an unreadable directory keeps
// everything. Problems are listed (per file, per object) and logged once per change.
//
// One object (kind + namespace + name) defined in two files: the file first by name wins and
// the other definition is reported; when the winner lets go, the next file's version is used.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../observe/log.ts';
import type { Store } from '../../store/store.ts';
import { objectKey, type AnyObject, type Kind } from '../../store/types.ts';
import { describeObject, normalizeObject } from './normalize.ts';
import { isManifestFileName, parseManifest } from './parse.ts';

export type FileProblemReason =
  /** The directory cannot be listed (everything keeps serving). */
  | 'DirectoryError'
  /** The file cannot be read (its last good objects keep serving). */
  | 'ReadError'
  /** YAML / JSON syntax error (its last good objects keep serving). */
  | 'ParseError'
  /** The object is not valid (its last good version, if any, keeps serving). */
  | 'InvalidObject'
  /** The object is also defined in a file that comes first by name, or earlier in this file. */
  | 'Duplicate';

export interface FileProblem {
  /** File name inside the directory ('' for the directory itself). */
  file: string;
  /** `Kind namespace/name` (`Kind name` when cluster-scoped) when the object could be named. */
  object?: string;
  reason: FileProblemReason;
  message: string;
}

export type FileProblemsListener = (problems: readonly FileProblem[]) => void;

export interface ManifestDirectorySourceOptions {
  dir: string;
  store: Store;
  log: Logger;
  /** Quiet time after the last change event before a scan. Default 50 ms. */
  debounceMs?: number;
  /** Scan interval when fs.watch is unavailable (or `watch` is false). Default 1000 ms. */
  pollIntervalMs?: number;
  /**
   * While watching, a full scan this often anyway: catches edits fs.watch cannot see (the
   * target of a symlink that points outside the directory). Default 30 s; 0 disables.
   */
  resyncIntervalMs?: number;
  /** false: poll only, never fs.watch. Default true. */
  watch?: boolean;
}

/** Larger files are refused (reported), not read. */
export const MAX_FILE_BYTES = 32 * 1024 * 1024;
/** A file modified less than this before it was read is read again on the next scan even when
 * its stat looks the same (coarse timestamps could hide a same-size edit). */
const RACY_MS = 2000;
/** Stats / reads in flight at once during a scan. */
const CONCURRENCY = 32;

interface Entry {
  /** `Kind/namespace/name` */
  id: string;
  kind: Kind;
  /** The store key (`namespace/name`, or `name` when cluster-scoped). */
  key: string;
  /** For messages: `Kind namespace/name`. */
  display: string;
  obj: AnyObject;
  json: string;
}

interface FileState {
  name: string;
  /** dev:ino:size:mtime:ctime at the last read; '' when it could not be read. */
  sig: string;
  /** sha256 of the last content read; '' when none. */
  hash: string;
  racy: boolean;
  /** Objects this file contributes: its last good version. */
  entries: Map<string, Entry>;
  problems: FileProblem[];
  /** Ignored kinds already warned about for this file. */
  warned: Set<string>;
}

type ScanOutcome = { type: 'unchanged' } | { type: 'gone' } | { type: 'state'; state: FileState };

export class ManifestDirectorySource {
  readonly dir: string;
  private readonly store: Store;
  private readonly log: Logger;
  private readonly debounceMs: number;
  private readonly pollIntervalMs: number;
  private readonly resyncIntervalMs: number;
  private readonly useWatch: boolean;

  private state: 'new' | 'running' | 'stopped' = 'new';
  private readonly files = new Map<string, FileState>();
  /** object id → files (names) that define it. */
  private readonly definers = new Map<string, Set<string>>();
  /** object id → the entry this source put in the store. */
  private readonly applied = new Map<string, Entry>();
  private readonly duplicateProblems = new Map<string, FileProblem[]>();
  /** Files found missing by a scan, not yet removed (see scanOnce). */
  private readonly missingSince = new Map<string, number>();
  private directoryProblem: FileProblem | undefined;
  private problemList: readonly FileProblem[] = Object.freeze([]);
  private readonly problemListeners = new Set<FileProblemsListener>();

  private watcher: fs.FSWatcher | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private maxWaitTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private rescanRequested = false;
  private scans = 0;
  private watchFailureLogged = false;
  /** The first scan is done (its changes are summed up by 'manifests loaded'). */
  private loaded = false;

  constructor(opts: ManifestDirectorySourceOptions) {
    this.dir = path.resolve(opts.dir);
    this.store = opts.store;
    this.log = opts.log.child({ dir: this.dir });
    this.debounceMs = opts.debounceMs ?? 50;
    this.pollIntervalMs = opts.pollIntervalMs ?? 1000;
    this.resyncIntervalMs = opts.resyncIntervalMs ?? 30_000;
    this.useWatch = opts.watch ?? true;
  }

  /** Current problems, sorted by file; a new array whenever they change. */
  get problems(): readonly FileProblem[] {
    return this.problemList;
  }

  /** Completed scans (for tests and debugging). */
  get scanCount(): number {
    return this.scans;
  }

  /** Called with the full list whenever the problems change. Returns an unsubscribe function. */
  onProblems(listener: FileProblemsListener): () => void {
    this.problemListeners.add(listener);
    return () => this.problemListeners.delete(listener);
  }

  /**
   * Reads every file once and puts its objects in the store, then follows changes. Rejects
   * when the directory does not exist or is not a directory.
   */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error('ManifestDirectorySource can be started once');
    let st: fs.Stats;
    try {
      st = await fsp.stat(this.dir);
    } catch (err) {
      throw new Error(`manifests directory ${this.dir}: ${errorText(err)}`);
    }
    if (!st.isDirectory()) throw new Error(`manifests directory ${this.dir}: not a directory`);
    this.state = 'running';
    this.startWatching(); // before the first scan: a change during it triggers another
    await this.scan();
    this.loaded = true;
    let objects = 0;
    for (const f of this.files.values()) objects += f.entries.size;
    this.log.info('manifests loaded', {
      files: this.files.size,
      objects,
      problems: this.problemList.length,
      watch: this.watcher !== undefined ? 'fs.watch' : 'polling',
    });
  }

  /** Stops watching. The objects stay in the store (last good state keeps serving). */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    this.watcher?.close();
    this.watcher = undefined;
    for (const t of [this.debounceTimer, this.maxWaitTimer]) if (t) clearTimeout(t);
    for (const t of [this.pollTimer, this.resyncTimer]) if (t) clearInterval(t);
    this.debounceTimer = this.maxWaitTimer = this.pollTimer = this.resyncTimer = undefined;
    await this.scanning;
  }

  /** Scans now (coalesced with a scan in progress). Resolves when the changes are applied. */
  rescan(): Promise<void> {
    return this.scan();
  }

  // --- watching ------------------------------------------------------------------------------

  private startWatching(): void {
    if (!this.useWatch || !this.tryWatch()) this.startPolling();
  }

  private tryWatch(): boolean {
    try {
      const w = fs.watch(this.dir, { persistent: false }, () => this.schedule());
      w.on('error', (err) => {
        if (this.watcher !== w) return;
        this.log.warn('watching the manifests directory failed; polling instead', {
          error: errorText(err),
          intervalMs: this.pollIntervalMs,
        });
        this.fallBackToPolling();
        this.schedule();
      });
      this.watcher = w;
    } catch (err) {
      // retried after every successful poll: say it once
      if (!this.watchFailureLogged) {
        this.watchFailureLogged = true;
        this.log.warn('cannot watch the manifests directory; polling instead', {
          error: errorText(err),
          intervalMs: this.pollIntervalMs,
        });
      }
      return false;
    }
    this.watchFailureLogged = false;
    if (this.resyncIntervalMs > 0 && this.resyncTimer === undefined) {
      this.resyncTimer = setInterval(() => this.schedule(), this.resyncIntervalMs);
      this.resyncTimer.unref();
    }
    return true;
  }

  private fallBackToPolling(): void {
    this.watcher?.close();
    this.watcher = undefined;
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    this.resyncTimer = undefined;
    this.startPolling();
  }

  private startPolling(): void {
    if (this.pollTimer !== undefined || this.state !== 'running') return;
    this.pollTimer = setInterval(() => void this.scan(), this.pollIntervalMs);
    this.pollTimer.unref();
  }

  /** After a successful scan in fallback mode: watch again if the directory allows it now. */
  private maybeResumeWatching(): void {
    if (!this.useWatch || this.watcher !== undefined || this.pollTimer === undefined) return;
    if (this.tryWatch()) {
      clearInterval(this.pollTimer);
      this.pollTimer = undefined;
      this.log.info('watching the manifests directory again');
      this.schedule(); // changes between the last scan and the new watch
    }
  }

  /** A change event: scan after `debounceMs` of quiet, at most `maxWait` after the first event. */
  private schedule(): void {
    if (this.state !== 'running') return;
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => this.fire(), this.debounceMs);
    this.debounceTimer.unref();
    if (this.maxWaitTimer === undefined) {
      this.maxWaitTimer = setTimeout(() => this.fire(), Math.max(1000, this.debounceMs * 10));
      this.maxWaitTimer.unref();
    }
  }

  private fire(): void {
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    if (this.maxWaitTimer) clearTimeout(this.maxWaitTimer);
    this.debounceTimer = this.maxWaitTimer = undefined;
    void this.scan();
  }

  // --- scanning ------------------------------------------------------------------------------

  private scan(): Promise<void> {
    if (this.state !== 'running') return this.scanning ?? Promise.resolve();
    if (this.scanning !== undefined) {
      this.rescanRequested = true;
      return this.scanning;
    }
    const run = async () => {
      try {
        do {
          this.rescanRequested = false;
          try {
            await this.scanOnce();
          } catch (err) {
            this.log.error('scanning the manifests directory failed', { error: errorText(err) });
          }
          this.scans++;
        } while (this.rescanRequested && this.state === 'running');
      } finally {
        this.scanning = undefined;
      }
    };
    this.scanning = run();
    return this.scanning;
  }

  private async scanOnce(): Promise<void> {
    let names: string[];
    try {
      names = await fsp.readdir(this.dir);
    } catch (err) {
      if (this.state !== 'running') return;
      const message = `cannot list the directory: ${errorText(err)}; keeping the objects loaded so far`;
      if (this.directoryProblem?.message !== message) {
        this.log.warn('cannot list the manifests directory; keeping the objects loaded so far', { error: errorText(err) });
        this.directoryProblem = { file: '', reason: 'DirectoryError', message };
        this.publishProblems();
      }
      // a watch on a deleted directory never fires again
      if (this.watcher !== undefined) this.fallBackToPolling();
      return;
    }
    if (this.directoryProblem !== undefined) {
      this.directoryProblem = undefined;
      this.publishProblems();
    }
    const candidates = names.filter(isManifestFileName).sort();
    const outcomes = await mapLimit(candidates, CONCURRENCY, (name) => this.readIfChanged(name));
    if (this.state !== 'running') return;

    const changes: [string, FileState | undefined][] = [];
    const present = new Set<string>();
    candidates.forEach((name, i) => {
      const o = outcomes[i]!;
      if (o.type === 'gone') return;
      present.add(name);
      if (o.type === 'state') changes.push([name, o.state]);
    });
    // A file is removed only when a later scan, at least `debounceMs` on, still misses it: an
    // editor that moves the old file away before writing the new one drops nothing.
    const now = Date.now();
    for (const name of this.missingSince.keys()) if (present.has(name)) this.missingSince.delete(name);
    for (const name of this.files.keys()) {
      if (present.has(name)) continue;
      const since = this.missingSince.get(name);
      if (since !== undefined && now - since >= this.debounceMs - 1) {
        this.missingSince.delete(name);
        changes.push([name, undefined]);
      } else {
        if (since === undefined) this.missingSince.set(name, now);
        this.schedule();
      }
    }
    if (changes.length > 0) this.apply(changes);
    this.maybeResumeWatching();
  }

  /** Stats a file and, when it changed, reads and parses it into a new state. */
  private async readIfChanged(name: string): Promise<ScanOutcome> {
    const prev = this.files.get(name);
    const file = path.join(this.dir, name);
    let st: fs.BigIntStats;
    try {
      st = await fsp.stat(file, { bigint: true });
    } catch (err) {
      if (isGone(err)) return { type: 'gone' };
      return this.readProblem(name, prev, err);
    }
    if (!st.isFile()) return { type: 'gone' };
    if (prev !== undefined && prev.sig === signature(st) && !prev.racy) return { type: 'unchanged' };

    let text: string;
    let sig: string;
    let mtimeMs: number;
    try {
      const fh = await fsp.open(file, 'r');
      try {
        // stat the open file: a write after this point changes mtime and triggers a new read
        const fst = await fh.stat({ bigint: true });
        if (fst.size > BigInt(MAX_FILE_BYTES)) {
          return this.readProblem(name, prev, new Error(`larger than ${MAX_FILE_BYTES} bytes`), signature(fst));
        }
        sig = signature(fst);
        mtimeMs = Number(fst.mtimeMs);
        text = await fh.readFile({ encoding: 'utf8' });
      } finally {
        await fh.close();
      }
    } catch (err) {
      if (isGone(err)) return { type: 'gone' };
      return this.readProblem(name, prev, err);
    }
    const racy = Date.now() - mtimeMs < RACY_MS;
    const hash = createHash('sha256').update(text).digest('hex');
    if (prev !== undefined && prev.hash === hash) {
      if (prev.sig === sig && prev.racy === racy) return { type: 'unchanged' };
      return { type: 'state', state: { ...prev, sig, racy } };
    }
    return { type: 'state', state: this.parseFile(name, text, sig, hash, racy, prev) };
  }

  private readProblem(name: string, prev: FileState | undefined, err: unknown, sig = ''): ScanOutcome {
    const message = `cannot read: ${errorText(err)}${prev !== undefined && prev.entries.size > 0 ? '; its last good objects keep serving' : ''}`;
    if (prev !== undefined && prev.problems.length === 1 && prev.problems[0]!.message === message && prev.sig === sig) {
      return { type: 'unchanged' };
    }
    this.log.warn('cannot read manifest file', { file: path.join(this.dir, name), error: errorText(err) });
    return {
      type: 'state',
      state: {
        name,
        sig,
        hash: '',
        racy: false,
        entries: prev?.entries ?? new Map(),
        problems: [{ file: name, reason: 'ReadError', message }],
        warned: prev?.warned ?? new Set(),
      },
    };
  }

  /** Parses and validates a file's content into its next state (last good kept on failure). */
  private parseFile(name: string, text: string, sig: string, hash: string, racy: boolean, prev: FileState | undefined): FileState {
    const file = path.join(this.dir, name);
    const warned = prev?.warned ?? new Set<string>();
    const parsed = parseManifest(name, text);
    if (!parsed.ok) {
      const keeps = prev !== undefined && prev.entries.size > 0;
      this.log.warn(`manifest file does not parse; ${keeps ? 'its last good objects keep serving' : 'nothing loaded from it'}`, {
        file,
        error: parsed.message,
      });
      return {
        name,
        sig,
        hash,
        racy,
        entries: prev?.entries ?? new Map(),
        problems: [
          { file: name, reason: 'ParseError', message: `${parsed.message}${keeps ? '; its last good objects keep serving' : ''}` },
        ],
        warned,
      };
    }

    const entries = new Map<string, Entry>();
    const keptLastGood = new Map<string, Entry>();
    const problems: FileProblem[] = [];
    for (const doc of parsed.documents) {
      const where = doc.where === '' ? '' : `${doc.where}: `;
      const r = normalizeObject(doc.value);
      if (r.type === 'ignored') {
        if (!warned.has(r.kind)) {
          warned.add(r.kind);
          this.log.warn('ignoring objects of a kind Portico does not read', { file, kind: r.kind });
        }
        continue;
      }
      if (r.type === 'invalid') {
        let display: string | undefined;
        let kept = false;
        if (r.kind !== undefined && r.name !== undefined) {
          display = describeObject(r.kind, r.namespace, r.name);
          const id = objectId(r.kind, r.namespace, r.name);
          const old = prev?.entries.get(id);
          if (old !== undefined && !keptLastGood.has(id)) {
            keptLastGood.set(id, old);
            kept = true;
          }
        }
        const message = `${where}${r.errors.join('; ')}${kept ? '; its last good version keeps serving' : ''}`;
        this.log.warn('invalid object in manifest file', { file, ...(display ? { object: display } : {}), error: message });
        problems.push({ file: name, ...(display ? { object: display } : {}), reason: 'InvalidObject', message });
        continue;
      }
      const meta = r.object.metadata;
      const id = objectId(r.kind, meta.namespace, meta.name);
      const display = describeObject(r.kind, meta.namespace, meta.name);
      if (entries.has(id)) {
        const message = `${where}${display} is defined more than once in this file; the first definition is used`;
        this.log.warn('object defined twice in one manifest file', { file, object: display });
        problems.push({ file: name, object: display, reason: 'Duplicate', message });
        continue;
      }
      const json = JSON.stringify(r.object);
      const old = prev?.entries.get(id);
      entries.set(id, old !== undefined && old.json === json ? old : { id, kind: r.kind, key: objectKey(meta), display, obj: r.object, json });
    }
    for (const [id, e] of keptLastGood) if (!entries.has(id)) entries.set(id, e);
    return { name, sig, hash, racy, entries, problems, warned };
  }

  // --- applying ------------------------------------------------------------------------------

  /** Installs new file states (undefined: deleted) and brings the store in line. */
  private apply(changes: [string, FileState | undefined][]): void {
    const affected = new Set<string>();
    let problemsChanged = false;
    for (const [name, next] of changes) {
      const old = this.files.get(name);
      if (old !== undefined) {
        if (old.problems.length > 0) problemsChanged = true;
        for (const id of old.entries.keys()) {
          affected.add(id);
          const d = this.definers.get(id);
          d?.delete(name);
          if (d?.size === 0) this.definers.delete(id);
        }
      }
      if (next === undefined) {
        this.files.delete(name);
        continue;
      }
      if (next.problems.length > 0) problemsChanged = true;
      this.files.set(name, next);
      for (const id of next.entries.keys()) {
        affected.add(id);
        let d = this.definers.get(id);
        if (d === undefined) {
          d = new Set();
          this.definers.set(id, d);
        }
        d.add(name);
      }
    }

    const upserts: Entry[] = [];
    const removes: Entry[] = [];
    for (const id of affected) {
      const d = this.definers.get(id);
      const current = this.applied.get(id);
      if (d === undefined || d.size === 0) {
        if (current !== undefined) {
          removes.push(current);
          this.applied.delete(id);
        }
        if (this.duplicateProblems.delete(id)) problemsChanged = true;
        continue;
      }
      const order = [...d].sort();
      const winnerFile = order[0]!;
      const winner = this.files.get(winnerFile)!.entries.get(id)!;
      if (current !== winner) {
        if (current === undefined || current.json !== winner.json || current.kind !== winner.kind) upserts.push(winner);
        this.applied.set(id, winner);
      }
      const before = this.duplicateProblems.get(id);
      if (order.length > 1) {
        const dups = order.slice(1).map(
          (f): FileProblem => ({
            file: f,
            object: winner.display,
            reason: 'Duplicate',
            message: `${winner.display} is also defined in ${winnerFile}, which comes first by name; this definition is ignored`,
          }),
        );
        if (JSON.stringify(before) !== JSON.stringify(dups)) {
          for (const p of dups) this.log.warn('object defined in two manifest files; the first file by name wins', { file: path.join(this.dir, p.file), object: p.object, winner: winnerFile });
          this.duplicateProblems.set(id, dups);
          problemsChanged = true;
        }
      } else if (before !== undefined) {
        this.duplicateProblems.delete(id);
        problemsChanged = true;
      }
    }

    // additions and updates first, removals last: nothing is missing in between
    for (const e of upserts) this.store.upsert(e.kind, e.obj);
    for (const e of removes) this.store.remove(e.kind, e.key);
    if ((upserts.length > 0 || removes.length > 0) && this.loaded) {
      this.log.info('manifests changed', {
        files: changes.map(([n]) => n),
        upserted: upserts.length,
        removed: removes.length,
      });
      if (this.log.enabled('debug')) {
        for (const e of upserts) this.log.debug('object from manifests', { object: e.display });
        for (const e of removes) this.log.debug('object removed from manifests', { object: e.display });
      }
    }
    if (problemsChanged) this.publishProblems();
  }

  private publishProblems(): void {
    const list: FileProblem[] = [];
    if (this.directoryProblem) list.push(this.directoryProblem);
    for (const f of this.files.values()) list.push(...f.problems);
    for (const ps of this.duplicateProblems.values()) list.push(...ps);
    list.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
    const next = Object.freeze(list);
    if (JSON.stringify(next) === JSON.stringify(this.problemList)) return;
    this.problemList = next;
    for (const l of this.problemListeners) {
      try {
        l(next);
      } catch (err) {
        this.log.error('manifest problems listener failed', { error: errorText(err) });
      }
    }
  }
}

function objectId(kind: string, namespace: string | undefined, name: string): string {
  return `${kind}/${namespace ?? ''}/${name}`;
}

function signature(st: fs.BigIntStats): string {
  return `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
}

function isGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
