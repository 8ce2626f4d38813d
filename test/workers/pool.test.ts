// WorkerPool against stand-in workers (real node:cluster processes speaking the protocol).
import { afterEach, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import net, { type AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { Store } from '../../src/store/store.ts';
import type { Service } from '../../src/store/types.ts';
import { parseSettings } from '../../src/config/settings.ts';
import { silentLogger } from '../../src/observe/log.ts';
import { ACK_LAG_MS, WorkerPool } from '../../src/workers/pool.ts';
import { SNAPSHOT_PART_OBJECTS } from '../../src/workers/protocol.ts';
import { until } from './wait.ts';

const FAKE = fileURLToPath(new URL('./fixtures/fake-worker.mjs', import.meta.url));
const svc = (name: string, rv: string): Service => ({ metadata: { namespace: 'ns', name, resourceVersion: rv }, spec: { ports: [{ port: 80 }] } });

let pool: WorkerPool | undefined;
afterEach(async () => {
  delete process.env.FAKE_SILENT_INDEX;
  await pool?.drain(0, 1000);
  pool = undefined;
});

function makePool(store: Store, registry = new Registry(), args: string[] = ['--http-port', '0', '--https-port', '0', '--reuse-port', 'true']): WorkerPool {
  pool = new WorkerPool({
    count: 2,
    store,
    settings: parseSettings(['--manifests', '/nonexistent', '--bind-address', '127.0.0.1', ...args], {}).settings,
    logLevel: 'error',
    log: silentLogger,
    fallback: { certPem: '', keyPem: '' },
    acme: false,
    registry,
    exec: FAKE,
  });
  return pool;
}

describe('WorkerPool', () => {
  it('starts workers from a snapshot, tracks acks, drops a lagging worker from readiness', async () => {
    process.env.FAKE_SILENT_INDEX = '1';
    const store = new Store();
    store.upsert('Service', svc('a', '1'));
    const p = makePool(store);
    await p.start(10_000);
    expect(p.ready()).toBe(true);
    // port 0 with reuse-port: the first worker picked the ports (the stand-in: 4000x), the other was given them
    expect(p.listenPorts).toEqual({ http: 40000, https: 41000 });
    const { body } = await p.render();
    expect(body).toMatch(/^fake_http_port\{worker="0"\} 40000$/m);
    expect(body).toMatch(/^fake_http_port\{worker="1"\} 40000$/m);

    store.upsert('Service', svc('b', '1'));
    store.upsert('Service', svc('c', '1'));
    // Worker 0 acknowledges, worker 1 (silent) does not: fine within the lag, not after it.
    // Both hold the batch (a worker acknowledges before it answers the metrics request).
    await until('the batch reaches both workers', async () => {
      const { body } = await p.render();
      return /^fake_objects\{worker="0"\} 3$/m.test(body) && /^fake_objects\{worker="1"\} 3$/m.test(body);
    });
    expect(p.ready()).toBe(true);
    expect(p.ready(Date.now() + ACK_LAG_MS + 100)).toBe(false);
  });

  it('merges the workers\' metrics (data plane summed, control plane only from the primary)', async () => {
    const store = new Store();
    store.upsert('Service', svc('a', '1'));
    const p = makePool(store);
    await p.start(10_000);
    store.upsert('Service', svc('b', '1')); // one batch: both replicas then hold 2 objects
    let body = '';
    await until('the batch reaches both workers', async () => {
      body = (await p.render()).body;
      return /^fake_objects\{worker="0"\} 2$/m.test(body) && /^fake_objects\{worker="1"\} 2$/m.test(body);
    });
    expect(body).toMatch(/^portico_requests_total\{status="2xx"\} 10$/m);
    expect(body).not.toMatch(/^portico_config_reloads_total 100/m);
    expect(body).toMatch(/^fake_objects\{worker="0"\} 2$/m);
    expect(body).toMatch(/^fake_objects\{worker="1"\} 2$/m);
    expect(body).toMatch(/^portico_workers_ready 2$/m);
    expect(body).toMatch(/^portico_workers 2$/m);
    // process metrics per worker, not summed or averaged away
    expect(body).toMatch(/^process_cpu_user_seconds_total\{worker="0"\} 1\.5$/m);
    expect(body).toMatch(/^process_cpu_user_seconds_total\{worker="1"\} 2\.5$/m);
    expect(body).toMatch(/^nodejs_eventloop_lag_seconds\{worker="0"\} 0\.25$/m);
    expect(body).toMatch(/^nodejs_eventloop_lag_seconds\{worker="1"\} 0\.5$/m);
    // the snapshot and the batch reached both workers as bytes serialised once (summed: 2 + 2)
    expect(body).toMatch(/^fake_store_messages\{packed="yes"\} 4$/m);
    expect(body).toMatch(/^fake_store_messages\{packed="no"\} 0$/m);
  });

  it('sends a store larger than one snapshot part in parts; every worker gets all of it', async () => {
    const store = new Store();
    const count = SNAPSHOT_PART_OBJECTS * 2 + 1;
    for (let i = 0; i < count; i++) store.upsert('Service', svc(`s${i}`, '1'));
    const p = makePool(store);
    await p.start(10_000);
    const { body } = await p.render();
    expect(body).toMatch(new RegExp(`^fake_objects\\{worker="0"\\} ${count}$`, 'm'));
    expect(body).toMatch(new RegExp(`^fake_objects\\{worker="1"\\} ${count}$`, 'm'));
    expect(body).toMatch(/^fake_store_messages\{packed="yes"\} 6$/m); // 3 parts × 2 workers
  });

  it('with reuse-port, refuses a port that is in use before starting any worker', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen({ port: 0, host: '127.0.0.1', reusePort: true }, resolve));
    const port = (taken.address() as AddressInfo).port;
    try {
      const p = makePool(new Store(), new Registry(), ['--http-port', String(port), '--https-port', '0', '--reuse-port', 'true']);
      await expect(p.start(10_000)).rejects.toThrow(`cannot listen on 127.0.0.1:${port}: the port is in use`);
      expect(Object.keys((await import('node:cluster')).default.workers ?? {})).toHaveLength(0);
    } finally {
      taken.close();
    }
  });

  it('without reuse-port, every worker starts at once with the configured ports', async () => {
    const p = makePool(new Store(), new Registry(), ['--http-port', '0', '--https-port', '0', '--reuse-port', 'false']);
    await p.start(10_000);
    const { body } = await p.render();
    // each stand-in picked its own (node:cluster would have given both the one shared socket)
    expect(body).toMatch(/^fake_http_port\{worker="0"\} 40000$/m);
    expect(body).toMatch(/^fake_http_port\{worker="1"\} 40001$/m);
  });

  it('replaces a worker that dies; the replacement starts from a current snapshot', async () => {
    const store = new Store();
    const p = makePool(store);
    await p.start(10_000);
    // Find a worker process through node:cluster and kill it.
    const cluster = (await import('node:cluster')).default;
    const victim = Object.values(cluster.workers ?? {})[0]!;
    store.upsert('Service', svc('x', '1'));
    victim.process.kill('SIGKILL');
    await until('not ready', () => !p.ready());
    await until('ready again', () => p.ready(), 8000);
    const { body } = await p.render();
    expect(body).toMatch(/^fake_objects\{worker="0"\} 1$/m);
    expect(body).toMatch(/^fake_objects\{worker="1"\} 1$/m);
    expect(body).toMatch(/^portico_worker_restarts_total 1$/m);
  });
});
