// Kubernetes objects as YAML for the e2e tests' manifests directories (namespace e2e, backends
// on 127.0.0.1), and the editor-style atomic file replace.

import { renameSync, writeFileSync } from 'node:fs';

/** A Service (port 80 named http) and one ready EndpointSlice per backend port. */
export function serviceYaml(name: string, ports: number[]): string {
  const slices = ports
    .map(
      (p, i) => `---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: ${name}-${i}, namespace: e2e, labels: { kubernetes.io/service-name: ${name} } }
addressType: IPv4
ports: [{ name: http, port: ${p} }]
endpoints: [{ addresses: ["127.0.0.1"], conditions: { ready: true } }]
`,
    )
    .join('');
  return `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: e2e }
spec: { ports: [{ name: http, port: 80 }] }
${slices}`;
}

/** The IngressClass portico and Ingress e2e/web for host e2e.test with these Prefix paths. */
export function ingressYaml(paths: { path: string; service: string }[]): string {
  return `apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: { name: portico }
spec: { controller: portico.dev/ingress-controller }
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: web, namespace: e2e }
spec:
  ingressClassName: portico
  rules:
    - host: e2e.test
      http:
        paths:
${paths.map((p) => `          - { path: ${p.path}, pathType: Prefix, backend: { service: { name: ${p.service}, port: { number: 80 } } } }`).join('\n')}
`;
}

/** Replace a file the way editors and `kubectl cp` do: write a temp file, rename over. */
export function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}
