// Ingresses migrated from ingress-nginx, through the built program in file mode: what Portico
// cannot enforce fails closed (503, never an open route) and is reported; what it implements
// behaves as ingress-nginx's annotations do.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { get, startNamedBackend, startPorticoProcess, waitFor, type PorticoProcess } from './harness.ts';
import { annotatedIngressYaml, ingressYaml, serviceYaml } from './manifests.ts';

type Backend = Awaited<ReturnType<typeof startNamedBackend>>;
const N = 'nginx.ingress.kubernetes.io/';

/** Sends a WebSocket upgrade request and returns the status line's code. */
function upgradeStatus(port: number, host: string, target: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    let data = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('no answer to the upgrade request within 5 s'));
    }, 5000);
    sock.on('connect', () =>
      sock.write(
        `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
      ),
    );
    sock.on('data', (c: Buffer) => {
      data += c.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(data);
      if (m) {
        clearTimeout(timer);
        sock.destroy();
        resolve(Number(m[1]));
      }
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

describe('ingress-nginx annotations (built program, file mode)', () => {
  let dir: string;
  let app: Backend;
  let portico: PorticoProcess;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'portico-nginx-e2e-'));
    app = await startNamedBackend('app');
    writeFileSync(path.join(dir, 'services.yaml'), serviceYaml('app', [app.port]));
    writeFileSync(path.join(dir, 'class.yaml'), ingressYaml([{ path: '/', service: 'app' }]));
    writeFileSync(
      path.join(dir, 'guarded.yaml'),
      annotatedIngressYaml({
        name: 'guarded',
        host: 'guarded.test',
        annotations: { [N + 'whitelist-source-range']: '10.0.0.0/8', [N + 'auth-type']: 'basic', [N + 'auth-secret']: 'basic-auth' },
        paths: [{ path: '/', service: 'app' }],
      }),
    );
    portico = await startPorticoProcess(['--manifests', dir, '--access-log', 'false']);
    await waitFor('readyz', async () => (await get(portico.healthPort, '/readyz')).status === 200, 10_000);
  });

  afterAll(async () => {
    await portico?.stop('SIGKILL');
    await app?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('an Ingress with access controls Portico cannot enforce answers 503 and its backend sees nothing', async () => {
    const before = app.hits;
    const r = await get(portico.httpPort, '/admin', { host: 'guarded.test' });
    expect(r.status).toBe(503);
    expect(r.headers['x-request-id']).toBeTruthy();
    expect(r.body).toContain('access controls');
    expect(await upgradeStatus(portico.httpPort, 'guarded.test', '/ws')).toBe(503);
    expect(app.hits).toBe(before);
    // the Ingress next to it still routes
    expect((await get(portico.httpPort, '/x', { host: 'e2e.test' })).body).toBe('app /x\n');
    expect(app.hits).toBe(before + 1);
  });

  it('the problems are logged and counted by reason', async () => {
    // the per-reason gauge is refreshed at most once a second after a swap
    const metrics = await waitFor('problems in /metrics', async () => {
      const body = (await get(portico.healthPort, '/metrics')).body;
      return body.includes('portico_config_problems{reason=') ? body : '';
    });
    expect(metrics).toMatch(/portico_config_problems\{reason="AccessControlNotEnforced"\} 1/);
    expect(metrics).toMatch(/portico_config_problems\{reason="UnsupportedAnnotation"\} [1-9]/);
    await waitFor('a log line naming the annotation', () => portico.logs.some((l) => l.reason === 'UnsupportedAnnotation' && String(l.msg ?? l.message).includes(`${N}whitelist-source-range`)));
  });
});
