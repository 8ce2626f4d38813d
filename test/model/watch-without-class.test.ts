// --watch-ingress-without-class (ClassOptions.watchWithoutClass): Ingresses with no class at
// all are ours even without a default IngressClass of ours; Ingresses that name a class keep
// the usual rules. Full and incremental translation agree.

import { describe, expect, it } from 'vitest';
import { classSelector } from '../../src/model/ingress-class.ts';
import { incrementalTranslate } from '../../src/model/incremental.ts';
import { translate } from '../../src/model/translate.ts';
import type { Ingress, IngressClass } from '../../src/store/types.ts';
import { ingress, ingressClass, OPTIONS, path, rule, service, storeOf, svcBackend } from './helpers.ts';

const NGINX_CONTROLLER = 'k8s.io/ingress-nginx';

function withClass(name: string, className: string | null, legacy?: string): Ingress {
  return ingress(name, [rule(`${name}.com`, [path('/', 'Prefix', svcBackend('s'))])], {
    className,
    ...(legacy === undefined ? {} : { annotations: { 'kubernetes.io/ingress.class': legacy } }),
  });
}

describe('--watch-ingress-without-class', () => {
  const watching = { ...OPTIONS, watchWithoutClass: true };
  const nginxDefault = ingressClass('nginx', { controller: NGINX_CONTROLLER, isDefault: true });
  const otherDefault = ingressClass('traefik', { controller: 'traefik.io/ingress-controller', isDefault: true });

  const cases: { name: string; classes: IngressClass[]; ingress: Ingress; off: boolean; on: boolean }[] = [
    { name: 'no class at all, no default class', classes: [ingressClass('portico')], ingress: withClass('i', null), off: false, on: true },
    { name: 'no class at all, no IngressClass anywhere', classes: [], ingress: withClass('i', null), off: false, on: true },
    { name: "no class at all, another controller's class is the default", classes: [otherDefault], ingress: withClass('i', null), off: false, on: true },
    { name: 'empty ingressClassName counts as absent', classes: [], ingress: withClass('i', ''), off: false, on: true },
    { name: "ingressClassName names another controller's class", classes: [otherDefault], ingress: withClass('i', 'traefik'), off: false, on: false },
    { name: 'ingressClassName names a class that does not exist', classes: [], ingress: withClass('i', 'ghost'), off: false, on: false },
    { name: 'legacy annotation names another class', classes: [], ingress: withClass('i', null, 'traefik'), off: false, on: false },
    { name: 'legacy annotation equals --ingress-class', classes: [], ingress: withClass('i', null, 'portico'), off: true, on: true },
  ];

  for (const c of cases) {
    it(`${c.name}: ${c.off ? 'ours' : 'ignored'} without the flag, ${c.on ? 'ours' : 'ignored'} with it`, () => {
      expect(classSelector(c.classes, OPTIONS).isOurs(c.ingress)).toBe(c.off);
      expect(classSelector(c.classes, watching).isOurs(c.ingress)).toBe(c.on);
    });
  }

  it("takes over ingress-nginx's Ingresses: its class, its legacy annotation, and class-less ones", () => {
    const options = { controllerName: NGINX_CONTROLLER, ingressClass: 'nginx', watchWithoutClass: true };
    const selector = classSelector([ingressClass('nginx', { controller: NGINX_CONTROLLER })], options);
    expect(selector.isOurs(withClass('a', 'nginx'))).toBe(true);
    expect(selector.isOurs(withClass('b', null, 'nginx'))).toBe(true);
    expect(selector.isOurs(withClass('c', null))).toBe(true);
    expect(selector.isOurs(withClass('d', 'portico'))).toBe(false);
    // the flag adds to the default-class rule, it does not replace it
    expect(classSelector([nginxDefault], { ...options, watchWithoutClass: false }).isOurs(withClass('e', null))).toBe(true);
  });

  it('full and incremental translation serve the class-less Ingress with the flag, and only with it', () => {
    const store = storeOf({ classes: [ingressClass('portico')], services: [service('default', 's')], ingresses: [withClass('bare', null), withClass('named', 'portico')] });
    for (const options of [OPTIONS, watching]) {
      const full = translate(store, options);
      const incremental = incrementalTranslate(options)(store, 0);
      const expected = options === watching ? ['bare', 'named'] : ['named'];
      expect(full.ingresses.map((r) => r.name)).toEqual(expected);
      expect(incremental.ingresses.map((r) => r.name)).toEqual(expected);
      expect(incremental.match('bare.com', '/') !== null).toBe(options === watching);
    }
  });
});
