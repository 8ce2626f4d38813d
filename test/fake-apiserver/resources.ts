// The resource types the fake API server knows, with the per-type behaviour of the real
// registry strategies that matters to a controller.

export interface ResourceDef {
  /** API group, '' for core. */
  readonly group: string;
  readonly version: string;
  /** `group/version`, or `v1` for core. */
  readonly apiVersion: string;
  readonly kind: string;
  readonly listKind: string;
  /** Lower-case plural used in URLs. */
  readonly plural: string;
  readonly namespaced: boolean;
  /** Has a `/status` subresource: main-resource writes ignore `.status`, status writes touch only `.status`. */
  readonly statusSubresource: boolean;
  /** PUT without metadata.resourceVersion is allowed (false for Lease → 422). */
  readonly allowUnconditionalUpdate: boolean;
  /** PUT of a missing object creates it (true for Lease). */
  readonly allowCreateOnUpdate: boolean;
  /** DELETE answers with the deleted object instead of a Success Status. */
  readonly deleteReturnsObject: boolean;
  /** Field-selector labels beyond metadata.name / metadata.namespace. */
  readonly extraFieldLabels: readonly string[];
  /** Paths of MicroTime fields (must carry exactly 6 fractional digits). */
  readonly microTimeFields: readonly (readonly string[])[];
  /** `plural.group` (or just `plural` for core), as used in error messages. */
  readonly qualifiedResource: string;
  /** Unique id: `apiVersion/Kind`. */
  readonly id: string;
}

interface DefInput {
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
  statusSubresource?: boolean;
  allowUnconditionalUpdate?: boolean;
  allowCreateOnUpdate?: boolean;
  deleteReturnsObject?: boolean;
  extraFieldLabels?: string[];
  microTimeFields?: string[][];
}

function def(d: DefInput): ResourceDef {
  const apiVersion = d.group === '' ? d.version : `${d.group}/${d.version}`;
  return {
    group: d.group,
    version: d.version,
    apiVersion,
    kind: d.kind,
    listKind: `${d.kind}List`,
    plural: d.plural,
    namespaced: d.namespaced,
    statusSubresource: d.statusSubresource ?? false,
    allowUnconditionalUpdate: d.allowUnconditionalUpdate ?? true,
    allowCreateOnUpdate: d.allowCreateOnUpdate ?? false,
    deleteReturnsObject: d.deleteReturnsObject ?? false,
    extraFieldLabels: d.extraFieldLabels ?? [],
    microTimeFields: d.microTimeFields ?? [],
    qualifiedResource: d.group === '' ? d.plural : `${d.plural}.${d.group}`,
    id: `${apiVersion}/${d.kind}`,
  };
}

const CORE_EVENT_FIELDS = [
  'involvedObject.kind',
  'involvedObject.namespace',
  'involvedObject.name',
  'involvedObject.uid',
  'involvedObject.apiVersion',
  'involvedObject.resourceVersion',
  'involvedObject.fieldPath',
  'reason',
  'reportingComponent',
  'source',
  'type',
];

export const RESOURCES: readonly ResourceDef[] = [
  def({ group: 'networking.k8s.io', version: 'v1', kind: 'Ingress', plural: 'ingresses', namespaced: true, statusSubresource: true }),
  def({ group: 'networking.k8s.io', version: 'v1', kind: 'IngressClass', plural: 'ingressclasses', namespaced: false }),
  def({
    group: '',
    version: 'v1',
    kind: 'Service',
    plural: 'services',
    namespaced: true,
    statusSubresource: true,
    deleteReturnsObject: true,
    extraFieldLabels: ['spec.clusterIP', 'spec.type'],
  }),
  def({ group: 'discovery.k8s.io', version: 'v1', kind: 'EndpointSlice', plural: 'endpointslices', namespaced: true }),
  def({ group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true, extraFieldLabels: ['type'] }),
  def({ group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true }),
  def({
    group: 'coordination.k8s.io',
    version: 'v1',
    kind: 'Lease',
    plural: 'leases',
    namespaced: true,
    allowUnconditionalUpdate: false,
    allowCreateOnUpdate: true,
    microTimeFields: [
      ['spec', 'acquireTime'],
      ['spec', 'renewTime'],
    ],
  }),
  def({
    group: '',
    version: 'v1',
    kind: 'Event',
    plural: 'events',
    namespaced: true,
    extraFieldLabels: CORE_EVENT_FIELDS,
    microTimeFields: [['eventTime']],
  }),
  def({
    group: 'events.k8s.io',
    version: 'v1',
    kind: 'Event',
    plural: 'events',
    namespaced: true,
    extraFieldLabels: ['reason', 'reportingController', 'type', 'regarding.kind', 'regarding.name', 'regarding.namespace'],
    microTimeFields: [['eventTime'], ['series', 'lastObservedTime']],
  }),
];

/** Find a resource by URL coordinates. */
export function findByPath(group: string, version: string, plural: string): ResourceDef | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.plural === plural);
}

/**
 * Resolve a kind reference: `Ingress`, `v1/Secret`, `networking.k8s.io/v1/Ingress` or an object's
 * `apiVersion` + `kind`. A bare kind resolves to the first match (core Event for `Event`).
 */
export function resolveKind(ref: string, kind?: string): ResourceDef | undefined {
  if (kind !== undefined) {
    return RESOURCES.find((r) => r.apiVersion === ref && r.kind === kind);
  }
  const slash = ref.lastIndexOf('/');
  if (slash < 0) {
    return RESOURCES.find((r) => r.kind === ref) ?? RESOURCES.find((r) => r.plural === ref);
  }
  const apiVersion = ref.slice(0, slash);
  const k = ref.slice(slash + 1);
  return RESOURCES.find((r) => r.apiVersion === apiVersion && (r.kind === k || r.plural === k));
}
