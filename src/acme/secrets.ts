// Small helpers for the Secrets the ACME code reads and writes (challenge tokens, the account,
// issued certificates): GET that maps 404 to undefined, and a read-modify-write loop with
// optimistic concurrency (the object's resourceVersion) that re-reads on 409.

import { ApiError, type KubeApi } from '../sources/kubernetes/api.ts';
import type { Secret } from '../store/types.ts';

export const TLS_SECRET_TYPE = 'kubernetes.io/tls';
const MAX_CONFLICT_RETRIES = 8;
const REQUEST_TIMEOUT_MS = 15_000;

export function secretPath(namespace: string, name?: string): string {
  const base = `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`;
  return name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
}

export async function getSecret(api: KubeApi, namespace: string, name: string): Promise<Secret | undefined> {
  try {
    return await api.request<Secret>('GET', secretPath(namespace, name), { timeoutMs: REQUEST_TIMEOUT_MS });
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return undefined;
    throw err;
  }
}

/** The value of a Secret's data key, decoded; undefined when absent. */
export function secretString(secret: Secret | undefined, key: string): string | undefined {
  const v = secret?.data?.[key];
  return typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : undefined;
}

export function b64(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64');
}

/**
 * What `mutate` returns: the object to write (create when `current` is undefined, else update
 * — it must keep `current.metadata.resourceVersion`), or `undefined` to write nothing.
 */
export type SecretMutation = (current: Secret | undefined) => Secret | undefined;

/**
 * Read, change, write, with optimistic concurrency: a 409 (someone wrote in between, or
 * created it first) re-reads and calls `mutate` again. Returns what the API server stored
 * (or the current object when `mutate` chose not to write).
 */
export async function mutateSecret(api: KubeApi, namespace: string, name: string, mutate: SecretMutation): Promise<Secret | undefined> {
  let lastConflict: unknown;
  for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
    const current = await getSecret(api, namespace, name);
    const next = mutate(current);
    if (next === undefined) return current;
    try {
      if (current === undefined) {
        return await api.request<Secret>('POST', secretPath(namespace), { body: next, timeoutMs: REQUEST_TIMEOUT_MS });
      }
      return await api.request<Secret>('PUT', secretPath(namespace, name), { body: next, timeoutMs: REQUEST_TIMEOUT_MS });
    } catch (err) {
      // 409: a stale resourceVersion, or another writer created it first; 404 on PUT: it was
      // deleted in between. Either way, read again.
      if (err instanceof ApiError && (err.status === 409 || (err.status === 404 && current !== undefined))) {
        lastConflict = err;
        continue;
      }
      throw err;
    }
  }
  throw new Error(`Secret ${namespace}/${name}: still conflicting after ${MAX_CONFLICT_RETRIES} attempts (${String(lastConflict)})`);
}
