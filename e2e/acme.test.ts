// ACME end to end: the built program, two replicas against the fake API server, the real
// Pebble CA. Replica A is started first and holds the leader Lease; replica B starts after it
// and is the only one Pebble can reach (Pebble's HTTP-01 port is B's plain HTTP port). So a
// certificate can only be issued if the token the leader (A) published in the challenge
// Secret reached the follower (B) through its watch and B answered the CA. Then B serves the
// certificate over HTTPS (trusting Pebble's root), redirects plain HTTP except for the
// challenge path, and when the Secret is replaced by a certificate past 2/3 of its lifetime
// the leader renews it and B serves the renewed one without a restart.
//
// Needs the Debian package `pebble` (and `openssl`); fails with an install hint without them.
// Run `npm run build` first: this drives dist/cli.js.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FakeApiServer } from '../test/fake-apiserver/index.ts';
import { generateSelfSigned } from '../src/tls/default-certificate.ts';
import { get, startNamedBackend, startPorticoProcess, waitFor, type PorticoProcess } from './harness.ts';
import { planPebble, type PebblePlan, type RunningPebble } from './pebble.ts';

type Backend = Awaited<ReturnType<typeof startNamedBackend>>;

const POD_NS = 'portico-system';
const NS = 'shop';
const HOST = 'app.test';
const SECRET = 'app-tls';

interface WireSecret {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string>; resourceVersion?: string };
  type?: string;
  data?: Record<string, string>;
}

function splitPem(chain: string): X509Certificate[] {
  return (chain.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => new X509Certificate(p));
}

function chainOf(secret: WireSecret): X509Certificate[] {
  return splitPem(Buffer.from(secret.data?.['tls.crt'] ?? '', 'base64').toString('utf8'));
}

/** Serial numbers as hex without leading zeros, upper case (X509Certificate and getPeerCertificate agree then). */
function serial(s: string): string {
  return s.toUpperCase().replace(/^0+(?=.)/, '');
}

/** GET https://HOST<path> on 127.0.0.1:port with SNI HOST, trusting only `ca` (null: no verification). */
function httpsGet(port: number, pathname: string, ca: string | null): Promise<{ status: number; body: string; serial: string }> {
  return new Promise((resolve, reject) => {
    const trust = ca === null ? { rejectUnauthorized: false } : { ca };
    const req = https.request(
      { host: '127.0.0.1', port, path: pathname, servername: HOST, headers: { host: HOST }, ...trust, agent: false, timeout: 5000 },
      (res) => {
        const peer = (res.socket as TLSSocket).getPeerCertificate();
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, serial: serial(peer.serialNumber ?? '') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('https request timed out')));
    req.on('error', reject);
    req.end();
  });
}

describe('ACME over HTTP-01 with Pebble (built program, two replicas, fake API server)', () => {
  let api: FakeApiServer;
  let dir: string;
  let backend: Backend;
  let plan: PebblePlan | undefined;
  let pebble: RunningPebble | undefined;
  let root: X509Certificate;
  let rootPem: string;
  let leader: PorticoProcess; // replica A
  let follower: PorticoProcess; // replica B
  const procs: PorticoProcess[] = [];
  let issuedSerial = '';

  const secret = () => api.get('v1/Secret', NS, SECRET) as unknown as WireSecret | undefined;
  const holder = () => (api.get('Lease', POD_NS, 'portico-leader') as unknown as { spec?: { holderIdentity?: string } } | undefined)?.spec?.holderIdentity ?? '';
  /** How many HTTP-01 validation requests Pebble says it sent to 127.0.0.1:port (every name resolves there). */
  const validationsAt = (port: number) => pebble!.logs().split('\n').filter((l) => l.includes(`Attempting to validate w/ HTTP: http://${HOST}:${port}/.well-known/acme-challenge/`)).length;
  const acmeLogs = (p: PorticoProcess | undefined) => (p?.logs ?? []).filter((l) => typeof l.msg === 'string' && l.msg.startsWith('acme'));
  const diagnostics = () =>
    `\nleader acme logs: ${JSON.stringify(acmeLogs(leader))}\nfollower acme logs: ${JSON.stringify(acmeLogs(follower))}\npebble: ${pebble?.logs().slice(-4000) ?? '(not started)'}`;
  /** waitFor, with the processes' ACME logs and Pebble's output in the error. */
  const within = async <T>(what: string, fn: () => Promise<T> | T, timeoutMs: number, everyMs = 100): Promise<NonNullable<T>> => {
    try {
      return (await waitFor(what, fn, timeoutMs, everyMs)) as NonNullable<T>;
    } catch (err) {
      throw new Error(`${(err as Error).message}${diagnostics()}`);
    }
  };
  /** A pebble-issued chain: leaf ← intermediate ← Pebble's root. */
  const expectIssuedByPebble = (chain: X509Certificate[]) => {
    expect(chain.length).toBeGreaterThanOrEqual(2);
    const [leaf, intermediate] = chain as [X509Certificate, X509Certificate];
    expect(leaf.subjectAltName).toBe(`DNS:${HOST}`);
    expect(leaf.checkIssued(intermediate)).toBe(true);
    expect(leaf.verify(intermediate.publicKey)).toBe(true);
    expect(intermediate.checkIssued(root)).toBe(true);
    expect(intermediate.verify(root.publicKey)).toBe(true);
  };

  const startReplica = async (name: string, p: PebblePlan, kubeconfig: string) => {
    const proc = await startPorticoProcess(
      [
        '--kubeconfig', kubeconfig,
        '--acme', 'true',
        '--acme-directory', p.directoryUrl,
        '--acme-ca-bundle', p.caPath,
        '--acme-email', 'admin@app.test',
        '--publish-status-address', '203.0.113.10',
        '--access-log', 'false',
        '--log-level', 'debug',
      ],
      { POD_NAMESPACE: POD_NS, POD_NAME: name },
    );
    procs.push(proc);
    await waitFor(`${name} ready`, async () => (await get(proc.healthPort, '/readyz')).status === 200, 10_000);
    return proc;
  };

  beforeAll(async () => {
    api = await FakeApiServer.start({ token: 'e2e-token', bookmarkIntervalMs: 1000 });
    dir = mkdtempSync(path.join(tmpdir(), 'portico-acme-e2e-'));
    const kubeconfig = api.writeKubeconfig(dir);
    backend = await startNamedBackend('app');
    plan = await planPebble();

    api.create({ apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: 'portico' }, spec: { controller: 'portico.dev/ingress-controller' } });
    api.create({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'app', namespace: NS }, spec: { ports: [{ name: 'http', port: 80 }] } });
    api.create({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'app-1', namespace: NS, labels: { 'kubernetes.io/service-name': 'app' } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: backend.port }],
      endpoints: [{ addresses: ['127.0.0.1'], conditions: { ready: true } }],
    });

    // A first, and it leads; only then B, which therefore follows.
    leader = await startReplica('portico-a', plan, kubeconfig);
    await waitFor('replica A holds the Lease', () => holder().startsWith('portico-a_'), 10_000);
    follower = await startReplica('portico-b', plan, kubeconfig);

    // The CA validates HTTP-01 on B's plain HTTP port only.
    pebble = await plan.start({ httpPort: follower.httpPort });
    const r = await pebble.get('/roots/0');
    if (r.status !== 200) throw new Error(`pebble /roots/0 answered ${r.status}`);
    rootPem = r.body;
    root = new X509Certificate(rootPem);
  }, 45_000);

  afterAll(async () => {
    for (const p of procs) await p.stop('SIGKILL');
    if (pebble) await pebble.stop();
    else plan?.cleanup();
    await backend?.close();
    await api?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 20_000);

  it('issues the certificate with validation answered by the non-leader, stores it, and serves it over HTTPS', async () => {
    expect(holder().startsWith('portico-a_')).toBe(true);
    expect(leader.logs.some((l) => l.msg === 'acme: leading; managing certificates')).toBe(true);
    expect(follower.logs.some((l) => l.msg === 'acme: leading; managing certificates')).toBe(false);

    api.create({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'app', namespace: NS, annotations: { 'kubernetes.io/tls-acme': 'true' } },
      spec: {
        ingressClassName: 'portico',
        tls: [{ hosts: [HOST], secretName: SECRET }],
        rules: [{ host: HOST, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'app', port: { number: 80 } } } }] } }],
      },
    });

    const stored = await within('the issued TLS Secret', () => {
      const s = secret();
      return s?.type === 'kubernetes.io/tls' && s.data?.['tls.crt'] && s.data['tls.key'] ? s : undefined;
    }, 30_000);
    expect(stored.metadata.annotations?.['portico.dev/acme-managed']).toBe('true');
    expect(stored.metadata.annotations?.['portico.dev/acme-hosts']).toBe(HOST);
    const chain = chainOf(stored);
    expectIssuedByPebble(chain);
    issuedSerial = serial(chain[0]!.serialNumber);

    // The order was the leader's (A); B never ordered. Pebble could only have validated on B.
    // (The log line follows the Secret write: wait for it, bounded.)
    await within('the leader logging the issuance', () => leader.logs.some((l) => l.msg === 'acme: certificate issued' && l.secret === `${NS}/${SECRET}`), 2000, 10);
    // and the Ingress says so to `kubectl describe`
    const issued = await within('a Normal CertificateIssued event on the Ingress', () =>
      api.list('Event', NS).find((e) => {
        const ev = e as { type?: string; reason?: string; involvedObject?: { name?: string } };
        return ev.type === 'Normal' && ev.reason === 'CertificateIssued' && ev.involvedObject?.name === 'app';
      }), 5000, 20);
    expect((issued as { message?: string }).message).toBe(`Certificate for ${HOST} issued into Secret ${NS}/${SECRET}`);
    expect(follower.logs.some((l) => l.msg === 'acme: ordering a certificate' || l.msg === 'acme: certificate issued')).toBe(false);
    // B saw the token arrive through its watch of the challenge Secret.
    expect(follower.logs.some((l) => l.msg === 'challenge tokens updated' && Number(l.tokens) > 0)).toBe(true);
    // Pebble's own account of it: every HTTP-01 attempt went to B's port, none to A's.
    expect(validationsAt(follower.httpPort)).toBeGreaterThan(0);
    expect(validationsAt(leader.httpPort)).toBe(0);
    expect(pebble!.logs()).toMatch(/authz \S+ set VALID by completed challenge/);

    // The account is kept for the next leader; the tokens are gone once validated.
    expect(Object.keys((api.get('v1/Secret', POD_NS, 'portico-acme-account') as unknown as WireSecret).data ?? {})).toContain('account.key');
    await within('challenge tokens removed', () => Object.keys((api.get('v1/Secret', POD_NS, 'portico-acme-challenges') as unknown as WireSecret | undefined)?.data ?? {}).length === 0, 5000);

    // B serves it over HTTPS, trusting only Pebble's root; the request reaches the backend.
    const r = await within('B serving the issued certificate', async () => {
      const res = await httpsGet(follower.httpsPort, '/hello', rootPem);
      return res.serial === issuedSerial ? res : undefined;
    }, 5000);
    expect(r.status).toBe(200);
    expect(r.body).toBe('app /hello\n');
    // And so does the leader.
    expect((await httpsGet(leader.httpsPort, '/', rootPem)).serial).toBe(issuedSerial);
  }, 45_000);

  it('redirects plain HTTP to HTTPS, except the ACME challenge path', async () => {
    const redirected = await get(follower.httpPort, '/hello?x=1', { host: HOST });
    expect(redirected.status).toBe(308);
    expect(redirected.headers.location).toBe(`https://${HOST}/hello?x=1`);
    // An unknown token is not ours to answer: routed to the backend, not redirected.
    const challenge = await get(follower.httpPort, '/.well-known/acme-challenge/x', { host: HOST });
    expect(challenge.status).toBe(200);
    expect(challenge.body).toBe('app /.well-known/acme-challenge/x\n');
  });

  it('renews a certificate past 2/3 of its lifetime, and the follower serves the renewal without a restart', async () => {
    expect(issuedSerial).not.toBe('');
    // Replace the certificate with one whose lifetime is 3/4 gone (valid for another hour).
    const now = Date.now();
    const stale = await generateSelfSigned({ commonName: HOST, dnsNames: [HOST], notBefore: new Date(now - 3 * 3600_000), notAfter: new Date(now + 3600_000) });
    const staleSerial = serial(new X509Certificate(stale.certPem).serialNumber);
    const current = secret()!;
    const validationsBefore = validationsAt(follower.httpPort);
    api.update({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: SECRET, namespace: NS, annotations: current.metadata.annotations ?? {} },
      type: 'kubernetes.io/tls',
      data: { 'tls.crt': Buffer.from(stale.certPem).toString('base64'), 'tls.key': Buffer.from(stale.keyPem).toString('base64') },
    });
    const pids = procs.map((p) => p.child.pid);
    // B picks up the replacement at once (not trusted by Pebble's root, so look without
    // verifying); a renewal takes longer than this (debounce + propagation delay).
    await within('B serving the replaced certificate', async () => (await httpsGet(follower.httpsPort, '/', null)).serial === staleSerial, 2000, 20);

    // The leader notices through its Secret watch (no resync needed) and orders a new one.
    const renewed = await within('a renewed certificate in the Secret', () => {
      const s = secret();
      if (!s) return undefined;
      const c = chainOf(s);
      const sn = c[0] ? serial(c[0].serialNumber) : '';
      return sn !== '' && sn !== staleSerial && sn !== issuedSerial ? c : undefined;
    }, 30_000);
    expectIssuedByPebble(renewed);
    const renewedSerial = serial(renewed[0]!.serialNumber);
    expect(leader.logs.some((l) => l.msg === 'acme: ordering a certificate' && l.reason === 'renewal-due')).toBe(true);
    await within('the leader logging the renewal', () => leader.logs.filter((l) => l.msg === 'acme: certificate issued').length === 2, 2000, 10);
    expect(leader.logs.some((l) => l.msg?.toString().startsWith('acme: certificate order failed'))).toBe(false);
    // Validated on B again (Pebble's log line travels through a pipe of its own: waited for)
    await within('Pebble logging the renewal\'s validation on B', () => validationsAt(follower.httpPort) > validationsBefore, 5000, 20);
    expect(validationsAt(leader.httpPort)).toBe(0);

    // B serves the renewed certificate (trusting Pebble's root) from the same process.
    const r = await within('B serving the renewed certificate', async () => {
      const res = await httpsGet(follower.httpsPort, '/renewed', rootPem);
      return res.serial === renewedSerial ? res : undefined;
    }, 5000);
    expect(r.status).toBe(200);
    expect(r.body).toBe('app /renewed\n');
    expect(procs.map((p) => p.child.pid)).toEqual(pids);
    expect(procs.every((p) => p.child.exitCode === null)).toBe(true);
  }, 40_000);

  it('a tls entry without hosts gets a certificate for the hosts the model binds (the rule hosts)', async () => {
    const other = 'other.test';
    api.create({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'hostless', namespace: NS, annotations: { 'portico.dev/acme': 'true' } },
      spec: {
        ingressClassName: 'portico',
        tls: [{ secretName: 'hostless-tls' }],
        rules: [{ host: other, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'app', port: { number: 80 } } } }] } }],
      },
    });
    const stored = await within('the TLS Secret of the entry without hosts', () => {
      const s = api.get('v1/Secret', NS, 'hostless-tls') as unknown as WireSecret | undefined;
      return s?.data?.['tls.crt'] ? s : undefined;
    }, 30_000);
    expect(stored.metadata.annotations?.['portico.dev/acme-hosts']).toBe(other);
    const [leaf, intermediate] = chainOf(stored);
    expect(leaf!.subjectAltName).toBe(`DNS:${other}`);
    expect(leaf!.checkIssued(intermediate!)).toBe(true);
  }, 40_000);
});
