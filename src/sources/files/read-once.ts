// The top level of a manifests directory read once, as the files source reads it (hidden names
// skipped, the same formats, size limit and duplicate rules), without watching: for one-shot
// readers (`portico migrate-check --manifests`, --nginx-configmap in file mode).

import { fileContents, unreadableContents } from './contents.ts';
import { nodeDirectory } from './directory.ts';
import { ManifestIndex, type FileChange } from './index.ts';
import { isManifestFileName } from './parse.ts';
import { MAX_FILE_BYTES } from './source.ts';

/** The directory could not be listed at all. */
export class DirectoryUnreadable extends Error {
  override name = 'DirectoryUnreadable';
}

/** Reads every manifest file of `dir` into an index; throws DirectoryUnreadable when it cannot be listed. */
export async function readManifestsOnce(dir: string): Promise<{ path: string; index: ManifestIndex }> {
  const directory = nodeDirectory(dir);
  let names: string[];
  try {
    names = (await directory.list()).names.filter(isManifestFileName).sort();
  } catch (err) {
    throw new DirectoryUnreadable(`cannot list the manifests directory ${directory.path}: ${(err as Error).message}`);
  }
  const changes: FileChange[] = [];
  for (const name of names) {
    try {
      const st = await directory.stat(name);
      if (st === undefined) continue; // not a regular file, or gone meanwhile
      if (st.size > MAX_FILE_BYTES) {
        changes.push([name, unreadableContents(name, undefined, `larger than ${MAX_FILE_BYTES} bytes`)]);
        continue;
      }
      const read = await directory.read(name);
      if (read.type === 'read') changes.push([name, fileContents(name, read.text, undefined).contents]);
      else if (read.type === 'changed') changes.push([name, unreadableContents(name, undefined, 'it changed while it was read; run the check again')]);
    } catch (err) {
      changes.push([name, unreadableContents(name, undefined, (err as Error).message)]);
    }
  }
  const index = new ManifestIndex();
  index.apply(changes);
  return { path: directory.path, index };
}
