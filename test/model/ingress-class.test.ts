import { describe, expect, it } from 'vitest';
import { classSelector } from '../../src/model/ingress-class.ts';
import type { Ingress, IngressClass } from '../../src/store/types.ts';
import { build, CONTROLLER, ingress, ingressClass, OPTIONS, path, rule, service, svcBackend } from './helpers.ts';

function withClass(className: string | null, legacy?: string): Ingress {
  return ingress('i', [rule('a.com', [path('/', 'Prefix', svcBackend('s'))])], {
    className,
    ...(legacy === undefined ? {} : { annotations: { 'kubernetes.io/ingress.class': legacy } }),
  });
}

describe('IngressClass selection', () => {
  const ours = ingressClass('portico');
  const oursRenamed = ingressClass('edge');
  const oursDefault = ingressClass('edge-default', { isDefault: true });
  const nginx = ingressClass('nginx', { controller: 'k8s.io/ingress-nginx' });
  const nginxDefault = ingressClass('nginx', { controller: 'k8s.io/ingress-nginx', isDefault: true });

  const cases: { name: string; classes: IngressClass[]; ingress: Ingress; ours: boolean }[] = [
    { name: 'ingressClassName names our class', classes: [ours], ingress: withClass('portico'), ours: true },
    { name: 'ingressClassName names any class with our controller', classes: [oursRenamed], ingress: withClass('edge'), ours: true },
    { name: 'ingressClassName names another controller\'s class', classes: [ours, nginx], ingress: withClass('nginx'), ours: false },
    { name: 'ingressClassName names a class that does not exist', classes: [ours], ingress: withClass('ghost'), ours: false },
    {
      name: 'a class called like our flag but with another controller is not ours',
      classes: [ingressClass('portico', { controller: 'example.com/other' })],
      ingress: withClass('portico'),
      ours: false,
    },
    { name: 'legacy annotation equals --ingress-class (no IngressClass needed)', classes: [], ingress: withClass(null, 'portico'), ours: true },
    { name: 'legacy annotation names one of our classes', classes: [oursRenamed], ingress: withClass(null, 'edge'), ours: true },
    { name: 'legacy annotation names another class', classes: [ours], ingress: withClass(null, 'nginx'), ours: false },
    { name: 'legacy annotation wins over our default class', classes: [oursDefault], ingress: withClass(null, 'nginx'), ours: false },
    { name: 'ingressClassName wins over the legacy annotation', classes: [ours, nginx], ingress: withClass('nginx', 'portico'), ours: false },
    { name: 'no class at all, our class is the default', classes: [oursDefault], ingress: withClass(null), ours: true },
    { name: 'no class at all, no default class', classes: [ours], ingress: withClass(null), ours: false },
    { name: 'no class at all, the default class is another controller\'s', classes: [ours, nginxDefault], ingress: withClass(null), ours: false },
    { name: 'empty ingressClassName counts as absent', classes: [oursDefault], ingress: withClass(''), ours: true },
  ];

  for (const c of cases) {
    it(`${c.name} → ${c.ours ? 'ours' : 'ignored'}`, () => {
      const config = build({ ingresses: [c.ingress], services: [service('default', 's')], classes: c.classes });
      expect(config.ingresses.length).toBe(c.ours ? 1 : 0);
      expect(config.match('a.com', '/') !== null).toBe(c.ours);
      // Other controllers' Ingresses are ignored silently.
      expect(config.problems).toEqual([]);
    });
  }

  it('"true" is the only value that marks a default class', () => {
    const c: IngressClass = { metadata: { name: 'x', annotations: { 'ingressclass.kubernetes.io/is-default-class': 'yes' } }, spec: { controller: CONTROLLER } };
    expect(classSelector([c], OPTIONS).defaultIsOurs).toBe(false);
  });

  it('lists our Ingresses sorted by namespace/name, ignoring the rest', () => {
    const config = build({
      ingresses: [
        ingress('z', [], { namespace: 'a', defaultBackend: svcBackend('s') }),
        ingress('b', [], { namespace: 'b', className: 'nginx' }),
        ingress('a', [], { namespace: 'b' }),
        ingress('m', [], { namespace: 'a' }),
      ],
      classes: [ingressClass('portico'), ingressClass('nginx', { controller: 'k8s.io/ingress-nginx' })],
      services: [service('a', 's')],
    });
    expect(config.ingresses).toEqual([
      { kind: 'Ingress', namespace: 'a', name: 'm' },
      { kind: 'Ingress', namespace: 'a', name: 'z' },
      { kind: 'Ingress', namespace: 'b', name: 'a' },
    ]);
  });
});
