// One ConfigMap read once, from wherever the program gets its objects: the Kubernetes API (one
// GET) or the manifests directory (read as the files source reads it). For --nginx-configmap,
// which is applied at start.

import { readManifestsOnce } from './files/read-once.ts';
import { objectId } from './files/types.ts';
import { ApiError, KubeApi } from './kubernetes/api.ts';

export interface ConfigMapSource {
  /** File mode: the manifests directory. */
  readonly manifests?: string | undefined;
  /** Kubernetes mode: the kubeconfig (undefined: $KUBECONFIG, ~/.kube/config, else in-cluster). */
  readonly kubeconfig?: string | undefined;
}

/** The ConfigMap's `data` (string values only), or null when it does not exist. Throws when it cannot be read. */
export async function readConfigMapOnce(source: ConfigMapSource, namespace: string, name: string): Promise<Record<string, string> | null> {
  let obj: unknown;
  if (source.manifests !== undefined) {
    const { index } = await readManifestsOnce(source.manifests);
    obj = index.objects().get(objectId('ConfigMap', namespace, name))?.obj;
    if (obj === undefined) return null;
  } else {
    const api = KubeApi.load(source.kubeconfig);
    try {
      obj = await api.request('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps/${encodeURIComponent(name)}`, { timeoutMs: 10_000 });
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return null;
      throw err;
    }
  }
  const data = (obj as { data?: unknown } | null)?.data;
  const out: Record<string, string> = {};
  if (data !== null && typeof data === 'object') {
    for (const [k, v] of Object.entries(data as Record<string, unknown>)) if (typeof v === 'string') out[k] = v;
  }
  return out;
}
