import { describe, expect, it } from 'vitest';
import { normalizeObject } from '../../src/sources/files/normalize.ts';

const ingress = (extra: Record<string, unknown> = {}) => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name: 'web' },
  spec: {
    ingressClassName: 'portico',
    rules: [{ host: 'a.example', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 's', port: { number: 80 } } } }] } }],
  },
  ...extra,
});

describe('normalizeObject', () => {
  it('normalises an Ingress: default namespace, unknown fields, status and resourceVersion dropped', () => {
    const r = normalizeObject({
      ...ingress({ status: { loadBalancer: {} }, extra: 1 }),
      metadata: { name: 'web', resourceVersion: '7', labels: { a: 'b' }, managedFields: [] },
    });
    expect(r).toEqual({
      type: 'object',
      kind: 'Ingress',
      object: {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'Ingress',
        metadata: { name: 'web', namespace: 'default', labels: { a: 'b' } },
        spec: ingress().spec,
      },
    });
  });

  it('gives cluster-scoped IngressClass no namespace', () => {
    const r = normalizeObject({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'IngressClass',
      metadata: { name: 'portico', namespace: 'x' },
      spec: { controller: 'portico.dev/ingress-controller' },
    });
    expect(r.type === 'object' && r.object.metadata).toEqual({ name: 'portico' });
  });

  it('reports missing kind, apiVersion and name', () => {
    expect(normalizeObject({ metadata: {} })).toEqual({
      type: 'invalid',
      errors: ['kind: required', 'apiVersion: required', 'metadata.name: required'],
    });
    expect(normalizeObject('text')).toEqual({ type: 'invalid', errors: ['expected an object, got a string'] });
    const r = normalizeObject({ apiVersion: 'v1', kind: 'Service' });
    expect(r).toEqual({ type: 'invalid', kind: 'Service', errors: ['metadata: required'] });
  });

  it('reports wrong types by field path, naming the object', () => {
    const r = normalizeObject({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'svc', namespace: 'ns', annotations: { 'portico.dev/x': 30 } },
      spec: { ports: [{ port: 'http' }, { port: 70000 }], publishNotReadyAddresses: 'yes' },
    });
    expect(r).toEqual({
      type: 'invalid',
      kind: 'Service',
      namespace: 'ns',
      name: 'svc',
      errors: [
        'metadata.annotations["portico.dev/x"]: expected a string, got an integer (quote it)',
        'spec.publishNotReadyAddresses: expected true or false, got a string',
        'spec.ports[0].port: expected an integer, got a string',
        'spec.ports[1].port: must be between 1 and 65535',
      ],
    });
    const ing = normalizeObject(ingress({ spec: { rules: [{ http: { paths: [{ path: '/', backend: { service: { name: 's', port: { number: '80' } } } }] } }] } }));
    expect(ing.type === 'invalid' && ing.errors).toEqual(['spec.rules[0].http.paths[0].backend.service.port.number: expected an integer, got a string']);
    const noPaths = normalizeObject(ingress({ spec: { rules: [{ http: {} }] } }));
    expect(noPaths.type === 'invalid' && noPaths.errors).toEqual(['spec.rules[0].http.paths: required']);
  });

  it('refuses old versions of our kinds, ignores other groups and other kinds', () => {
    const old = normalizeObject({ ...ingress(), apiVersion: 'extensions/v1beta1' });
    expect(old.type === 'invalid' && old.errors).toEqual(['apiVersion: extensions/v1beta1 is not supported for Ingress; use networking.k8s.io/v1']);
    expect(normalizeObject({ apiVersion: 'serving.knative.dev/v1', kind: 'Service', metadata: { name: 'k' } })).toEqual({
      type: 'ignored',
      kind: 'serving.knative.dev/v1 Service',
    });
    expect(normalizeObject({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' } })).toEqual({
      type: 'ignored',
      kind: 'apps/v1 Deployment',
    });
  });

  it('treats null as absent', () => {
    const r = normalizeObject({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 's', namespace: null, labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.0.0.1'], conditions: { ready: null, serving: true } }],
      ports: [{ name: null, port: 8080, protocol: 'TCP' }],
    });
    expect(r.type === 'object' && r.object).toEqual({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 's', namespace: 'default', labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4',
      endpoints: [{ addresses: ['10.0.0.1'], conditions: { serving: true } }],
      ports: [{ protocol: 'TCP', port: 8080 }],
    });
  });

  it('reads a ConfigMap\'s data as plain text and drops binaryData (nothing reads bytes)', () => {
    const r = normalizeObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'headers', namespace: 'shop' }, data: { 'X-Frame-Options': 'DENY' }, binaryData: { b: 'AA==' } });
    expect(r.type === 'object' && r.object).toEqual({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'headers', namespace: 'shop' }, data: { 'X-Frame-Options': 'DENY' } });
    const bad = normalizeObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'h' }, data: { n: 42 } });
    expect(bad.type).toBe('invalid');
    expect(normalizeObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'empty' } })).toMatchObject({ type: 'object', kind: 'ConfigMap' });
  });

  it('merges Secret stringData into data and checks base64 without echoing values', () => {
    const r = normalizeObject({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'tls' },
      type: 'kubernetes.io/tls',
      data: { 'tls.crt': 'Y2VydA==\n', 'tls.key': 'b2xk' },
      stringData: { 'tls.key': 'key' },
    });
    expect(r.type === 'object' && r.object).toEqual({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'tls', namespace: 'default' },
      type: 'kubernetes.io/tls',
      data: { 'tls.crt': 'Y2VydA==', 'tls.key': 'a2V5' },
    });
    const bad = normalizeObject({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: { k: 'not base64!' } });
    expect(bad.type === 'invalid' && bad.errors).toEqual(['data["k"]: not valid base64 (use stringData for plain text)']);
    expect(JSON.stringify(bad)).not.toContain('not base64!');
  });
});
