// Kubernetes objects as YAML for the e2e tests' manifests directories (namespace e2e, backends
// on 127.0.0.1; the TLS tests' app in namespace web), and the editor-style atomic file replace.

import { openSync, closeSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { setTimeout as pause } from 'node:timers/promises';

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

/** The IngressClass portico (controller portico.dev/ingress-controller). */
export const INGRESS_CLASS_YAML = `apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: { name: portico }
spec: { controller: portico.dev/ingress-controller }
`;

/** The IngressClass portico and Ingress e2e/web for host e2e.test with these Prefix paths. */
export function ingressYaml(paths: { path: string; service: string }[]): string {
  return `${INGRESS_CLASS_YAML}---
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

/**
 * Rewrite a file in place the way a slow writer does (issue #15): truncate, then write `text`
 * in `pieces` parts `gapMs` apart. Every prefix is a state a reader could catch.
 */
export async function writeInPlaceSlowly(file: string, text: string, pieces: number, gapMs: number): Promise<void> {
  const fd = openSync(file, 'w'); // truncates: the file is empty now
  try {
    let written = 0;
    for (let i = 1; i <= pieces; i++) {
      await pause(gapMs); // the writer's pace, not a wait for Portico
      const end = Math.floor((text.length * i) / pieces);
      writeSync(fd, text.slice(written, end));
      written = end;
    }
  } finally {
    closeSync(fd);
  }
}

/** An Ingress e2e/NAME for host e2e.test with one Prefix path (no IngressClass). */
export function singleIngressYaml(name: string, path: string, service: string): string {
  return `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: ${name}, namespace: e2e }
spec:
  ingressClassName: portico
  rules:
    - host: e2e.test
      http:
        paths:
          - { path: ${path}, pathType: Prefix, backend: { service: { name: ${service}, port: { number: 80 } } } }
`;
}

export type PemPair = { certPem: string; keyPem: string };

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** A kubernetes.io/tls Secret web/NAME. */
export function tlsSecretYaml(name: string, p: PemPair): string {
  return `apiVersion: v1
kind: Secret
metadata: { name: ${name}, namespace: web }
type: kubernetes.io/tls
data:
  tls.crt: ${b64(p.certPem)}
  tls.key: ${b64(p.keyPem)}
`;
}

/**
 * The TLS tests' app: IngressClass portico, Service web/app with one endpoint on
 * 127.0.0.1:backendPort, and Ingress web/app for secure.test with TLS from Secret web/app-tls.
 */
export function tlsAppYaml(backendPort: number): string {
  return `apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: { name: portico }
spec: { controller: portico.dev/ingress-controller }
---
apiVersion: v1
kind: Service
metadata: { name: app, namespace: web }
spec: { ports: [{ name: http, port: 80 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: app-1, namespace: web, labels: { kubernetes.io/service-name: app } }
addressType: IPv4
ports: [{ name: http, port: ${backendPort} }]
endpoints: [{ addresses: ["127.0.0.1"] }]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: app, namespace: web }
spec:
  ingressClassName: portico
  tls: [{ hosts: [secure.test], secretName: app-tls }]
  rules:
    - host: secure.test
      http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: app, port: { number: 80 } } } }] }
`;
}

export interface AnnotatedIngress {
  name: string;
  host: string;
  annotations: Record<string, string>;
  paths: { path: string; pathType?: string; service: string }[];
  /** A spec.tls entry for the host with this Secret name. */
  tlsSecret?: string;
}

/** An Ingress e2e/NAME of class portico with annotations (values are quoted as YAML strings). */
export function annotatedIngressYaml(i: AnnotatedIngress): string {
  const annotations = Object.entries(i.annotations)
    .map(([k, v]) => `    ${k}: ${JSON.stringify(v)}`)
    .join('\n');
  return `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: ${i.name}
  namespace: e2e
${annotations === '' ? '' : `  annotations:\n${annotations}\n`}spec:
  ingressClassName: portico
${i.tlsSecret ? `  tls: [{ hosts: [${i.host}], secretName: ${i.tlsSecret} }]\n` : ''}  rules:
    - host: ${i.host}
      http:
        paths:
${i.paths.map((p) => `          - { path: ${JSON.stringify(p.path)}, pathType: ${p.pathType ?? 'Prefix'}, backend: { service: { name: ${p.service}, port: { number: 80 } } } }`).join('\n')}
`;
}
