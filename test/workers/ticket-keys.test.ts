// Shared TLS session ticket keys: the rotation timer (against stand-in workers), and real
// proxy workers (src/workers/worker-main.ts) resuming each other's sessions after a rotation
// and after a worker was replaced.
import { afterEach, describe, expect, it } from 'vitest';
import cluster from 'node:cluster';
import tls from 'node:tls';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { Store } from '../../src/store/store.ts';
import { parseSettings } from '../../src/config/settings.ts';
import { createLogger, silentLogger } from '../../src/observe/log.ts';
import { generateSelfSigned } from '../../src/tls/default-certificate.ts';
import { WorkerPool, type WorkerPoolOptions } from '../../src/workers/pool.ts';
import { TICKET_KEY_BYTES, TicketKeys, decodeTicketKeys, encodeTicketKeys } from '../../src/workers/ticket-keys.ts';
import { sleep, until } from './wait.ts';

const FAKE = fileURLToPath(new URL('./fixtures/fake-worker.mjs', import.meta.url));

let pool: WorkerPool | undefined;
afterEach(async () => {
  await pool?.drain(0, 1000);
  pool = undefined;
});

function makePool(opts: Partial<WorkerPoolOptions>): WorkerPool {
  pool = new WorkerPool({
    count: 2,
    store: new Store(),
    settings: parseSettings(['--manifests', '/nonexistent', '--bind-address', '127.0.0.1', '--http-port', '0', '--https-port', '0', '--access-log', 'false'], {}).settings,
    logLevel: 'error',
    log: silentLogger,
    fallback: { certPem: '', keyPem: '' },
    acme: false,
    registry: new Registry(),
    ...opts,
  });
  return pool;
}

/** The digest of the ticket keys each stand-in worker holds, by worker slot. */
async function fakeKeyDigests(p: WorkerPool): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const metrics of await p.workerMetrics()) {
    for (const m of metrics) {
      if (m.name !== 'fake_ticket_keys') continue;
      for (const v of m.values) out.set(String(v.labels.worker), String(v.labels.digest));
    }
  }
  return out;
}

describe('TicketKeys', () => {
  it('generates 48 random bytes and new ones on every rotation; they survive the channel', () => {
    const seen: Buffer[] = [];
    const keys = new TicketKeys({ onRotate: (k) => seen.push(k) });
    const first = keys.current;
    expect(first).toHaveLength(TICKET_KEY_BYTES);
    keys.rotate();
    expect(seen).toEqual([keys.current]);
    expect(keys.current.equals(first)).toBe(false);
    expect(decodeTicketKeys(JSON.parse(JSON.stringify(encodeTicketKeys(first))) as string).equals(first)).toBe(true);
    expect(() => decodeTicketKeys(Buffer.alloc(32).toString('base64'))).toThrow(/48 bytes, got 32/);
  });
});

describe('WorkerPool ticket keys (stand-in workers)', () => {
  it('sends the keys in init, rotates them on the interval, and a replacement gets the current ones', async () => {
    const lines: string[] = [];
    const p = makePool({ exec: FAKE, ticketKeyRotationMs: 300, log: createLogger('info', { write: (l) => void lines.push(l) }) });
    await p.start(10_000);
    const initial = await fakeKeyDigests(p);
    expect(initial.size).toBe(2);
    expect(new Set(initial.values()).size).toBe(1);
    const [before] = initial.values();
    await until('a rotation reaching both workers', async () => {
      const now = await fakeKeyDigests(p);
      return now.size === 2 && new Set(now.values()).size === 1 && !new Set(now.values()).has(before!);
    });
    // The key bytes are never logged (neither raw nor base64).
    expect(lines.some((l) => l.includes('TLS session ticket keys rotated'))).toBe(true);
    const victim = Object.values(cluster.workers ?? {})[0]!;
    victim.process.kill('SIGKILL');
    await until('not ready', () => !p.ready());
    await until('ready again', () => p.ready(), 8000);
    // Both (the replacement too) hold the same keys, whatever rotations happened meanwhile.
    await until('the same keys everywhere', async () => {
      const now = await fakeKeyDigests(p);
      return now.size === 2 && new Set(now.values()).size === 1;
    });
    expect(lines.join('')).not.toMatch(/"keys"|ticketKeys/);
  });
});

/** A new TLS connection without SNI; when no session is offered, waits for the one issued. */
async function connect(port: number, session?: Buffer): Promise<{ reused: boolean; session: Buffer | undefined }> {
  const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(session ? { session } : {}) });
  try {
    let issued: Buffer | undefined;
    // TLS 1.3: the tickets come after the handshake, as 'session' events.
    const gotSession = new Promise<void>((resolve) =>
      socket.on('session', (s: Buffer) => {
        issued ??= s;
        resolve();
      }),
    );
    await once(socket, 'secureConnect');
    const reused = socket.isSessionReused();
    if (!session) await Promise.race([gotSession, sleep(2000)]);
    return { reused, session: issued };
  } finally {
    socket.destroy();
  }
}

/** 20 new connections offering `session`, 4 at a time: whether each one resumed. */
async function resumeMany(port: number, session: Buffer): Promise<boolean[]> {
  const out: boolean[] = [];
  for (let batch = 0; batch < 5; batch++) out.push(...(await Promise.all(Array.from({ length: 4 }, async () => (await connect(port, session)).reused))));
  return out;
}

async function freshSession(port: number): Promise<Buffer> {
  const first = await connect(port);
  expect(first.reused).toBe(false);
  expect(first.session).toBeDefined();
  return first.session!;
}

describe('WorkerPool ticket keys (real workers)', () => {
  it('every worker resumes every session: from the start, after a rotation, after a replacement', async () => {
    const p = makePool({ fallback: await generateSelfSigned() });
    await p.start(20_000);
    const port = p.listenPorts.https;

    const s1 = await freshSession(port);
    expect(await resumeMany(port, s1)).toEqual(Array(20).fill(true));

    p.rotateTicketKeys();
    // Node keeps one key: the old tickets stop resuming once the workers have the new keys.
    await until('the old session refused everywhere', async () => (await resumeMany(port, s1)).every((r) => !r));
    const s2 = await freshSession(port);
    expect(await resumeMany(port, s2)).toEqual(Array(20).fill(true));

    // A replacement worker listens on the shared port after the rotation: node:cluster hands
    // it the first worker's (pre-rotation) keys, which it must replace with the current ones.
    Object.values(cluster.workers ?? {})[0]!.process.kill('SIGKILL');
    await until('not ready', () => !p.ready());
    await until('ready again', () => p.ready(), 15_000);
    const s3 = await freshSession(port);
    expect(await resumeMany(port, s3)).toEqual(Array(20).fill(true));
    const s4 = await freshSession(port);
    expect(await resumeMany(port, s4)).toEqual(Array(20).fill(true));
  }, 60_000);
});
