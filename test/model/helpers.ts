// Builders for test objects: plain wire-shaped objects in a real Store, as sources produce them.

import { Store } from '../../src/store/store.ts';
import type { HTTPIngressPath, Ingress, IngressBackend, IngressClass, IngressRule, Service, ServicePort } from '../../src/store/types.ts';
import { translate } from '../../src/model/translate.ts';
import type { Problem, Route, RoutingConfig } from '../../src/model/types.ts';

export const CONTROLLER = 'portico.dev/ingress-controller';
export const OPTIONS = { controllerName: CONTROLLER, ingressClass: 'portico' };

export function ingressClass(name: string, opts: { controller?: string; isDefault?: boolean } = {}): IngressClass {
  return {
    metadata: {
      name,
      ...(opts.isDefault ? { annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } } : {}),
    },
    spec: { controller: opts.controller ?? CONTROLLER },
  };
}

export function service(namespace: string, name: string, ports: ServicePort[] = [{ port: 80 }], type?: string): Service {
  return { metadata: { namespace, name }, spec: { ...(type ? { type } : {}), ports } };
}

export function svcBackend(name: string, port: number | string = 80): IngressBackend {
  return { service: { name, port: typeof port === 'number' ? { number: port } : { name: port } } };
}

export function path(p: string | undefined, pathType: string | undefined, backend: IngressBackend): HTTPIngressPath {
  return { ...(p === undefined ? {} : { path: p }), ...(pathType === undefined ? {} : { pathType }), backend };
}

export function rule(host: string | undefined, paths: HTTPIngressPath[]): IngressRule {
  return { ...(host === undefined ? {} : { host }), http: { paths } };
}

export interface IngressOpts {
  namespace?: string;
  /** ingressClassName; null leaves the field out. Default 'portico'. */
  className?: string | null;
  created?: string;
  annotations?: Record<string, string>;
  defaultBackend?: IngressBackend;
}

export function ingress(name: string, rules: IngressRule[], opts: IngressOpts = {}): Ingress {
  const className = opts.className === undefined ? 'portico' : opts.className;
  return {
    metadata: {
      namespace: opts.namespace ?? 'default',
      name,
      ...(opts.created ? { creationTimestamp: opts.created } : {}),
      ...(opts.annotations ? { annotations: opts.annotations } : {}),
    },
    spec: {
      ...(className === null ? {} : { ingressClassName: className }),
      ...(opts.defaultBackend ? { defaultBackend: opts.defaultBackend } : {}),
      rules,
    },
  };
}

export interface World {
  ingresses?: unknown[];
  services?: Service[];
  classes?: IngressClass[];
}

/** A store holding `world`, plus the 'portico' class unless `classes` is given. */
export function storeOf(world: World): Store {
  const store = new Store();
  for (const c of world.classes ?? [ingressClass('portico')]) store.upsert('IngressClass', c);
  for (const s of world.services ?? []) store.upsert('Service', s);
  for (const i of world.ingresses ?? []) store.upsert('Ingress', i as Ingress);
  return store;
}

export function build(world: World, version?: number): RoutingConfig {
  return translate(storeOf(world), { ...OPTIONS, ...(version === undefined ? {} : { version }) });
}

/** A compact view of a matched route for assertions. */
export function target(route: Route | null): string | null {
  if (route === null) return null;
  return `${route.ingress.namespace}/${route.ingress.name} ${route.host}|${route.path}|${route.pathType} -> ${route.backend.endpointsKey}`;
}

export function reasons(config: RoutingConfig): string[] {
  return config.problems.map((p: Problem) => `${p.object.namespace}/${p.object.name}: ${p.reason}`);
}
