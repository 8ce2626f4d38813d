// Upstream-side limits of a route through the built program (file mode): proxy-send-timeout
// (an upstream that accepts the connection and never reads the request body gets the route's
// send timeout, 504, not the client's body timeout) and proxy-buffer-size above 16 KiB (a larger
// response head passes on that route, and is a 502 on a route without it).

import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { get, startPorticoProcess, waitFor, type PorticoProcess } from './harness.ts';
import { annotatedIngressYaml, INGRESS_CLASS_YAML, serviceYaml } from './manifests.ts';

/** Sends a 64 MiB POST (more than loopback buffers hold) on a raw connection; resolves with the status line's code. */
function bigUpload(port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const size = 64 * 1024 * 1024;
    const sock = net.connect(port, '127.0.0.1');
    let got = '';
    const timer = setTimeout(() => (sock.destroy(), reject(new Error(`no answer within 20 s: ${JSON.stringify(got)}`))), 20_000);
    sock.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(got);
      if (m !== null) {
        clearTimeout(timer);
        sock.destroy();
        resolve(Number(m[1]));
      }
    });
    sock.on('error', () => {});
    sock.write(`POST /upload HTTP/1.1\r\nHost: ${host}\r\nContent-Length: ${size}\r\n\r\n`);
    sock.write(Buffer.alloc(size, 'z'));
  });
}

describe('upstream limits of a route (built program)', () => {
  let dir: string;
  let deaf: net.Server;
  let bigHead: http.Server;
  const conns: net.Socket[] = [];
  let portico: PorticoProcess;

  beforeAll(async () => {
    deaf = net.createServer((s) => {
      s.pause(); // never reads: its receive buffer fills and the proxy can send no more
      s.on('error', () => {});
      conns.push(s);
    });
    await new Promise<void>((r) => deaf.listen(0, '127.0.0.1', () => r()));
    const port = (deaf.address() as AddressInfo).port;
    // a backend whose response head is 20 KiB
    bigHead = http.createServer((_req, res) => {
      res.setHeader('x-big', 'x'.repeat(20 * 1024));
      res.end('big head');
    });
    await new Promise<void>((r) => bigHead.listen(0, '127.0.0.1', () => r()));
    const bigPort = (bigHead.address() as AddressInfo).port;
    dir = mkdtempSync(path.join(tmpdir(), 'portico-send-timeout-'));
    const annotations = { 'nginx.ingress.kubernetes.io/proxy-send-timeout': '1', 'nginx.ingress.kubernetes.io/proxy-body-size': '0' };
    writeFileSync(
      path.join(dir, 'app.yaml'),
      INGRESS_CLASS_YAML + '---\n' + serviceYaml('deaf', [port]) + '---\n' + annotatedIngressYaml({ name: 'upload', host: 'upload.test', annotations, paths: [{ path: '/', service: 'deaf' }] }),
    );
    writeFileSync(
      path.join(dir, 'heads.yaml'),
      serviceYaml('bighead', [bigPort]) +
        '---\n' +
        annotatedIngressYaml({ name: 'large-heads', host: 'large.test', annotations: { 'nginx.ingress.kubernetes.io/proxy-buffer-size': '32k' }, paths: [{ path: '/', service: 'bighead' }] }) +
        '---\n' +
        annotatedIngressYaml({ name: 'default-heads', host: 'default.test', annotations: {}, paths: [{ path: '/', service: 'bighead' }] }),
    );
    // the client's own limits far away: only the upstream's stall can end the upload
    portico = await startPorticoProcess(['--manifests', dir, '--access-log', 'false', '--client-body-timeout', '60s', '--send-timeout', '60s']);
    await waitFor('readyz', async () => (await get(portico.healthPort, '/readyz')).status === 200, 10_000);
  });

  afterAll(async () => {
    await portico?.stop('SIGKILL');
    for (const s of conns) s.destroy();
    await new Promise<void>((r) => deaf.close(() => r()));
    await new Promise<void>((r) => bigHead.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('an upload the upstream stops taking is answered 504 after the route\'s 1 s', async () => {
    const t = Date.now();
    expect(await bigUpload(portico.httpPort, 'upload.test')).toBe(504);
    // the route's second, not the 60 s of --send-timeout or --client-body-timeout
    expect(Date.now() - t).toBeLessThan(20_000);
  });

  it('proxy-buffer-size 32k: a 20 KiB response head passes; on a route without it, 502', async () => {
    const getHead = (host: string) =>
      new Promise<number>((resolve, reject) => {
        // the test's client needs a limit above Node's 16 KiB as well
        http.get({ host: '127.0.0.1', port: portico.httpPort, path: '/', headers: { host }, agent: false, maxHeaderSize: 128 * 1024 }, (res) => (res.resume(), resolve(res.statusCode ?? 0))).on('error', reject);
      });
    expect(await getHead('large.test')).toBe(200);
    expect(await getHead('default.test')).toBe(502);
  });
});
