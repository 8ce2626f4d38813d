// ssl-ciphers, proxy-ssl-ciphers and proxy-ssl-protocols through the built program (file
// mode, with --workers 2 so the per-host handshakes hold in every worker): a client limited to
// a cipher one host excludes fails that host's handshake and still reaches another host on
// the same port, for a host with spec.tls and for one without (served with the default
// certificate, as ingress-nginx does); a TLS 1.2-only backend with one cipher is reached or
// refused per route.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { generateSelfSigned } from '../src/tls/default-certificate.ts';
import { get, startPorticoProcess, waitFor, type PorticoProcess } from './harness.ts';
import { tlsSecretYaml } from './manifests.ts';

const AES128 = 'ECDHE-ECDSA-AES128-GCM-SHA256';
const AES256 = 'ECDHE-ECDSA-AES256-GCM-SHA384';

function ingress(name: string, host: string, service: string, annotations: Record<string, string>, tlsHost: boolean): string {
  const ann = Object.entries(annotations).map(([k, v]) => `    nginx.ingress.kubernetes.io/${k}: "${v}"`).join('\n');
  return `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: ${name}
  namespace: web
${ann === '' ? '' : `  annotations:\n${ann}\n`}spec:
  ingressClassName: portico
${tlsHost ? `  tls: [{ hosts: [${host}], secretName: site-tls }]\n` : ''}  rules:
    - host: ${host}
      http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: ${service}, port: { number: 80 } } } }] }
`;
}

function service(name: string, port: number): string {
  return `apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: web }
spec: { ports: [{ name: http, port: 80 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: ${name}-1, namespace: web, labels: { kubernetes.io/service-name: ${name} } }
addressType: IPv4
ports: [{ name: http, port: ${port} }]
endpoints: [{ addresses: ["127.0.0.1"] }]
`;
}

/** `cipher` of a TLS 1.2 handshake with only `ciphers` offered, or `refused`. */
async function handshake(port: number, servername: string, ciphers: string): Promise<string> {
  const socket = tls.connect({ host: '127.0.0.1', port, servername, ciphers, maxVersion: 'TLSv1.2', rejectUnauthorized: false });
  try {
    await Promise.race([
      once(socket, 'secureConnect'),
      once(socket, 'error').then(([e]) => {
        throw e;
      }),
    ]);
    return socket.getCipher().name;
  } catch {
    return 'refused';
  } finally {
    socket.destroy();
  }
}

describe('TLS ciphers and protocols (built program, --workers 2)', () => {
  let dir: string;
  let plain: http.Server;
  let strict: https.Server;
  let portico: PorticoProcess;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'portico-ciphers-e2e-'));
    const [site, upstream] = await Promise.all([generateSelfSigned({ commonName: 'site', dnsNames: ['strict.test', 'open.test'] }), generateSelfSigned({ commonName: 'upstream' })]);
    plain = http.createServer((_req, res) => res.end('plain backend'));
    plain.listen(0, '127.0.0.1');
    // a backend that speaks TLS 1.2 with one cipher only
    strict = https.createServer({ cert: upstream.certPem, key: upstream.keyPem, maxVersion: 'TLSv1.2', ciphers: AES256 }, (_req, res) => res.end('strict backend'));
    strict.on('tlsClientError', () => {});
    strict.listen(0, '127.0.0.1');
    await Promise.all([once(plain, 'listening'), once(strict, 'listening')]);
    writeFileSync(
      path.join(dir, 'app.yaml'),
      [
        'apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: { name: portico }\nspec: { controller: portico.dev/ingress-controller }\n',
        service('app', (plain.address() as AddressInfo).port),
        service('tlsapp', (strict.address() as AddressInfo).port),
        ingress('strict', 'strict.test', 'app', { 'ssl-ciphers': AES256 }, true),
        ingress('open', 'open.test', 'app', {}, true),
        // no spec.tls: served on 443 with the default certificate, under its own ciphers
        ingress('bare', 'bare.test', 'app', { 'ssl-ciphers': AES256 }, false),
        ingress('up-ok', 'up-ok.test', 'tlsapp', { 'backend-protocol': 'HTTPS', 'proxy-ssl-ciphers': AES256, 'proxy-ssl-protocols': 'TLSv1.2' }, false),
        ingress('up-13', 'up-13.test', 'tlsapp', { 'backend-protocol': 'HTTPS', 'proxy-ssl-protocols': 'TLSv1.3' }, false),
        ingress('up-128', 'up-128.test', 'tlsapp', { 'backend-protocol': 'HTTPS', 'proxy-ssl-ciphers': AES128 }, false),
      ].join('---\n'),
    );
    writeFileSync(path.join(dir, 'secret.yaml'), tlsSecretYaml('site-tls', site));
    portico = await startPorticoProcess(['--manifests', dir, '--access-log', 'false', '--workers', '2']);
    await waitFor('readyz', async () => (await get(portico.healthPort, '/readyz')).status === 200, 15_000);
  }, 30_000);

  afterAll(async () => {
    await portico?.stop('SIGKILL');
    plain?.close();
    strict?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('ssl-ciphers: the host refuses a cipher it excludes, the other host on the port accepts it', async () => {
    // several connections, so that both workers are likely to take some
    await waitFor('strict.test allows only AES-256', async () => (await handshake(portico.httpsPort, 'strict.test', AES128)) === 'refused', 5000);
    for (let i = 0; i < 6; i++) {
      expect(await handshake(portico.httpsPort, 'strict.test', AES128)).toBe('refused');
      expect(await handshake(portico.httpsPort, 'strict.test', `${AES128}:${AES256}`)).toBe(AES256);
      expect(await handshake(portico.httpsPort, 'open.test', AES128)).toBe(AES128);
    }
  });

  it('ssl-ciphers on a host without spec.tls: the host refuses a cipher it excludes, the other host on the port accepts it', async () => {
    await waitFor('bare.test allows only AES-256', async () => (await handshake(portico.httpsPort, 'bare.test', AES128)) === 'refused', 5000);
    for (let i = 0; i < 6; i++) {
      expect(await handshake(portico.httpsPort, 'bare.test', AES128)).toBe('refused');
      expect(await handshake(portico.httpsPort, 'bare.test', `${AES128}:${AES256}`)).toBe(AES256);
      expect(await handshake(portico.httpsPort, 'open.test', AES128)).toBe(AES128);
    }
    // and its requests are served over the allowed cipher, with the default certificate
    const served = await new Promise<string>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: portico.httpsPort, path: '/', servername: 'bare.test', headers: { host: 'bare.test' }, rejectUnauthorized: false, ciphers: AES256, maxVersion: 'TLSv1.2', agent: false }, (res) => {
        const cn = String((res.socket as tls.TLSSocket).getPeerCertificate().subject.CN);
        let b = '';
        res.setEncoding('utf8').on('data', (d: string) => (b += d)).on('end', () => resolve(`${res.statusCode} ${b} ${cn}`));
      });
      req.on('error', reject);
      req.end();
    });
    expect(served).toBe('200 plain backend Portico Default Certificate');
  });

  it('the strict host still serves requests over an allowed cipher', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port: portico.httpsPort, path: '/', servername: 'strict.test', headers: { host: 'strict.test' }, rejectUnauthorized: false, ciphers: AES256, maxVersion: 'TLSv1.2', agent: false }, (res) => {
        let b = '';
        res.setEncoding('utf8').on('data', (d: string) => (b += d)).on('end', () => resolve(`${res.statusCode} ${b}`));
      });
      req.on('error', reject);
      req.end();
    });
    expect(body).toBe('200 plain backend');
  });

  it('proxy-ssl-ciphers / proxy-ssl-protocols: the TLS 1.2 / AES-256 backend is reached by the matching route only', async () => {
    const ok = await get(portico.httpPort, '/', { host: 'up-ok.test' });
    expect([ok.status, ok.body]).toEqual([200, 'strict backend']);
    expect((await get(portico.httpPort, '/', { host: 'up-13.test' })).status).toBe(502);
    expect((await get(portico.httpPort, '/', { host: 'up-128.test' })).status).toBe(502);
    expect((await get(portico.httpPort, '/', { host: 'up-ok.test' })).status).toBe(200);
  });
});
