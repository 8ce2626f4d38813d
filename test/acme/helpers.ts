// Test helpers for the ACME suite: certificates made with the openssl CLI, free ports,
// Secrets in wire form.

import { execFileSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Ingress, IngressClass, Secret } from '../../src/store/types.ts';
import type { Snapshot } from '../../src/store/store.ts';
import type { TlsView } from '../../src/acme/certificates.ts';
import { translate } from '../../src/model/translate.ts';

export function requireBinary(name: string, hint: string): string {
  const dirs = (process.env.PATH ?? '').split(':').filter(Boolean);
  for (const d of [...dirs, '/usr/bin', '/usr/local/bin']) {
    try {
      accessSync(join(d, name), constants.X_OK);
      return join(d, name);
    } catch {
      /* not here */
    }
  }
  throw new Error(`${name} not found on PATH. ${hint}`);
}

export function tempDir(prefix = 'portico-acme-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface KeyPair {
  certPem: string;
  keyPem: string;
}

/** A self-signed EC certificate for `hosts`, valid for `days` from now (openssl CLI). */
export function selfSigned(hosts: readonly string[], days: number, dir: string): KeyPair {
  const key = join(dir, `k${Math.random().toString(36).slice(2)}.pem`);
  const crt = join(dir, `c${Math.random().toString(36).slice(2)}.pem`);
  const san = hosts.map((h) => `DNS:${h}`).join(',');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', crt, '-days', String(days), '-subj', `/CN=${hosts[0]}`, '-addext', `subjectAltName=${san}`],
    { stdio: 'pipe' },
  );
  return { certPem: readFileSync(crt, 'utf8'), keyPem: readFileSync(key, 'utf8') };
}

/** A CA and a leaf for localhost/127.0.0.1 signed by it (for Pebble's own HTTPS). */
export function caAndLocalhostLeaf(dir: string): { caPath: string; certPath: string; keyPath: string } {
  const caKey = join(dir, 'ca.key');
  const caPath = join(dir, 'ca.pem');
  const keyPath = join(dir, 'localhost.key');
  const csr = join(dir, 'localhost.csr');
  const certPath = join(dir, 'localhost.pem');
  const ext = join(dir, 'ext.cnf');
  const run = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', caKey, '-out', caPath, '-days', '2', '-subj', '/CN=Portico test CA']);
  run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyPath, '-out', csr, '-subj', '/CN=localhost']);
  writeFileSync(ext, 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n');
  run(['x509', '-req', '-in', csr, '-CA', caPath, '-CAkey', caKey, '-set_serial', '1', '-out', certPath, '-days', '2', '-extfile', ext]);
  return { caPath, certPath, keyPath };
}

/** A port nobody listens on right now (bind 0, read, close). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export function tlsSecret(namespace: string, name: string, pair: KeyPair): Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace, resourceVersion: '1' },
    type: 'kubernetes.io/tls',
    data: { 'tls.crt': Buffer.from(pair.certPem).toString('base64'), 'tls.key': Buffer.from(pair.keyPem).toString('base64') },
  };
}

export const CONTROLLER = 'portico.dev/ingress-controller';

export function ingressClass(name = 'portico', controller = CONTROLLER): IngressClass {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name }, spec: { controller } };
}

export function acmeIngress(
  namespace: string,
  name: string,
  tls: { hosts: string[]; secretName: string }[],
  opts: { annotations?: Record<string, string>; className?: string } = {},
): Ingress {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name, namespace, annotations: opts.annotations ?? { 'kubernetes.io/tls-acme': 'true' } },
    spec: {
      ingressClassName: opts.className ?? 'portico',
      tls,
      rules: tls.flatMap((t) => t.hosts.map((host) => ({ host, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }))),
    },
  };
}

/** The routing model's view of `store`, built afresh at each call (what the reconciler would swap in). */
export function modelRouting(store: Snapshot): () => TlsView {
  return () => translate(store, { controllerName: CONTROLLER, ingressClass: 'portico' });
}
