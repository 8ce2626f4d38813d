// The built program with --workers 2 in file mode: the primary reads the files and feeds two
// proxy workers; both serve, an edit reaches both, a killed worker is replaced while traffic
// flows, and SIGTERM drains everything and exits 0.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { get, listeningSockets, sleep, startNamedBackend, startPorticoProcess, waitFor, type PorticoProcess } from './harness.ts';
import { ingressYaml, serviceYaml, writeAtomically } from './manifests.ts';

type Backend = Awaited<ReturnType<typeof startNamedBackend>>;

function manifests(service: string, ports: Record<string, number>): string {
  return Object.entries(ports).map(([name, port]) => serviceYaml(name, [port]) + '---\n').join('') + ingressYaml([{ path: '/', service }]);
}

interface Outcome {
  status: number;
  body: string;
  /** Connection-level failures retried before the answer (refused, reset before a response). */
  retries: number;
}

/** One request on a new connection; connection errors only are retried (a few times). */
async function fresh(port: number, host = 'e2e.test', pathName = '/'): Promise<Outcome> {
  for (let retries = 0; ; retries++) {
    try {
      const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, path: pathName, agent: false, headers: { host, connection: 'close' }, timeout: 5000 }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', reject);
        req.end();
      });
      return { ...r, retries };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const connectionError = code === 'ECONNRESET' || code === 'ECONNREFUSED' || code === 'EPIPE' || /socket hang up/.test((err as Error).message);
      if (!connectionError || retries >= 5) throw err;
      await sleep(20);
    }
  }
}

/** Runs `count` fresh-connection requests, `concurrency` at a time. */
async function burst(port: number, count: number, concurrency = 8, pathName = '/'): Promise<Outcome[]> {
  const out: Outcome[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        next++;
        out.push(await fresh(port, 'e2e.test', pathName));
      }
    }),
  );
  return out;
}

function workerLogs(p: PorticoProcess, msg: string): Record<string, unknown>[] {
  return p.logs.filter((l) => l.msg === msg && l.component === 'workers');
}

interface AccessLine {
  worker: number;
  path: string;
  status: number;
  backend: string | null;
}

/** Access-log lines (stdout) from index `from` on. */
function accessLines(p: PorticoProcess, from = 0): AccessLine[] {
  return p.stdout
    .slice(from)
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as AccessLine);
}

/** Waits until `count` access-log lines from index `from` on are written, and returns them. */
async function accessLinesAtLeast(p: PorticoProcess, count: number, from = 0): Promise<AccessLine[]> {
  await waitFor('access log lines', () => accessLines(p, from).length >= count);
  return accessLines(p, from);
}

async function requestsTotal(healthPort: number): Promise<number> {
  const m = await get(healthPort, '/metrics');
  let sum = 0;
  for (const line of m.body.split('\n')) if (line.startsWith('portico_requests_total{')) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

async function readyz(p: PorticoProcess): Promise<number> {
  return (await get(p.healthPort, '/readyz', {}, 1000)).status;
}

describe('--workers 2 (built program, file mode)', () => {
  let dir: string;
  let a: Backend, b: Backend;
  let portico: PorticoProcess;
  let sent = 0;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'portico-e2e-workers-'));
    [a, b] = await Promise.all([startNamedBackend('a'), startNamedBackend('b')]);
    writeFileSync(path.join(dir, 'all.yaml'), manifests('svc-a', { 'svc-a': a.port, 'svc-b': b.port }));
    // reuse-port sockets here; e2e/workers-shared.test.ts runs the default shared socket
    portico = await startPorticoProcess(['--manifests', dir, '--workers', '2', '--reuse-port', 'true', '--access-log', 'true', '--shutdown-grace', '2s']);
  });

  afterAll(async () => {
    await portico?.stop('SIGKILL');
    await Promise.all([a?.close(), b?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('is ready only once both workers listen with the current store', async () => {
    await waitFor('readyz', async () => (await readyz(portico)) === 200, 10_000);
    expect(workerLogs(portico, 'worker ready')).toHaveLength(2);
    // The primary itself does not listen for traffic: only workers log http/https listeners.
    const listeners = portico.logs.filter((l) => l.msg === 'listening' && (l.listener === 'http' || l.listener === 'https'));
    expect(listeners.length).toBe(4);
    expect(listeners.every((l) => typeof l.worker === 'number')).toBe(true);
    expect(new Set(listeners.filter((l) => l.listener === 'http').map((l) => l.port)).size).toBe(1);
  });

  it('routes; both workers serve fresh connections; /metrics adds up the workers', async () => {
    const first = await fresh(portico.httpPort);
    expect(first.status).toBe(200);
    expect(first.body).toBe('a /\n');
    const results = await burst(portico.httpPort, 300, 16);
    sent += 301;
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
    const lines = await accessLinesAtLeast(portico, sent);
    expect(new Set(lines.map((l) => l.worker)).size).toBe(2);
    await waitFor('aggregated portico_requests_total', async () => (await requestsTotal(portico.healthPort)) === sent, 3000);
  });

  it('/metrics keeps each process\'s own process metrics apart: a worker label per worker and the primary', async () => {
    const body = (await get(portico.healthPort, '/metrics')).body;
    for (const worker of ['0', '1', 'primary']) {
      expect(body).toMatch(new RegExp(`^process_cpu_user_seconds_total\\{worker="${worker}"\\} `, 'm'));
      expect(body).toMatch(new RegExp(`^process_resident_memory_bytes\\{worker="${worker}"\\} [1-9]`, 'm'));
      expect(body).toMatch(new RegExp(`^nodejs_eventloop_lag_seconds\\{worker="${worker}"\\} `, 'm'));
    }
    // none summed into an unlabelled series
    expect(body).not.toMatch(/^process_cpu_user_seconds_total /m);
  });

  it('each worker listens on its own reuse-port socket; connections opened at once spread over both', async () => {
    expect(listeningSockets(portico.httpPort)).toBe(2);
    expect(listeningSockets(portico.httpsPort)).toBe(2);
    // 64 connections at once: with one shared socket the worker that wakes first takes most of
    // them (61 / 3 was seen); the kernel's reuse-port hash gives each about half (below 16 of 64
    // has a probability of about 1e-5)
    const mark = portico.stdout.length;
    const results = await burst(portico.httpPort, 64, 64);
    sent += 64;
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
    const lines = await accessLinesAtLeast(portico, 64, mark);
    const counts = [...new Set(lines.map((l) => l.worker))].map((w) => lines.filter((l) => l.worker === w).length);
    expect(counts, `connections per worker: ${counts.join(' / ')}`).toHaveLength(2);
    expect(Math.min(...counts)).toBeGreaterThanOrEqual(16);
  });

  it('a file edit reaches every worker within 1 s while traffic flows with zero errors', async () => {
    let stop = false;
    const during: Outcome[] = [];
    const traffic = (async () => {
      while (!stop) during.push(...(await burst(portico.httpPort, 8, 4)));
    })();
    await waitFor('traffic before the edit', () => during.length > 0, 5000);
    const applied = (worker: number) => portico.logs.filter((l) => l.msg === 'configuration applied' && l.worker === worker).length;
    const before = [applied(1), applied(2)];
    const t0 = Date.now();
    writeAtomically(path.join(dir, 'all.yaml'), manifests('svc-b', { 'svc-a': a.port, 'svc-b': b.port }));
    // each worker translates the change itself and logs when its new configuration is in use
    await waitFor('both workers to apply the edit', () => applied(1) > before[0]! && applied(2) > before[1]!, 3000);
    expect(Date.now() - t0).toBeLessThan(1000);
    // the background traffic stops first: a request of it dispatched before the edit applied
    // may finish (and be logged) after the mark, with the old backend
    stop = true;
    await traffic;
    // a path of their own: the access log is written in batches, so a line of the background
    // traffic may still come after the mark
    const mark = portico.stdout.length;
    const after = await burst(portico.httpPort, 60, 8, '/after');
    sent += during.length + after.length;
    expect(during.filter((r) => r.status !== 200)).toEqual([]);
    expect(after.filter((r) => r.body !== 'b /after\n')).toEqual([]);
    await waitFor('access log lines of the requests after the edit', () => accessLines(portico, mark).filter((l) => l.path === '/after').length >= after.length);
    const lines = accessLines(portico, mark).filter((l) => l.path === '/after');
    // Both workers answered from the new configuration.
    expect(new Set(lines.map((l) => l.worker)).size).toBe(2);
    expect(lines.every((l) => l.backend === 'e2e/svc-b:80' || l.backend?.startsWith('e2e/svc-b'))).toBe(true);
    await waitFor('readyz after the edit', async () => (await readyz(portico)) === 200, 2000);
  });

  it('a killed worker is replaced; traffic keeps flowing; ready again once it runs the current store', async () => {
    const victim = workerLogs(portico, 'worker ready')[0]!;
    const pid = Number(victim.pid);
    let stop = false;
    const during: Outcome[] = [];
    let sawUnready = false;
    const traffic = (async () => {
      while (!stop) during.push(...(await burst(portico.httpPort, 8, 4)));
    })();
    const probe = (async () => {
      while (!stop) {
        if ((await readyz(portico).catch(() => 0)) === 503) sawUnready = true;
        await sleep(10);
      }
    })();
    await waitFor('traffic before the kill', () => during.length > 0, 5000);
    process.kill(pid, 'SIGKILL');
    await waitFor('the replacement worker', () => workerLogs(portico, 'worker ready').length === 3, 10_000);
    await waitFor('readyz after the replacement', async () => (await readyz(portico)) === 200, 3000);
    stop = true;
    await Promise.all([traffic, probe]);
    sent += during.length;
    expect(workerLogs(portico, 'worker exited unexpectedly; replacing it').map((l) => l.pid)).toEqual([pid]);
    expect(sawUnready).toBe(true);
    // Requests either succeeded or hit the dying worker's connections and were retried.
    expect(during.filter((r) => r.status !== 200)).toEqual([]);
    // After the replacement: every new connection succeeds at the first attempt.
    const mark = portico.stdout.length;
    const after = await burst(portico.httpPort, 200, 16);
    sent += after.length;
    expect(after.filter((r) => r.status !== 200 || r.retries > 0)).toEqual([]);
    expect(after.every((r) => r.body === 'b /\n')).toBe(true);
    const replacement = Number(workerLogs(portico, 'worker ready')[2]!.worker);
    const lines = await accessLinesAtLeast(portico, after.length, mark);
    expect(lines.some((l) => l.worker === replacement)).toBe(true);
  });

  it('SIGTERM drains the workers and exits 0', async () => {
    const pids = workerLogs(portico, 'worker ready')
      .slice(1)
      .map((l) => Number(l.pid));
    const code = await portico.stop('SIGTERM');
    expect(code).toBe(0);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow();
    expect(workerLogs(portico, 'worker exited').length).toBe(2);
  });
});
