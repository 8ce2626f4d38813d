import { describe, expect, it } from 'vitest';
import { Store } from '../../src/store/store.ts';
import { translate } from '../../src/model/translate.ts';
import type { Ingress } from '../../src/store/types.ts';

const opts = { controllerName: 'portico.dev/ingress-controller', ingressClass: 'portico' };

function world(...ingresses: Ingress[]): Store {
  const s = new Store();
  s.upsert('IngressClass', { metadata: { name: 'portico' }, spec: { controller: opts.controllerName } });
  s.upsert('Service', { metadata: { namespace: 'web', name: 'svc' }, spec: { ports: [{ port: 80 }] } });
  for (const i of ingresses) s.upsert('Ingress', i);
  return s;
}

function ing(name: string, created: string, tls: unknown, hosts = ['a.example.com'], annotations?: Record<string, string>): Ingress {
  return {
    metadata: { namespace: 'web', name, creationTimestamp: created, ...(annotations ? { annotations } : {}) },
    spec: {
      ingressClassName: 'portico',
      tls: tls as never,
      rules: hosts.map((host) => ({ host, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'svc', port: { number: 80 } } } }] } })),
    },
  };
}

describe('TLS in the routing model', () => {
  it('binds each spec.tls host to the Secret in the Ingress namespace, lower-cased', () => {
    const c = translate(world(ing('a', '2024-01-01T00:00:00Z', [{ hosts: ['A.example.com', '*.apps.example.com'], secretName: 'cert' }])), opts);
    expect(c.tls.map((b) => [b.host, b.secret, b.ingress.name])).toEqual([
      ['*.apps.example.com', 'web/cert', 'a'],
      ['a.example.com', 'web/cert', 'a'],
    ]);
    expect(c.problems).toEqual([]);
  });

  it('an entry without hosts covers every rule host of the Ingress', () => {
    const c = translate(world(ing('a', '2024-01-01T00:00:00Z', [{ secretName: 'cert' }], ['x.example.com', 'y.example.com'])), opts);
    expect(c.tls.map((b) => b.host)).toEqual(['x.example.com', 'y.example.com']);
  });

  it('the oldest Ingress wins a host; a younger one naming another Secret gets TLSConflict', () => {
    const c = translate(
      world(ing('young', '2024-06-01T00:00:00Z', [{ hosts: ['a.example.com'], secretName: 'other' }]), ing('old', '2024-01-01T00:00:00Z', [{ hosts: ['a.example.com'], secretName: 'cert' }])),
      opts,
    );
    expect(c.tls).toEqual([{ host: 'a.example.com', secret: 'web/cert', ingress: { kind: 'Ingress', namespace: 'web', name: 'old' } }]);
    expect(c.problems.map((p) => [p.object.name, p.reason])).toContainEqual(['young', 'TLSConflict']);
  });

  it('malformed spec.tls is a problem, never a throw, and the routes still work', () => {
    for (const bad of ['x', [{ hosts: 'a' , secretName: 'c' }], [{ hosts: ['a.example.com'] }], [{ hosts: ['1.2.3.4'], secretName: 'c' }], [null]]) {
      const c = translate(world(ing('a', '2024-01-01T00:00:00Z', bad)), opts);
      expect(c.problems.some((p) => p.reason === 'InvalidTLS')).toBe(true);
      expect(c.match('a.example.com', '/')).not.toBeNull();
    }
  });

  it('portico.dev/ssl-redirect is a typed boolean in the route policy; portico.dev/acme is known', () => {
    const off = translate(world(ing('a', '2024-01-01T00:00:00Z', [], undefined, { 'portico.dev/ssl-redirect': 'false', 'portico.dev/acme': 'true' })), opts);
    expect(off.match('a.example.com', '/')?.policy.sslRedirect).toBe(false);
    expect(off.problems).toEqual([]);
    const bad = translate(world(ing('a', '2024-01-01T00:00:00Z', [], undefined, { 'portico.dev/ssl-redirect': 'yes' })), opts);
    // the default: the proxy's --ssl-redirect decides (true unless set otherwise)
    expect(bad.match('a.example.com', '/')?.policy.sslRedirect).toBeNull();
    expect(bad.problems[0]?.reason).toBe('InvalidAnnotation');
  });
});
