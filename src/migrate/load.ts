// Where the Ingresses and IngressClasses to check come from, read once: a manifests directory
// (through the files source's own reader and index, so a file means here what it means to
// `portico --manifests`), or the Kubernetes API (one list each through the program's client,
// no watch).

import { DirectoryUnreadable, readManifestsOnce } from '../sources/files/read-once.ts';
import type { FileProblem } from '../sources/files/types.ts';
import { KubeApi } from '../sources/kubernetes/api.ts';
import { collectionPath, RESOURCES } from '../sources/kubernetes/resources.ts';
import type { Ingress, IngressClass } from '../store/types.ts';
import { Store, type Snapshot } from '../store/store.ts';

export interface LoadedObjects {
  /** For the report: what was read. */
  source: string;
  ingresses: Ingress[];
  classes: IngressClass[];
  /** Files or objects that could not be read, one line each. */
  problems: string[];
  /**
   * Every object read (manifests only), for the Secrets and ConfigMaps the Ingresses name;
   * absent for a cluster, whose Secrets migrate-check does not read.
   */
  objects?: Snapshot;
}

/** Reading failed as a whole (no directory, no API): the check cannot say anything. */
export class LoadError extends Error {
  override name = 'LoadError';
}

/** The top level of `dir`, as the files source reads it (hidden names skipped, same formats). */
export async function loadManifests(dir: string): Promise<LoadedObjects> {
  let read: Awaited<ReturnType<typeof readManifestsOnce>>;
  try {
    read = await readManifestsOnce(dir);
  } catch (err) {
    if (err instanceof DirectoryUnreadable) throw new LoadError(err.message);
    throw err;
  }
  const ingresses: Ingress[] = [];
  const classes: IngressClass[] = [];
  for (const o of read.index.objects().values()) {
    if (o.kind === 'Ingress') ingresses.push(o.obj as Ingress);
    else if (o.kind === 'IngressClass') classes.push(o.obj as IngressClass);
  }
  const objects = new Store();
  for (const o of read.index.objects().values()) objects.upsert(o.kind, o.obj as never);
  return { source: `manifests ${read.path}`, ingresses, classes, problems: read.index.problems().map(problemLine), objects };
}

function problemLine(p: FileProblem): string {
  return `${p.file === '' ? '(directory)' : p.file}: ${p.object === undefined ? '' : `${p.object}: `}${p.reason}: ${p.message}`;
}

/**
 * Every Ingress (in `namespaces`, or all when empty) and every IngressClass, listed once.
 * `kubeconfig` undefined: $KUBECONFIG, ~/.kube/config, else the pod's service account.
 */
export async function loadCluster(kubeconfig: string | undefined, namespaces: readonly string[]): Promise<LoadedObjects> {
  let api: KubeApi;
  try {
    api = KubeApi.load(kubeconfig);
  } catch (err) {
    throw new LoadError((err as Error).message);
  }
  try {
    const ingresses: Ingress[] = [];
    for (const ns of namespaces.length === 0 ? [''] : namespaces) {
      ingresses.push(...(await api.listAll<Ingress>(collectionPath(RESOURCES.Ingress, ns), {})).items);
    }
    const classes = (await api.listAll<IngressClass>(collectionPath(RESOURCES.IngressClass, ''), {})).items;
    return { source: `cluster ${api.server}${namespaces.length > 0 ? ` (namespaces ${namespaces.join(', ')})` : ''}`, ingresses, classes, problems: [] };
  } catch (err) {
    throw new LoadError(`cannot list Ingresses and IngressClasses from ${api.server}: ${(err as Error).message}`);
  }
}
