// ingress-nginx's default-backend and custom-http-errors on the proxy (RouteFilters.errors),
// through a real listener and loopback upstreams: where requests without endpoints go, which
// upstream answers are replaced, and what the error backend is sent.

import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { ErrorBackend } from '../../src/model/types.ts';
import { FakeEndpoints, request, startProxy, startUpstream, type RunningProxy, type Upstream } from './fixtures.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** An upstream answering `status` with `name`, recording what it received. */
async function upstream(name: string, status: number): Promise<Upstream & { seen: Seen[] }> {
  const seen: Seen[] = [];
  const u = await startUpstream((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      res.writeHead(status, { 'content-type': 'text/plain', 'x-from': name });
      res.end(`${name} ${status}`);
    });
  });
  cleanups.push(() => u.close());
  return Object.assign(u, { seen });
}

const ERRORS = (codes: number[]): ErrorBackend => ({ backend: { namespace: 'default', service: 'errors', servicePort: 80, endpointsKey: 'errors' }, codes });

async function proxy(appPorts: number[], errorPorts: number[], errors: ErrorBackend): Promise<RunningProxy> {
  const endpoints = new FakeEndpoints();
  endpoints.set('app', appPorts);
  endpoints.set('errors', errorPorts);
  const p = await startProxy({ routes: [{ host: 'app.test', key: 'app', service: 'web', name: 'shop', filters: { errors } }], endpoints });
  cleanups.push(() => p.close());
  return p;
}

describe('default-backend and custom-http-errors', () => {
  it('a Service without endpoints: the request goes to the default backend as sent, with X-Code: 503', async () => {
    const errs = await upstream('errors', 503);
    const p = await proxy([], [errs.port], ERRORS([]));
    const r = await request(p.port, { path: '/cart?id=1', headers: { accept: 'text/html' } });
    expect(r.status).toBe(503);
    expect(r.body.toString()).toBe('errors 503');
    expect(errs.seen).toHaveLength(1);
    expect(errs.seen[0]).toMatchObject({ method: 'GET', url: '/cart?id=1' });
    expect(errs.seen[0]!.headers).toMatchObject({ 'x-code': '503', 'x-format': 'text/html', 'x-namespace': 'default', 'x-ingress-name': 'shop', 'x-service-name': 'web', 'x-service-port': '80' });
    expect(p.infos[0]!.backend).toBe('errors');
  });

  it('without endpoints on either side: 503 from Portico', async () => {
    const p = await proxy([], [], ERRORS([]));
    expect((await request(p.port, {})).status).toBe(503);
  });

  it('a listed status is replaced by the default backend\'s answer for "/", with the X-* headers', async () => {
    const app = await upstream('app', 404);
    const errs = await upstream('errors', 404);
    const p = await proxy([app.port], [errs.port], ERRORS([404, 500]));
    const r = await request(p.port, { path: '/missing/page?q=1', headers: { accept: 'application/json' } });
    expect(r.status).toBe(404);
    expect(r.body.toString()).toBe('errors 404');
    expect(r.headers['x-from']).toBe('errors');
    expect(app.seen).toHaveLength(1);
    expect(errs.seen).toHaveLength(1);
    expect(errs.seen[0]).toMatchObject({ method: 'GET', url: '/' });
    expect(errs.seen[0]!.headers).toMatchObject({ 'x-code': '404', 'x-format': 'application/json', 'x-original-uri': '/missing/page?q=1', 'x-ingress-name': 'shop', 'x-service-name': 'web' });
    expect(errs.seen[0]!.headers['x-request-id']).toBe(app.seen[0]!.headers['x-request-id']);
  });

  it('the error backend\'s own listed status is relayed, never intercepted again', async () => {
    const app = await upstream('app', 500);
    const errs = await upstream('errors', 500);
    const p = await proxy([app.port], [errs.port], ERRORS([500]));
    const r = await request(p.port, {});
    expect(r.body.toString()).toBe('errors 500');
    expect(errs.seen).toHaveLength(1);
  });

  it('statuses not listed, and listed ones when the error backend has no endpoint, are relayed', async () => {
    const app = await upstream('app', 502);
    const errs = await upstream('errors', 200);
    const p = await proxy([app.port], [errs.port], ERRORS([404]));
    expect((await request(p.port, {})).body.toString()).toBe('app 502');
    const q = await proxy([app.port], [], ERRORS([502]));
    expect((await request(q.port, {})).body.toString()).toBe('app 502');
    expect(errs.seen).toHaveLength(0);
  });

  it('a small request body goes to the error backend again, with the method', async () => {
    const app = await upstream('app', 500);
    const errs = await upstream('errors', 500);
    const p = await proxy([app.port], [errs.port], ERRORS([500]));
    const r = await request(p.port, { method: 'POST', body: 'order=1' });
    expect(r.body.toString()).toBe('errors 500');
    expect(errs.seen[0]).toMatchObject({ method: 'POST', url: '/', body: 'order=1' });
  });
});
