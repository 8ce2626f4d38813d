// A raw document from a manifest file → a wire-shaped object of a kind Portico reads, or the
// reasons it is not one. Only the fields of `store/types.ts` are copied (unknown fields are
// dropped; so are `status` and `metadata.resourceVersion`, which mean nothing in a file and
// would make the store ignore edits). Types are checked the way the API server would refuse
// them; semantics (path types, host syntax, backends) are the model's job.
//
// Messages name fields, never values: a Secret's data must not reach a log.

import {
  CLUSTER_SCOPED,
  KINDS,
  type AnyObject,
  type ConfigMap,
  type Endpoint,
  type EndpointPort,
  type EndpointSlice,
  type HTTPIngressPath,
  type Ingress,
  type IngressBackend,
  type IngressClass,
  type IngressRule,
  type IngressTLS,
  type Kind,
  type ObjectMeta,
  type Secret,
  type Service,
  type ServicePort,
} from '../../store/types.ts';

export type NormalizeResult =
  | { type: 'object'; kind: Kind; object: AnyObject }
  /** A kind Portico does not read (a Deployment, a Knative Service): ignore. */
  | { type: 'ignored'; kind: string }
  /** Not usable. Whatever identity could be read is given, so a problem can name it. */
  | { type: 'invalid'; kind?: Kind; namespace?: string; name?: string; errors: string[] };

interface ApiVersionRule {
  /** The version we read. */
  current: string;
  /** Older versions of the same resource: refused with a message, not ignored. */
  legacy: readonly string[];
}

const API_VERSIONS: Record<Kind, ApiVersionRule> = {
  Ingress: { current: 'networking.k8s.io/v1', legacy: ['networking.k8s.io/v1beta1', 'extensions/v1beta1'] },
  IngressClass: { current: 'networking.k8s.io/v1', legacy: ['networking.k8s.io/v1beta1'] },
  Service: { current: 'v1', legacy: [] },
  EndpointSlice: { current: 'discovery.k8s.io/v1', legacy: ['discovery.k8s.io/v1beta1'] },
  Secret: { current: 'v1', legacy: [] },
  ConfigMap: { current: 'v1', legacy: [] },
};

const MAX_ERRORS = 8;

function group(apiVersion: string): string {
  const i = apiVersion.indexOf('/');
  return i < 0 ? '' : apiVersion.slice(0, i);
}

function isKind(k: string): k is Kind {
  return (KINDS as readonly string[]).includes(k);
}

/** `Ingress default/web`, `IngressClass portico`. */
export function describeObject(kind: string, namespace: string | undefined, name: string): string {
  return namespace ? `${kind} ${namespace}/${name}` : `${kind} ${name}`;
}

export function normalizeObject(raw: unknown): NormalizeResult {
  if (!isRecord(raw)) return { type: 'invalid', errors: [`expected an object, got ${typeName(raw)}`] };
  const c = new Checker();
  const kindV = raw.kind;
  const apiV = raw.apiVersion;
  if (kindV === undefined || kindV === null) c.err('kind', 'required');
  else if (typeof kindV !== 'string' || kindV === '') c.err('kind', `expected a non-empty string, got ${typeName(kindV)}`);
  if (apiV === undefined || apiV === null) c.err('apiVersion', 'required');
  else if (typeof apiV !== 'string' || apiV === '') c.err('apiVersion', `expected a non-empty string, got ${typeName(apiV)}`);

  let kind: Kind | undefined;
  if (typeof kindV === 'string' && kindV !== '') {
    if (!isKind(kindV)) return { type: 'ignored', kind: typeof apiV === 'string' ? `${apiV} ${kindV}` : kindV };
    kind = kindV;
    if (typeof apiV === 'string' && apiV !== '') {
      const rule = API_VERSIONS[kind];
      if (apiV !== rule.current) {
        // another group's resource of the same name (serving.knative.dev/v1 Service): not ours
        if (group(apiV) !== group(rule.current) && !rule.legacy.includes(apiV)) {
          return { type: 'ignored', kind: `${apiV} ${kindV}` };
        }
        c.err('apiVersion', `${apiV} is not supported for ${kind}; use ${rule.current}`);
      }
    }
  }

  const scoped = kind !== undefined && CLUSTER_SCOPED.has(kind);
  const metadata = normalizeMeta(c, raw.metadata, scoped);
  const ident = identity(raw.metadata, kind, scoped);

  let object: AnyObject | undefined;
  if (kind !== undefined && metadata !== undefined) {
    switch (kind) {
      case 'Ingress':
        object = normalizeIngress(c, raw, metadata);
        break;
      case 'IngressClass':
        object = normalizeIngressClass(c, raw, metadata);
        break;
      case 'Service':
        object = normalizeService(c, raw, metadata);
        break;
      case 'EndpointSlice':
        object = normalizeEndpointSlice(c, raw, metadata);
        break;
      case 'Secret':
        object = normalizeSecret(c, raw, metadata);
        break;
      case 'ConfigMap':
        object = normalizeConfigMap(c, raw, metadata);
        break;
    }
  }
  if (c.errors.length > 0 || object === undefined || kind === undefined) {
    return { type: 'invalid', ...ident, errors: c.errors.length > 0 ? c.errors : ['invalid object'] };
  }
  return { type: 'object', kind, object };
}

function identity(meta: unknown, kind: Kind | undefined, scoped: boolean): { kind?: Kind; namespace?: string; name?: string } {
  const out: { kind?: Kind; namespace?: string; name?: string } = {};
  if (kind !== undefined) out.kind = kind;
  if (isRecord(meta)) {
    if (typeof meta.name === 'string' && meta.name !== '') out.name = meta.name;
    if (kind !== undefined && !scoped) out.namespace = typeof meta.namespace === 'string' && meta.namespace !== '' ? meta.namespace : 'default';
  }
  return out;
}

// --- kinds ---------------------------------------------------------------------------------

function normalizeMeta(c: Checker, v: unknown, clusterScoped: boolean): ObjectMeta | undefined {
  const m = c.obj(v, 'metadata', true);
  if (m === undefined) return undefined;
  const name = c.str(m.name, 'metadata.name', true);
  if (name === '') c.err('metadata.name', 'must not be empty');
  const namespace = c.str(m.namespace, 'metadata.namespace');
  const out: ObjectMeta = { name: name ?? '' };
  if (!clusterScoped) out.namespace = namespace || 'default';
  const uid = c.str(m.uid, 'metadata.uid');
  if (uid !== undefined) out.uid = uid;
  const generation = c.int(m.generation, 'metadata.generation');
  if (generation !== undefined) out.generation = generation;
  const ts = m.creationTimestamp instanceof Date ? m.creationTimestamp.toISOString() : m.creationTimestamp;
  const creationTimestamp = c.str(ts, 'metadata.creationTimestamp');
  if (creationTimestamp !== undefined) out.creationTimestamp = creationTimestamp;
  const labels = c.strMap(m.labels, 'metadata.labels');
  if (labels !== undefined) out.labels = labels;
  const annotations = c.strMap(m.annotations, 'metadata.annotations');
  if (annotations !== undefined) out.annotations = annotations;
  return out;
}

function header(raw: Record<string, unknown>): { apiVersion: string; kind: string } {
  return { apiVersion: raw.apiVersion as string, kind: raw.kind as string };
}

function normalizeIngress(c: Checker, raw: Record<string, unknown>, metadata: ObjectMeta): Ingress {
  const out: Ingress = { ...header(raw), metadata };
  const s = c.obj(raw.spec, 'spec');
  if (s === undefined) return out;
  const spec: NonNullable<Ingress['spec']> = {};
  const cls = c.str(s.ingressClassName, 'spec.ingressClassName');
  if (cls !== undefined) spec.ingressClassName = cls;
  const db = backend(c, s.defaultBackend, 'spec.defaultBackend');
  if (db !== undefined) spec.defaultBackend = db;
  const tls = c.arr(s.tls, 'spec.tls', (t, p): IngressTLS | undefined => {
    const o = c.obj(t, p, true);
    if (o === undefined) return undefined;
    const r: IngressTLS = {};
    const hosts = c.arr(o.hosts, `${p}.hosts`, (h, hp) => c.str(h, hp, true));
    if (hosts !== undefined) r.hosts = hosts;
    const secretName = c.str(o.secretName, `${p}.secretName`);
    if (secretName !== undefined) r.secretName = secretName;
    return r;
  });
  if (tls !== undefined) spec.tls = tls;
  const rules = c.arr(s.rules, 'spec.rules', (r, p): IngressRule | undefined => {
    const o = c.obj(r, p, true);
    if (o === undefined) return undefined;
    const rule: IngressRule = {};
    const host = c.str(o.host, `${p}.host`);
    if (host !== undefined) rule.host = host;
    const http = c.obj(o.http, `${p}.http`);
    if (http !== undefined) {
      const paths = c.arr(
        http.paths,
        `${p}.http.paths`,
        (hp, pp): HTTPIngressPath | undefined => {
          const po = c.obj(hp, pp, true);
          if (po === undefined) return undefined;
          const b = backend(c, po.backend, `${pp}.backend`, true);
          const path: HTTPIngressPath = { backend: b ?? {} };
          const ps = c.str(po.path, `${pp}.path`);
          if (ps !== undefined) path.path = ps;
          const pt = c.str(po.pathType, `${pp}.pathType`);
          if (pt !== undefined) path.pathType = pt;
          return path;
        },
        true,
      );
      rule.http = { paths: paths ?? [] };
    }
    return rule;
  });
  if (rules !== undefined) spec.rules = rules;
  out.spec = spec;
  return out;
}

function backend(c: Checker, v: unknown, path: string, required = false): IngressBackend | undefined {
  const o = c.obj(v, path, required);
  if (o === undefined) return undefined;
  const out: IngressBackend = {};
  const svc = c.obj(o.service, `${path}.service`);
  if (svc !== undefined) {
    const name = c.str(svc.name, `${path}.service.name`, true);
    const service: NonNullable<IngressBackend['service']> = { name: name ?? '' };
    const port = c.obj(svc.port, `${path}.service.port`);
    if (port !== undefined) {
      const p: { name?: string; number?: number } = {};
      const pn = c.str(port.name, `${path}.service.port.name`);
      if (pn !== undefined) p.name = pn;
      const num = c.int(port.number, `${path}.service.port.number`, 1, 65535);
      if (num !== undefined) p.number = num;
      service.port = p;
    }
    out.service = service;
  }
  const res = c.obj(o.resource, `${path}.resource`);
  if (res !== undefined) {
    const kind = c.str(res.kind, `${path}.resource.kind`, true);
    const name = c.str(res.name, `${path}.resource.name`, true);
    const resource: NonNullable<IngressBackend['resource']> = { kind: kind ?? '', name: name ?? '' };
    const apiGroup = c.str(res.apiGroup, `${path}.resource.apiGroup`);
    if (apiGroup !== undefined) resource.apiGroup = apiGroup;
    out.resource = resource;
  }
  return out;
}

function normalizeIngressClass(c: Checker, raw: Record<string, unknown>, metadata: ObjectMeta): IngressClass {
  const out: IngressClass = { ...header(raw), metadata };
  const s = c.obj(raw.spec, 'spec');
  if (s === undefined) return out;
  const spec: NonNullable<IngressClass['spec']> = {};
  const controller = c.str(s.controller, 'spec.controller');
  if (controller !== undefined) spec.controller = controller;
  const p = c.obj(s.parameters, 'spec.parameters');
  if (p !== undefined) {
    const kind = c.str(p.kind, 'spec.parameters.kind', true);
    const name = c.str(p.name, 'spec.parameters.name', true);
    const parameters: NonNullable<NonNullable<IngressClass['spec']>['parameters']> = { kind: kind ?? '', name: name ?? '' };
    for (const f of ['apiGroup', 'namespace', 'scope'] as const) {
      const v = c.str(p[f], `spec.parameters.${f}`);
      if (v !== undefined) parameters[f] = v;
    }
    spec.parameters = parameters;
  }
  out.spec = spec;
  return out;
}

function normalizeService(c: Checker, raw: Record<string, unknown>, metadata: ObjectMeta): Service {
  const out: Service = { ...header(raw), metadata };
  const s = c.obj(raw.spec, 'spec');
  if (s === undefined) return out;
  const spec: NonNullable<Service['spec']> = {};
  for (const f of ['type', 'clusterIP', 'externalName'] as const) {
    const v = c.str(s[f], `spec.${f}`);
    if (v !== undefined) spec[f] = v;
  }
  const selector = c.strMap(s.selector, 'spec.selector');
  if (selector !== undefined) spec.selector = selector;
  const pna = c.bool(s.publishNotReadyAddresses, 'spec.publishNotReadyAddresses');
  if (pna !== undefined) spec.publishNotReadyAddresses = pna;
  const ports = c.arr(s.ports, 'spec.ports', (pv, p): ServicePort | undefined => {
    const o = c.obj(pv, p, true);
    if (o === undefined) return undefined;
    const port = c.int(o.port, `${p}.port`, 1, 65535, true);
    const sp: ServicePort = { port: port ?? 0 };
    for (const f of ['name', 'protocol', 'appProtocol'] as const) {
      const v = c.str(o[f], `${p}.${f}`);
      if (v !== undefined) sp[f] = v;
    }
    const tp = o.targetPort;
    if (typeof tp === 'string') sp.targetPort = tp;
    else if (tp !== undefined && tp !== null) {
      const n = c.int(tp, `${p}.targetPort`, 1, 65535);
      if (n !== undefined) sp.targetPort = n;
    }
    const np = c.int(o.nodePort, `${p}.nodePort`, 0, 65535);
    if (np !== undefined) sp.nodePort = np;
    return sp;
  });
  if (ports !== undefined) spec.ports = ports;
  out.spec = spec;
  return out;
}

function normalizeEndpointSlice(c: Checker, raw: Record<string, unknown>, metadata: ObjectMeta): EndpointSlice {
  const addressType = c.str(raw.addressType, 'addressType', true);
  const out: EndpointSlice = { ...header(raw), metadata, addressType: addressType ?? '' };
  const endpoints = c.arr(raw.endpoints, 'endpoints', (ev, p): Endpoint | undefined => {
    const o = c.obj(ev, p, true);
    if (o === undefined) return undefined;
    const addresses = c.arr(o.addresses, `${p}.addresses`, (a, ap) => c.str(a, ap, true), true);
    if (addresses !== undefined && addresses.length === 0) c.err(`${p}.addresses`, 'must not be empty');
    const e: Endpoint = { addresses: addresses ?? [] };
    const cond = c.obj(o.conditions, `${p}.conditions`);
    if (cond !== undefined) {
      const conditions: NonNullable<Endpoint['conditions']> = {};
      for (const f of ['ready', 'serving', 'terminating'] as const) {
        const b = c.bool(cond[f], `${p}.conditions.${f}`);
        if (b !== undefined) conditions[f] = b;
      }
      e.conditions = conditions;
    }
    for (const f of ['hostname', 'nodeName', 'zone'] as const) {
      const v = c.str(o[f], `${p}.${f}`);
      if (v !== undefined) e[f] = v;
    }
    const tr = c.obj(o.targetRef, `${p}.targetRef`);
    if (tr !== undefined) {
      const targetRef: NonNullable<Endpoint['targetRef']> = {};
      for (const f of ['kind', 'namespace', 'name', 'uid'] as const) {
        const v = c.str(tr[f], `${p}.targetRef.${f}`);
        if (v !== undefined) targetRef[f] = v;
      }
      e.targetRef = targetRef;
    }
    return e;
  });
  if (endpoints !== undefined) out.endpoints = endpoints;
  const ports = c.arr(raw.ports, 'ports', (pv, p): EndpointPort | undefined => {
    const o = c.obj(pv, p, true);
    if (o === undefined) return undefined;
    const ep: EndpointPort = {};
    for (const f of ['name', 'protocol', 'appProtocol'] as const) {
      const v = c.str(o[f], `${p}.${f}`);
      if (v !== undefined) ep[f] = v;
    }
    const port = c.int(o.port, `${p}.port`, 1, 65535);
    if (port !== undefined) ep.port = port;
    return ep;
  });
  if (ports !== undefined) out.ports = ports;
  return out;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function normalizeSecret(c: Checker, raw: Record<string, unknown>, metadata: ObjectMeta): Secret {
  const out: Secret = { ...header(raw), metadata };
  const type = c.str(raw.type, 'type');
  if (type !== undefined) out.type = type;
  const data = c.strMap(raw.data, 'data');
  if (data !== undefined) {
    for (const [k, v] of Object.entries(data)) {
      // like the API server (Go's base64 decoder skips CR and LF), line breaks are allowed
      const compact = v.replace(/[\r\n]+/g, '');
      if (!BASE64.test(compact)) c.err(`data[${JSON.stringify(k)}]`, 'not valid base64 (use stringData for plain text)');
      else data[k] = compact;
    }
  }
  // stringData is write-only in the API: the server merges it into data. Do the same here.
  const stringData = c.strMap(raw.stringData, 'stringData');
  if (stringData !== undefined || data !== undefined) {
    const merged: Record<string, string> = { ...data };
    if (stringData !== undefined) {
      for (const [k, v] of Object.entries(stringData)) merged[k] = Buffer.from(v, 'utf8').toString('base64');
    }
    out.data = merged;
  }
  return out;
}

function normalizeConfigMap(c: Checker, raw: Record<string, unknown>, metadata: ObjectMeta): ConfigMap {
  const out: ConfigMap = { ...header(raw), metadata };
  // plain text, as the API serves it; binaryData is dropped (nothing reads bytes)
  const data = c.strMap(raw.data, 'data');
  if (data !== undefined) out.data = data;
  return out;
}

// --- checking helpers ------------------------------------------------------------------------

class Checker {
  readonly errors: string[] = [];

  err(path: string, message: string): void {
    if (this.errors.length < MAX_ERRORS) this.errors.push(`${path}: ${message}`);
    else if (this.errors.length === MAX_ERRORS) this.errors.push('…');
  }

  private missing(v: unknown, path: string, required: boolean): boolean {
    if (v !== undefined && v !== null) return false;
    if (required) this.err(path, 'required');
    return true;
  }

  obj(v: unknown, path: string, required = false): Record<string, unknown> | undefined {
    if (this.missing(v, path, required)) return undefined;
    if (!isRecord(v)) {
      this.err(path, `expected an object, got ${typeName(v)}`);
      return undefined;
    }
    return v;
  }

  str(v: unknown, path: string, required = false): string | undefined {
    if (this.missing(v, path, required)) return undefined;
    if (typeof v !== 'string') {
      this.err(path, `expected a string, got ${typeName(v)}${typeof v === 'number' || typeof v === 'boolean' ? ' (quote it)' : ''}`);
      return undefined;
    }
    return v;
  }

  int(v: unknown, path: string, min?: number, max?: number, required = false): number | undefined {
    if (this.missing(v, path, required)) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      this.err(path, `expected an integer, got ${typeName(v)}`);
      return undefined;
    }
    if ((min !== undefined && v < min) || (max !== undefined && v > max)) {
      this.err(path, `must be between ${min ?? '-∞'} and ${max ?? '∞'}`);
      return undefined;
    }
    return v;
  }

  bool(v: unknown, path: string): boolean | undefined {
    if (this.missing(v, path, false)) return undefined;
    if (typeof v !== 'boolean') {
      this.err(path, `expected true or false, got ${typeName(v)}`);
      return undefined;
    }
    return v;
  }

  strMap(v: unknown, path: string): Record<string, string> | undefined {
    const o = this.obj(v, path);
    if (o === undefined) return undefined;
    const out: Record<string, string> = {};
    for (const [k, val] of Object.entries(o)) {
      const s = this.str(val, `${path}[${JSON.stringify(k)}]`, true);
      if (s !== undefined) out[k] = s;
    }
    return out;
  }

  arr<T>(v: unknown, path: string, item: (v: unknown, path: string) => T | undefined, required = false): T[] | undefined {
    if (this.missing(v, path, required)) return undefined;
    if (!Array.isArray(v)) {
      this.err(path, `expected a list, got ${typeName(v)}`);
      return undefined;
    }
    const out: T[] = [];
    for (let i = 0; i < v.length; i++) {
      const r = item(v[i], `${path}[${i}]`);
      if (r !== undefined) out.push(r);
    }
    return out;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (v instanceof Date) return 'a timestamp';
  switch (typeof v) {
    case 'string':
      return 'a string';
    case 'number':
      return Number.isInteger(v) ? 'an integer' : 'a number';
    case 'boolean':
      return 'a boolean';
    case 'object':
      return 'an object';
    default:
      return typeof v;
  }
}
