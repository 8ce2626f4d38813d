// ingress-nginx's rate and connection limits through the built program in file mode, over
// loopback sockets: limit-rpm/limit-rps with their burst (burst+1 accepted at once, the rest
// refused at once), counters per client address (X-Forwarded-For behind --trusted-proxies)
// and per Ingress, limit-allowlist, limit-connections released when the exchange ends (a
// WebSocket when its socket closes), and with --workers 2 the pod's one budget (the primary's
// request table), whichever worker a request reaches. The counts follow ingress-nginx's e2e tests
// (test/e2e/annotations/limitconnections.go: N ok, the rest 503).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { get, startNamedBackend, startPorticoProcess, waitFor, type PorticoProcess } from './harness.ts';
import { annotatedIngressYaml, INGRESS_CLASS_YAML, serviceYaml } from './manifests.ts';

const N = 'nginx.ingress.kubernetes.io/';
const P = 'portico.dev/';

/** One request on its own connection from client `ip` (X-Forwarded-For); resolves with the status. */
function request(port: number, host: string, ip: string, target = '/'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: target, agent: false, timeout: 10_000, headers: { host, 'x-forwarded-for': ip, connection: 'close' } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`request to ${host} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** `n` requests at once from `ip`: the statuses, and how long the whole volley took (ms). */
async function volley(port: number, host: string, ip: string, n: number): Promise<{ statuses: number[]; ms: number }> {
  const t0 = performance.now();
  const statuses = await Promise.all(Array.from({ length: n }, () => request(port, host, ip)));
  return { statuses, ms: performance.now() - t0 };
}

const count = (statuses: number[], status: number): number => statuses.filter((s) => s === status).length;

/** A backend that holds every request until release() (for limit-connections), and upgrades WebSockets. */
async function startHoldingBackend(): Promise<{ port: number; held: () => number; release(): void; close(): Promise<void> }> {
  let waiting: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    if (req.url === '/fast') {
      res.end('fast');
      return;
    }
    waiting.push(res);
  });
  const upgraded = new Set<net.Socket>();
  server.on('upgrade', (_req, socket: net.Socket) => {
    upgraded.add(socket);
    socket.on('close', () => upgraded.delete(socket));
    socket.on('end', () => socket.end()); // the client went away: close our side, as WebSocket servers do
    socket.on('error', () => {});
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    held: () => waiting.length,
    release() {
      for (const res of waiting) res.end('released');
      waiting = [];
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of upgraded) s.destroy();
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/** Opens a WebSocket upgrade from `ip`; resolves with the status and the socket (left open on 101). */
function openUpgrade(port: number, host: string, ip: string): Promise<{ status: number; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no answer to the upgrade request within 5 s'));
    }, 5000);
    socket.on('connect', () =>
      socket.write(
        `GET /ws HTTP/1.1\r\nHost: ${host}\r\nX-Forwarded-For: ${ip}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
      ),
    );
    socket.on('data', (c: Buffer) => {
      data += c.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(data);
      if (m) {
        clearTimeout(timer);
        socket.removeAllListeners('data');
        resolve({ status: Number(m[1]), socket });
      }
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

describe('rate and connection limits (built program, file mode)', () => {
  let dir: string;
  let app: Awaited<ReturnType<typeof startNamedBackend>>;
  let slow: Awaited<ReturnType<typeof startHoldingBackend>>;
  let portico: PorticoProcess;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'portico-e2e-ratelimit-'));
    app = await startNamedBackend('app');
    slow = await startHoldingBackend();
    const ing = (name: string, host: string, annotations: Record<string, string>, service = 'app'): string => annotatedIngressYaml({ name, host, annotations, paths: [{ path: '/', service }] });
    writeFileSync(
      path.join(dir, 'all.yaml'),
      [
        INGRESS_CLASS_YAML,
        serviceYaml('app', [app.port]),
        serviceYaml('slow', [slow.port]),
        // 6 per minute, burst 30: 31 at once, then one per 10 s (exact counts for a fast volley)
        ing('rpm', 'rpm.test', { [N + 'limit-rpm']: '6' }),
        ing('rpm-twin', 'twin.test', { [N + 'limit-rpm']: '6' }),
        // 1 per second, burst 2: 3 at once
        ing('rps', 'rps.test', { [P + 'limit-rps']: '1', [N + 'limit-burst-multiplier']: '2' }),
        ing('exempt', 'exempt.test', { [N + 'limit-rpm']: '1', [N + 'limit-whitelist']: '192.0.2.0/24, 2001:db8::/32' }),
        ing('conn', 'conn.test', { [N + 'limit-connections']: '2' }, 'slow'),
        ing('ws', 'ws.test', { [N + 'limit-connections']: '1' }, 'slow'),
      ].join('---\n'),
    );
    portico = await startPorticoProcess(['--manifests', dir, '--access-log', 'false', '--trusted-proxies', '127.0.0.1/32,::1/128']);
    await waitFor('readyz', async () => (await get(portico.healthPort, '/readyz')).status === 200, 10_000);
  });

  afterAll(async () => {
    await portico?.stop('SIGKILL');
    await app?.close();
    await slow?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('limit-rpm 6 (burst 30): 31 of 45 requests at once pass, 14 get 503; the backend sees only those 31', async () => {
    const before = app.hits;
    const { statuses, ms } = await volley(portico.httpPort, 'rpm.test', '198.51.100.1', 45);
    const leaked = Math.floor(ms / 10_000); // one more per 10 s the volley took
    expect(count(statuses, 200)).toBeGreaterThanOrEqual(31);
    expect(count(statuses, 200)).toBeLessThanOrEqual(31 + leaked);
    expect(count(statuses, 503)).toBe(45 - count(statuses, 200));
    expect(app.hits - before).toBe(count(statuses, 200));
  });

  it('counters are per client address (X-Forwarded-For behind --trusted-proxies) and per Ingress', async () => {
    // the client of the previous test is still refused; another client, and the same client on an
    // Ingress with identical annotations, each get a full burst
    expect(await request(portico.httpPort, 'rpm.test', '198.51.100.1')).toBe(503);
    const other = await volley(portico.httpPort, 'rpm.test', '198.51.100.2', 35);
    expect(count(other.statuses, 200)).toBeGreaterThanOrEqual(31);
    expect(count(other.statuses, 503)).toBeGreaterThanOrEqual(4 - Math.floor(other.ms / 10_000));
    const twin = await volley(portico.httpPort, 'twin.test', '198.51.100.1', 35);
    expect(count(twin.statuses, 200)).toBeGreaterThanOrEqual(31);
    expect(count(twin.statuses, 503)).toBeGreaterThanOrEqual(4 - Math.floor(twin.ms / 10_000));
  });

  it('limit-rps 1 with limit-burst-multiplier 2: 3 at once, then one per second', async () => {
    const { statuses, ms } = await volley(portico.httpPort, 'rps.test', '198.51.100.3', 10);
    expect(count(statuses, 200)).toBeGreaterThanOrEqual(3);
    expect(count(statuses, 200)).toBeLessThanOrEqual(3 + Math.floor(ms / 1000));
    expect(count(statuses, 503)).toBe(10 - count(statuses, 200));
    // refilled at one per second: a request passes again within a few seconds
    await waitFor('the bucket to refill', async () => (await request(portico.httpPort, 'rps.test', '198.51.100.3')) === 200, 5000, 250);
  });

  it('limit-whitelist: listed clients are never limited; others are', async () => {
    const listed = await volley(portico.httpPort, 'exempt.test', '192.0.2.9', 20);
    expect(count(listed.statuses, 200)).toBe(20);
    const listed6 = await volley(portico.httpPort, 'exempt.test', '2001:db8::9', 20);
    expect(count(listed6.statuses, 200)).toBe(20);
    const other = await volley(portico.httpPort, 'exempt.test', '198.51.100.4', 20);
    expect(count(other.statuses, 200)).toBe(6); // burst 5, +1; 1 per minute
    expect(count(other.statuses, 503)).toBe(14);
  });

  it('limit-connections 2: of 6 requests in progress at once 2 reach the backend, 4 get 503; finished requests free their slots', async () => {
    const answered: number[] = [];
    const pending = Array.from({ length: 6 }, () => request(portico.httpPort, 'conn.test', '198.51.100.5').then((s) => (answered.push(s), s)));
    // the refused ones are answered at once, while the others are still in progress
    await waitFor('two requests held by the backend and four answered', () => slow.held() === 2 && answered.length === 4, 5000);
    expect(answered).toEqual([503, 503, 503, 503]);
    // another client is not affected
    const other = request(portico.httpPort, 'conn.test', '198.51.100.6');
    await waitFor('the other client to reach the backend', () => slow.held() === 3, 5000);
    slow.release();
    const statuses = await Promise.all(pending);
    expect(count(statuses, 200)).toBe(2);
    expect(count(statuses, 503)).toBe(4);
    expect(await other).toBe(200);
    // slots given back: two at once again
    const again = Array.from({ length: 2 }, () => request(portico.httpPort, 'conn.test', '198.51.100.5'));
    await waitFor('two requests held again', () => slow.held() === 2, 5000);
    slow.release();
    expect(await Promise.all(again)).toEqual([200, 200]);
  });

  it('a WebSocket holds its connection slot until its socket closes', async () => {
    const ws = await openUpgrade(portico.httpPort, 'ws.test', '198.51.100.7');
    expect(ws.status).toBe(101);
    expect(await request(portico.httpPort, 'ws.test', '198.51.100.7', '/fast')).toBe(503);
    const second = await openUpgrade(portico.httpPort, 'ws.test', '198.51.100.7');
    expect(second.status).toBe(503);
    second.socket.destroy();
    ws.socket.destroy();
    await waitFor('the slot to be given back', async () => (await request(portico.httpPort, 'ws.test', '198.51.100.7', '/fast')) === 200, 5000, 50);
  });
});

describe('rate limits with --workers 2 (the pod\'s one budget, kept by the primary)', () => {
  let dir: string;
  let app: Awaited<ReturnType<typeof startNamedBackend>>;
  let held: Awaited<ReturnType<typeof startHoldingBackend>>;
  let portico: PorticoProcess;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'portico-e2e-ratelimit-workers-'));
    app = await startNamedBackend('app');
    held = await startHoldingBackend();
    writeFileSync(
      path.join(dir, 'all.yaml'),
      [
        INGRESS_CLASS_YAML,
        serviceYaml('app', [app.port]),
        serviceYaml('held', [held.port]),
        annotatedIngressYaml({ name: 'rpm', host: 'rpm.test', annotations: { [N + 'limit-rpm']: '6' }, paths: [{ path: '/', service: 'app' }] }),
        annotatedIngressYaml({ name: 'conn', host: 'conn.test', annotations: { [N + 'limit-connections']: '3' }, paths: [{ path: '/', service: 'held' }] }),
      ].join('---\n'),
    );
    // reuse-port: the kernel spreads the volley's connections over both workers
    portico = await startPorticoProcess(
      ['--manifests', dir, '--access-log', 'false', '--workers', '2', '--reuse-port', 'true', '--trusted-proxies', '127.0.0.1/32', '--limit-req-status-code', '429'],
      {},
      30_000,
    );
    await waitFor('readyz', async () => (await get(portico.healthPort, '/readyz')).status === 200, 20_000);
  });

  afterAll(async () => {
    await portico?.stop('SIGKILL');
    await app?.close();
    held?.release();
    await held?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('limit-connections 3 holds per pod: of 8 requests in progress at once, on connections spread over both workers, 3 reach the backend', async () => {
    const answered: number[] = [];
    const pending = Array.from({ length: 8 }, () => request(portico.httpPort, 'conn.test', '198.51.100.9').then((st) => (answered.push(st), st)));
    await waitFor('three requests held by the backend and five answered', () => held.held() === 3 && answered.length === 5, 10_000);
    expect(answered).toEqual([503, 503, 503, 503, 503]); // each worker's share alone would have let 2 + 2 through
    held.release();
    expect(count(await Promise.all(pending), 200)).toBe(3);
    // the slots came back
    const again = Array.from({ length: 3 }, () => request(portico.httpPort, 'conn.test', '198.51.100.9'));
    await waitFor('three requests held again', () => held.held() === 3, 10_000);
    held.release();
    expect(await Promise.all(again)).toEqual([200, 200, 200]);
  });

  it('the pod accepts exactly one budget from one client, over connections spread on both workers: 30 + 1 of 80; the rest get 429', async () => {
    const { statuses, ms } = await volley(portico.httpPort, 'rpm.test', '198.51.100.1', 80);
    const ok = count(statuses, 200);
    const leaked = Math.floor(ms / 10_000); // limit-rpm 6 leaks one per 10 s
    expect(ok).toBeGreaterThanOrEqual(31);
    expect(ok).toBeLessThanOrEqual(31 + leaked);
    expect(count(statuses, 429)).toBe(80 - ok);
  });

  it('a client on one keep-alive connection (one worker) gets the whole budget, not that worker\'s half', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const t0 = performance.now();
      const statuses: number[] = [];
      for (let i = 0; i < 40; i++) {
        statuses.push(
          await new Promise<number>((resolve, reject) => {
            const req = http.request({ host: '127.0.0.1', port: portico.httpPort, path: '/', agent, timeout: 10_000, headers: { host: 'rpm.test', 'x-forwarded-for': '198.51.100.2' } }, (res) => {
              res.resume();
              res.on('end', () => resolve(res.statusCode ?? 0));
            });
            req.on('timeout', () => req.destroy(new Error('timed out')));
            req.on('error', reject);
            req.end();
          }),
        );
      }
      const ok = count(statuses, 200);
      // with per-worker shares this was ceil(30/2) + 1 = 16
      expect(ok).toBeGreaterThanOrEqual(31);
      expect(ok).toBeLessThanOrEqual(31 + Math.floor((performance.now() - t0) / 10_000));
      expect(count(statuses, 429)).toBe(40 - ok);
    } finally {
      agent.destroy();
    }
  });
});
