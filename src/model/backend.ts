// An Ingress backend → a Backend the proxy can use: the Service port resolved to the key the
// endpoint index is built under (see Backend in types.ts and LIBRARIES.md §3.6 "Port mapping
// rule": Ingress port → Service spec.ports[] entry → its name → EndpointSlice port name).
//
// Two steps, so the second can be cached: reading the reference out of the Ingress (its own
// errors), then resolving (namespace, service, port) against the snapshot (the same answer
// for every path that names the same port; routes then share one Backend object).

import { isIP } from 'node:net';
import type { Snapshot } from '../store/store.ts';
import { objectKey, type Service } from '../store/types.ts';
import type { ProblemReason } from './problems.ts';
import { describe, field, isDict, nonEmptyString } from './read.ts';
import type { Backend } from './types.ts';
import { fixedKey } from '../values/fixed-address.ts';
import { isHostName } from '../values/dns-name.ts';

/**
 * The part of the Ingress a backend came from, as words for a problem message: a rule path
 * (`host` '' for the rules without host), or the default backend when `path` is null. Built
 * only when there is a problem to report.
 */
export function whereWords(host: string, path: string | null): string {
  if (path === null) return 'the default backend (spec.defaultBackend)';
  return `path "${path}" of ${host === '' ? 'the rule without host' : `host "${host}"`}`;
}

type Where = () => string;

export type BackendResult =
  | { ok: true; backend: Backend; warning?: { reason: ProblemReason; message: string } }
  | BackendProblem;

export interface ServiceRef {
  name: string;
  /** The Service port as the Ingress named it. */
  port: number | string;
}

export interface BackendProblem {
  ok: false;
  reason: ProblemReason;
  message: string;
}

/** The service reference in an IngressBackend, or why there is none usable. */
export function parseServiceRef(raw: unknown, where: Where): ServiceRef | BackendProblem {
  if (!isDict(raw)) {
    return { ok: false, reason: 'InvalidBackend', message: `${where()} has no backend; set backend.service.name and backend.service.port` };
  }
  const service = raw.service;
  if (service === undefined || service === null) {
    if (raw.resource !== undefined && raw.resource !== null) {
      const kind = nonEmptyString(field(raw.resource, 'kind')) ?? 'resource';
      const name = nonEmptyString(field(raw.resource, 'name')) ?? '';
      return {
        ok: false,
        reason: 'ResourceBackendNotSupported',
        message: `${where()} uses a resource backend (${kind} ${JSON.stringify(name)}); Portico routes only to Services, use backend.service instead`,
      };
    }
    return { ok: false, reason: 'InvalidBackend', message: `${where()} has a backend without a service; set backend.service.name and backend.service.port` };
  }
  const name = nonEmptyString(field(service, 'name'));
  if (name === undefined) {
    return { ok: false, reason: 'InvalidBackend', message: `${where()} has a backend service without a name; set backend.service.name` };
  }

  const port = field(service, 'port');
  const number = field(port, 'number');
  const portName = field(port, 'name');
  const hasNumber = number !== undefined && number !== null;
  const hasName = portName !== undefined && portName !== null && portName !== '';
  if (hasNumber && hasName) {
    return { ok: false, reason: 'InvalidBackend', message: `${where()} sets both port.number and port.name for Service "${name}"; set only one` };
  }
  if (hasNumber) {
    if (typeof number === 'number' && Number.isInteger(number) && number >= 1 && number <= 65535) return { name, port: number };
    return { ok: false, reason: 'InvalidBackend', message: `${where()} has port.number ${describe(number)} for Service "${name}"; it must be a whole number from 1 to 65535` };
  }
  if (hasName) {
    if (typeof portName === 'string') return { name, port: portName };
    return { ok: false, reason: 'InvalidBackend', message: `${where()} has port.name ${describe(portName)} for Service "${name}"; it must be the name of a port of the Service` };
  }
  return { ok: false, reason: 'InvalidBackend', message: `${where()} does not say which port of Service "${name}" to use; set backend.service.port.number or .name` };
}

/** What the snapshot says about one Service port; no messages, so it can be cached. */
export type ServiceResolution =
  | { kind: 'found'; backend: Backend; result: BackendResult }
  | { kind: 'serviceMissing'; backend: Backend }
  | { kind: 'externalName'; problem: string }
  | { kind: 'portMissing'; available: string };

/** Resolves `ref` against `svc`, the Service named by `ref.name` in `namespace` (or undefined). */
export function resolveServicePort(svc: Service | undefined, namespace: string, ref: ServiceRef, serviceUpstream = false): ServiceResolution {
  if (svc === undefined) {
    // The route is kept: it answers 503 until the Service appears. Keyed by the port name
    // when the Ingress gave one (the likely EndpointSlice port name), else ''.
    return { kind: 'serviceMissing', backend: makeBackend(namespace, ref, typeof ref.port === 'string' ? ref.port : '') };
  }
  const spec = (svc as { spec?: unknown }).spec;
  const ports = field(spec, 'ports');
  const list: readonly unknown[] = Array.isArray(ports) ? ports : [];
  if (field(spec, 'type') === 'ExternalName') return externalName(spec, list, namespace, ref);
  for (const p of list) {
    if (!isDict(p)) continue;
    if (typeof ref.port === 'number' ? p.port !== ref.port : p.name !== ref.port) continue;
    const clusterIP = field(spec, 'clusterIP');
    const backend =
      serviceUpstream && typeof clusterIP === 'string' && isIP(clusterIP) !== 0 && typeof p.port === 'number'
        ? Object.freeze({ namespace, service: ref.name, servicePort: ref.port, endpointsKey: fixedKey(clusterIP, p.port) })
        : makeBackend(namespace, ref, typeof p.name === 'string' ? p.name : '');
    // The result object too is shared by every path that uses this port.
    return { kind: 'found', backend, result: { ok: true, backend } };
  }
  const available = list
    .filter(isDict)
    .map((p) => (typeof p.name === 'string' && p.name !== '' ? `${String(p.port)} ("${p.name}")` : String(p.port)))
    .join(', ');
  return { kind: 'portMissing', available };
}

/**
 * An ExternalName Service: its DNS name and the port the Ingress names (a number, or a named
 * port of the Service), dialled directly (endpoints/fixed.ts), as ingress-nginx and Contour do.
 */
function externalName(spec: unknown, ports: readonly unknown[], namespace: string, ref: ServiceRef): ServiceResolution {
  const name = field(spec, 'externalName');
  if (typeof name !== 'string' || !isHostName(name.replace(/\.$/, '').toLowerCase())) return { kind: 'externalName', problem: `its spec.externalName ${describe(name)} is not a DNS name` };
  let port: number | undefined = typeof ref.port === 'number' ? ref.port : undefined;
  if (port === undefined) {
    for (const p of ports) if (isDict(p) && p.name === ref.port && typeof p.port === 'number') port = p.port;
    if (port === undefined) return { kind: 'externalName', problem: `it has no port named "${ref.port}"; name the port by number for an ExternalName Service` };
  }
  const host = name.replace(/\.$/, '').toLowerCase();
  const backend: Backend = Object.freeze({ namespace, service: ref.name, servicePort: ref.port, endpointsKey: fixedKey(host, port), externalName: host });
  return { kind: 'found', backend, result: { ok: true, backend } };
}

function makeBackend(namespace: string, ref: ServiceRef, portName: string): Backend {
  return Object.freeze({ namespace, service: ref.name, servicePort: ref.port, endpointsKey: `${namespace}/${ref.name}:${portName}` });
}

function resultOf(res: ServiceResolution, namespace: string, ref: ServiceRef, where: Where): BackendResult {
  const svc = `Service ${objectKey({ namespace, name: ref.name })}`;
  switch (res.kind) {
    case 'found':
      return res.result;
    case 'serviceMissing':
      return {
        ok: true,
        backend: res.backend,
        warning: { reason: 'ServiceNotFound', message: `${svc}, used by ${where()}, does not exist; requests there get 503 until it is created` },
      };
    case 'externalName':
      return {
        ok: false,
        reason: 'InvalidBackend',
        message: `${svc}, used by ${where()}, is of type ExternalName, but ${res.problem}`,
      };
    case 'portMissing': {
      const port = typeof ref.port === 'number' ? `port ${ref.port}` : `port named "${ref.port}"`;
      return {
        ok: false,
        reason: 'ServicePortNotFound',
        message: `${svc} has no ${port}, used by ${where()}; ${res.available === '' ? 'it has no ports' : `its ports are ${res.available}`}`,
      };
    }
  }
}

/**
 * Resolves IngressBackends of one namespace, remembering each (service, port) it has seen:
 * Ingresses usually send all their paths to one or two Service ports, so most calls find the
 * answer in a handful of comparisons, and routes share Backend objects.
 */
export class BackendResolver {
  private readonly snapshot: Snapshot;
  private readonly namespace: string;
  private readonly seen: { ref: ServiceRef; res: ServiceResolution }[] = [];
  private readonly services: { name: string; svc: Service | undefined }[] = [];

  private readonly serviceUpstream: boolean;

  /** `serviceUpstream`: route to each Service's ClusterIP (ingress-nginx service-upstream). */
  constructor(snapshot: Snapshot, namespace: string, serviceUpstream = false) {
    this.snapshot = snapshot;
    this.namespace = namespace;
    this.serviceUpstream = serviceUpstream;
  }

  /** The backend of the rule path `path` of `host`, or of the default backend (`path` null). */
  resolve(raw: unknown, host: string, path: string | null): BackendResult {
    const where = (): string => whereWords(host, path);
    const ref = parseServiceRef(raw, where);
    if ('reason' in ref) return ref;
    let res: ServiceResolution | undefined;
    for (const s of this.seen) {
      if (s.ref.name === ref.name && s.ref.port === ref.port) {
        res = s.res;
        break;
      }
    }
    if (res === undefined) {
      res = resolveServicePort(this.service(ref.name), this.namespace, ref, this.serviceUpstream);
      // Bounded, so an Ingress with thousands of distinct Services stays linear.
      if (this.seen.length < 16) this.seen.push({ ref, res });
    }
    return resultOf(res, this.namespace, ref, where);
  }

  /** The Service by name, looked up once per name (paths often use two ports of one). */
  private service(name: string): Service | undefined {
    for (const s of this.services) if (s.name === name) return s.svc;
    const svc = this.snapshot.get('Service', objectKey({ namespace: this.namespace, name }));
    if (this.services.length < 16) this.services.push({ name, svc });
    return svc;
  }
}
