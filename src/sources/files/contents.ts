// A manifest file's text → what the file contributes (pure: no file system, no clock).
//
// Failure never drops objects: text that does not parse keeps the file's previous objects;
// an invalid object keeps its previous version from this file. The first definition of an
// object within one file is used; later ones are reported.

import { objectKey } from '../../store/types.ts';
import { describeObject, normalizeObject } from './normalize.ts';
import { parseManifest } from './parse.ts';
import { objectId, type FileContents, type FileProblem, type ManifestNote, type ManifestObject } from './types.ts';

export const EMPTY_CONTENTS: FileContents = Object.freeze({
  objects: new Map<string, ManifestObject>(),
  problems: Object.freeze([]) as readonly FileProblem[],
  ignoredKinds: new Set<string>(),
});

export interface ContentsResult {
  contents: FileContents;
  /** Warnings to log, new with this text (an ignored kind is warned about once per file). */
  notes: ManifestNote[];
}

/** Parses and validates `text` of file `name`; `previous` is what the file contributed so far. */
export function fileContents(name: string, text: string, previous: FileContents | undefined): ContentsResult {
  const notes: ManifestNote[] = [];
  const ignoredKinds = new Set(previous?.ignoredKinds ?? []);
  const parsed = parseManifest(name, text);
  if (!parsed.ok) {
    const keeps = previous !== undefined && previous.objects.size > 0;
    notes.push({
      msg: `manifest file does not parse; ${keeps ? 'its last good objects keep serving' : 'nothing loaded from it'}`,
      fields: { error: parsed.message },
    });
    return {
      contents: {
        objects: previous?.objects ?? new Map(),
        problems: [{ file: name, reason: 'ParseError', message: `${parsed.message}${keeps ? '; its last good objects keep serving' : ''}` }],
        ignoredKinds,
      },
      notes,
    };
  }

  const objects = new Map<string, ManifestObject>();
  const keptLastGood = new Map<string, ManifestObject>();
  const problems: FileProblem[] = [];
  for (const doc of parsed.documents) {
    const where = doc.where === '' ? '' : `${doc.where}: `;
    const r = normalizeObject(doc.value);
    if (r.type === 'ignored') {
      if (!ignoredKinds.has(r.kind)) {
        ignoredKinds.add(r.kind);
        notes.push({ msg: 'ignoring objects of a kind Portico does not read', fields: { kind: r.kind } });
      }
      continue;
    }
    if (r.type === 'invalid') {
      let display: string | undefined;
      let kept = false;
      if (r.kind !== undefined && r.name !== undefined) {
        display = describeObject(r.kind, r.namespace, r.name);
        const id = objectId(r.kind, r.namespace, r.name);
        const old = previous?.objects.get(id);
        if (old !== undefined && !keptLastGood.has(id)) {
          keptLastGood.set(id, old);
          kept = true;
        }
      }
      const message = `${where}${r.errors.join('; ')}${kept ? '; its last good version keeps serving' : ''}`;
      notes.push({ msg: 'invalid object in manifest file', fields: { ...(display ? { object: display } : {}), error: message } });
      problems.push({ file: name, ...(display ? { object: display } : {}), reason: 'InvalidObject', message });
      continue;
    }
    const meta = r.object.metadata;
    const id = objectId(r.kind, meta.namespace, meta.name);
    const display = describeObject(r.kind, meta.namespace, meta.name);
    if (objects.has(id)) {
      notes.push({ msg: 'object defined twice in one manifest file', fields: { object: display } });
      problems.push({ file: name, object: display, reason: 'Duplicate', message: `${where}${display} is defined more than once in this file; the first definition is used` });
      continue;
    }
    const json = JSON.stringify(r.object);
    const old = previous?.objects.get(id);
    // The same object keeps its identity: the index then sees nothing to write.
    objects.set(id, old !== undefined && old.json === json ? old : { id, kind: r.kind, key: objectKey(meta), display, obj: r.object, json });
  }
  for (const [id, o] of keptLastGood) if (!objects.has(id)) objects.set(id, o);
  return { contents: { objects, problems, ignoredKinds }, notes };
}

/** A file that cannot be read: its previous objects keep serving, the error is its problem. */
export function unreadableContents(name: string, previous: FileContents | undefined, error: string): FileContents {
  const keeps = previous !== undefined && previous.objects.size > 0;
  return {
    objects: previous?.objects ?? new Map(),
    problems: [{ file: name, reason: 'ReadError', message: `cannot read: ${error}${keeps ? '; its last good objects keep serving' : ''}` }],
    ignoredKinds: previous?.ignoredKinds ?? new Set(),
  };
}
