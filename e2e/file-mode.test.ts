// The built program in file mode, as a black box: real process, real sockets, real files.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { CLI, get, startNamedBackend, startPorticoProcess, waitFor, type PorticoProcess } from './harness.ts';
import { INGRESS_CLASS_YAML, ingressYaml, serviceYaml, singleIngressYaml, writeAtomically, writeInPlaceSlowly } from './manifests.ts';

type Backend = Awaited<ReturnType<typeof startNamedBackend>>;

/** An Ingress of its own file (the IngressClass comes from ingress.yaml). */
const MARKER_INGRESS = `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: marker, namespace: e2e }
spec:
  ingressClassName: portico
  rules:
    - host: marker.test
      http:
        paths:
          - { path: /, pathType: Prefix, backend: { service: { name: svc-b, port: { number: 80 } } } }
`;

describe('file mode (built program)', () => {
  let dir: string;
  let a: Backend, b: Backend, a2: Backend;
  let portico: PorticoProcess;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'portico-e2e-'));
    [a, b, a2] = await Promise.all([startNamedBackend('a'), startNamedBackend('b'), startNamedBackend('a2')]);
    writeFileSync(path.join(dir, 'services.yaml'), serviceYaml('svc-a', [a.port]) + '---\n' + serviceYaml('svc-b', [b.port]));
    writeFileSync(path.join(dir, 'ingress.yaml'), ingressYaml([{ path: '/', service: 'svc-a' }]));
    portico = await startPorticoProcess(['--manifests', dir, '--access-log', 'false']);
  });

  afterAll(async () => {
    await portico?.stop('SIGKILL');
    await Promise.all([a?.close(), b?.close(), a2?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('--help lists every flag and exits 0', () => {
    const r = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    for (const flag of ['--manifests', '--http-port', '--https-port', '--ingress-class', '--controller-name', '--log-level']) {
      expect(r.stdout).toContain(flag);
    }
  });

  it('a bad flag value exits 2 with a message naming the flag', () => {
    const r = spawnSync(process.execPath, [CLI, '--http-port', 'eighty'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--http-port');
  });

  it('--watch-namespace with a name that is not a namespace exits 2 naming it', () => {
    const r = spawnSync(process.execPath, [CLI, '--watch-namespace', 'shop,Team_B'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--watch-namespace: "Team_B" is not a namespace name');
  });

  it('Kubernetes mode outside a cluster without a kubeconfig exits 1 saying so (no retry loop)', () => {
    const home = mkdtempSync(path.join(tmpdir(), 'portico-nohome-'));
    try {
      const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
      delete env.KUBECONFIG;
      const r = spawnSync(process.execPath, [CLI, '--http-port', '0', '--https-port', '0', '--health-port', '0', '--bind-address', '127.0.0.1'], { encoding: 'utf8', env, timeout: 20_000 });
      expect(r.status).toBe(1);
      expect(r.stdout + r.stderr).toContain('no kubeconfig found and not running in a cluster');
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('is ready after the first load and routes by host and path', async () => {
    await waitFor('readyz', async () => (await get(portico.healthPort, '/readyz')).status === 200);
    const r = await get(portico.httpPort, '/x', { host: 'e2e.test' });
    expect(r.status).toBe(200);
    expect(r.body).toBe('a /x\n');
    expect(r.headers['x-request-id']).toBeUndefined(); // --response-request-id is off by default
    const unknown = await get(portico.httpPort, '/', { host: 'unknown.test' });
    expect(unknown.status).toBe(404);
    expect(unknown.headers['x-request-id']).toBeTruthy(); // local answers always carry it
  });

  it('applies file edits within 1 s while a stream of requests sees zero errors', async () => {
    const failures: string[] = [];
    let sent = 0;
    let running = true;
    const deadline = Date.now() + 15_000;
    const loop = async () => {
      while (running && Date.now() < deadline && sent < 20_000) {
        sent++;
        try {
          const r = await get(portico.httpPort, '/stream', { host: 'e2e.test' });
          if (r.status !== 200) failures.push(`${r.status} ${r.body.trim()}`);
        } catch (err) {
          failures.push(String(err));
        }
      }
    };
    const loops = Array.from({ length: 4 }, loop);

    // 1. a new path appears (write-then-rename)
    const t0 = Date.now();
    writeAtomically(path.join(dir, 'ingress.yaml'), ingressYaml([{ path: '/', service: 'svc-a' }, { path: '/b', service: 'svc-b' }]));
    await waitFor('the /b route', async () => (await get(portico.httpPort, '/b/1', { host: 'e2e.test' })).body === 'b /b/1\n', 1000, 10);
    const applyMs = Date.now() - t0;
    expect(applyMs).toBeLessThan(1000);

    // 2. the endpoints of svc-a move to another pod (edit in place)
    const services = readFileSync(path.join(dir, 'services.yaml'), 'utf8');
    writeFileSync(path.join(dir, 'services.yaml'), services.replace(`port: ${a.port}`, `port: ${a2.port}`));
    await waitFor('traffic on the new pod', async () => (await get(portico.httpPort, '/', { host: 'e2e.test' })).body.startsWith('a2 '), 1000, 10);

    // 3. a broken edit keeps the last good configuration
    writeFileSync(path.join(dir, 'ingress.yaml'), 'kind: Ingress\nmetadata: [this is not: valid yaml');
    await waitFor('the parse problem to be logged', () => portico.logs.some((l) => JSON.stringify(l).includes('ingress.yaml')), 2000);
    // a valid change after it: once it is served, a configuration built after the broken edit is in use
    writeAtomically(path.join(dir, 'marker.yaml'), MARKER_INGRESS);
    await waitFor('the later change to be served', async () => (await get(portico.httpPort, '/m', { host: 'marker.test' })).body === 'b /m\n', 2000);
    expect((await get(portico.httpPort, '/b/2', { host: 'e2e.test' })).body).toBe('b /b/2\n');

    running = false;
    await Promise.all(loops);
    expect(sent).toBeGreaterThan(20);
    expect(failures).toEqual([]);
  });

  it('a deleted file removes its routes', async () => {
    rmSync(path.join(dir, 'ingress.yaml'));
    await waitFor('404 after delete', async () => (await get(portico.httpPort, '/', { host: 'e2e.test' })).status === 404, 2000);
  });

  it('stops cleanly on SIGTERM', async () => {
    expect(await portico.stop('SIGTERM')).toBe(0);
  });
});

// Issue #15: files rewritten in place, and bursts of changes, as a user sees them.
describe('file mode: changes are applied once the directory stands still (built program)', () => {
  let dir: string;
  let a: Backend, b: Backend;
  let portico: PorticoProcess;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'portico-e2e-settle-'));
    [a, b] = await Promise.all([startNamedBackend('a'), startNamedBackend('b')]);
    writeFileSync(path.join(dir, 'services.yaml'), serviceYaml('svc-a', [a.port]) + '---\n' + serviceYaml('svc-b', [b.port]));
    writeFileSync(path.join(dir, 'ingress.yaml'), ingressYaml([{ path: '/', service: 'svc-a' }]));
    portico = await startPorticoProcess(['--manifests', dir, '--access-log', 'false']);
    await waitFor('readyz', async () => (await get(portico.healthPort, '/readyz')).status === 200);
  });

  afterAll(async () => {
    await portico?.stop('SIGKILL');
    await Promise.all([a?.close(), b?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  /** Requests / on e2e.test back to back until `until` settles; every non-200 is a failure. */
  function requestLoop(until: Promise<unknown>): Promise<{ sent: number; failures: string[] }> {
    let done = false;
    void until.finally(() => (done = true));
    const result = { sent: 0, failures: [] as string[] };
    const loop = async () => {
      while (!done) {
        result.sent++;
        try {
          const r = await get(portico.httpPort, '/', { host: 'e2e.test' });
          if (r.status !== 200) result.failures.push(`${r.status} ${r.body.trim()}`);
        } catch (err) {
          result.failures.push(String(err));
        }
      }
    };
    return Promise.all([loop(), loop()]).then(() => result);
  }

  it('a manifest rewritten in place over 0.25 s is applied whole: the valid Ingress never answers 404', async () => {
    const next = ingressYaml([{ path: '/', service: 'svc-a' }, { path: '/b', service: 'svc-b' }]);
    const rewrite = (async () => {
      await writeInPlaceSlowly(path.join(dir, 'ingress.yaml'), next, 4, 70); // 0.28 s, pauses longer than a 50 ms debounce
      await waitFor('the rewritten file to route /b', async () => (await get(portico.httpPort, '/b/x', { host: 'e2e.test' })).body === 'b /b/x\n', 3000, 10);
    })();
    const { sent, failures } = await requestLoop(rewrite);
    await rewrite;
    expect(sent).toBeGreaterThan(20);
    expect(failures).toEqual([]);
  });

  it('a burst that adds a file and deletes another is applied as one step: old and new never route together', async () => {
    writeFileSync(path.join(dir, 'ingress.yaml'), INGRESS_CLASS_YAML);
    writeAtomically(path.join(dir, 'old.yaml'), singleIngressYaml('old', '/old', 'svc-a'));
    await waitFor(
      '/old routed by Ingress old alone',
      async () => (await get(portico.httpPort, '/', { host: 'e2e.test' })).status === 404 && (await get(portico.httpPort, '/old', { host: 'e2e.test' })).status === 200,
      3000,
      10,
    );

    writeAtomically(path.join(dir, 'new.yaml'), singleIngressYaml('new', '/new', 'svc-b'));
    rmSync(path.join(dir, 'old.yaml'));
    // Once /new answers, /old must already be gone (the old behaviour removed it ~50 ms later).
    const overlaps: string[] = [];
    let newSeenAt = 0;
    await waitFor(
      'the new file applied and the old one gone',
      async () => {
        const n = await get(portico.httpPort, '/new', { host: 'e2e.test' });
        const o = await get(portico.httpPort, '/old', { host: 'e2e.test' });
        if (n.status === 200 && newSeenAt === 0) newSeenAt = Date.now();
        if (newSeenAt !== 0 && o.status === 200) overlaps.push(`/old answered ${Date.now() - newSeenAt} ms after /new did`);
        return n.status === 200 && o.status === 404 && Date.now() - newSeenAt > 300;
      },
      3000,
      0,
    );
    expect(overlaps).toEqual([]);
  });
});
