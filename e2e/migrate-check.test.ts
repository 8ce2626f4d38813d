// `portico migrate-check`, the built program: on a manifests directory (table, JSON, exit
// statuses, usage errors) and on a cluster (the fake API server through a kubeconfig, read
// once, nothing written).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FakeApiServer } from '../test/fake-apiserver/index.ts';
import type { MigrationReport } from '../src/migrate/report.ts';
import { CLI } from './harness.ts';

const N = 'nginx.ingress.kubernetes.io/';
/** The class flags of a Portico taking over from ingress-nginx. */
const TAKE_OVER = ['--controller-name', 'k8s.io/ingress-nginx', '--ingress-class', 'nginx', '--watch-ingress-without-class'];

const nginxClass = { apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name: 'nginx' }, spec: { controller: 'k8s.io/ingress-nginx' } };

function ingress(namespace: string, name: string, className: string | null, annotations: Record<string, string>) {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name, namespace, annotations },
    spec: {
      ...(className === null ? {} : { ingressClassName: className }),
      rules: [{ host: `${name}.test`, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'app', port: { number: 80 } } } }] } }],
    },
  };
}

const OBJECTS = [
  nginxClass,
  ingress('shop', 'web', 'nginx', { [`${N}rewrite-target`]: '/', [`${N}proxy-body-size`]: '8m', [`${N}http2-push-preload`]: 'true' }),
  ingress('shop', 'admin', null, { [`${N}auth-snippet`]: 'proxy_set_header X-Team a;' }),
  ingress('team', 'other', 'traefik', { [`${N}auth-snippet`]: 'proxy_set_header X-Team a;' }),
];

/** The built program, synchronously: fine where nothing in this process must answer it. */
function runSync(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(process.execPath, [CLI, 'migrate-check', ...args], { encoding: 'utf8', env: { ...process.env, KUBECONFIG: '', ...env }, timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The built program, asynchronously: the fake API server runs in this process and must answer. */
function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'migrate-check', ...args], { env: { ...process.env, KUBECONFIG: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('portico migrate-check --manifests (built program)', () => {
  let dir: string;
  const write = (sub: string, name: string, docs: unknown[]): string => {
    const d = path.join(dir, sub);
    rmSync(d, { recursive: true, force: true });
    mkdirSync(d);
    writeFileSync(path.join(d, name), docs.map((o) => JSON.stringify(o)).join('\n---\n'));
    return d;
  };

  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'portico-migrate-check-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('prints the table and exits 1 when a served Ingress has annotations Portico does not honour', () => {
    const d = write('mixed', 'all.yaml', OBJECTS);
    const r = runSync(['--manifests', d, ...TAKE_OVER]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`Source: manifests ${d}`);
    expect(r.stdout).toContain('Ingresses: 3 (2 served by Portico, 1 not)');
    expect(r.stdout).toMatch(/^ {2}shop\/admin +\(none\) +yes +answers 503 \(fails closed\)$/m);
    expect(r.stdout).toMatch(/^ {2}shop\/web +nginx +yes +routes, ignoring some annotations$/m);
    expect(r.stdout).toMatch(/^ {2}team\/other +traefik +no +not served$/m);
    expect(r.stdout).toMatch(/^ {2}nginx\.ingress\.kubernetes\.io\/auth-snippet +fails closed: answers 503 +1 +nginx configuration snippets are never executed/m);
    expect(r.stdout).toMatch(/^ {2}nginx\.ingress\.kubernetes\.io\/rewrite-target +supported with differences +1 /m);
    expect(r.stdout).toContain('Totals (annotation uses on served Ingresses): 1 supported, 1 supported with differences, 1 unsupported, 1 fails closed: answers 503, 0 unknown annotation');
    expect(r.stdout).toContain('Result: needs attention: 2 of 2 served Ingresses');
  });

  it('--output json: the whole report, the same exit status', () => {
    const d = write('mixed-json', 'all.json', [{ apiVersion: 'v1', kind: 'List', items: OBJECTS }]);
    const r = runSync(['--manifests', d, ...TAKE_OVER, '--output', 'json']);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as MigrationReport;
    expect(report.options).toEqual({ controllerName: 'k8s.io/ingress-nginx', ingressClass: 'nginx', watchIngressWithoutClass: true });
    expect(report.ingresses.map((i) => [i.name, i.served, i.effect])).toEqual([
      ['admin', true, 'answers-503'],
      ['web', true, 'routes-ignoring'],
      ['other', false, 'not-served'],
    ]);
    expect(report.totals).toEqual({ supported: 1, differs: 1, unsupported: 1, 'fails-closed': 1, unknown: 0 });
    expect(report.annotations.find((a) => a.key === `${N}http2-push-preload`)).toMatchObject({ verdict: 'unsupported', ingresses: 1 });
    expect(report.exitCode).toBe(1);
  });

  it('exits 0 when every served annotation is supported, differences included', () => {
    const d = write('clean', 'web.yaml', [nginxClass, ingress('shop', 'web', 'nginx', { [`${N}rewrite-target`]: '/', [`${N}ssl-redirect`]: 'false', 'cert-manager.io/cluster-issuer': 'le' })]);
    const r = runSync(['--manifests', d, ...TAKE_OVER]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Result: every annotation on the 1 served Ingresses is supported.');
  });

  it('ssl-passthrough is judged for the deployment\'s --enable-ssl-passthrough (flag or environment, bare or not)', () => {
    const d = write('passthrough', 'argo.yaml', [nginxClass, ingress('argocd', 'server', 'nginx', { [`${N}ssl-passthrough`]: 'true' })]);
    const off = runSync(['--manifests', d, ...TAKE_OVER]);
    expect(off.code).toBe(1);
    expect(off.stdout).toMatch(/ssl-passthrough +unsupported +1 +needs --enable-ssl-passthrough/);
    expect(runSync(['--manifests', d, ...TAKE_OVER, '--enable-ssl-passthrough']).code).toBe(0);
    expect(runSync(['--manifests', d, ...TAKE_OVER], { PORTICO_ENABLE_SSL_PASSTHROUGH: 'true' }).code).toBe(0);
    expect(runSync(['--manifests', d, ...TAKE_OVER, '--enable-ssl-passthrough=maybe']).code).toBe(2);
  });

  it('the main program\'s environment variables set the class selection', () => {
    const d = write('env', 'web.yaml', [ingress('shop', 'bare', null, { [`${N}http2-push-preload`]: 'true' })]);
    expect(runSync(['--manifests', d]).code).toBe(0); // not served: nothing to worry about
    expect(runSync(['--manifests', d], { PORTICO_WATCH_INGRESS_WITHOUT_CLASS: 'true' }).code).toBe(1);
  });

  it('a file that does not parse is a problem (exit 1); the other files are still checked', () => {
    const d = write('broken', 'good.yaml', [nginxClass, ingress('shop', 'web', 'nginx', {})]);
    writeFileSync(path.join(d, 'bad.yaml'), 'kind: Ingress\n  metadata: [\n');
    const r = runSync(['--manifests', d, ...TAKE_OVER]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/Problems \(1\):\n {2}bad\.yaml: ParseError: /);
    expect(r.stdout).toMatch(/^ {2}shop\/web +nginx +yes +routes$/m);
  });

  it('exit 2: a directory that does not exist, an unknown flag, a bad value, two sources', () => {
    const missing = runSync(['--manifests', path.join(dir, 'nope')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^portico migrate-check: cannot list the manifests directory .*nope/);
    expect(missing.stdout).toBe('');
    expect(runSync(['--manifests', dir, '--http-port', '80']).stderr).toMatch(/Unknown option '--http-port'/);
    expect(runSync(['--manifests', dir, '--output', 'yaml']).code).toBe(2);
    expect(runSync(['--manifests', dir, '--controller-name', 'nginx']).stderr).toMatch(/--controller-name: "nginx" must be a domain-prefixed path/);
    expect(runSync(['--manifests', dir, '--kubeconfig', '/dev/null']).code).toBe(2);
  });

  it('--help prints the usage with the exit statuses; plain portico --help names the subcommand', () => {
    const r = runSync(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: portico migrate-check/);
    expect(r.stdout).toContain('--watch-ingress-without-class[=true|false]');
    expect(r.stdout).toContain('--output table|json');
    expect(r.stdout).toMatch(/Exit status:\n {2}0 /);
    const main = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8', timeout: 20_000 });
    expect(main.status).toBe(0);
    expect(main.stdout).toMatch(/^Usage: portico \[flags\]\n {7}portico migrate-check/);
  });
});

describe('portico migrate-check on a cluster (built program, fake API server)', () => {
  let api: FakeApiServer;
  let dir: string;
  let kubeconfig: string;

  beforeAll(async () => {
    api = await FakeApiServer.start({ token: 'migrate-token' });
    dir = mkdtempSync(path.join(tmpdir(), 'portico-migrate-k8s-'));
    kubeconfig = api.writeKubeconfig(dir);
    for (const o of OBJECTS) api.create(o);
    // basic auth: one Secret that is there and valid, one that does not exist (fails closed)
    api.create(ingress('shop', 'basic-ok', 'nginx', { [`${N}auth-type`]: 'basic', [`${N}auth-secret`]: 'htpasswd' }));
    api.create(ingress('shop', 'basic-gone', 'nginx', { [`${N}auth-type`]: 'basic', [`${N}auth-secret`]: 'gone' }));
    api.create({ apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { namespace: 'shop', name: 'htpasswd' }, data: { auth: Buffer.from('alice:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n').toString('base64') } });
  });
  afterAll(async () => {
    await api?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('--kubeconfig: lists Ingresses and IngressClasses once, writes nothing, reports as for files', async () => {
    api.requests.length = 0;
    const r = await run(['--kubeconfig', kubeconfig, ...TAKE_OVER, '--output', 'json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout) as MigrationReport;
    expect(report.source).toBe(`cluster ${api.url}`);
    expect(report.ingresses.map((i) => [`${i.namespace}/${i.name}`, i.served, i.effect])).toEqual([
      ['shop/admin', true, 'answers-503'],
      ['shop/basic-gone', true, 'answers-503'],
      ['shop/basic-ok', true, 'routes'],
      ['shop/web', true, 'routes-ignoring'],
      ['team/other', false, 'not-served'],
    ]);
    // the Secrets the Ingresses name, one GET each; no list of the cluster's Secrets
    expect(api.requests.map((q) => `${q.method} ${q.path}${q.watch ? ' (watch)' : ''}`).sort()).toEqual([
      'GET /api/v1/namespaces/shop/secrets/gone',
      'GET /api/v1/namespaces/shop/secrets/htpasswd',
      'GET /apis/networking.k8s.io/v1/ingressclasses',
      'GET /apis/networking.k8s.io/v1/ingresses',
    ]);
  });

  it('$KUBECONFIG and --watch-namespace, as the main program reads them; a table by default', async () => {
    api.requests.length = 0;
    const r = await run([...TAKE_OVER, '--watch-namespace', 'team'], { KUBECONFIG: kubeconfig });
    expect(r.code).toBe(0); // team/other is another controller's: nothing served needs attention
    expect(r.stdout).toContain(`Source: cluster ${api.url} (namespaces team)`);
    expect(r.stdout).toMatch(/^ {2}team\/other +traefik +no +not served$/m);
    expect(api.requests.some((q) => q.path === '/apis/networking.k8s.io/v1/namespaces/team/ingresses')).toBe(true);
  });

  it('exit 2 when the API cannot be read', async () => {
    api.failNext(1, 403, { pathPrefix: '/apis/networking.k8s.io/v1/ingresses' });
    const r = await run(['--kubeconfig', kubeconfig]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^portico migrate-check: cannot list Ingresses and IngressClasses from http:\/\/127\.0\.0\.1:\d+: .*403/);
    expect(r.stdout).toBe('');
  });
});
