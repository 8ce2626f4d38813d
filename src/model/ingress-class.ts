// Which Ingresses are ours. DESIGN.md "Routing semantics" → IngressClass:
//   1. spec.ingressClassName names an IngressClass whose spec.controller is ours;
//   2. without that field, the legacy `kubernetes.io/ingress.class` annotation names one of
//      ours, or equals the --ingress-class flag;
//   3. with neither, one of our IngressClasses is marked the cluster default, or
//      --watch-ingress-without-class is on (ingress-nginx's flag: it serves class-less
//      Ingresses whatever the default class, so taking over from it must too).
// Anything else belongs to another controller and is ignored without a problem: reporting on
// other controllers' objects would be noise (and wrong, they are not ours to judge).

import type { IngressClass } from '../store/types.ts';
import { field, nonEmptyString } from './read.ts';

export const LEGACY_CLASS_ANNOTATION = 'kubernetes.io/ingress.class';
export const DEFAULT_CLASS_ANNOTATION = 'ingressclass.kubernetes.io/is-default-class';

export interface ClassOptions {
  controllerName: string;
  ingressClass: string;
  /** --watch-ingress-without-class: Ingresses with no class at all are ours. Default false. */
  watchWithoutClass?: boolean;
}

export interface ClassSelector {
  /** Names of the IngressClasses that point at our controller. */
  readonly ours: ReadonlySet<string>;
  /** True when one of ours is the cluster default (claims Ingresses with no class at all). */
  readonly defaultIsOurs: boolean;
  isOurs(ingress: unknown): boolean;
}

export function classSelector(classes: Iterable<IngressClass>, options: ClassOptions): ClassSelector {
  const ours = new Set<string>();
  let defaultIsOurs = false;
  for (const ic of classes) {
    const name = nonEmptyString(field(ic.metadata, 'name'));
    if (name === undefined || field(ic.spec, 'controller') !== options.controllerName) continue;
    ours.add(name);
    if (field(field(ic.metadata, 'annotations'), DEFAULT_CLASS_ANNOTATION) === 'true') defaultIsOurs = true;
  }

  function isOurs(ingress: unknown): boolean {
    // An empty or mistyped ingressClassName is treated as absent: the API server would not
    // have stored one, so it can only come from a hand-written file.
    const className = nonEmptyString(field(field(ingress, 'spec'), 'ingressClassName'));
    if (className !== undefined) return ours.has(className);
    const legacy = field(field(field(ingress, 'metadata'), 'annotations'), LEGACY_CLASS_ANNOTATION);
    if (typeof legacy === 'string' && legacy !== '') return legacy === options.ingressClass || ours.has(legacy);
    return defaultIsOurs || options.watchWithoutClass === true;
  }

  return { ours, defaultIsOurs, isOurs };
}
