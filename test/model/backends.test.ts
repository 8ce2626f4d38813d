import { describe, expect, it } from 'vitest';
import type { IngressBackend, Service } from '../../src/store/types.ts';
import { build, ingress, path, reasons, rule, service, svcBackend } from './helpers.ts';

function routeTo(backend: IngressBackend, services: Service[]) {
  const config = build({ ingresses: [ingress('i', [rule('a.com', [path('/', 'Prefix', backend)])], { namespace: 'ns' })], services });
  return { config, route: config.match('a.com', '/'), reasons: reasons(config), message: config.problems[0]?.message ?? '' };
}

const multi = service('ns', 'web', [
  { name: 'http', port: 80, targetPort: 8080 },
  { name: 'admin', port: 9000, targetPort: 'admin' },
]);

describe('backends', () => {
  it.each([
    ['port number → that port\'s name', svcBackend('web', 80), [multi], 'ns/web:http', 80],
    ['port name → that port', svcBackend('web', 'admin'), [multi], 'ns/web:admin', 'admin'],
    ['unnamed single port → empty port name', svcBackend('one', 8080), [service('ns', 'one', [{ port: 8080 }])], 'ns/one:', 8080],
  ] as const)('%s', (_name, backend, services, key, servicePort) => {
    const r = routeTo(backend, [...services]);
    expect(r.reasons).toEqual([]);
    expect(r.route?.backend).toEqual({ namespace: 'ns', service: (backend.service as { name: string }).name, servicePort, endpointsKey: key });
  });

  it('never uses targetPort: the key is the Service port name', () => {
    expect(routeTo(svcBackend('web', 9000), [multi]).route?.backend.endpointsKey).toBe('ns/web:admin');
  });

  it('a Service in another namespace is not used', () => {
    const r = routeTo(svcBackend('web', 80), [service('other', 'web')]);
    expect(r.reasons).toEqual(['ns/i: ServiceNotFound']);
  });

  it('a missing Service keeps the route (it answers 503) and reports ServiceNotFound', () => {
    const byNumber = routeTo(svcBackend('ghost', 80), []);
    expect(byNumber.reasons).toEqual(['ns/i: ServiceNotFound']);
    expect(byNumber.message).toContain('Service ns/ghost');
    expect(byNumber.route?.backend.endpointsKey).toBe('ns/ghost:');
    const byName = routeTo(svcBackend('ghost', 'http'), []);
    expect(byName.route?.backend.endpointsKey).toBe('ns/ghost:http');
  });

  it.each([
    ['a port number the Service does not have', svcBackend('web', 81)],
    ['a port name the Service does not have', svcBackend('web', 'grpc')],
  ])('%s → ServicePortNotFound and the path is skipped', (_name, backend) => {
    const r = routeTo(backend, [multi]);
    expect(r.reasons).toEqual(['ns/i: ServicePortNotFound']);
    expect(r.message).toContain('80 ("http"), 9000 ("admin")');
    expect(r.route).toBeNull();
  });

  it('an ExternalName Service routes to its DNS name and the port the Ingress names (as ingress-nginx and Contour)', () => {
    const ext: Service = { metadata: { namespace: 'ns', name: 'ext' }, spec: { type: 'ExternalName', externalName: 'API.Example.org.', ports: [{ name: 'https', port: 443 }] } };
    const byNumber = routeTo(svcBackend('ext', 8080), [ext]);
    expect(byNumber.reasons).toEqual([]);
    expect(byNumber.route?.backend).toMatchObject({ endpointsKey: '@addr/api.example.org:8080', externalName: 'api.example.org' });
    expect(routeTo(svcBackend('ext', 'https'), [ext]).route?.backend.endpointsKey).toBe('@addr/api.example.org:443');
  });

  it('an ExternalName Service without a usable name or port is refused with a problem', () => {
    const bad: Service = { metadata: { namespace: 'ns', name: 'ext' }, spec: { type: 'ExternalName', externalName: 'not a name' } };
    const r = routeTo(svcBackend('ext', 80), [bad]);
    expect(r.reasons).toEqual(['ns/i: InvalidBackend']);
    expect(r.message).toContain('not a DNS name');
    expect(r.route).toBeNull();
    const ok: Service = { metadata: { namespace: 'ns', name: 'ext' }, spec: { type: 'ExternalName', externalName: 'example.org' } };
    expect(routeTo(svcBackend('ext', 'http'), [ok]).message).toContain('no port named "http"');
  });

  it('a resource backend is refused', () => {
    const r = routeTo({ resource: { apiGroup: 'k8s.example.com', kind: 'StorageBucket', name: 'static' } }, []);
    expect(r.reasons).toEqual(['ns/i: ResourceBackendNotSupported']);
    expect(r.message).toContain('StorageBucket');
    expect(r.route).toBeNull();
  });

  it.each([
    ['neither service nor resource', {}],
    ['a service without name', { service: { port: { number: 80 } } }],
    ['a service without port', { service: { name: 'web' } }],
    ['both port number and name', { service: { name: 'web', port: { number: 80, name: 'http' } } }],
    ['a port number out of range', { service: { name: 'web', port: { number: 70000 } } }],
    ['a port number that is a string', { service: { name: 'web', port: { number: '80' } } }],
  ])('%s → InvalidBackend and the path is skipped', (_name, backend) => {
    const r = routeTo(backend as IngressBackend, [multi]);
    expect(r.reasons).toEqual(['ns/i: InvalidBackend']);
    expect(r.route).toBeNull();
  });
});
