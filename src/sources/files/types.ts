// What the manifests directory source reports and remembers, shared by the pure file
// contents reader, the pure index and the watcher.

import type { AnyObject, Kind } from '../../store/types.ts';

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

/** One object as a file defines it (its last good version). */
export interface ManifestObject {
  /** `Kind/namespace/name`: the identity across files. */
  readonly id: string;
  readonly kind: Kind;
  /** The store key (`namespace/name`, or `name` when cluster-scoped). */
  readonly key: string;
  /** For messages: `Kind namespace/name`. */
  readonly display: string;
  readonly obj: AnyObject;
  /** The object as JSON: an unchanged object is recognised without a deep compare. */
  readonly json: string;
}

/** What one file contributes: its objects (last good versions) and its own problems. */
export interface FileContents {
  readonly objects: ReadonlyMap<string, ManifestObject>;
  readonly problems: readonly FileProblem[];
  /** Kinds Portico does not read that this file was already warned about (warn once). */
  readonly ignoredKinds: ReadonlySet<string>;
}

/** A log line the pure code asks its caller to write (it has no logger of its own). */
export interface ManifestNote {
  msg: string;
  fields: { object?: string; kind?: string; error?: string };
}

export function objectId(kind: string, namespace: string | undefined, name: string): string {
  return `${kind}/${namespace ?? ''}/${name}`;
}
