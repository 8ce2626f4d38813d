// --nginx-configmap through the built program (file mode): ingress-nginx's controller ConfigMap
// sets the global body limit, the redirect code and force-ssl-redirect over the flags (an
// Ingress's own annotation still wins); unsupported and invalid keys
// are logged by name; a ConfigMap that does not exist stops the start with exit 1.

import { spawn } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, get, startNamedBackend, startPorticoProcess, waitFor, type PorticoProcess } from './harness.ts';
import { annotatedIngressYaml, INGRESS_CLASS_YAML, serviceYaml } from './manifests.ts';

const CONFIGMAP = `apiVersion: v1
kind: ConfigMap
metadata: { name: ingress-nginx-controller, namespace: ingress-nginx }
data:
  proxy-body-size: "1k"
  http-redirect-code: "301"
  force-ssl-redirect: "True"
  hsts-max-age: "forever"
  worker-processes: "auto"
  allow-snippet-annotations: "false"
`;

/** A POST with a declared body of `size` bytes; resolves with the status. */
function post(port: number, size: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/up', headers: { host: 'e2e.test', 'content-length': String(size) }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(Buffer.alloc(size, 'x'));
  });
}

describe('--nginx-configmap (built program, file mode)', () => {
  let dir: string;
  let app: Awaited<ReturnType<typeof startNamedBackend>>;
  let portico: PorticoProcess;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'portico-nginx-configmap-'));
    app = await startNamedBackend('app');
    // force-ssl-redirect "True" in the ConfigMap: Ingresses that say "false" are served over plain HTTP
    const noForce = { 'nginx.ingress.kubernetes.io/force-ssl-redirect': 'false' };
    writeFileSync(path.join(dir, 'app.yaml'), INGRESS_CLASS_YAML + '---\n' + serviceYaml('app', [app.port]) + '---\n' + annotatedIngressYaml({ name: 'web', host: 'e2e.test', annotations: noForce, paths: [{ path: '/', service: 'app' }] }));
    writeFileSync(path.join(dir, 'secure.yaml'), annotatedIngressYaml({ name: 'secure', host: 'secure.test', annotations: {}, paths: [{ path: '/', service: 'app' }] }));
    writeFileSync(path.join(dir, 'ingress-nginx.yaml'), CONFIGMAP);
    // enable-access-log "false" on one Ingress (this program logs requests: --access-log defaults to true)
    writeFileSync(path.join(dir, 'quiet.yaml'), annotatedIngressYaml({ name: 'quiet', host: 'quiet.test', annotations: { ...noForce, 'nginx.ingress.kubernetes.io/enable-access-log': 'false' }, paths: [{ path: '/', service: 'app' }] }));
    // the flag says 8m; the ConfigMap's 1k wins
    portico = await startPorticoProcess(['--manifests', dir, '--proxy-body-size', '8m', '--nginx-configmap', 'ingress-nginx/ingress-nginx-controller']);
    await waitFor('readyz', async () => (await get(portico.healthPort, '/readyz')).status === 200, 10_000);
  });

  afterAll(async () => {
    await portico?.stop('SIGKILL');
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('applies the keys with a Portico flag over the command line', async () => {
    expect(await post(portico.httpPort, 512)).toBe(200);
    expect(await post(portico.httpPort, 2048)).toBe(413);
  });

  it('force-ssl-redirect from the ConfigMap redirects Ingresses that do not say otherwise, with its http-redirect-code', async () => {
    const r = await get(portico.httpPort, '/a?b=1', { host: 'secure.test' });
    expect(r.status).toBe(301);
    expect(r.headers.location).toBe('https://secure.test/a?b=1');
    expect((await get(portico.httpPort, '/', { host: 'e2e.test' })).status).toBe(200);
  });

  it('logs what it applied, and each unsupported or invalid key by name', () => {
    const applied = portico.logs.find((l) => l.msg === 'ingress-nginx ConfigMap applied');
    expect(applied).toMatchObject({
      configMap: 'ingress-nginx/ingress-nginx-controller',
      applied: ['force-ssl-redirect → --force-ssl-redirect', 'http-redirect-code → --http-redirect-code', 'proxy-body-size → --proxy-body-size'],
      unsupported: 1,
      invalid: 1,
    });
    expect(portico.logs.some((l) => l.msg === 'ingress-nginx ConfigMap key not supported' && l.key === 'worker-processes')).toBe(true);
    expect(portico.logs.some((l) => l.msg === 'ingress-nginx ConfigMap key not applied: invalid value' && l.key === 'hsts-max-age')).toBe(true);
  });

  it('enable-access-log "false": that Ingress\'s requests leave no access log line; others do', async () => {
    expect((await get(portico.httpPort, '/quiet-one', { host: 'quiet.test' })).status).toBe(200);
    expect((await get(portico.httpPort, '/logged-one', { host: 'e2e.test' })).status).toBe(200);
    await waitFor('the logged request in the access log', () => portico.stdout.some((l) => l.includes('/logged-one')), 5000);
    expect(portico.stdout.some((l) => l.includes('/quiet-one'))).toBe(false);
  });

  it('an edit of the ConfigMap after the start is said (warning naming the keys, metric), not silently ignored', async () => {
    const metric = async () => /^portico_nginx_configmap_changed (\d)/m.exec((await get(portico.healthPort, '/metrics')).body)?.[1];
    expect(await metric()).toBe('0');
    writeFileSync(path.join(dir, 'ingress-nginx.yaml'), CONFIGMAP.replace('proxy-body-size: "1k"', 'proxy-body-size: "2k"'));
    await waitFor('the warning about the edited ConfigMap', () => portico.logs.some((l) => l.level === 'warn' && l.configMap === 'ingress-nginx/ingress-nginx-controller' && Array.isArray(l.keys) && l.keys.includes('proxy-body-size')), 10_000);
    expect(await metric()).toBe('1');
    // the values applied at start stay in force until a restart
    expect(await post(portico.httpPort, 1500)).toBe(413);
    writeFileSync(path.join(dir, 'ingress-nginx.yaml'), CONFIGMAP);
    await waitFor('the ConfigMap matching again', async () => (await metric()) === '0', 10_000);
  });

  it('a ConfigMap that does not exist stops the start with a message (exit 1)', async () => {
    const child = spawn(process.execPath, [CLI, '--manifests', dir, '--bind-address', '127.0.0.1', '--http-port', '0', '--https-port', '0', '--health-port', '0', '--nginx-configmap', 'ingress-nginx/nowhere'], {
      env: { ...process.env, PORTICO_WORKERS: '0' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => {
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.on('exit', (c) => {
        clearTimeout(t);
        resolve(c);
      });
    });
    expect(code).toBe(1);
    expect(stderr).toContain('--nginx-configmap ingress-nginx/nowhere does not exist');
  });
});

/** Without force-ssl-redirect: plain-HTTP requests are served. */
const LIVE_CONFIGMAP = CONFIGMAP.replace('  force-ssl-redirect: "True"\n', '');

describe('--nginx-configmap with --workers 2: an edit is applied live, worker by worker, without failing a request', () => {
  let dir: string;
  let app: Awaited<ReturnType<typeof startNamedBackend>>;
  let portico: PorticoProcess;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'portico-nginx-configmap-live-'));
    app = await startNamedBackend('app');
    writeFileSync(
      path.join(dir, 'app.yaml'),
      INGRESS_CLASS_YAML + '---\n' + serviceYaml('app', [app.port]) + '---\n' + annotatedIngressYaml({ name: 'web', host: 'e2e.test', annotations: {}, paths: [{ path: '/', service: 'app' }] }),
    );
    writeFileSync(path.join(dir, 'ingress-nginx.yaml'), LIVE_CONFIGMAP);
    portico = await startPorticoProcess(['--manifests', dir, '--workers', '2', '--access-log', 'false', '--debug-endpoints', 'true', '--nginx-configmap', 'ingress-nginx/ingress-nginx-controller'], {}, 30_000);
    await waitFor('readyz', async () => (await get(portico.healthPort, '/readyz')).status === 200, 20_000);
  });

  afterAll(async () => {
    await portico?.stop('SIGKILL');
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a larger proxy-body-size takes effect in every worker while requests keep being answered', async () => {
    expect(await post(portico.httpPort, 1500)).toBe(413);
    // requests all along the change (bounded in count and time)
    const statuses: number[] = [];
    const errors: string[] = [];
    let stop = false;
    const traffic = (async () => {
      const until = Date.now() + 60_000;
      while (!stop && statuses.length < 20_000 && Date.now() < until) {
        // a failed request is a failure of the test, counted rather than thrown
        statuses.push(await get(portico.httpPort, '/during', { host: 'e2e.test' }).then((r) => r.status, (err: Error) => (errors.push(err.message), 0)));
      }
    })();
    try {
      writeFileSync(path.join(dir, 'ingress-nginx.yaml'), LIVE_CONFIGMAP.replace('proxy-body-size: "1k"', 'proxy-body-size: "2k"'));
      await waitFor('every worker replaced', () => portico.logs.some((l) => l.msg === 'ingress-nginx ConfigMap applied: every worker runs with it now'), 30_000);
      // both workers now: new connections land on either
      for (let i = 0; i < 6; i++) expect(await post(portico.httpPort, 1500)).toBe(200);
      expect(await post(portico.httpPort, 2500)).toBe(413);
    } finally {
      stop = true;
      await traffic;
    }
    // requests ran all through the hand-over (each worker's replacement takes a second or more)
    expect(statuses.length).toBeGreaterThan(20);
    expect(errors.slice(0, 3)).toEqual([]);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(/^portico_nginx_configmap_changed (\d)/m.exec((await get(portico.healthPort, '/metrics')).body)?.[1]).toBe('0');
  });

  it("force-ssl-redirect added later: the workers redirect, and the primary's /debug/explain says so too", async () => {
    const explain = async () => JSON.parse((await get(portico.healthPort, `/debug/explain?url=${encodeURIComponent('http://e2e.test/x')}`)).body) as { outcome: string };
    expect((await explain()).outcome).toBe('forward');
    const applied = (): number => portico.logs.filter((l) => l.msg === 'ingress-nginx ConfigMap applied: every worker runs with it now').length;
    const before = applied();
    writeFileSync(path.join(dir, 'ingress-nginx.yaml'), LIVE_CONFIGMAP.replace('proxy-body-size: "1k"', 'proxy-body-size: "2k"') + '  force-ssl-redirect: "true"\n');
    await waitFor('every worker replaced again', () => applied() > before, 30_000);
    // on a new connection (one kept alive from before may still get its next answer from the retiring worker)
    const status = await new Promise<number>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: portico.httpPort, path: '/x', headers: { host: 'e2e.test' }, agent: false }, (res) => (res.resume(), resolve(res.statusCode ?? 0))).on('error', reject);
    });
    expect(status).toBe(301); // the ConfigMap's http-redirect-code
    expect((await explain()).outcome).toMatch(/^redirect to https:\/\/e2e\.test\/x \(ssl-redirect, force-ssl-redirect\)/);
  });
});

describe('--nginx-configmap on one CPU (taskset): --workers auto starts one worker, so an edit is applied live', () => {
  let dir: string;
  let app: Awaited<ReturnType<typeof startNamedBackend>>;
  let portico: PorticoProcess;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'portico-nginx-configmap-one-cpu-'));
    app = await startNamedBackend('app');
    writeFileSync(
      path.join(dir, 'app.yaml'),
      INGRESS_CLASS_YAML + '---\n' + serviceYaml('app', [app.port]) + '---\n' + annotatedIngressYaml({ name: 'web', host: 'e2e.test', annotations: {}, paths: [{ path: '/', service: 'app' }] }),
    );
    writeFileSync(path.join(dir, 'ingress-nginx.yaml'), LIVE_CONFIGMAP);
    portico = await startPorticoProcess(['--manifests', dir, '--access-log', 'false', '--nginx-configmap', 'ingress-nginx/ingress-nginx-controller'], { PORTICO_WORKERS: 'auto' }, 30_000, undefined, ['taskset', '-c', '0']);
    await waitFor('readyz', async () => (await get(portico.healthPort, '/readyz')).status === 200, 20_000);
  });

  afterAll(async () => {
    await portico?.stop('SIGKILL');
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs one worker and applies an edited proxy-body-size', async () => {
    expect(portico.logs.find((l) => l.msg === 'portico started')?.workers).toBe(1);
    expect(await post(portico.httpPort, 1500)).toBe(413);
    writeFileSync(path.join(dir, 'ingress-nginx.yaml'), LIVE_CONFIGMAP.replace('proxy-body-size: "1k"', 'proxy-body-size: "2k"'));
    await waitFor('the worker replaced', () => portico.logs.some((l) => l.msg === 'ingress-nginx ConfigMap applied: every worker runs with it now'), 30_000);
    expect(await post(portico.httpPort, 1500)).toBe(200);
    expect(/^portico_nginx_configmap_changed (\d)/m.exec((await get(portico.healthPort, '/metrics')).body)?.[1]).toBe('0');
  });
});
