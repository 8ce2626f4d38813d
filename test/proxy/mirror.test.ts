// mirror-target through the proxy (proxy/mirror-client.ts, Proxy.mirrorCopy): the copy goes to
// the mirror with the rendered path, the mirror's Host and the body; the client's answer comes
// from the backend whatever the mirror does (slow, dead); streamed bodies are not copied.

import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { parseMirrorTarget, readMirrorOptions } from '../../src/model/mirror-options.ts';
import { MirrorClient } from '../../src/proxy/mirror-client.ts';
import type { Mirror } from '../../src/model/types.ts';
import { FakeEndpoints, refusedPort, request, startProxy, startUpstream, until, type Upstream } from './fixtures.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

interface Seen {
  method: string;
  url: string;
  host: string;
  body: string;
  headers: http.IncomingHttpHeaders;
}

async function recorder(hold = false): Promise<Upstream & { seen: Seen[] }> {
  const seen: Seen[] = [];
  const u = (await startUpstream((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', host: req.headers.host ?? '', body, headers: req.headers });
      if (!hold) res.end('mirror answer');
    });
  })) as Upstream & { seen: Seen[] };
  u.seen = seen;
  cleanups.push(() => u.close());
  return u;
}

describe('mirror-target options', () => {
  it('splits a literal origin from the path with request values; refuses values in the host', () => {
    expect(parseMirrorTarget('https://mirror.test:8443$request_uri')).toEqual({ origin: 'https://mirror.test:8443', path: [{ variable: 'request_uri' }] });
    expect(parseMirrorTarget('http://mirror.test/copy$uri?from=$host')).toEqual({ origin: 'http://mirror.test', path: ['/copy', { variable: 'uri' }, '?from=', { variable: 'host' }] });
    expect(parseMirrorTarget('http://mirror.test')).toEqual({ origin: 'http://mirror.test', path: [{ variable: 'request_uri' }] });
    expect(parseMirrorTarget('http://mirror.test$host/x')).toHaveProperty('invalid');
    expect(parseMirrorTarget('https://$host/x')).toHaveProperty('invalid');
    expect(parseMirrorTarget('ftp://mirror.test/')).toHaveProperty('invalid');
    const problems: string[] = [];
    const m = readMirrorOptions({ 'nginx.ingress.kubernetes.io/mirror-target': 'http://mirror.test:81$request_uri', 'nginx.ingress.kubernetes.io/mirror-request-body': 'maybe' }, (_r, msg) => problems.push(msg));
    expect(m).toEqual({ origin: 'http://mirror.test:81', path: [{ variable: 'request_uri' }], host: 'mirror.test', body: true });
    expect(problems).toEqual([expect.stringContaining('mirror-request-body')]);
  });
});

describe('mirroring through the proxy', () => {
  async function setup(mirror: Omit<Mirror, 'origin'> & { port: number }, settings = {}) {
    const backend = await recorder();
    const endpoints = new FakeEndpoints();
    endpoints.set('svc', [backend.port]);
    const { port, ...rest } = mirror;
    const p = await startProxy({ routes: [{ host: 'app.test', key: 'svc', filters: { mirror: { ...rest, origin: `http://127.0.0.1:${port}` } } }], endpoints, settings });
    cleanups.push(() => p.close());
    return { p, backend };
  }

  it('copies method, rendered path, headers with the mirror Host, and the body; the client gets the backend\'s answer', async () => {
    const m = await recorder();
    const { p, backend } = await setup({ port: m.port, path: ['/copy', { variable: 'request_uri' }], host: 'mirror.internal', body: true });
    const r = await request(p.port, { method: 'POST', path: '/orders?id=7', headers: { 'content-type': 'text/plain', 'x-team': 'blue' }, body: 'hello' });
    expect(r.status).toBe(200);
    await until(() => m.seen.length === 1, 3000, 'the copy to arrive');
    expect(m.seen[0]).toMatchObject({ method: 'POST', url: '/copy/orders?id=7', host: 'mirror.internal', body: 'hello' });
    expect(m.seen[0]!.headers['x-team']).toBe('blue');
    expect(m.seen[0]!.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(backend.seen).toHaveLength(1);
    expect(backend.seen[0]).toMatchObject({ url: '/orders?id=7', body: 'hello', host: 'app.test' });
  });

  it('mirror-request-body off: the copy has no body; a streamed body is not copied at all', async () => {
    const m = await recorder();
    const off = await setup({ port: m.port, path: [{ variable: 'request_uri' }], host: 'm', body: false });
    await request(off.p.port, { method: 'PUT', path: '/a', body: 'data' });
    await until(() => m.seen.length === 1, 3000, 'the copy to arrive');
    expect(m.seen[0]).toMatchObject({ method: 'PUT', url: '/a', body: '' });
    const on = await setup({ port: m.port, path: [{ variable: 'request_uri' }], host: 'm', body: true }, { clientBodyBufferSize: 4 });
    expect((await request(on.p.port, { method: 'PUT', path: '/big', body: 'more than four' })).status).toBe(200);
    expect((await request(on.p.port, { method: 'GET', path: '/after' })).status).toBe(200);
    await until(() => m.seen.length === 2, 3000, 'the copy of the GET');
    expect(m.seen.map((s) => s.url)).toEqual(['/a', '/after']);
  });

  it('a dead or silent mirror changes nothing for the client', async () => {
    const dead = await refusedPort();
    const { p } = await setup({ port: dead, path: [{ variable: 'request_uri' }], host: 'm', body: true });
    for (let i = 0; i < 3; i++) expect((await request(p.port, { path: `/x${i}` })).body.toString()).toBe('mirror answer');
    await until(() => p.proxy.mirrors!.counts.failed === 3, 3000, 'three failed copies');
    const silent = await recorder(true);
    const s = await setup({ port: silent.port, path: [{ variable: 'request_uri' }], host: 'm', body: true });
    for (let i = 0; i < 5; i++) expect((await request(s.p.port, { path: `/y${i}` })).status).toBe(200);
    await until(() => silent.seen.length === 5, 3000, 'five copies held by the mirror');
    expect(s.p.proxy.mirrors!.counts).toEqual({ sent: 0, failed: 0, dropped: 0 });
  });
});

describe('MirrorClient', () => {
  it('drops copies beyond its in-flight bound and counts them; a copy finishing frees its place', async () => {
    const silent = await recorder(true);
    const c = new MirrorClient({ maxInFlight: 2 });
    cleanups.push(() => c.close());
    const origin = `http://127.0.0.1:${silent.port}`;
    for (let i = 0; i < 3; i++) c.send(origin, `/c${i}`, 'GET', ['host', 'm'], null);
    expect(c.counts.dropped).toBe(1);
    await until(() => silent.seen.length === 2, 3000, 'two copies held');
    expect(silent.seen.map((s) => s.url)).toEqual(['/c0', '/c1']);
  });
});
