// The manifests directory as a pure index: which objects each file contributes, which copy of
// an object defined in several files is the one in effect, and what the store must do when a
// set of files changes. No file system, no timers, no store: the watcher feeds it file
// contents and writes the delta it returns.
//
// One object (kind + namespace + name) in several files: the file first by name wins, each
// other copy is reported as a Duplicate problem on the file that holds it (that copy is
// ignored); when the winner lets go, the next file's copy takes over.

import type { FileContents, FileProblem, ManifestObject } from './types.ts';

/** A file's new contents, or undefined when the file is gone. */
export type FileChange = readonly [file: string, contents: FileContents | undefined];

/** One object defined in two files: `ignoredFile`'s copy is ignored, `usedFile`'s is in effect. */
export interface DuplicateNotice {
  object: string;
  ignoredFile: string;
  usedFile: string;
}

export interface IndexDelta {
  /** Objects to write (new, or changed); applied before the removals. */
  upserts: ManifestObject[];
  /** Objects no file defines any more. */
  removes: ManifestObject[];
  /** Duplicate definitions that are new with this change (to warn about once). */
  duplicates: DuplicateNotice[];
  /** The problem list changed. */
  problemsChanged: boolean;
}

export class ManifestIndex {
  private readonly files = new Map<string, FileContents>();
  /** object id → files (names) that define it. */
  private readonly definers = new Map<string, Set<string>>();
  /** object id → the copy in effect (what the store holds). */
  private readonly applied = new Map<string, ManifestObject>();
  /** object id → its Duplicate problems (one per ignored copy). */
  private readonly duplicateProblems = new Map<string, FileProblem[]>();

  get fileCount(): number {
    return this.files.size;
  }

  get objectCount(): number {
    let n = 0;
    for (const f of this.files.values()) n += f.objects.size;
    return n;
  }

  has(file: string): boolean {
    return this.files.has(file);
  }

  contents(file: string): FileContents | undefined {
    return this.files.get(file);
  }

  /** The objects in effect (what the store should hold), by id. */
  objects(): ReadonlyMap<string, ManifestObject> {
    return this.applied;
  }

  /** Every file's problems and the duplicates across files, sorted by file name. */
  problems(): FileProblem[] {
    const list: FileProblem[] = [];
    for (const f of this.files.values()) list.push(...f.problems);
    for (const ps of this.duplicateProblems.values()) list.push(...ps);
    return list.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  }

  /** Installs the changes of several files at once and returns what the store must do. */
  apply(changes: Iterable<FileChange>): IndexDelta {
    const affected = new Set<string>();
    let problemsChanged = false;
    for (const [name, next] of changes) {
      const old = this.files.get(name);
      if (old !== undefined) {
        if (old.problems.length > 0) problemsChanged = true;
        for (const id of old.objects.keys()) {
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
      for (const id of next.objects.keys()) {
        affected.add(id);
        let d = this.definers.get(id);
        if (d === undefined) {
          d = new Set();
          this.definers.set(id, d);
        }
        d.add(name);
      }
    }

    const upserts: ManifestObject[] = [];
    const removes: ManifestObject[] = [];
    const duplicates: DuplicateNotice[] = [];
    for (const id of affected) {
      const d = this.definers.get(id);
      const current = this.applied.get(id);
      if (d === undefined) {
        if (current !== undefined) {
          removes.push(current);
          this.applied.delete(id);
        }
        if (this.duplicateProblems.delete(id)) problemsChanged = true;
        continue;
      }
      const [usedFile, ...ignoredFiles] = [...d].sort();
      const used = this.files.get(usedFile!)!.objects.get(id)!;
      if (current !== used) {
        if (current === undefined || current.json !== used.json || current.kind !== used.kind) upserts.push(used);
        this.applied.set(id, used);
      }
      const before = this.duplicateProblems.get(id);
      if (ignoredFiles.length === 0) {
        if (before !== undefined) {
          this.duplicateProblems.delete(id);
          problemsChanged = true;
        }
        continue;
      }
      // The problem belongs to the file whose copy is ignored, and names the one in effect.
      const problems = ignoredFiles.map(
        (file): FileProblem => ({
          file,
          object: used.display,
          reason: 'Duplicate',
          message: `${used.display} is also defined in ${usedFile}, which comes first by name; this definition is ignored`,
        }),
      );
      if (JSON.stringify(before) === JSON.stringify(problems)) continue;
      const known = new Set((before ?? []).map((p) => p.message + '\0' + p.file));
      for (const p of problems) if (!known.has(p.message + '\0' + p.file)) duplicates.push({ object: used.display, ignoredFile: p.file, usedFile: usedFile! });
      this.duplicateProblems.set(id, problems);
      problemsChanged = true;
    }
    return { upserts, removes, duplicates, problemsChanged };
  }
}
