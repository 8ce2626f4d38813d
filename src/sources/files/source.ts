// File mode: the objects of a manifests directory, kept in the store while the files change.
// This is the thin, timed part; what the files mean lives in contents.ts (text → objects) and
// index.ts (files → what the store holds), both pure.
//
// The directory (top level only; hidden names skipped) is scanned at start, after every change
// reported by fs.watch (debounced: a burst of events is one scan), and every second when
// watching is not possible. A scan lists the directory and stats every manifest file
// (following symlinks, so a ConfigMap-style `..data` swap shows as new inodes).
//
// Settling: nothing is read while the directory is still changing. When a scan finds changes
// (new, modified or deleted files), they are applied only once the directory has stood still
// for `settleMs`: the same listing and the same size/mtime/inode of every file in two scans
// `settleMs` apart, or every changed file and the directory itself last modified at least
// `settleMs` ago. Then every change of the burst (writes, renames, deletions) is applied to the
// store in ONE step, additions and updates before removals. A file rewritten in place over a
// few hundred milliseconds is therefore never read half-written, unless the writer pauses for
// longer than `settleMs`; writing a new file and renaming it over the old one is atomic and
// always safe. A directory that never stands still is applied anyway after `maxSettleMs`.
//
// Only files whose signature changed are read, and only content that changed is parsed.
// Failure never drops routes: a file that does not parse keeps serving its last good objects;
// an invalid object keeps its last good version; an unreadable directory keeps everything.
// Problems are listed (per file, per object) and logged once per change.

import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Logger } from '../../observe/log.ts';
import type { Store } from '../../store/store.ts';
import { systemClock, type Clock } from './clock.ts';
import { fileContents, unreadableContents } from './contents.ts';
import { nodeDirectory, type FileStat, type ManifestDirectory, type WatchHandle } from './directory.ts';
import { ManifestIndex, type FileChange } from './index.ts';
import { isManifestFileName } from './parse.ts';
import type { FileProblem, ManifestNote } from './types.ts';

export type { FileProblem, FileProblemReason } from './types.ts';

export type FileProblemsListener = (problems: readonly FileProblem[]) => void;

export interface ManifestDirectorySourceOptions {
  dir: string;
  store: Store;
  log: Logger;
  /** Quiet time after the last change event before a scan. Default 50 ms. */
  debounceMs?: number;
  /**
   * How long the directory must stand still (no file changing size, mtime or inode, no file
   * appearing or going) before a change is read and applied. Default 200 ms.
   */
  settleMs?: number;
  /** A directory that keeps changing is applied anyway this long after the first change. Default max(2 s, 10 × settleMs). */
  maxSettleMs?: number;
  /** Scan interval when fs.watch is unavailable (or `watch` is false). Default 1000 ms. */
  pollIntervalMs?: number;
  /**
   * While watching, a full scan this often anyway: catches edits fs.watch cannot see (the
   * target of a symlink that points outside the directory). Default 30 s; 0 disables.
   */
  resyncIntervalMs?: number;
  /** false: poll only, never fs.watch. Default true. */
  watch?: boolean;
  /** The file system (default: the real directory `dir`). */
  directory?: ManifestDirectory;
  /** Time and timers (default: the process clock). */
  clock?: Clock;
}

/** Larger files are refused (reported), not read. */
export const MAX_FILE_BYTES = 32 * 1024 * 1024;
/** A file modified less than this before it was read is read again on the next scan even when
 * its stat looks the same (coarse timestamps could hide a same-size edit). */
const RACY_MS = 2000;
/** Stats / reads in flight at once during a scan. */
const CONCURRENCY = 32;

/** What the watcher knows of a file it has read (the index knows what it contributes). */
interface FileRecord {
  /** The stat signature at the last read. */
  sig: string;
  /** sha256 of the last content read; '' when it could not be read. */
  hash: string;
  racy: boolean;
  /** The last read error, if the last attempt failed. */
  error: string | undefined;
}

/** A snapshot of the directory seen changing, waiting to stand still. */
interface Pending {
  /** The listing with every file's signature: equal keys mean nothing moved. */
  key: string;
  /** When this exact snapshot was first seen. */
  since: number;
  /** When the current burst of changes was first seen. */
  first: number;
}

/** 'done': the directory's state is applied (or nothing changed); else scan again after waitMs. */
type ScanResult = 'done' | { waitMs: number };

type ReadResult =
  | { type: 'read'; name: string; text: string; stat: FileStat }
  | { type: 'error'; name: string; sig: string; message: string }
  | { type: 'unsettled' };

export class ManifestDirectorySource {
  readonly dir: string;
  private readonly directory: ManifestDirectory;
  private readonly store: Store;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly debounceMs: number;
  private readonly settleMs: number;
  private readonly maxSettleMs: number;
  private readonly pollIntervalMs: number;
  private readonly resyncIntervalMs: number;
  private readonly useWatch: boolean;

  private state: 'new' | 'running' | 'stopped' = 'new';
  private readonly index = new ManifestIndex();
  private readonly records = new Map<string, FileRecord>();
  private pending: Pending | undefined;
  private directoryProblem: FileProblem | undefined;
  private problemList: readonly FileProblem[] = Object.freeze([]);
  private readonly problemListeners = new Set<FileProblemsListener>();

  private watcher: WatchHandle | undefined;
  private cancelDebounce: (() => void) | undefined;
  private cancelMaxWait: (() => void) | undefined;
  private cancelSettle: (() => void) | undefined;
  private cancelPoll: (() => void) | undefined;
  private cancelResync: (() => void) | undefined;
  private scanning: Promise<ScanResult> | undefined;
  private rescanRequested = false;
  private scans = 0;
  private watchFailureLogged = false;
  /** The first load is done (its changes are summed up by 'manifests loaded'). */
  private loaded = false;

  constructor(opts: ManifestDirectorySourceOptions) {
    this.directory = opts.directory ?? nodeDirectory(opts.dir);
    this.dir = this.directory.path;
    this.store = opts.store;
    this.log = opts.log.child({ dir: this.dir });
    this.clock = opts.clock ?? systemClock;
    this.debounceMs = opts.debounceMs ?? 50;
    this.settleMs = opts.settleMs ?? 200;
    this.maxSettleMs = opts.maxSettleMs ?? Math.max(2000, this.settleMs * 10);
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

  /** What has not been read yet: the directory until its first load is done. */
  unread(): string[] {
    return this.loaded ? [] : [`manifests in ${this.dir}`];
  }

  /**
   * Reads every file once it stands still and puts its objects in the store, then follows
   * changes. Rejects when the directory does not exist or is not a directory.
   */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error('ManifestDirectorySource can be started once');
    try {
      await this.directory.list();
    } catch (err) {
      throw new Error(`manifests directory ${this.dir}: ${errorText(err)}`);
    }
    this.state = 'running';
    this.startWatching(); // before the first scan: a change during it triggers another
    await this.settle();
    this.loaded = true;
    this.log.info('manifests loaded', {
      files: this.index.fileCount,
      objects: this.index.objectCount,
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
    for (const cancel of [this.cancelDebounce, this.cancelMaxWait, this.cancelSettle, this.cancelPoll, this.cancelResync]) cancel?.();
    this.cancelDebounce = this.cancelMaxWait = this.cancelSettle = this.cancelPoll = this.cancelResync = undefined;
    await this.scanning;
  }

  /** Scans now and again until the directory stands still; resolves when its state is applied. */
  rescan(): Promise<void> {
    return this.settle();
  }

  // --- watching ------------------------------------------------------------------------------

  private startWatching(): void {
    if (!this.useWatch || !this.tryWatch()) this.startPolling();
  }

  private tryWatch(): boolean {
    try {
      const w: WatchHandle = this.directory.watch(
        () => this.schedule(),
        (err) => {
          if (this.watcher !== w) return;
          this.log.warn('watching the manifests directory failed; polling instead', { error: errorText(err), intervalMs: this.pollIntervalMs });
          this.fallBackToPolling();
          this.schedule();
        },
      );
      this.watcher = w;
    } catch (err) {
      // retried after every successful poll: say it once
      if (!this.watchFailureLogged) {
        this.watchFailureLogged = true;
        this.log.warn('cannot watch the manifests directory; polling instead', { error: errorText(err), intervalMs: this.pollIntervalMs });
      }
      return false;
    }
    this.watchFailureLogged = false;
    if (this.resyncIntervalMs > 0 && this.cancelResync === undefined) this.cancelResync = this.every(this.resyncIntervalMs, () => this.schedule());
    return true;
  }

  private fallBackToPolling(): void {
    this.watcher?.close();
    this.watcher = undefined;
    this.cancelResync?.();
    this.cancelResync = undefined;
    this.startPolling();
  }

  private startPolling(): void {
    if (this.cancelPoll !== undefined || this.state !== 'running') return;
    this.cancelPoll = this.every(this.pollIntervalMs, () => void this.scanAndFollowUp());
  }

  /** After a successful listing in fallback mode: watch again if the directory allows it now. */
  private maybeResumeWatching(): void {
    if (!this.useWatch || this.watcher !== undefined || this.cancelPoll === undefined) return;
    if (this.tryWatch()) {
      this.cancelPoll();
      this.cancelPoll = undefined;
      this.log.info('watching the manifests directory again');
      this.schedule(); // changes between the last scan and the new watch
    }
  }

  /** Runs `fn` every `ms` until the returned function is called. */
  private every(ms: number, fn: () => void): () => void {
    let cancel: () => void = () => undefined;
    let stopped = false;
    const tick = () => {
      if (stopped) return;
      fn();
      cancel = this.clock.schedule(tick, ms);
    };
    cancel = this.clock.schedule(tick, ms);
    return () => {
      stopped = true;
      cancel();
    };
  }

  /** A change event: scan after `debounceMs` of quiet, at most `maxWait` after the first event. */
  private schedule(): void {
    if (this.state !== 'running') return;
    this.cancelDebounce?.();
    this.cancelDebounce = this.clock.schedule(() => this.fire(), this.debounceMs);
    this.cancelMaxWait ??= this.clock.schedule(() => this.fire(), Math.max(1000, this.debounceMs * 10));
  }

  private fire(): void {
    this.cancelDebounce?.();
    this.cancelMaxWait?.();
    this.cancelDebounce = this.cancelMaxWait = undefined;
    void this.scanAndFollowUp();
  }

  /** Scans; when the directory is still moving, scans again once it may have settled. */
  private async scanAndFollowUp(): Promise<void> {
    const r = await this.scan();
    if (r === 'done' || this.state !== 'running') return;
    this.cancelSettle?.();
    this.cancelSettle = this.clock.schedule(() => {
      this.cancelSettle = undefined;
      void this.scanAndFollowUp();
    }, r.waitMs);
  }

  /** Scans until the directory's state is applied (start-up, rescan). */
  private async settle(): Promise<void> {
    for (;;) {
      const r = await this.scan();
      if (r === 'done' || this.state !== 'running') return;
      await new Promise<void>((resolve) => this.clock.schedule(resolve, r.waitMs));
    }
  }

  // --- scanning ------------------------------------------------------------------------------

  /** One scan at a time: a scan asked for during another runs right after it. */
  private scan(): Promise<ScanResult> {
    if (this.state !== 'running') return this.scanning ?? Promise.resolve('done');
    if (this.scanning !== undefined) {
      this.rescanRequested = true;
      return this.scanning;
    }
    const run = async (): Promise<ScanResult> => {
      let result: ScanResult = 'done';
      try {
        do {
          this.rescanRequested = false;
          try {
            result = await this.scanOnce();
          } catch (err) {
            this.log.error('scanning the manifests directory failed', { error: errorText(err) });
            result = 'done';
          }
          this.scans++;
        } while (this.rescanRequested && this.state === 'running');
      } finally {
        this.scanning = undefined;
      }
      return result;
    };
    this.scanning = run();
    return this.scanning;
  }

  private async scanOnce(): Promise<ScanResult> {
    let listing;
    try {
      listing = await this.directory.list();
    } catch (err) {
      if (this.state !== 'running') return 'done';
      const message = `cannot list the directory: ${errorText(err)}; keeping the objects loaded so far`;
      if (this.directoryProblem?.message !== message) {
        this.log.warn('cannot list the manifests directory; keeping the objects loaded so far', { error: errorText(err) });
        this.directoryProblem = { file: '', reason: 'DirectoryError', message };
        this.publishProblems();
      }
      this.pending = undefined;
      // a watch on a deleted directory never fires again
      if (this.watcher !== undefined) this.fallBackToPolling();
      return 'done';
    }
    if (this.directoryProblem !== undefined) {
      this.directoryProblem = undefined;
      this.publishProblems();
    }
    const names = listing.names.filter(isManifestFileName).sort();
    const stats = await mapLimit(names, CONCURRENCY, async (name): Promise<FileStat | undefined | Error> => {
      try {
        return await this.directory.stat(name);
      } catch (err) {
        return err instanceof Error ? err : new Error(String(err));
      }
    });
    if (this.state !== 'running') return 'done';
    this.maybeResumeWatching();

    /** name → its stat, or the error that prevents a stat */
    const present = new Map<string, FileStat | Error>();
    names.forEach((name, i) => {
      const s = stats[i];
      if (s !== undefined) present.set(name, s);
    });
    const changed: string[] = [];
    const racy: string[] = [];
    for (const [name, st] of present) {
      const rec = this.records.get(name);
      if (st instanceof Error) {
        if (rec?.error !== errorText(st)) changed.push(name);
      } else if (rec === undefined || rec.sig !== st.sig) changed.push(name);
      else if (rec.racy) racy.push(name);
    }
    const missing = [...this.records.keys()].filter((name) => !present.has(name));

    if (changed.length === 0 && missing.length === 0) {
      this.pending = undefined;
      // unchanged since they were read: only a same-tick edit could hide here
      if (racy.length > 0) return this.readAndApply(racy, [], present);
      return 'done';
    }

    const now = this.clock.now();
    const key = snapshotKey(listing.mtimeMs, present);
    const same = this.pending !== undefined && this.pending.key === key;
    const since = same ? this.pending!.since : now;
    const first = this.pending?.first ?? now;
    const aged = (mtimeMs: number) => now - mtimeMs >= this.settleMs;
    const stoodStill = same && now - since >= this.settleMs;
    const quietByTimes = aged(listing.mtimeMs) && changed.every((n) => { const st = present.get(n); return st instanceof Error || aged(st!.mtimeMs); });
    const forced = now - first >= this.maxSettleMs;
    if (!stoodStill && !quietByTimes && !forced) {
      this.pending = { key, since, first };
      // Look again when this snapshot has stood still long enough, or earlier when the file
      // times say the last change will be `settleMs` old by then.
      let newest = listing.mtimeMs;
      for (const n of changed) {
        const st = present.get(n);
        if (!(st instanceof Error)) newest = Math.max(newest, st!.mtimeMs);
      }
      const at = newest <= now ? Math.min(since, newest) + this.settleMs : since + this.settleMs;
      return { waitMs: Math.max(1, Math.min(at, first + this.maxSettleMs) - now) };
    }
    if (forced && !stoodStill && !quietByTimes) {
      this.log.warn('the manifests directory keeps changing; applying its current state', { sinceMs: now - first });
    }
    const result = await this.readAndApply([...changed, ...racy], missing, present);
    if (result !== 'done') this.pending = { key: '', since: this.clock.now(), first };
    return result;
  }

  /** Reads `names`, and applies them with the deletion of `missing` as one step. */
  private async readAndApply(names: readonly string[], missing: readonly string[], present: ReadonlyMap<string, FileStat | Error>): Promise<ScanResult> {
    const reads = await mapLimit(names, CONCURRENCY, (name) => this.readFile(name, present.get(name)!));
    if (this.state !== 'running') return 'done';
    // A file moved on since the scan saw it: the directory is not still after all.
    if (reads.some((r) => r.type === 'unsettled')) return { waitMs: this.settleMs };

    const now = this.clock.now();
    const changes: FileChange[] = [];
    for (const r of reads) {
      if (r.type === 'unsettled') continue;
      const previous = this.index.contents(r.name);
      const rec = this.records.get(r.name);
      if (r.type === 'error') {
        this.records.set(r.name, { sig: r.sig, hash: '', racy: false, error: r.message });
        if (rec?.error === r.message) continue;
        this.log.warn('cannot read manifest file', { file: this.pathOf(r.name), error: r.message });
        changes.push([r.name, unreadableContents(r.name, previous, r.message)]);
        continue;
      }
      const hash = createHash('sha256').update(r.text).digest('hex');
      this.records.set(r.name, { sig: r.stat.sig, hash, racy: now - r.stat.mtimeMs < RACY_MS, error: undefined });
      if (rec !== undefined && rec.error === undefined && rec.hash === hash) continue;
      const { contents, notes } = fileContents(r.name, r.text, previous);
      this.logNotes(r.name, notes);
      changes.push([r.name, contents]);
    }
    for (const name of missing) {
      this.records.delete(name);
      if (this.index.has(name)) changes.push([name, undefined]);
    }
    this.pending = undefined;
    if (changes.length > 0) this.apply(changes);
    return 'done';
  }

  private async readFile(name: string, st: FileStat | Error): Promise<ReadResult> {
    if (st instanceof Error) return { type: 'error', name, sig: '', message: errorText(st) };
    if (st.size > MAX_FILE_BYTES) return { type: 'error', name, sig: st.sig, message: `larger than ${MAX_FILE_BYTES} bytes` };
    try {
      const r = await this.directory.read(name);
      if (r.type !== 'read' || r.stat.sig !== st.sig) return { type: 'unsettled' };
      return { type: 'read', name, text: r.text, stat: r.stat };
    } catch (err) {
      return { type: 'error', name, sig: st.sig, message: errorText(err) };
    }
  }

  // --- applying ------------------------------------------------------------------------------

  /** Installs new file contents (undefined: deleted) and brings the store in line, in one step. */
  private apply(changes: readonly FileChange[]): void {
    const delta = this.index.apply(changes);
    for (const d of delta.duplicates) {
      // `file` is the copy that is ignored; `winner` the one in effect.
      this.log.warn('object defined in two manifest files; the first file by name wins and this copy is ignored', {
        file: this.pathOf(d.ignoredFile),
        object: d.object,
        winner: this.pathOf(d.usedFile),
      });
    }
    // additions and updates first, removals last: nothing is missing in between
    for (const o of delta.upserts) this.store.upsert(o.kind, o.obj);
    for (const o of delta.removes) this.store.remove(o.kind, o.key);
    if ((delta.upserts.length > 0 || delta.removes.length > 0) && this.loaded) {
      this.log.info('manifests changed', { files: changes.map(([n]) => n), upserted: delta.upserts.length, removed: delta.removes.length });
      if (this.log.enabled('debug')) {
        for (const o of delta.upserts) this.log.debug('object from manifests', { object: o.display });
        for (const o of delta.removes) this.log.debug('object removed from manifests', { object: o.display });
      }
    }
    if (delta.problemsChanged) this.publishProblems();
  }

  private logNotes(name: string, notes: readonly ManifestNote[]): void {
    for (const n of notes) this.log.warn(n.msg, { file: this.pathOf(name), ...n.fields });
  }

  private pathOf(name: string): string {
    return path.join(this.dir, name);
  }

  private publishProblems(): void {
    const list = this.index.problems();
    if (this.directoryProblem) list.unshift(this.directoryProblem);
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

/** The directory as one string: its mtime, and every manifest file with its signature. */
function snapshotKey(dirMtimeMs: number, present: ReadonlyMap<string, FileStat | Error>): string {
  let key = String(dirMtimeMs);
  for (const [name, st] of present) key += `\n${name}\t${st instanceof Error ? `error:${st.message}` : st.sig}`;
  return key;
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
