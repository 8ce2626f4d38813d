// Issue #15 through the built program (file mode): routing on the normalised path, TRACE
// behind --allow-trace, the upstream connection cap and queue timeout from their flags, and
// bad values of the new flags stopping the program.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { CLI, get, startNamedBackend, startPorticoProcess, waitFor, type PorticoProcess } from './harness.ts';
import { annotatedIngressYaml, INGRESS_CLASS_YAML, serviceYaml } from './manifests.ts';
import { rawExchange } from '../test/proxy/fixtures.ts';

function ingress(): string {
  return (
    INGRESS_CLASS_YAML +
    '---\n' +
    annotatedIngressYaml({
      name: 'web',
      host: 'e2e.test',
      annotations: {},
      paths: [
        { path: '/admin', pathType: 'Exact', service: 'admin' },
        { path: '/public', service: 'pub' },
        { path: '/hold', service: 'slow' },
      ],
    })
  );
}


describe('hostile clients (built program)', () => {
  let dir: string;
  let admin: Awaited<ReturnType<typeof startNamedBackend>>;
  let pub: Awaited<ReturnType<typeof startNamedBackend>>;
  let slow: http.Server;
  const held: http.ServerResponse[] = [];
  const started: PorticoProcess[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'portico-hostile-e2e-'));
    admin = await startNamedBackend('admin');
    pub = await startNamedBackend('pub');
    slow = http.createServer((req, res) => (req.url === '/hold/quick' ? res.end('quick') : held.push(res)));
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', () => r()));
    mkdirSync(path.join(dir, 'manifests'));
    writeFileSync(
      path.join(dir, 'manifests', 'app.yaml'),
      [ingress(), serviceYaml('admin', [admin.port]), serviceYaml('pub', [pub.port]), serviceYaml('slow', [(slow.address() as AddressInfo).port])].join('---\n'),
    );
  });
  afterAll(async () => {
    await Promise.all(started.map((p) => p.stop('SIGKILL')));
    for (const r of held.splice(0)) r.destroy();
    slow?.closeAllConnections();
    slow?.close();
    await admin?.close();
    await pub?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(args: string[]): Promise<PorticoProcess> {
    const p = await startPorticoProcess(['--manifests', path.join(dir, 'manifests'), '--access-log', 'false', ...args]);
    started.push(p);
    await waitFor('readyz', async () => (await get(p.healthPort, '/readyz')).status === 200, 10_000);
    return p;
  }

  it('dot segments, escapes and double slashes reach the Exact /admin rule as /admin; `..;` is 400; TRACE is 405', async () => {
    const p = await start([]);
    for (const target of ['/public/../admin', '/public/%2e%2e/admin', '//admin', '/%61dmin']) {
      const r = await get(p.httpPort, target, { host: 'e2e.test' });
      expect(r.body, target).toBe('admin /admin\n');
    }
    expect((await get(p.httpPort, '/public/x/../y', { host: 'e2e.test' })).body).toBe('pub /public/y\n');
    // a servlet container reads `..;` as `..`: refused, never routed to /public
    for (const target of ['/public/..;/admin', '/public/%2e%2e;x/admin']) {
      const raw = await rawExchange(p.httpPort, `GET ${target} HTTP/1.1\r\nHost: e2e.test\r\nConnection: close\r\n\r\n`);
      expect(raw, target).toMatch(/^HTTP\/1\.1 400 /);
    }
    const trace = await rawExchange(p.httpPort, 'TRACE /public HTTP/1.1\r\nHost: e2e.test\r\nConnection: close\r\n\r\n');
    expect(trace).toMatch(/^HTTP\/1\.1 405 /);
  });

  it('--allow-trace true proxies TRACE; --max-connections-per-endpoint and --upstream-queue-timeout bound the wait (503)', async () => {
    const p = await start(['--allow-trace', 'true', '--max-connections-per-endpoint', '1', '--upstream-queue-timeout', '300ms']);
    const trace = await rawExchange(p.httpPort, 'TRACE /public HTTP/1.1\r\nHost: e2e.test\r\nConnection: close\r\n\r\n');
    expect(trace).toMatch(/^HTTP\/1\.1 200 /);
    const first = rawExchange(p.httpPort, 'GET /hold/1 HTTP/1.1\r\nHost: e2e.test\r\nConnection: close\r\n\r\n', 5000);
    await waitFor('the held request', () => held.length === 1, 5000);
    const t = Date.now();
    const second = await rawExchange(p.httpPort, 'GET /hold/2 HTTP/1.1\r\nHost: e2e.test\r\nConnection: close\r\n\r\n', 5000);
    expect(second).toMatch(/^HTTP\/1\.1 503 /);
    expect(Date.now() - t).toBeLessThan(3000);
    for (const r of held.splice(0)) r.end('released');
    expect(await first).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('uploads still streaming hold at most half of an endpoint\'s connections: a GET is answered while they hang', async () => {
    const p = await start(['--max-connections-per-endpoint', '2', '--upstream-queue-timeout', '500ms', '--client-body-timeout', '60s']);
    const before = held.length;
    const uploads: net.Socket[] = [];
    try {
      for (const name of ['u1', 'u2']) {
        const sock = net.connect(p.httpPort, '127.0.0.1');
        sock.on('error', () => {});
        sock.write(`POST /hold/${name} HTTP/1.1\r\nHost: e2e.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`);
        uploads.push(sock);
      }
      // one upload reaches the backend and holds its connection; the other waits for the upload share
      await waitFor('the first upload at the backend', () => held.length === before + 1, 5000);
      const quick = await rawExchange(p.httpPort, 'GET /hold/quick HTTP/1.1\r\nHost: e2e.test\r\nConnection: close\r\n\r\n', 5000);
      expect(quick).toMatch(/^HTTP\/1\.1 200 /);
      expect(quick).toContain('quick');
      expect(held.length).toBe(before + 1);
    } finally {
      for (const s of uploads) s.destroy();
      for (const r of held.splice(before)) r.destroy();
    }
  });

  it('bad values of the new flags stop the program (exit 2), naming the flag', () => {
    for (const [flag, value] of [
      ['--max-connections-per-endpoint', '0'],
      ['--client-body-buffer-size', 'lots'],
      ['--client-body-timeout', 'soon'],
      ['--upstream-queue-timeout', '-1s'],
      ['--allow-trace', 'yes'],
    ] as const) {
      const r = spawnSync(process.execPath, [CLI, '--manifests', path.join(dir, 'manifests'), flag, value], { encoding: 'utf8', timeout: 10_000 });
      expect(r.status, `${flag} ${value}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain(flag);
    }
  });
});
