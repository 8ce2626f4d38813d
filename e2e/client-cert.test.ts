// Client certificates (ingress-nginx auth-tls-*) through the built program, over HTTP/1.1
// and HTTP/2: `on` answers 400 without a certificate or with one from another CA and proxies
// with the right one; `optional` lets a request without certificate through with the
// verification headers; the certificate goes upstream URL-encoded; match-cn answers 403;
// the error page is a 302; a host without client authentication on the same listener does
// not request a certificate (openssl s_client shows the CertificateRequest or its absence);
// a connection made for another host (HTTP/2 coalescing) or a resumed session from another
// host never passes. Certificates come from test/fake-apiserver/certs.ts (ECDSA, WebCrypto).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import http from 'node:http';
import http2 from 'node:http2';
import tls from 'node:tls';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createTestCa, type CertAndKey } from '../test/fake-apiserver/certs.ts';
import { generateSelfSigned } from '../src/tls/default-certificate.ts';
import { get, startPorticoProcess, waitFor, type PorticoProcess } from './harness.ts';
import { annotatedIngressYaml, INGRESS_CLASS_YAML, serviceYaml } from './manifests.ts';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const HOSTS = ['on.test', 'optional.test', 'cn.test', 'cnok.test', 'errpage.test', 'plain.test', 'crl.test', 'depth1.test', 'depth2.test', 'rootonly.test'];

/**
 * root → int1 → int2 with openssl: client certificates under int1 (a chain of 3 with the
 * root) and under int2 (4), each with the intermediates it sends.
 */
function chainPki(dir: string): { rootPem: string; bundlePem: string; short: CertAndKey; long: CertAndKey } {
  const run = (...args: string[]): void => void execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  writeFileSync(path.join(dir, 'ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n');
  writeFileSync(path.join(dir, 'leaf.ext'), 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
  run('req', '-x509', ...key, '-keyout', 'root.key', '-out', 'root.pem', '-subj', '/CN=chain-root', '-days', '2', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  const sign = (name: string, issuer: string, ext: string, cn: string): void => {
    run('req', ...key, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    run('x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.pem`, '-CAkey', `${issuer}.key`, '-set_serial', String(Math.floor(Math.random() * 1e9)), '-out', `${name}.pem`, '-days', '2', '-extfile', ext);
  };
  sign('int1', 'root', 'ca.ext', 'chain-int1');
  sign('int2', 'int1', 'ca.ext', 'chain-int2');
  sign('short', 'int1', 'leaf.ext', 'short-chain');
  sign('long', 'int2', 'leaf.ext', 'long-chain');
  const read = (f: string): string => readFileSync(path.join(dir, f), 'utf8');
  return {
    rootPem: read('root.pem'),
    bundlePem: read('root.pem') + read('int1.pem') + read('int2.pem'),
    short: { certPem: read('short.pem') + read('int1.pem'), keyPem: read('short.key'), fingerprint256: '' },
    long: { certPem: read('long.pem') + read('int2.pem') + read('int1.pem'), keyPem: read('long.key'), fingerprint256: '' },
  };
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  reused: boolean;
  session: Buffer | undefined;
}

/** One HTTP/1.1 request on a fresh TLS connection (optionally resuming `session`). */
async function request(port: number, servername: string, host: string, client?: CertAndKey, session?: Buffer): Promise<Reply> {
  const socket = tls.connect({
    host: '127.0.0.1',
    port,
    servername,
    rejectUnauthorized: false,
    ALPNProtocols: ['http/1.1'],
    ...(client ? { cert: client.certPem, key: client.keyPem } : {}),
    ...(session ? { session } : {}),
  });
  let ticket: Buffer | undefined;
  socket.on('session', (s: Buffer) => (ticket = s));
  await once(socket, 'secureConnect');
  const reused = socket.isSessionReused();
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = http.request({ createConnection: () => socket, path: '/', headers: { host, 'ssl-client-verify': 'SUCCESS', connection: 'close' } }, resolve);
    req.on('error', reject);
    req.end();
  });
  let body = '';
  res.setEncoding('utf8').on('data', (d: string) => (body += d));
  await once(res, 'end');
  socket.destroy();
  return { status: res.statusCode ?? 0, headers: res.headers, body, reused, session: ticket };
}

/** Requests on one HTTP/2 connection made for `servername`. */
async function h2Requests(port: number, servername: string, authorities: string[], client?: CertAndKey): Promise<{ status: number; body: string }[]> {
  const session = http2.connect(`https://127.0.0.1:${port}`, { servername, rejectUnauthorized: false, ...(client ? { cert: client.certPem, key: client.keyPem } : {}) });
  session.on('error', () => {});
  try {
    const out: { status: number; body: string }[] = [];
    for (const authority of authorities) {
      const stream = session.request({ ':path': '/', ':authority': authority });
      // once() rejects on 'error' (a reset stream or a closed session) instead of waiting forever
      const [headers] = (await once(stream, 'response', { signal: AbortSignal.timeout(5000) })) as [http2.IncomingHttpHeaders];
      let body = '';
      stream.setEncoding('utf8').on('data', (d: string) => (body += d));
      await once(stream, 'end');
      out.push({ status: Number(headers[':status']), body });
    }
    return out;
  } finally {
    session.close();
  }
}

/** What `openssl s_client` prints about the server's CertificateRequest for `servername`. */
async function certificateRequest(port: number, servername: string): Promise<string> {
  const child = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', servername, '-tls1_3'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  try {
    await waitFor('s_client handshake', () => out.includes('Verify return code'), 5000);
    child.stdin.end();
    await once(child, 'close');
  } finally {
    clearTimeout(timer);
    child.kill('SIGKILL');
  }
  return out;
}

describe('client certificates (built program)', () => {
  let dir: string;
  let backend: http.Server;
  let portico: PorticoProcess;
  let good: CertAndKey;
  let foreign: CertAndKey;
  let revoked: CertAndKey;
  let chains: ReturnType<typeof chainPki>;
  let caPem: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'portico-mtls-e2e-'));
    const [ca, otherCa, server] = await Promise.all([createTestCa('portico-e2e-client-ca'), createTestCa('some-other-ca'), generateSelfSigned({ commonName: 'mtls', dnsNames: HOSTS })]);
    caPem = ca.certPem;
    [good, foreign, revoked] = await Promise.all([
      ca.issue({ commonName: 'authtls', usage: 'client' }),
      otherCa.issue({ commonName: 'authtls', usage: 'client' }),
      ca.issue({ commonName: 'revoked', usage: 'client' }),
    ]);
    const crl = await ca.crl([revoked.certPem]);
    mkdirSync(path.join(dir, 'pki'));
    chains = chainPki(path.join(dir, 'pki'));
    backend = http.createServer((req, res) => {
      const body = JSON.stringify(req.headers);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    backend.listen(0, '127.0.0.1');
    await once(backend, 'listening');
    const port = (backend.address() as AddressInfo).port;
    const ingress = (name: string, host: string, annotations: Record<string, string>): string =>
      annotatedIngressYaml({ name, host, annotations, paths: [{ path: '/', service: 'echo' }], tlsSecret: 'mtls-tls' });
    const auth = (extra: Record<string, string>): Record<string, string> => ({ 'nginx.ingress.kubernetes.io/auth-tls-secret': 'e2e/client-ca', ...extra });
    writeFileSync(
      path.join(dir, 'app.yaml'),
      [
        INGRESS_CLASS_YAML,
        serviceYaml('echo', [port]),
        `apiVersion: v1
kind: Secret
metadata: { name: mtls-tls, namespace: e2e }
type: kubernetes.io/tls
data: { tls.crt: ${b64(server.certPem)}, tls.key: ${b64(server.keyPem)} }
`,
        `apiVersion: v1
kind: Secret
metadata: { name: client-ca, namespace: e2e }
type: Opaque
data: { ca.crt: ${b64(ca.certPem)} }
`,
        `apiVersion: v1
kind: Secret
metadata: { name: client-ca-crl, namespace: e2e }
type: Opaque
data: { ca.crt: ${b64(ca.certPem)}, ca.crl: ${b64(crl)} }
`,
        `apiVersion: v1
kind: Secret
metadata: { name: chain-root, namespace: e2e }
type: Opaque
data: { ca.crt: ${b64(chains.bundlePem)} }
`,
        `apiVersion: v1
kind: Secret
metadata: { name: root-only, namespace: e2e }
type: Opaque
data: { ca.crt: ${b64(chains.rootPem)} }
`,
        ingress('rootonly', 'rootonly.test', { 'nginx.ingress.kubernetes.io/auth-tls-secret': 'root-only', 'nginx.ingress.kubernetes.io/auth-tls-verify-depth': '5' }),
        ingress('crl', 'crl.test', { [`${'nginx.ingress.kubernetes.io/'}auth-tls-secret`]: 'client-ca-crl' }),
        ingress('depth1', 'depth1.test', { 'nginx.ingress.kubernetes.io/auth-tls-secret': 'chain-root' }),
        ingress('depth2', 'depth2.test', { 'nginx.ingress.kubernetes.io/auth-tls-secret': 'chain-root', 'nginx.ingress.kubernetes.io/auth-tls-verify-depth': '2' }),
        ingress('on', 'on.test', auth({ 'nginx.ingress.kubernetes.io/auth-tls-verify-client': 'on', 'nginx.ingress.kubernetes.io/auth-tls-pass-certificate-to-upstream': 'true' })),
        ingress('optional', 'optional.test', auth({ 'portico.dev/auth-tls-verify-client': 'optional' })),
        ingress('cn', 'cn.test', auth({ 'nginx.ingress.kubernetes.io/auth-tls-match-cn': 'CN=notgonnamatch' })),
        ingress('cnok', 'cnok.test', auth({ 'nginx.ingress.kubernetes.io/auth-tls-match-cn': 'CN=(itwillmatch|authtls)' })),
        ingress('errpage', 'errpage.test', auth({ 'nginx.ingress.kubernetes.io/auth-tls-error-page': 'https://errors.example.com/cert' })),
        ingress('plain', 'plain.test', {}),
      ].join('---\n'),
    );
    portico = await startPorticoProcess(['--manifests', dir, '--access-log', 'false']);
    await waitFor('readyz', async () => (await get(portico.healthPort, '/readyz')).status === 200);
    await waitFor('routes', async () => (await request(portico.httpsPort, 'plain.test', 'plain.test')).status === 200, 5000);
  });

  afterAll(async () => {
    await portico?.stop('SIGKILL');
    backend?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('on: 400 without a certificate or with one from another CA, 200 with the right one (HTTP/1.1)', async () => {
    expect((await request(portico.httpsPort, 'on.test', 'on.test')).status).toBe(400);
    expect((await request(portico.httpsPort, 'on.test', 'on.test', foreign)).status).toBe(400);
    const ok = await request(portico.httpsPort, 'on.test', 'on.test', good);
    expect(ok.status).toBe(200);
    const up = JSON.parse(ok.body) as Record<string, string>;
    expect(up['ssl-client-verify']).toBe('SUCCESS');
    expect(up['ssl-client-subject-dn']).toBe('CN=authtls');
    expect(up['ssl-client-issuer-dn']).toBe('CN=portico-e2e-client-ca');
    // pass-certificate-to-upstream: the PEM, URL-encoded as nginx's $ssl_client_escaped_cert
    expect(up['ssl-client-cert']).toMatch(/^-----BEGIN%20CERTIFICATE-----%0A/);
    expect(decodeURIComponent(up['ssl-client-cert']!)).toBe(good.certPem);
  });

  it('on: the same over HTTP/2', async () => {
    expect((await h2Requests(portico.httpsPort, 'on.test', ['on.test']))[0]!.status).toBe(400);
    expect((await h2Requests(portico.httpsPort, 'on.test', ['on.test'], foreign))[0]!.status).toBe(400);
    const [ok] = await h2Requests(portico.httpsPort, 'on.test', ['on.test', 'on.test'], good);
    expect(ok!.status).toBe(200);
    expect((JSON.parse(ok!.body) as Record<string, string>)['ssl-client-verify']).toBe('SUCCESS');
  });

  it('on: a WebSocket upgrade without a certificate gets 400 too (the same stages)', async () => {
    const socket = tls.connect({ host: '127.0.0.1', port: portico.httpsPort, servername: 'on.test', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    await once(socket, 'secureConnect');
    socket.write('GET /ws HTTP/1.1\r\nHost: on.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    let text = '';
    socket.setEncoding('utf8').on('data', (d: string) => (text += d));
    await waitFor('upgrade answer', () => text.includes('\r\n\r\n'), 5000);
    socket.destroy();
    expect(text.startsWith('HTTP/1.1 400 ')).toBe(true);
  });

  it('optional: no certificate passes with ssl-client-verify NONE (client-sent value removed); another CA gets 400', async () => {
    const none = await request(portico.httpsPort, 'optional.test', 'optional.test');
    expect(none.status).toBe(200);
    const up = JSON.parse(none.body) as Record<string, string>;
    expect(up['ssl-client-verify']).toBe('NONE');
    expect(up['ssl-client-subject-dn']).toBeUndefined();
    expect((await request(portico.httpsPort, 'optional.test', 'optional.test', foreign)).status).toBe(400);
    const ok = await request(portico.httpsPort, 'optional.test', 'optional.test', good);
    expect(JSON.parse(ok.body)['ssl-client-verify']).toBe('SUCCESS');
    expect(JSON.parse(ok.body)['ssl-client-cert']).toBeUndefined();
  });

  it('match-cn: 403 when the subject does not match, 200 when one alternative does', async () => {
    expect((await request(portico.httpsPort, 'cn.test', 'cn.test', good)).status).toBe(403);
    expect((await request(portico.httpsPort, 'cnok.test', 'cnok.test', good)).status).toBe(200);
  });

  it('ca.crl: a revoked certificate gets 400, others pass', async () => {
    expect((await request(portico.httpsPort, 'crl.test', 'crl.test', good)).status).toBe(200);
    expect((await request(portico.httpsPort, 'crl.test', 'crl.test', revoked)).status).toBe(400);
    expect((await request(portico.httpsPort, 'on.test', 'on.test', revoked)).status).toBe(200); // no CRL there
    // a resumed session on the CRL host is checked against the CRL outside the handshake
    const first = await request(portico.httpsPort, 'crl.test', 'crl.test', good);
    const again = await request(portico.httpsPort, 'crl.test', 'crl.test', good, first.session);
    expect(again.reused).toBe(true);
    expect(again.status).toBe(200);
  });

  it('verify depth as OpenSSL counts it: depth 1 takes one intermediate, not two; depth 2 takes two', async () => {
    expect((await request(portico.httpsPort, 'depth1.test', 'depth1.test', chains.short)).status).toBe(200);
    expect((await request(portico.httpsPort, 'depth1.test', 'depth1.test', chains.long)).status).toBe(400);
    const ok = await request(portico.httpsPort, 'depth2.test', 'depth2.test', chains.long);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body)['ssl-client-issuer-dn']).toBe('CN=chain-int2');
  });

  it('intermediates must be in ca.crt: a chain that needs one only the client sends is refused (differs from nginx)', async () => {
    expect((await request(portico.httpsPort, 'rootonly.test', 'rootonly.test', chains.short)).status).toBe(400);
  });

  it('error page: a 302 to it instead of the 400', async () => {
    const r = await request(portico.httpsPort, 'errpage.test', 'errpage.test');
    expect(r.status).toBe(302);
    expect(r.headers.location).toBe('https://errors.example.com/cert');
    expect((await request(portico.httpsPort, 'errpage.test', 'errpage.test', good)).status).toBe(200);
  });

  it('only hosts with client authentication send a CertificateRequest (naming their CA)', async () => {
    const plain = await certificateRequest(portico.httpsPort, 'plain.test');
    expect(plain).toContain('No client certificate CA names sent');
    const on = await certificateRequest(portico.httpsPort, 'on.test');
    expect(on).toContain('Acceptable client certificate CA names');
    expect(on).toContain('CN = portico-e2e-client-ca');
    // and a plain host still serves a client that offers no certificate
    expect((await request(portico.httpsPort, 'plain.test', 'plain.test')).status).toBe(200);
  });

  it('a connection made for another host never passes (HTTP/2 coalescing, no SNI): 421', async () => {
    const [plain, coalesced] = await h2Requests(portico.httpsPort, 'plain.test', ['plain.test', 'on.test'], good);
    expect(plain!.status).toBe(200);
    expect(coalesced!.status).toBe(421);
    // verified for optional.test (same CA, another mode): not valid for on.test either
    const [, other] = await h2Requests(portico.httpsPort, 'optional.test', ['optional.test', 'on.test'], good);
    expect(other!.status).toBe(421);
  });

  it('a resumed session is checked against the host: from a host without a certificate it fails, with the right one it passes', async () => {
    const first = await request(portico.httpsPort, 'plain.test', 'plain.test', good);
    expect(first.session).toBeDefined();
    const resumed = await request(portico.httpsPort, 'on.test', 'on.test', good, first.session);
    if (resumed.reused) expect(resumed.status).toBe(400);
    // OpenSSL and Node clients do not offer a session under another server name: then a full
    // handshake with the certificate (the stage's check of resumed sessions is unit-tested)
    else expect(resumed.status).toBe(200);

    const verified = await request(portico.httpsPort, 'on.test', 'on.test', good);
    const again = await request(portico.httpsPort, 'on.test', 'on.test', good, verified.session);
    expect(again.reused).toBe(true);
    expect(again.status).toBe(200);
    expect(JSON.parse(again.body)['ssl-client-verify']).toBe('SUCCESS');
    // a foreign certificate's session resumed on the host: still refused
    const foreignFirst = await request(portico.httpsPort, 'plain.test', 'plain.test', foreign);
    const foreignResumed = await request(portico.httpsPort, 'on.test', 'on.test', foreign, foreignFirst.session);
    expect(foreignResumed.status).toBe(400);
    expect(caPem).toContain('BEGIN CERTIFICATE');
  });
});
