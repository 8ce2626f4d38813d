// The built program with --workers 2 and HTTPS (file mode): what the workers share through
// the primary. TLS sessions resume on whichever worker a new connection reaches (the primary's
// ticket keys, kept when the default certificate changes), and configuration and TLS problems
// are reported once, by the primary, however many workers build the same configuration.
// (node:cluster itself hands each worker the ticket keys of the first one that listened, so
// resumption across workers works at first even without shared keys; a new default
// certificate gives a server new random keys, which is where the primary's keys matter. The
// rotation and a replaced worker are covered in test/workers/ticket-keys.test.ts.)

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import tls from 'node:tls';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { generateSelfSigned } from '../src/tls/default-certificate.ts';
import { get, listeningSockets, startPorticoProcess, waitFor, type PorticoProcess } from './harness.ts';
import { tlsAppYaml, tlsSecretYaml, writeAtomically, type PemPair } from './manifests.ts';

type Pair = PemPair;

/** The TLS app with its certificate, and an Ingress whose Secret is missing (a TLS problem). */
function manifests(backendPort: number, certificate: Pair): string {
  return `${tlsAppYaml(backendPort)}---
${tlsSecretYaml('app-tls', certificate)}---
# A TLS problem: the Secret does not exist.
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: no-secret, namespace: web }
spec:
  ingressClassName: portico
  tls: [{ hosts: [other.test], secretName: missing-tls }]
  rules:
    - host: other.test
      http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: app, port: { number: 80 } } } }] }
`;
}

/** An Ingress with a configuration problem: its backend does not say which port. */
function brokenIngress(name: string): string {
  return `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: ${name}, namespace: web }
spec:
  ingressClassName: portico
  rules:
    - host: ${name}.test
      http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: app } } }] }
`;
}

interface TlsExchange {
  reused: boolean;
  status: number;
  /** The first session the server handed out on this connection (TLS 1.3: after the handshake). */
  session: Buffer | undefined;
}

/** One HTTP/1.1 request on a new TLS connection to secure.test, offering `session` if given. */
async function tlsRequest(port: number, pathName: string, maxVersion: tls.SecureVersion, session?: Buffer): Promise<TlsExchange> {
  const socket = tls.connect({ host: '127.0.0.1', port, servername: 'secure.test', rejectUnauthorized: false, maxVersion, ...(session ? { session } : {}) });
  socket.setTimeout(5000, () => socket.destroy(new Error('timeout')));
  // With TLS 1.3 the tickets arrive after the handshake (before the response, which is read to
  // the end below), so the 'session' event, not getSession() at secureConnect, has them.
  let issued: Buffer | undefined;
  socket.on('session', (s: Buffer) => (issued ??= s));
  await once(socket, 'secureConnect');
  const reused = socket.isSessionReused();
  // Not end(): a client that half-closes before its response counts as gone.
  socket.write(`GET ${pathName} HTTP/1.1\r\nHost: secure.test\r\nConnection: close\r\n\r\n`);
  let response = '';
  for await (const chunk of socket) response += (chunk as Buffer).toString('latin1');
  return { reused, status: Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0), session: issued };
}

/** The CN of the certificate a new connection without SNI gets (the default certificate). */
async function defaultCN(port: number): Promise<string> {
  const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
  await once(socket, 'secureConnect');
  const subject = socket.getPeerX509Certificate()?.subject ?? '';
  socket.destroy();
  return /CN=([^\n]+)/.exec(subject)?.[1] ?? '';
}

interface AccessLine {
  worker: number;
  path: string;
  status: number;
}

function accessLines(p: PorticoProcess): AccessLine[] {
  return p.stdout.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as AccessLine);
}

/** Problem log lines (stderr) with this reason about this object, e.g. "Ingress web/broken". */
function problemLines(p: PorticoProcess, reason: string, object: string): Record<string, unknown>[] {
  return p.logs.filter((l) => l.reason === reason && l.object === object);
}

/**
 * The problem count of the last configuration a process logged as applied (`worker` undefined:
 * the primary); -1 before any. The line comes after the process's problem lines for it.
 */
function appliedProblems(p: PorticoProcess, worker: number | undefined): number {
  const lines = p.logs.filter((l) => l.msg === 'configuration applied' && l.worker === worker);
  return lines.length === 0 ? -1 : Number(lines.at(-1)!.problems);
}

/** Until workers 1 and 2 have applied a configuration with at least `problems` problems. */
async function everyWorkerApplied(p: PorticoProcess, problems: number): Promise<void> {
  await waitFor(`both workers to apply a configuration with ${problems} problems`, () => [1, 2].every((w) => appliedProblems(p, w) >= problems), 5000);
}

describe('--workers 2 with HTTPS (built program, file mode)', () => {
  let dir: string;
  let backend: http.Server;
  let portico: PorticoProcess;
  let renewedDefault: Pair;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'portico-e2e-workers-shared-'));
    backend = http.createServer((req, res) => res.end(`ok ${req.url}\n`));
    backend.listen(0, '127.0.0.1');
    await once(backend, 'listening');
    const [certificate, firstDefault] = await Promise.all([
      generateSelfSigned({ commonName: 'secure', dnsNames: ['secure.test'] }),
      generateSelfSigned({ commonName: 'default-1' }),
    ]);
    renewedDefault = await generateSelfSigned({ commonName: 'default-2' });
    writeFileSync(path.join(dir, 'app.yaml'), manifests((backend.address() as AddressInfo).port, certificate));
    writeFileSync(path.join(dir, 'default.yaml'), tlsSecretYaml('default-tls', firstDefault));
    writeFileSync(path.join(dir, 'broken.yaml'), brokenIngress('broken'));
    portico = await startPorticoProcess(['--manifests', dir, '--workers', '2', '--default-ssl-certificate', 'web/default-tls', '--access-log', 'true', '--shutdown-grace', '2s']);
    await waitFor('readyz', async () => (await get(portico.healthPort, '/readyz', {}, 1000)).status === 200, 10_000);
  });

  afterAll(async () => {
    await portico?.stop('SIGKILL');
    backend?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('by default the workers share one listening socket per port (node:cluster)', () => {
    expect(listeningSockets(portico.httpPort)).toBe(1);
    expect(listeningSockets(portico.httpsPort)).toBe(1);
  });

  /**
   * A first connection, then 20 new ones offering its session, 4 at a time (so the kernel
   * hands them to both workers). Returns whether each resumed, and which workers served them
   * (from the access log: the request path names the connection).
   */
  async function resumeFromOtherConnections(version: tls.SecureVersion, tag: string): Promise<{ reused: boolean[]; workers: Set<number> }> {
    const first = await tlsRequest(portico.httpsPort, `/${tag}-first`, version);
    expect(first.status).toBe(200);
    expect(first.reused).toBe(false);
    expect(first.session).toBeDefined();
    const results: TlsExchange[] = [];
    for (let batch = 0; batch < 5; batch++) {
      results.push(...(await Promise.all(Array.from({ length: 4 }, (_, i) => tlsRequest(portico.httpsPort, `/${tag}-${batch * 4 + i}`, version, first.session)))));
    }
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
    const mine = () => accessLines(portico).filter((l) => l.path.startsWith(`/${tag}-`));
    await waitFor('access log lines', () => mine().length === 21);
    return { reused: results.map((r) => r.reused), workers: new Set(mine().map((l) => l.worker)) };
  }

  for (const version of ['TLSv1.3', 'TLSv1.2'] as const) {
    it(`resumes a ${version} session on every new connection, whichever worker it reaches`, async () => {
      const { reused, workers } = await resumeFromOtherConnections(version, `resume-${version}`);
      expect(reused).toEqual(Array(20).fill(true));
      // Both workers served (and resumed): with one worker the test would show nothing.
      expect(workers).toEqual(new Set([1, 2]));
    });
  }

  it('still resumes on every worker after the default certificate changed (a renewal)', async () => {
    // Replacing a server's default certificate (setSecureContext) also replaces its ticket
    // keys: each worker would then have random keys of its own.
    writeAtomically(path.join(dir, 'default.yaml'), tlsSecretYaml('default-tls', renewedDefault));
    await waitFor('the renewed default certificate on every worker', async () => (await Promise.all(Array.from({ length: 8 }, () => defaultCN(portico.httpsPort)))).every((cn) => cn === 'default-2'), 5000);
    const { reused, workers } = await resumeFromOtherConnections('TLSv1.3', 'renewed');
    expect(reused).toEqual(Array(20).fill(true));
    expect(workers).toEqual(new Set([1, 2]));
  });

  it('logs a configuration problem and a TLS problem once (the primary), not once per worker', async () => {
    // The workers built the same configuration at start: had they reported, it would show
    // before their 'configuration applied' line.
    const problems = appliedProblems(portico, undefined);
    expect(problems).toBeGreaterThanOrEqual(1);
    await everyWorkerApplied(portico, problems);
    const broken = problemLines(portico, 'InvalidBackend', 'Ingress web/broken');
    const tlsProblem = problemLines(portico, 'TLSSecretNotFound', 'Ingress web/no-secret');
    expect(broken).toHaveLength(1);
    expect(tlsProblem).toHaveLength(1);
    expect([...broken, ...tlsProblem].every((l) => l.worker === undefined)).toBe(true);
  });

  it('a broken Ingress added while running is logged once as well', async () => {
    const before = appliedProblems(portico, undefined);
    writeAtomically(path.join(dir, 'broken-later.yaml'), brokenIngress('later'));
    await waitFor('the problem line', () => problemLines(portico, 'InvalidBackend', 'Ingress web/later').length > 0, 3000);
    await waitFor('the primary to apply it', () => appliedProblems(portico, undefined) > before, 3000);
    // both workers have built the configuration with the broken Ingress in it
    await everyWorkerApplied(portico, appliedProblems(portico, undefined));
    expect(problemLines(portico, 'InvalidBackend', 'Ingress web/later')).toHaveLength(1);
    await waitFor('readyz', async () => (await get(portico.healthPort, '/readyz', {}, 1000)).status === 200, 3000);
  });

  it('/metrics counts each problem once', async () => {
    // web/broken and web/later (added by the test before); the gauge follows a configuration
    // within a second (Metrics.configSwapped), so wait for it rather than for a second
    const body = await waitFor('portico_config_problems to count both broken Ingresses', async () => {
      const { body } = await get(portico.healthPort, '/metrics');
      return /^portico_config_problems\{reason="InvalidBackend"\} 2$/m.test(body) ? body : '';
    }, 5000);
    expect(body).toMatch(/^portico_tls_problems\{reason="TLSSecretNotFound"\} 1$/m);
  });
});
