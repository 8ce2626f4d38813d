// The file system as the manifests watcher sees it: list, stat, read, watch. One port, so the
// watcher's timing (debounce, settle) is tested against an in-memory directory with fake
// timers; nodeDirectory is the real one.

import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

/** A regular file's identity and version: dev:ino:size:mtime:ctime, plus the parts compared alone. */
export interface FileStat {
  /** Changes whenever the file is replaced or written. */
  readonly sig: string;
  readonly size: number;
  /** Modification time, epoch ms (by the file system's clock). */
  readonly mtimeMs: number;
}

export interface DirectoryListing {
  names: string[];
  /** The directory's own modification time: it moves on every create, delete and rename. */
  mtimeMs: number;
}

export type ReadOutcome =
  | { type: 'read'; text: string; stat: FileStat }
  /** The file changed while it was read (its stat before and after differ). */
  | { type: 'changed' }
  /** Deleted, or no longer a regular file. */
  | { type: 'gone' };

export interface WatchHandle {
  close(): void;
}

export interface ManifestDirectory {
  /** Absolute path (for messages). */
  readonly path: string;
  /** Throws when the directory cannot be listed. */
  list(): Promise<DirectoryListing>;
  /** undefined: gone, or not a regular file (symlinks are followed). Throws on other errors. */
  stat(name: string): Promise<FileStat | undefined>;
  /** Reads a file whole; throws on errors other than "gone". */
  read(name: string): Promise<ReadOutcome>;
  /** Calls `onEvent` on every change notification; throws when watching is not possible. */
  watch(onEvent: () => void, onError: (err: Error) => void): WatchHandle;
}

export function nodeDirectory(dir: string): ManifestDirectory {
  const abs = path.resolve(dir);
  return {
    path: abs,
    async list() {
      const [names, st] = await Promise.all([fsp.readdir(abs), fsp.stat(abs)]);
      return { names, mtimeMs: st.mtimeMs };
    },
    async stat(name) {
      try {
        const st = await fsp.stat(path.join(abs, name), { bigint: true });
        return st.isFile() ? fileStat(st) : undefined;
      } catch (err) {
        if (isGone(err)) return undefined;
        throw err;
      }
    },
    async read(name) {
      let fh: fsp.FileHandle;
      try {
        fh = await fsp.open(path.join(abs, name), 'r');
      } catch (err) {
        if (isGone(err)) return { type: 'gone' };
        throw err;
      }
      try {
        const before = await fh.stat({ bigint: true });
        if (!before.isFile()) return { type: 'gone' };
        const text = await fh.readFile({ encoding: 'utf8' });
        // A write during the read would have given a mixture of two versions.
        const after = fileStat(await fh.stat({ bigint: true }));
        if (after.sig !== fileStat(before).sig) return { type: 'changed' };
        return { type: 'read', text, stat: after };
      } finally {
        await fh.close();
      }
    },
    watch(onEvent, onError) {
      const w = fs.watch(abs, { persistent: false }, () => onEvent());
      w.on('error', onError);
      return { close: () => w.close() };
    },
  };
}

function fileStat(st: fs.BigIntStats): FileStat {
  return { sig: `${st.dev}:${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`, size: Number(st.size), mtimeMs: Number(st.mtimeMs) };
}

function isGone(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
