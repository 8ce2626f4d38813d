// Where the Ingresses and IngressClasses to check come from, read once: a manifests directory
// (through the files source's own reader and index, so a file means here what it means to
// `portico --manifests`), or the Kubernetes API (one list each through the program's client,
// no watch).

import { DirectoryUnreadable, readManifestsOnce } from '../sources/files/read-once.ts';
import type { FileProblem } from '../sources/files/types.ts';
import { ApiError, KubeApi } from '../sources/kubernetes/api.ts';
import { collectionPath, objectPath, RESOURCES } from '../sources/kubernetes/resources.ts';
import type { AnyObject, Ingress, IngressClass, Kind, KindMap } from '../store/types.ts';
import { Store, type Snapshot } from '../store/store.ts';
import { processIngressSafely } from '../model/ingress-processor.ts';
import { ProblemSink } from '../model/problems.ts';

export interface LoadedObjects {
  /** For the report: what was read. */
  source: string;
  ingresses: Ingress[];
  classes: IngressClass[];
  /** Files or objects that could not be read, one line each. */
  problems: string[];
  /**
   * The Secrets and ConfigMaps the Ingresses name (with every other object, for manifests;
   * for a cluster only those, each read with one GET).
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
    const problems: string[] = [];
    const objects = await referencedObjects(api, ingresses, problems);
    return { source: `cluster ${api.server}${namespaces.length > 0 ? ` (namespaces ${namespaces.join(', ')})` : ''}`, ingresses, classes, problems, objects };
  } catch (err) {
    throw new LoadError(`cannot list Ingresses and IngressClasses from ${api.server}: ${(err as Error).message}`);
  }
}

/** The kinds whose objects the check reads for an Ingress from a cluster: what fails closed. */
const REFERENCED: ReadonlySet<Kind> = new Set<Kind>(['Secret', 'ConfigMap']);

/**
 * The Secrets and ConfigMaps the Ingresses name, read from the cluster one GET each (no list:
 * a cluster's Secrets are many, and most are none of this command's business). Which ones is
 * the Ingress processor's own answer: it runs once over an empty snapshot that records what
 * it asks for, so the references are found by the same code that uses them. A reference that
 * cannot be read for a reason other than absence is a problem line (and treated as absent).
 */
async function referencedObjects(api: KubeApi, ingresses: readonly Ingress[], problems: string[]): Promise<Store> {
  const wanted = new Map<string, { kind: Kind; namespace: string; name: string }>();
  const recorder: Snapshot = {
    get<K extends Kind>(kind: K, key: string): KindMap[K] | undefined {
      const slash = key.indexOf('/');
      if (REFERENCED.has(kind) && slash > 0) wanted.set(`${kind}/${key}`, { kind, namespace: key.slice(0, slash), name: key.slice(slash + 1) });
      return undefined;
    },
    list: () => [],
    size: () => 0,
  };
  for (const ing of ingresses) processIngressSafely(ing, recorder, new ProblemSink());
  const store = new Store();
  for (const ref of wanted.values()) {
    const spec = ref.kind === 'Secret' ? RESOURCES.Secret : RESOURCES.ConfigMap;
    try {
      const obj = await api.request<AnyObject>('GET', objectPath(spec, ref.namespace, ref.name), { timeoutMs: 10_000 });
      store.upsert(ref.kind, { ...obj, kind: ref.kind } as never);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) continue;
      problems.push(`${ref.kind} ${ref.namespace}/${ref.name}: could not be read (${(err as Error).message}); checked as absent`);
    }
  }
  return store;
}
