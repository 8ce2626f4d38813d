// Where each kind Portico reads lives in the API, and which selectors keep memory small.

import type { Kind } from '../../store/types.ts';

export interface ResourceSpec {
  kind: Kind;
  apiVersion: string;
  /** URL prefix: `/api/v1` or `/apis/GROUP/VERSION`. */
  prefix: string;
  plural: string;
  namespaced: boolean;
  fieldSelector?: string;
  labelSelector?: string;
}

export const RESOURCES: Record<Kind, ResourceSpec> = {
  Ingress: { kind: 'Ingress', apiVersion: 'networking.k8s.io/v1', prefix: '/apis/networking.k8s.io/v1', plural: 'ingresses', namespaced: true },
  IngressClass: {
    kind: 'IngressClass',
    apiVersion: 'networking.k8s.io/v1',
    prefix: '/apis/networking.k8s.io/v1',
    plural: 'ingressclasses',
    namespaced: false,
  },
  Service: { kind: 'Service', apiVersion: 'v1', prefix: '/api/v1', plural: 'services', namespaced: true },
  EndpointSlice: {
    kind: 'EndpointSlice',
    apiVersion: 'discovery.k8s.io/v1',
    prefix: '/apis/discovery.k8s.io/v1',
    plural: 'endpointslices',
    namespaced: true,
    // Slices without a service-name label cannot be joined to a Service: leave them out.
    labelSelector: 'kubernetes.io/service-name',
  },
  // Only TLS Secrets: memory must not grow with unrelated Secrets.
  Secret: { kind: 'Secret', apiVersion: 'v1', prefix: '/api/v1', plural: 'secrets', namespaced: true, fieldSelector: 'type=kubernetes.io/tls' },
  // Every ConfigMap in scope: an Ingress may name any (custom-headers,
  // auth-proxy-set-headers), and ConfigMaps have no type to select by. As ingress-nginx, leave
  // out Helm 2's release ConfigMaps (label OWNER=TILLER), often the largest; --watch-namespace
  // narrows the memory the rest takes.
  ConfigMap: { kind: 'ConfigMap', apiVersion: 'v1', prefix: '/api/v1', plural: 'configmaps', namespaced: true, labelSelector: 'OWNER!=TILLER' },
};

/**
 * Kinds watched through more than one selector: each entry is one more list/watch per
 * namespace, feeding the same store kind (each ListWatch tracks its own objects, so a relist
 * of one never deletes the other's).
 *
 * Opaque Secrets hold basic-auth users (auth-secret: `kubectl create secret generic`, as
 * ingress-nginx documents). Watching only Secrets an Ingress references would need a watch
 * per name; watching every Secret would take in Helm release and token Secrets, usually the
 * largest. `type=Opaque` is the middle: the memory grows with the Opaque Secrets in scope
 * (narrow it with --watch-namespace).
 */
export const EXTRA_RESOURCES: Partial<Record<Kind, readonly ResourceSpec[]>> = {
  Secret: [{ ...RESOURCES.Secret, fieldSelector: 'type=Opaque' }],
};

/** The list/watch collection path, cluster-wide when namespace is ''. */
export function collectionPath(spec: ResourceSpec, namespace: string): string {
  return spec.namespaced && namespace ? `${spec.prefix}/namespaces/${namespace}/${spec.plural}` : `${spec.prefix}/${spec.plural}`;
}

/** The path of one object (and optionally a subresource). */
export function objectPath(spec: ResourceSpec, namespace: string, name: string, sub?: string): string {
  const base = spec.namespaced ? `${spec.prefix}/namespaces/${namespace}/${spec.plural}/${name}` : `${spec.prefix}/${spec.plural}/${name}`;
  return sub ? `${base}/${sub}` : base;
}
