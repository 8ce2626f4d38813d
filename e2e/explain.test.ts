// `portico explain` and the health port's /debug/routes and /debug/explain, through the built
// program: offline from a manifests directory, and against a running Portico.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CLI, get, startNamedBackend, startPorticoProcess, waitFor, type PorticoProcess } from './harness.ts';
import { annotatedIngressYaml, INGRESS_CLASS_YAML, serviceYaml } from './manifests.ts';

const N = 'nginx.ingress.kubernetes.io/';

/** The built program's `explain`, asynchronously (a Portico in this process's children answers --from). */
function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'explain', ...args], { env: { ...process.env, KUBECONFIG: '' } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('portico explain and /debug (built program)', () => {
  let dir: string;
  let app: Awaited<ReturnType<typeof startNamedBackend>>;
  let debug: PorticoProcess;
  let plain: PorticoProcess;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'portico-explain-e2e-'));
    app = await startNamedBackend('app');
    writeFileSync(
      path.join(dir, 'all.yaml'),
      [
        INGRESS_CLASS_YAML,
        serviceYaml('app', [app.port]),
        annotatedIngressYaml({ name: 'web', host: 'shop.test', annotations: {}, paths: [{ path: '/', service: 'app' }, { path: '/api', service: 'app' }] }),
        annotatedIngressYaml({
          name: 'admin',
          host: 'admin.test',
          annotations: { [N + 'auth-type']: 'basic', [N + 'auth-secret']: 'users' },
          paths: [{ path: '/', service: 'app' }],
        }),
        `apiVersion: v1
kind: Secret
metadata: { name: users, namespace: e2e }
type: Opaque
stringData: { auth: "alice:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=" }
`,
      ].join('---\n'),
    );
    [debug, plain] = await Promise.all([
      startPorticoProcess(['--manifests', dir, '--access-log', 'false', '--debug-endpoints', 'true']),
      startPorticoProcess(['--manifests', dir, '--access-log', 'false']),
    ]);
    await waitFor('readyz', async () => (await get(debug.healthPort, '/readyz')).status === 200, 10_000);
  });

  afterAll(async () => {
    await debug?.stop('SIGKILL');
    await plain?.stop('SIGKILL');
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('offline from manifests: the rule, why, the backend and its endpoints; exit 0, or 1 for no route', async () => {
    const r = await run(['http://shop.test/api/orders', '--manifests', dir]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Route: e2e/web Prefix /api [rule]');
    expect(r.stdout).toContain('Why: the longest Prefix that matches element by element wins');
    expect(r.stdout).toContain(`Endpoints: 127.0.0.1:${app.port}`);
    const json = await run(['http://admin.test/', '--manifests', dir, '--output', 'json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ route: { ingress: 'e2e/admin' }, filters: ['basic auth (realm "", 1 users)'] });
    const none = await run(['http://other.test/', '--manifests', dir]);
    expect(none.code).toBe(1);
    expect(none.stdout).toContain('Outcome: 404 not found');
    // the program's translation flags: --default-backend-service answers hosts no rule serves
    const pages = await run(['http://other.test/', '--manifests', dir, '--default-backend-service', 'e2e/app']);
    expect(pages.code).toBe(0);
    expect(pages.stdout).toContain('--default-backend-service (Service e2e/app) serves it');
    expect((await run(['http://other.test/', '--manifests', dir, '--custom-http-errors', '404'])).stderr).toContain('needs --default-backend-service');
    const bad = await run(['not-a-url', '--manifests', dir]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('is not a URL');
  });

  it('/debug/routes: the table served, with endpoints and without password hashes; off unless --debug-endpoints', async () => {
    const r = await get(debug.healthPort, '/debug/routes');
    expect(r.status).toBe(200);
    const doc = JSON.parse(r.body) as { hosts: { host: string; rules: { path: string }[] }[]; backends: Record<string, unknown[]> };
    expect(doc.hosts.map((h) => h.host)).toEqual(['admin.test', 'shop.test']);
    expect(doc.hosts[1]!.rules.map((x) => x.path).sort()).toEqual(['/', '/api']);
    expect(doc.backends['e2e/app:http']).toEqual([{ address: '127.0.0.1', port: app.port, terminating: false }]);
    expect(r.body).not.toContain('5en6G6MezRroT3XKqkdPOmY');
    expect((await get(plain.healthPort, '/debug/routes')).status).toBe(404);
    // never on the traffic listener
    expect((await get(debug.httpPort, '/debug/routes', { host: 'shop.test' })).body).toBe('app /debug/routes\n');
  });

  it('--from a running Portico asks its /debug/explain', async () => {
    const r = await run(['https://shop.test/api/x', '--from', `http://127.0.0.1:${debug.healthPort}`, '--header', 'X-Canary: always']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Route: e2e/web Prefix /api [rule]');
    expect(r.stdout).toContain('Certificate: the default certificate');
    const off = await run(['https://shop.test/', '--from', `http://127.0.0.1:${plain.healthPort}`]);
    expect(off.code).toBe(2);
    expect(off.stderr).toContain('start Portico with --debug-endpoints');
    expect(spawnSync(process.execPath, [CLI, 'explain', '--help'], { encoding: 'utf8' }).stdout).toContain('Usage: portico explain URL');
  });
});
