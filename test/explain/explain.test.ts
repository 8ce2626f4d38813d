// explain(): which rule serves a URL and why, against a configuration translated from
// manifests (read as --manifests reads them), with the endpoints of those manifests.

import { describe, expect, it } from 'vitest';
import { EndpointIndex } from '../../src/endpoints/index.ts';
import { explain, filterNames, renderExplanation } from '../../src/explain/explain.ts';
import type { RouteTable } from '../../src/model/route-table.ts';
import { translate } from '../../src/model/translate.ts';
import { normalizeObject } from '../../src/sources/files/normalize.ts';
import { parseManifest } from '../../src/sources/files/parse.ts';
import { Store } from '../../src/store/store.ts';

const YAML = `
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: { name: portico }
spec: { controller: portico.dev/ingress-controller }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: shop }
spec: { ports: [{ name: http, port: 80 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: web-1, namespace: shop, labels: { kubernetes.io/service-name: web } }
addressType: IPv4
ports: [{ name: http, port: 8080 }]
endpoints:
  - { addresses: ["10.0.0.1"], conditions: { ready: true } }
  - { addresses: ["10.0.0.2"], conditions: { ready: true } }
---
apiVersion: v1
kind: Service
metadata: { name: api, namespace: shop }
spec: { ports: [{ name: http, port: 80 }] }
---
apiVersion: v1
kind: Service
metadata: { name: api-next, namespace: shop }
spec: { ports: [{ name: http, port: 80 }] }
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: shop, namespace: shop, creationTimestamp: "2024-01-01T00:00:00Z" }
spec:
  ingressClassName: portico
  tls: [{ hosts: [shop.test], secretName: shop-tls }]
  rules:
    - host: shop.test
      http:
        paths:
          - { path: /, pathType: Prefix, backend: { service: { name: web, port: { number: 80 } } } }
          - { path: /api, pathType: Prefix, backend: { service: { name: api, port: { number: 80 } } } }
          - { path: /api/v1, pathType: Prefix, backend: { service: { name: api, port: { number: 80 } } } }
          - { path: /health, pathType: Exact, backend: { service: { name: api, port: { number: 80 } } } }
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: api-canary
  namespace: shop
  creationTimestamp: "2024-01-01T00:00:01Z"
  annotations:
    nginx.ingress.kubernetes.io/canary: "true"
    nginx.ingress.kubernetes.io/canary-by-header: X-Canary
spec:
  ingressClassName: portico
  rules:
    - host: shop.test
      http:
        paths:
          - { path: /api, pathType: Prefix, backend: { service: { name: api-next, port: { number: 80 } } } }
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: regex
  namespace: shop
  creationTimestamp: "2024-01-01T00:00:02Z"
  annotations:
    nginx.ingress.kubernetes.io/use-regex: "true"
    nginx.ingress.kubernetes.io/enable-cors: "true"
spec:
  ingressClassName: portico
  rules:
    - host: re.test
      http:
        paths:
          - { path: "/user/[0-9]+", pathType: ImplementationSpecific, backend: { service: { name: web, port: { number: 80 } } } }
          - { path: /user, pathType: Prefix, backend: { service: { name: api, port: { number: 80 } } } }
`;

const PASSTHROUGH_YAML = `
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: argo
  namespace: shop
  creationTimestamp: "2024-01-01T00:00:03Z"
  annotations: { nginx.ingress.kubernetes.io/ssl-passthrough: "true" }
spec:
  ingressClassName: portico
  rules:
    - host: argo.test
      http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: web, port: { number: 80 } } } }] }
`;

function world(sslPassthrough = false): { config: RouteTable; endpoints: EndpointIndex } {
  const parsed = parseManifest('test.yaml', YAML + PASSTHROUGH_YAML);
  if (!parsed.ok) throw new Error(parsed.message);
  const store = new Store();
  for (const doc of parsed.documents) {
    const n = normalizeObject(doc.value);
    if (n.type === 'object') store.upsert(n.kind, n.object as never);
  }
  const config = translate(store, { controllerName: 'portico.dev/ingress-controller', ingressClass: 'portico', sslPassthrough }) as RouteTable;
  return { config, endpoints: new EndpointIndex(store) };
}

describe('explain', () => {
  const { config, endpoints } = world();

  it('the longest Prefix that matches wins; the others that matched are listed', () => {
    const e = explain(config, endpoints, { url: 'https://shop.test/api/v1/users?id=1' });
    expect(e.route).toEqual({ ingress: 'shop/shop', path: '/api/v1', pathType: 'Prefix', kind: 'rule' });
    expect(e.why).toBe('the longest Prefix that matches element by element wins');
    expect(e.candidates.filter((c) => c.matches).map((c) => c.path).sort()).toEqual(['/', '/api', '/api/v1']);
    expect(e.candidates.find((c) => c.chosen !== undefined)?.path).toBe('/api/v1');
    expect(e.backend).toMatchObject({ service: 'shop/api', port: '80', canary: false });
    expect(e.tls).toEqual({ host: 'shop.test', secret: 'shop/shop-tls', ingress: 'shop/shop' });
    expect(e.request.query).toBe('?id=1');
  });

  it('Exact beats Prefix; element-wise Prefix does not match /apiv2', () => {
    expect(explain(config, endpoints, { url: 'https://shop.test/health' }).why).toBe('an Exact rule for this path wins over any Prefix rule');
    const e = explain(config, endpoints, { url: 'https://shop.test/apiv2' });
    expect(e.route?.path).toBe('/');
    expect(e.candidates.find((c) => c.path === '/api')?.matches).toBe(false);
  });

  it('lists the endpoints of the backend, and says when there are none', () => {
    const web = explain(config, endpoints, { url: 'https://shop.test/' });
    expect(web.endpoints).toEqual([
      { address: '10.0.0.1', port: 8080, terminating: false },
      { address: '10.0.0.2', port: 8080, terminating: false },
    ]);
    expect(web.outcome).toBe('forward');
    expect(explain(config, endpoints, { url: 'https://shop.test/api' }).outcome).toMatch(/no ready endpoint: 503/);
  });

  it('plain HTTP to a TLS host: the HTTPS redirect', () => {
    expect(explain(config, endpoints, { url: 'http://shop.test/x' }).outcome).toBe('redirect to https://shop.test/x (ssl-redirect)');
    // a Portico started with --ssl-redirect false (its /debug/explain passes its flags)
    expect(explain(config, endpoints, { url: 'http://shop.test/x', redirects: { sslRedirect: false, forceSslRedirect: false } }).outcome).toBe('forward');
    expect(explain(config, endpoints, { url: 'http://re.test/user', redirects: { sslRedirect: true, forceSslRedirect: true } }).outcome).toBe('redirect to https://re.test/user (ssl-redirect, force-ssl-redirect)');
  });

  it('a canary header selects the canary backend', () => {
    const e = explain(config, endpoints, { url: 'https://shop.test/api/x', headers: [['X-Canary', 'always']] });
    expect(e.backend).toMatchObject({ service: 'shop/api-next', canary: true });
    expect(explain(config, endpoints, { url: 'https://shop.test/api/x' }).backend?.canary).toBe(false);
  });

  it('regex hosts: the first rule in order that matches, with its regex and filters', () => {
    const e = explain(config, endpoints, { url: 'https://re.test/user/42' });
    expect(e.route?.path).toBe('/user/[0-9]+');
    expect(e.why).toMatch(/regex paths .* the first that matches wins/);
    expect(e.candidates.map((c) => c.regex)).toEqual(['^/user/[0-9]+', '^/user']);
    expect(e.filters).toEqual(['cors (origins *)']);
    expect(e.tls).toBeNull();
  });

  it('names this round\'s filter slots in words', () => {
    expect(
      filterNames({
        satisfy: 'any',
        customHeaders: { configMap: 'shop/security', headers: ['x-frame-options', 'DENY'] },
        responseRewrite: { redirect: { from: 'http://app.internal/', to: '/' }, cookiePath: { from: '/one/', to: '/' } },
        mirror: { origin: 'https://shadow.test', path: [], host: 'shadow.test', body: false },
        limitRate: { bytesPerSecond: 100 * 1024, afterBytes: 512 * 1024 },
        tracing: { enabled: true, trustIncoming: false, operationName: 'checkout' },
        accessLog: false,
      }),
    ).toEqual([
      'satisfy any (one passing access check is enough)',
      'response headers from ConfigMap shop/security',
      'response rewrite (Location http://app.internal/ → /; cookie path /one/ → /)',
      'mirror to https://shadow.test (without bodies)',
      'limit-rate 100 KiB/s after 512 KiB',
      'tracing (own trace) as "checkout"',
      'not in the access log',
    ]);
  });

  it('the normalised path is what is matched; `..;` is refused', () => {
    const e = explain(config, endpoints, { url: 'https://shop.test/x/../health' });
    expect(e.normalised).toBe('/health');
    expect(e.route?.pathType).toBe('Exact');
    const refused = explain(config, endpoints, { url: 'https://shop.test/x/..;/health' });
    expect(refused.refused).toMatch(/400/);
    expect(refused.route).toBeNull();
  });

  it('an unknown host: no route (404), said in words', () => {
    const e = explain(config, endpoints, { url: 'https://nowhere.test/' });
    expect(e.route).toBeNull();
    expect(e.outcome).toBe('404 not found');
    expect(e.why).toMatch(/no rule serves host "nowhere.test"/);
    expect(() => explain(config, endpoints, { url: 'shop.test/x' })).toThrow(/not a URL/);
  });

  it('renders for people', () => {
    const text = renderExplanation(explain(config, endpoints, { url: 'https://shop.test/api/v1/x' }));
    expect(text).toContain('Route: shop/shop Prefix /api/v1 [rule]');
    expect(text).toMatch(/^ {2}=> Prefix \/api\/v1 {2}\(shop\/shop\)$/m);
    expect(text).toContain('Certificate: Secret shop/shop-tls');
  });
});

describe('explain: --default-backend-service', () => {
  it('a host no rule serves goes to the global default backend, and says so', () => {
    const parsed = parseManifest('test.yaml', YAML + '\n---\napiVersion: v1\nkind: Service\nmetadata: { name: pages, namespace: edge }\nspec: { ports: [{ name: http, port: 8080 }] }\n');
    if (!parsed.ok) throw new Error(parsed.message);
    const store = new Store();
    for (const doc of parsed.documents) {
      const n = normalizeObject(doc.value);
      if (n.type === 'object') store.upsert(n.kind, n.object as never);
    }
    const globalErrors = { service: { namespace: 'edge', name: 'pages' }, codes: [404] };
    const config = translate(store, { controllerName: 'portico.dev/ingress-controller', ingressClass: 'portico', globalErrors }) as RouteTable;
    const e = explain(config, new EndpointIndex(store), { url: 'http://nowhere.test/x' });
    expect(e.route).toMatchObject({ kind: 'default backend' });
    expect(e.backend).toMatchObject({ service: 'edge/pages' });
    expect(renderExplanation(e)).toContain('--default-backend-service (Service edge/pages) serves it');
  });
});

describe('explain: ssl-passthrough', () => {
  it('an https URL of a passthrough host names the backend its TLS goes to, undecrypted; http does not', () => {
    const { config, endpoints } = world(true);
    const e = explain(config, endpoints, { url: 'https://ARGO.test/anything' });
    expect(e.passthrough).toEqual({ service: 'shop/web', port: '80', endpointsKey: 'shop/web:http' });
    expect(renderExplanation(e)).toContain('Passthrough: the TLS connection goes undecrypted to Service shop/web port 80 (ssl-passthrough)');
    expect(explain(config, endpoints, { url: 'http://argo.test/' }).passthrough).toBeUndefined();
    expect(explain(config, endpoints, { url: 'https://shop.test/' }).passthrough).toBeUndefined();
  });

  it('without --enable-ssl-passthrough the host is not passed through', () => {
    const { config, endpoints } = world(false);
    expect(explain(config, endpoints, { url: 'https://argo.test/' }).passthrough).toBeUndefined();
  });
});

describe('explain: ssl-ciphers', () => {
  it('an https URL of a host with its own ciphers says which and in whose order, with or without spec.tls', () => {
    const parsed = parseManifest(
      'ciphers.yaml',
      `apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: { name: portico }
spec: { controller: portico.dev/ingress-controller }
---
apiVersion: v1
kind: Service
metadata: { name: app, namespace: web }
spec: { ports: [{ name: http, port: 80 }] }
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: strict
  namespace: web
  annotations: { nginx.ingress.kubernetes.io/ssl-ciphers: "ECDHE-ECDSA-AES256-GCM-SHA384" }
spec:
  ingressClassName: portico
  tls: [{ hosts: [strict.test], secretName: strict-tls }]
  rules: [{ host: strict.test, http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: app, port: { number: 80 } } } }] } }]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: bare
  namespace: web
  annotations: { nginx.ingress.kubernetes.io/ssl-prefer-server-ciphers: "false" }
spec:
  ingressClassName: portico
  rules: [{ host: bare.test, http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: app, port: { number: 80 } } } }] } }]
`,
    );
    if (!parsed.ok) throw new Error(parsed.message);
    const store = new Store();
    for (const doc of parsed.documents) {
      const n = normalizeObject(doc.value);
      if (n.type === 'object') store.upsert(n.kind, n.object as never);
    }
    const config = translate(store, { controllerName: 'portico.dev/ingress-controller', ingressClass: 'portico' }) as RouteTable;
    const e = explain(config, new EndpointIndex(store), { url: 'https://strict.test/' });
    expect(e.tls).toMatchObject({ secret: 'web/strict-tls' });
    expect(e.handshake).toEqual({ ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384', ingress: 'web/strict' });
    expect(renderExplanation(e)).toContain("Handshake: ciphers ECDHE-ECDSA-AES256-GCM-SHA384, the server's order (ssl-ciphers, ssl-prefer-server-ciphers of web/strict)");
    // no spec.tls: the default certificate, and still the host's own handshake settings
    const bare = explain(config, new EndpointIndex(store), { url: 'https://bare.test/' });
    expect(bare.tls).toBeNull();
    expect(bare.handshake).toEqual({ honorCipherOrder: false, ingress: 'web/bare' });
    expect(renderExplanation(bare)).toContain("Handshake: the listener's ciphers, the client's order (ssl-ciphers, ssl-prefer-server-ciphers of web/bare)");
    // plain http: no handshake to speak of
    expect(explain(config, new EndpointIndex(store), { url: 'http://strict.test/' }).handshake).toBeUndefined();
  });
});
