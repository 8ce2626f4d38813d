// An in-memory manifests directory for the watcher's timing tests: writes move mtimes by the
// (fake) clock, creates/deletes/renames move the directory's mtime, and every change fires
// the watch callback like fs.watch would.

import type { DirectoryListing, FileStat, ManifestDirectory, ReadOutcome, WatchHandle } from '../../src/sources/files/directory.ts';

interface MemoryFile {
  text: string;
  ino: number;
  mtimeMs: number;
  version: number;
}

export class MemoryDirectory implements ManifestDirectory {
  readonly path = '/memory/manifests';
  /** Names read, in order (a read is only made once a file stands still). */
  readonly reads: string[] = [];
  private readonly files = new Map<string, MemoryFile>();
  private readonly watchers = new Set<() => void>();
  private readonly now: () => number;
  private mtimeMs: number;
  private nextIno = 1;
  private version = 0;

  constructor(now: () => number = () => Date.now()) {
    this.now = now;
    this.mtimeMs = now();
  }

  /** Creates or overwrites a file in place (same inode). `mtimeMs` backdates it. */
  write(name: string, text: string, mtimeMs = this.now()): void {
    const f = this.files.get(name);
    if (f === undefined) {
      this.files.set(name, { text, ino: this.nextIno++, mtimeMs, version: ++this.version });
      this.mtimeMs = mtimeMs;
    } else {
      f.text = text;
      f.mtimeMs = mtimeMs;
      f.version = ++this.version;
    }
    this.notify();
  }

  /** Appends to a file in place, as a slow writer does. */
  append(name: string, text: string): void {
    this.write(name, (this.files.get(name)?.text ?? '') + text);
  }

  remove(name: string): void {
    if (!this.files.delete(name)) throw new Error(`no such file ${name}`);
    this.mtimeMs = this.now();
    this.notify();
  }

  rename(from: string, to: string): void {
    const f = this.files.get(from);
    if (f === undefined) throw new Error(`no such file ${from}`);
    this.files.delete(from);
    this.files.set(to, f);
    this.mtimeMs = this.now();
    this.notify();
  }

  async list(): Promise<DirectoryListing> {
    return { names: [...this.files.keys()], mtimeMs: this.mtimeMs };
  }

  async stat(name: string): Promise<FileStat | undefined> {
    const f = this.files.get(name);
    return f === undefined ? undefined : statOf(f);
  }

  async read(name: string): Promise<ReadOutcome> {
    const f = this.files.get(name);
    if (f === undefined) return { type: 'gone' };
    this.reads.push(name);
    return { type: 'read', text: f.text, stat: statOf(f) };
  }

  watch(onEvent: () => void): WatchHandle {
    this.watchers.add(onEvent);
    return { close: () => this.watchers.delete(onEvent) };
  }

  private notify(): void {
    for (const w of this.watchers) w();
  }
}

function statOf(f: MemoryFile): FileStat {
  return { sig: `${f.ino}:${f.version}:${f.text.length}:${f.mtimeMs}`, size: f.text.length, mtimeMs: f.mtimeMs };
}
