// --use-proxy-protocol through the built program (file mode): the PROXY header's source is the
// client address that allow-lists check and the backend sees as X-Real-IP; a connection
// without a header is closed without an answer; the health port is not affected.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { get, startPorticoProcess, waitFor, type PorticoProcess } from './harness.ts';
import { annotatedIngressYaml, ingressYaml, serviceYaml } from './manifests.ts';

const N = 'nginx.ingress.kubernetes.io/';

/** Writes `data` on a fresh connection and collects everything until the server closes it. */
function exchange(port: number, data: string): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    let text = '';
    const t = setTimeout(() => {
      c.destroy();
      resolve({ text, closed: false });
    }, 5000);
    c.on('data', (d: Buffer) => (text += d.toString('latin1')));
    c.on('close', () => {
      clearTimeout(t);
      resolve({ text, closed: true });
    });
    c.on('error', () => {});
    c.write(data);
  });
}

describe('PROXY protocol (built program)', () => {
  let dir: string;
  let portico: PorticoProcess;
  let backend: http.Server;
  const realIps: string[] = [];

  beforeAll(async () => {
    backend = http.createServer((req, res) => {
      realIps.push(String(req.headers['x-real-ip']));
      res.end('ok');
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
    const port = (backend.address() as AddressInfo).port;
    dir = mkdtempSync(path.join(tmpdir(), 'portico-pp-e2e-'));
    writeFileSync(path.join(dir, 'services.yaml'), serviceYaml('app', [port]));
    writeFileSync(path.join(dir, 'class.yaml'), ingressYaml([{ path: '/', service: 'app' }]));
    writeFileSync(
      path.join(dir, 'lan.yaml'),
      annotatedIngressYaml({ name: 'office', host: 'office.test', annotations: { [N + 'whitelist-source-range']: '203.0.113.0/24' }, paths: [{ path: '/', service: 'app' }] }),
    );
    portico = await startPorticoProcess(['--manifests', dir, '--access-log', 'false', '--use-proxy-protocol', 'true']);
    await waitFor('readyz', async () => (await get(portico.healthPort, '/readyz')).status === 200, 10_000);
  });

  afterAll(async () => {
    await portico?.stop('SIGKILL');
    await new Promise<void>((r) => (backend ? (backend.closeAllConnections(), backend.close(() => r())) : r()));
    rmSync(dir, { recursive: true, force: true });
  });

  const request = (host: string): string => `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;

  it('the PROXY source is the client: allowed by the allow-list, sent upstream as X-Real-IP', async () => {
    const ok = await exchange(portico.httpPort, 'PROXY TCP4 203.0.113.7 127.0.0.1 51234 80\r\n' + request('office.test'));
    expect(ok.text).toMatch(/^HTTP\/1\.1 200/);
    expect(realIps).toEqual(['203.0.113.7']);
    const refused = await exchange(portico.httpPort, 'PROXY TCP4 198.51.100.1 127.0.0.1 51234 80\r\n' + request('office.test'));
    expect(refused.text).toMatch(/^HTTP\/1\.1 403/);
    expect(realIps).toHaveLength(1);
  });

  it('without a header the connection is closed unanswered; the health port needs none', async () => {
    expect(await exchange(portico.httpPort, request('e2e.test'))).toEqual({ text: '', closed: true });
    expect(await exchange(portico.httpsPort, 'not a PROXY header\r\n')).toEqual({ text: '', closed: true });
    expect((await get(portico.healthPort, '/healthz')).status).toBe(200);
  });
});
