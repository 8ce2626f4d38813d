// TLS termination through the built program (file mode): SNI picks the certificate, Host the
// route; HTTP/2 and HTTP/1.1 on one port; HSTS; HTTP → HTTPS redirect; certificate rotation
// without cutting open connections.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import http from 'node:http';
import https from 'node:https';
import http2 from 'node:http2';
import tls from 'node:tls';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { generateSelfSigned } from '../src/tls/default-certificate.ts';
import { get, startPorticoProcess, waitFor, type PorticoProcess } from './harness.ts';
import { tlsAppYaml, tlsSecretYaml, type PemPair } from './manifests.ts';

type Pair = PemPair;

/** The CN of the certificate served for `servername`. */
async function servedCN(port: number, servername?: string): Promise<string> {
  const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(servername ? { servername } : {}) });
  await once(socket, 'secureConnect');
  const cert = socket.getPeerX509Certificate() as X509Certificate;
  socket.destroy();
  return /CN=([^\n]+)/.exec(cert.subject)![1]!;
}

describe('TLS termination (built program)', () => {
  let dir: string;
  let backend: http.Server;
  let portico: PorticoProcess;
  let first: Pair, second: Pair;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'portico-tls-e2e-'));
    [first, second] = await Promise.all([
      generateSelfSigned({ commonName: 'first', dnsNames: ['secure.test'] }),
      generateSelfSigned({ commonName: 'second', dnsNames: ['secure.test'] }),
    ]);
    backend = http.createServer((req, res) => {
      const body = JSON.stringify({ proto: req.headers['x-forwarded-proto'], host: req.headers.host, url: req.url });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    backend.listen(0, '127.0.0.1');
    await once(backend, 'listening');
    writeFileSync(path.join(dir, 'app.yaml'), tlsAppYaml((backend.address() as AddressInfo).port));
    writeFileSync(path.join(dir, 'secret.yaml'), tlsSecretYaml('app-tls', first));
    // --response-request-id: proxied responses carry the id (checked over HTTP/2 below)
    portico = await startPorticoProcess(['--manifests', dir, '--access-log', 'false', '--response-request-id', 'true']);
    await waitFor('readyz', async () => (await get(portico.healthPort, '/readyz')).status === 200);
  });

  afterAll(async () => {
    await portico?.stop('SIGKILL');
    backend?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves the Secret certificate by SNI and the default certificate otherwise', async () => {
    await waitFor('certificate from the Secret', async () => (await servedCN(portico.httpsPort, 'secure.test')) === 'first', 3000);
    expect(await servedCN(portico.httpsPort, 'unknown.test')).toBe('Portico Default Certificate');
    expect(await servedCN(portico.httpsPort)).toBe('Portico Default Certificate');
  });

  it('proxies HTTPS over HTTP/1.1 with X-Forwarded-Proto https and HSTS', async () => {
    const res = await new Promise<http.IncomingMessage & { body: string; alpn: string | false | null }>((resolve, reject) => {
      const req = https.request(
        { host: '127.0.0.1', port: portico.httpsPort, path: '/h1', servername: 'secure.test', headers: { host: 'secure.test' }, ca: first.certPem, checkServerIdentity: () => undefined },
        (r) => {
          let body = '';
          const alpn = (r.socket as tls.TLSSocket).alpnProtocol;
          r.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () => resolve(Object.assign(r, { body, alpn })));
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ proto: 'https', host: 'secure.test', url: '/h1' });
    expect(res.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    expect(res.alpn).not.toBe('h2'); // no ALPN offered by this client: HTTP/1.1
  });

  it('speaks HTTP/2 to clients that offer it (ALPN), through the same proxy', async () => {
    const session = http2.connect(`https://127.0.0.1:${portico.httpsPort}`, { servername: 'secure.test', rejectUnauthorized: false });
    try {
      const stream = session.request({ ':path': '/h2', ':authority': 'secure.test' });
      const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
      let body = '';
      stream.setEncoding('utf8').on('data', (d: string) => (body += d));
      await once(stream, 'end');
      expect(headers[':status']).toBe(200);
      expect(headers['x-request-id']).toMatch(/^[A-Za-z0-9._-]+$/);
      expect(JSON.parse(body)).toEqual({ proto: 'https', host: 'secure.test', url: '/h2' });
      expect(session.alpnProtocol).toBe('h2');
    } finally {
      session.close();
    }
  });

  it('redirects plain HTTP for a TLS host with 308, but not ACME challenge paths', async () => {
    const r = await get(portico.httpPort, '/page?q=1', { host: 'secure.test' });
    expect(r.status).toBe(308);
    expect(r.headers.location).toBe('https://secure.test/page?q=1');
    expect((await get(portico.httpPort, '/.well-known/acme-challenge/abc', { host: 'secure.test' })).status).not.toBe(308);
  });

  it('a renewed Secret takes effect for new connections without cutting open ones', async () => {
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    const request = () =>
      new Promise<{ status: number; cn: string }>((resolve, reject) => {
        const req = https.request({ host: '127.0.0.1', port: portico.httpsPort, path: '/', servername: 'secure.test', headers: { host: 'secure.test' }, agent, rejectUnauthorized: false }, (r) => {
          const cn = String((r.socket as tls.TLSSocket).getPeerCertificate().subject?.CN ?? '');
          r.resume().on('end', () => resolve({ status: r.statusCode ?? 0, cn }));
        });
        req.on('error', reject);
        req.end();
      });
    expect(await request()).toEqual({ status: 200, cn: 'first' });
    const tmp = path.join(dir, '.secret.yaml.tmp');
    writeFileSync(tmp, tlsSecretYaml('app-tls', second));
    renameSync(tmp, path.join(dir, 'secret.yaml'));
    await waitFor('the renewed certificate', async () => (await servedCN(portico.httpsPort, 'secure.test')) === 'second', 3000);
    // the kept-alive connection from before the renewal still works (it keeps its session)
    expect(await request()).toEqual({ status: 200, cn: 'first' });
    agent.destroy();
  });
});
