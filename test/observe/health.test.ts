// The health server: /healthz, and /readyz with the checks that fail named in its body and
// every check as JSON with ?verbose.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createHealthServer, readinessOf, type ReadinessCheck } from '../../src/observe/health.ts';

const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise<void>((r) => s.close(() => r()));
});

async function serve(checks: () => ReadinessCheck[]): Promise<number> {
  const server = createHealthServer({ readiness: () => readinessOf(checks()) });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as AddressInfo).port;
}

function get(port: number, path: string): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
      })
      .on('error', reject);
  });
}

describe('health server', () => {
  it('/readyz: 200 "ready" when every check passes; 503 naming the failing ones otherwise', async () => {
    let checks: ReadinessCheck[] = [
      { name: 'sync', ok: true, message: '' },
      { name: 'workers', ok: true, message: '' },
    ];
    const port = await serve(() => checks);
    expect(await get(port, '/readyz')).toMatchObject({ status: 200, body: 'ready\n' });
    checks = [
      { name: 'sync', ok: false, message: 'not read in full yet: ingresses, services' },
      { name: 'workers', ok: false, message: 'worker 2 is not serving (starting or restarting)' },
      { name: 'shutdown', ok: true, message: '' },
    ];
    const r = await get(port, '/readyz');
    expect(r.status).toBe(503);
    expect(r.body).toBe('not ready: sync: not read in full yet: ingresses, services; workers: worker 2 is not serving (starting or restarting)\n');
    expect((await get(port, '/healthz')).status).toBe(200);
  });

  it('/readyz?verbose: every check as JSON, with the same status', async () => {
    const checks: ReadinessCheck[] = [
      { name: 'sync', ok: true, message: '' },
      { name: 'shutdown', ok: false, message: 'shutting down' },
    ];
    const port = await serve(() => checks);
    const r = await get(port, '/readyz?verbose');
    expect(r.status).toBe(503);
    expect(r.type).toBe('application/json');
    expect(JSON.parse(r.body)).toEqual({ ready: false, checks });
    expect((await get(port, '/readyz?verbose=1&x')).type).toBe('application/json');
    expect((await get(port, '/readyz?x')).type).toMatch(/^text\/plain/);
  });
});
