// --default-backend-service and --custom-http-errors through the built program (file mode), as
// ingress-nginx's flag and ConfigMap key: requests for no known host go to that Service, and
// upstream answers with a listed status are replaced by its error page (X-Code and friends),
// on Ingresses without their own custom-http-errors.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { get, startPorticoProcess, waitFor, type PorticoProcess } from './harness.ts';
import { annotatedIngressYaml, INGRESS_CLASS_YAML, serviceYaml } from './manifests.ts';

async function listen(handler: http.RequestListener): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, port: (server.address() as AddressInfo).port };
}

describe('--default-backend-service and --custom-http-errors (built program, file mode)', () => {
  let dir: string;
  let pages: { server: http.Server; port: number };
  let app: { server: http.Server; port: number };
  let portico: PorticoProcess;
  const seen: { host: string; url: string; code: string }[] = [];

  beforeAll(async () => {
    // the default backend: an error page for X-Code, else a 404 page for unknown hosts
    pages = await listen((req, res) => {
      seen.push({ host: String(req.headers.host), url: String(req.url), code: String(req.headers['x-code'] ?? '') });
      const code = req.headers['x-code'];
      if (code === undefined) res.writeHead(404, { 'content-type': 'text/plain' }).end(`no such site: ${String(req.headers.host)}${String(req.url)}\n`);
      else res.writeHead(Number(code), { 'content-type': 'text/plain' }).end(`page for ${String(code)} of ${String(req.headers['x-original-uri'])} (${String(req.headers['x-ingress-name'])})\n`);
    });
    app = await listen((req, res) => {
      if (req.url === '/missing') res.writeHead(404).end('app says 404\n');
      else res.writeHead(200).end(`app ${String(req.url)}\n`);
    });
    dir = mkdtempSync(path.join(tmpdir(), 'portico-default-backend-'));
    writeFileSync(
      path.join(dir, 'all.yaml'),
      [
        INGRESS_CLASS_YAML,
        serviceYaml('pages', [pages.port]),
        serviceYaml('app', [app.port]),
        annotatedIngressYaml({ name: 'shop', host: 'shop.test', annotations: {}, paths: [{ path: '/', service: 'app' }] }),
        // its own codes: the 404 is relayed
        annotatedIngressYaml({ name: 'own', host: 'own.test', annotations: { 'nginx.ingress.kubernetes.io/custom-http-errors': '500' }, paths: [{ path: '/', service: 'app' }] }),
      ].join('---\n'),
    );
    portico = await startPorticoProcess(['--manifests', dir, '--default-backend-service', 'e2e/pages', '--custom-http-errors', '404,503']);
    await waitFor('readyz', async () => (await get(portico.healthPort, '/readyz')).status === 200, 10_000);
  });

  afterAll(async () => {
    await portico?.stop('SIGKILL');
    for (const s of [pages, app]) s?.server.closeAllConnections();
    await Promise.all([pages, app].map((s) => (s === undefined ? undefined : new Promise<void>((r) => s.server.close(() => r())))));
    rmSync(dir, { recursive: true, force: true });
  });

  it('a request for no known host goes to the default backend, as it came', async () => {
    const r = await get(portico.httpPort, '/anything?q=1', { host: 'unknown.test' });
    expect(r.status).toBe(404);
    expect(r.body).toBe('no such site: unknown.test/anything?q=1\n');
  });

  it('an upstream 404 on an Ingress without its own codes becomes the default backend\'s page; a 200 is untouched', async () => {
    const r = await get(portico.httpPort, '/missing', { host: 'shop.test' });
    expect(r.status).toBe(404);
    expect(r.body).toBe('page for 404 of /missing (shop)\n');
    expect(seen.at(-1)).toMatchObject({ code: '404' });
    expect((await get(portico.httpPort, '/fine', { host: 'shop.test' })).body).toBe('app /fine\n');
  });

  it('an Ingress with its own custom-http-errors keeps its codes: the 404 is relayed', async () => {
    const r = await get(portico.httpPort, '/missing', { host: 'own.test' });
    expect(r.status).toBe(404);
    expect(r.body).toBe('app says 404\n');
  });
});
