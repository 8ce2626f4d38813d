// Capacity under abuse (issues #14 and #15): what an attack on one route costs the innocent
// clients of the same Portico. Each scenario starts the built program (dist/cli.js) in file
// mode, one process, and measures the latency (p50, p99, max) and statuses of probing clients
// first without an attack (the baseline of the same run), then during each attack:
//
//   basic       a basic-auth route (htpasswd: alice with bcrypt cost 10, bob with apr1). Probes:
//               the plain route, and alice and bob sending their right passwords (checked once,
//               then from the success cache). Attacks: `noauth` (requests without credentials,
//               answered 401 at once: what any flood of cheap requests costs, the control),
//               `bcrypt` (random wrong passwords for alice), `apr1` (random wrong passwords for bob).
//   dead-auth   auth-url to a loopback service that accepts and never answers (`hang`) and to a
//               closed port (`refused`). Attackers on both routes; their requests must get 500
//               within the auth deadline (5 s); the plain route must not notice more than it
//               notices the same rate of requests answered 401 at once (the control).
//   addresses   limit-rps 10 on a route; the attackers send one request each from --addresses
//               distinct client addresses (X-Forwarded-For from 127.0.0.1, a --trusted-proxies
//               peer) at --flood-rate per second. Reported: the plain route's latency against
//               the baseline and against the same rate of distinct addresses on the plain route
//               (the control), Portico's RSS and heap (after a full GC: bench/memory-probe.mjs)
//               before and after, and that a hot client sending as fast as it can is still held
//               to the limit (burst + rate × time).
//
// Attacks run in a worker thread (their own event loop, raw keep-alive sockets) paced at --rate
// requests per second over --attackers connections (0: as fast as answered); the probes in
// this thread. The upstream, the never-answering auth service and the probes are in this
// process. The machine's other load shows in every phase alike, so read the ratios to the
// baseline of the same run.
//
// Run (after npm run build; Node 24: node_modules/.bin/node bench/abuse.ts):
//   node bench/abuse.ts [--scenarios basic,dead-auth,addresses] [--seconds 6] [--attackers 100]
//     [--rate 2000] [--addresses 100000] [--flood-rate 3000] [--dead hang|refused] [--cli dist/cli.js]
// The default run takes about 2 minutes; --addresses 1000000 takes 5 more at 3000 per second
// (4000 per second and 200 attackers: 5 minutes). Loopback only; every wait is bounded; only
// processes started here are stopped. Benchmarks report, they never assert speed.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { freePort, sleep, stop, listeningPorts } from './loopback.ts';

// ---------------------------------------------------------------------------------------------
// The attacker (worker thread)

type AttackKind = 'noauth' | 'bcrypt' | 'apr1' | 'hang' | 'refused' | 'addresses' | 'addresses-plain';

interface AttackPlan {
  port: number;
  kind: AttackKind;
  conns: number;
  /** Requests per second over all connections; 0: each connection as fast as answered. */
  rate: number;
  /** Stop after this many requests (0: only when told). */
  total: number;
}

interface AttackResult {
  requests: number;
  statuses: Record<string, number>;
  p50: number;
  p99: number;
  max: number;
  seconds: number;
}

const REQUEST_TIMEOUT_MS = 15_000;

function addressOf(i: number): string {
  return `${10 + (i >>> 24)}.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`;
}

function requestOf(kind: AttackKind, i: number): string {
  const basic = (user: string): string => `Authorization: Basic ${Buffer.from(`${user}:${randomBytes(9).toString('base64')}`).toString('base64')}\r\n`;
  switch (kind) {
    case 'noauth':
      return `GET /x HTTP/1.1\r\nHost: basic.bench\r\n\r\n`;
    case 'bcrypt':
      return `GET /x HTTP/1.1\r\nHost: basic.bench\r\n${basic('alice')}\r\n`;
    case 'apr1':
      return `GET /x HTTP/1.1\r\nHost: basic.bench\r\n${basic('bob')}\r\n`;
    case 'hang':
      return `GET /x HTTP/1.1\r\nHost: hang.bench\r\n\r\n`;
    case 'refused':
      return `GET /x HTTP/1.1\r\nHost: refused.bench\r\n\r\n`;
    case 'addresses':
      return `GET /x HTTP/1.1\r\nHost: limited.bench\r\nX-Forwarded-For: ${addressOf(i)}\r\n\r\n`;
    case 'addresses-plain':
      return `GET /x HTTP/1.1\r\nHost: plain.bench\r\nX-Forwarded-For: ${addressOf(i)}\r\n\r\n`;
  }
}

/** One keep-alive connection's loop: send, read the whole response, wait for its turn, again. */
async function attack(plan: AttackPlan, stopped: () => boolean): Promise<AttackResult> {
  const statuses: Record<string, number> = {};
  const latencies: number[] = [];
  let sent = 0;
  const started = performance.now();
  const interval = plan.rate > 0 ? (1000 * plan.conns) / plan.rate : 0;
  const count = (s: string): void => {
    statuses[s] = (statuses[s] ?? 0) + 1;
  };

  const connection = async (c: number): Promise<void> => {
    let sock: net.Socket | null = null;
    let buf: Buffer = Buffer.alloc(0);
    let wake: (() => void) | null = null;
    let closed = true;
    const open = (): net.Socket => {
      const s = net.connect(plan.port, '127.0.0.1');
      s.setNoDelay(true);
      closed = false;
      buf = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
        wake?.();
      });
      s.on('error', () => {});
      s.on('close', () => {
        closed = true;
        wake?.();
      });
      return s;
    };
    // the next response in buf: its status, or 0 while incomplete
    const parse = (): number => {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return 0;
      const head = buf.subarray(0, end).toString('latin1');
      const status = Number(head.slice(9, 12));
      const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      let total: number;
      if (cl !== null) total = end + 4 + Number(cl[1]);
      else if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
        const z = buf.indexOf('0\r\n\r\n', end + 4);
        if (z < 0) return 0;
        total = z + 5;
      } else total = end + 4;
      if (buf.length < total) return 0;
      buf = buf.subarray(total);
      if (/\r\nconnection:\s*close/i.test(head)) closed = true;
      return status;
    };
    let next = started + (interval * c) / plan.conns;
    while (!stopped() && (plan.total === 0 || sent < plan.total)) {
      if (interval > 0) {
        const wait = next - performance.now();
        next = Math.max(next + interval, performance.now() - interval);
        if (wait > 0) await sleep(wait);
        if (stopped() || (plan.total !== 0 && sent >= plan.total)) break;
      }
      if (sock === null || closed) {
        sock?.destroy();
        sock = open();
      }
      const i = sent++;
      const t0 = performance.now();
      sock.write(requestOf(plan.kind, i));
      let status = 0;
      const deadline = t0 + REQUEST_TIMEOUT_MS;
      while ((status = parse()) === 0 && !closed && performance.now() < deadline) {
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 250).unref();
        });
        wake = null;
      }
      if (status === 0) status = parse();
      latencies.push(performance.now() - t0);
      if (status !== 0) count(String(status));
      else {
        count(closed ? 'closed' : 'timeout');
        closed = true;
      }
    }
    sock?.destroy();
  };
  await Promise.all(Array.from({ length: plan.conns }, (_, c) => connection(c)));
  latencies.sort((a, b) => a - b);
  const q = (p: number): number => (latencies.length === 0 ? 0 : latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!);
  return { requests: latencies.length, statuses, p50: q(0.5), p99: q(0.99), max: latencies.at(-1) ?? 0, seconds: (performance.now() - started) / 1000 };
}

if (!isMainThread) {
  let stopFlag = false;
  parentPort!.on('message', (m: string) => {
    if (m === 'stop') stopFlag = true;
  });
  const result = await attack(workerData as AttackPlan, () => stopFlag);
  parentPort!.postMessage(result);
}

/** Starts an attack in a worker; `finish()` stops it (or waits for its total) and reports. */
function startAttack(plan: AttackPlan): { finish(): Promise<AttackResult>; done: Promise<AttackResult> } {
  const w = new Worker(new URL(import.meta.url), { workerData: plan });
  const done = new Promise<AttackResult>((resolve, reject) => {
    w.once('message', (r: AttackResult) => resolve(r));
    w.once('error', reject);
    w.once('exit', (code) => reject(new Error(`attacker exited with code ${code}`)));
  });
  return {
    done,
    async finish() {
      w.postMessage('stop');
      const timer = setTimeout(() => void w.terminate(), REQUEST_TIMEOUT_MS + 5000);
      try {
        return await done;
      } finally {
        clearTimeout(timer);
        await w.terminate();
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The run (main thread)

// bcrypt cost 10 ($2y$ as `htpasswd -B` writes it) and apr1 (`htpasswd -m`), both of "secret"
const ALICE_BCRYPT = '$2y$10$EyUPUxSEDjCEmQtahEz.HuWnKvQKNxmNmkPAwIp8yXbaaMeve9u1S';
const BOB_APR1 = '$apr1$.BBLv/Tq$6ONJMxneMXITfKUCTeYxA.';
const N = 'nginx.ingress.kubernetes.io/';

function manifests(dir: string, upstream: number, hang: number, refused: number): string {
  const mdir = path.join(dir, 'manifests');
  mkdirSync(mdir, { recursive: true });
  const ingress = (name: string, annotations: Record<string, string>): string =>
    `apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: ${name}\n  namespace: bench\n  annotations: ${JSON.stringify(annotations)}\nspec:\n  ingressClassName: portico\n  rules: [{ host: ${name}.bench, http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: upstream, port: { number: 80 } } } }] } }]`;
  writeFileSync(
    path.join(mdir, 'bench.yaml'),
    [
      'apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: { name: portico }\nspec: { controller: portico.dev/ingress-controller }',
      'apiVersion: v1\nkind: Service\nmetadata: { name: upstream, namespace: bench }\nspec: { ports: [{ name: http, port: 80 }] }',
      `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: { name: upstream-1, namespace: bench, labels: { kubernetes.io/service-name: upstream } }\naddressType: IPv4\nports: [{ name: http, port: ${upstream} }]\nendpoints: [{ addresses: ["127.0.0.1"] }]`,
      `apiVersion: v1\nkind: Secret\nmetadata: { name: htpasswd, namespace: bench }\ntype: Opaque\ndata: { auth: ${Buffer.from(`alice:${ALICE_BCRYPT}\nbob:${BOB_APR1}\n`).toString('base64')} }`,
      ingress('plain', {}),
      ingress('basic', { [N + 'auth-type']: 'basic', [N + 'auth-secret']: 'htpasswd' }),
      ingress('hang', { [N + 'auth-url']: `http://127.0.0.1:${hang}/check` }),
      ingress('refused', { [N + 'auth-url']: `http://127.0.0.1:${refused}/check` }),
      ingress('limited', { [N + 'limit-rps']: '10' }),
    ].join('\n---\n') + '\n',
  );
  return mdir;
}

interface Portico {
  child: ChildProcess;
  http: number;
  health: number;
  probeDir: string;
}

async function startPortico(cli: string, mdir: string, probeDir: string): Promise<Portico> {
  const child = spawn(
    process.execPath,
    ['--expose-gc', '--import', new URL('./memory-probe.mjs', import.meta.url).pathname, cli, '--manifests', mdir, '--bind-address', '127.0.0.1', '--http-port', '0', '--https-port', '0', '--health-port', '0', '--access-log', 'false', '--workers', '0', '--shutdown-delay', '0s', '--shutdown-grace', '1s', '--trusted-proxies', '127.0.0.1/32'],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, PORTICO_MEMORY_PROBE_DIR: probeDir } },
  );
  const ports = listeningPorts(child);
  for (let i = 0; i < 600 && (ports.health === undefined || ports.http === undefined); i++) await sleep(50);
  if (ports.health === undefined || ports.http === undefined) throw new Error('Portico did not listen within 30 s');
  for (let i = 0; i < 600 && (await fetchText(ports.health, 'x', '/readyz')).status !== 200; i++) await sleep(50);
  if ((await fetchText(ports.http, 'plain.bench')).status !== 200) throw new Error('plain.bench does not route');
  return { child, http: ports.http, health: ports.health, probeDir };
}

/** GET with Host `host`: status and body, status 0 on error or after 10 s. */
function fetchText(port: number, host: string, p = '/', headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, headers: { host, ...headers }, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({ status: 0, body: '' }));
  });
}

/**
 * RSS of the process (MiB, /proc) and its V8 heap in use after a full GC (MiB): Portico runs
 * with bench/memory-probe.mjs preloaded, which answers SIGUSR2 with a line in `probeDir`.
 */
async function memoryOf(p: Portico): Promise<{ rss: number; heap: number }> {
  const file = path.join(p.probeDir, `${p.child.pid}.jsonl`);
  const lines = (): string[] => {
    try {
      return readFileSync(file, 'utf8').trim().split('\n').filter(Boolean);
    } catch {
      return [];
    }
  };
  const before = lines().length;
  p.child.kill('SIGUSR2');
  for (let i = 0; i < 200 && lines().length === before; i++) await sleep(50);
  const last = lines()[before];
  if (last === undefined) return { rss: NaN, heap: NaN };
  const m = JSON.parse(last) as { after: { rss: number; heapUsed: number } };
  return { rss: m.after.rss, heap: m.after.heapUsed };
}

interface Probe {
  latencies: number[];
  statuses: Record<string, number>;
}

interface ProbeSpec {
  host: string;
  headers?: Record<string, string>;
  /** Concurrent sequential clients. */
  loops: number;
  /** Pause between a client's requests (ms); 0: back to back. */
  pauseMs?: number;
}

/** `spec.loops` clients request / one after another until `until`; 10 s per request at most. */
async function probe(port: number, spec: ProbeSpec, until: number): Promise<Probe> {
  const p: Probe = { latencies: [], statuses: {} };
  const agent = new http.Agent({ keepAlive: true, maxSockets: spec.loops });
  const count = (s: string): void => {
    p.statuses[s] = (p.statuses[s] ?? 0) + 1;
  };
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const t = performance.now();
      const req = http.get({ host: '127.0.0.1', port, path: '/', headers: { host: spec.host, ...spec.headers }, agent, timeout: 10_000 }, (res) => {
        res.resume().on('end', () => {
          p.latencies.push(performance.now() - t);
          count(String(res.statusCode));
          resolve();
        });
      });
      req.on('timeout', () => {
        count('timeout');
        req.destroy();
      });
      req.on('error', () => resolve());
    });
  await Promise.all(
    Array.from({ length: spec.loops }, async () => {
      for (let i = 0; i < 10_000_000 && Date.now() < until; i++) {
        await one();
        if (spec.pauseMs) await sleep(spec.pauseMs);
      }
    }),
  );
  agent.destroy();
  p.latencies.sort((a, b) => a - b);
  return p;
}

function pct(sorted: readonly number[], q: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

const ms = (x: number): string => (Number.isNaN(x) ? '-' : x >= 100 ? x.toFixed(0) : x.toFixed(1));
const statusText = (s: Record<string, number>): string =>
  Object.entries(s)
    .sort()
    .map(([k, v]) => `${k}×${v}`)
    .join(' ') || '-';
const ratio = (a: number, b: number): string => (Number.isFinite(a / b) ? (a / b).toFixed(2) : '-');

const B64 = (s: string): string => Buffer.from(s).toString('base64');
const ALICE = { authorization: `Basic ${B64('alice:secret')}` };
const BOB = { authorization: `Basic ${B64('bob:secret')}` };

interface Args {
  seconds: number;
  attackers: number;
  rate: number;
  addresses: number;
  floodRate: number;
  /** dead-auth: 'hang' or 'refused' for that attack alone, '' for both. */
  dead: string;
}

/** Probes of one phase, all at once, while `attack` (if any) runs. */
async function phase(p: Portico, specs: ProbeSpec[], seconds: number): Promise<Probe[]> {
  const until = Date.now() + seconds * 1000;
  return Promise.all(specs.map((s) => probe(p.http, s, until)));
}

function probeCells(pr: Probe, base: Probe | null): string {
  const p99 = pct(pr.latencies, 0.99);
  return `${ms(pct(pr.latencies, 0.5))} | ${ms(p99)} | ${ms(pr.latencies.at(-1) ?? NaN)} | ${base === null ? '1.00' : ratio(p99, pct(base.latencies, 0.99))} | ${statusText(pr.statuses)}`;
}

async function scenarioBasic(p: Portico, a: Args): Promise<string[]> {
  const specs: ProbeSpec[] = [
    { host: 'plain.bench', loops: 2 },
    { host: 'basic.bench', headers: ALICE, loops: 1 },
    { host: 'basic.bench', headers: BOB, loops: 1 },
  ];
  // the legitimate users' first checks (bcrypt ~0.1 s), so the baseline measures the cached path
  for (const h of [ALICE, BOB]) if ((await fetchText(p.http, 'basic.bench', '/', h)).status !== 200) throw new Error('basic auth: the right password is refused');
  const rows: string[] = [];
  let base: Probe[] | null = null;
  for (const kind of ['baseline', 'noauth', 'bcrypt', 'apr1'] as const) {
    const atk = kind === 'baseline' ? null : startAttack({ port: p.http, kind, conns: a.attackers, rate: a.rate, total: 0 });
    if (atk !== null) await sleep(1000); // let the attack take its connections
    const pr = await phase(p, specs, a.seconds);
    const ar = atk === null ? null : await atk.finish();
    base ??= pr;
    const attackCell = ar === null ? '- | -' : `${(ar.requests / ar.seconds).toFixed(0)} | ${statusText(ar.statuses)}`;
    rows.push(`| ${kind} | ${probeCells(pr[0]!, base[0]!)} | ${ms(pct(pr[1]!.latencies, 0.99))} (${statusText(pr[1]!.statuses)}) | ${ms(pct(pr[2]!.latencies, 0.99))} (${statusText(pr[2]!.statuses)}) | ${attackCell} |`);
  }
  return [
    `### basic: wrong-password flood, ${a.attackers} connections at ${a.rate || 'max'} req/s, ${a.seconds} s per phase (ms; ratio = p99 ÷ baseline p99)`,
    '',
    '| attack | plain p50 | plain p99 | plain max | plain p99 ratio | plain statuses | alice (bcrypt, cached) p99 | bob (apr1, cached) p99 | attack req/s | attack statuses |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
  ];
}

async function scenarioDeadAuth(p: Portico, a: Args): Promise<string[]> {
  const specs: ProbeSpec[] = [{ host: 'plain.bench', loops: 2 }];
  const base = (await phase(p, specs, a.seconds))[0]!;
  // the control: the same rate of requests answered at once (401, no credentials)
  const ctl = startAttack({ port: p.http, kind: 'noauth', conns: a.attackers, rate: a.rate, total: 0 });
  await sleep(1000);
  const control = (await phase(p, specs, a.seconds))[0]!;
  const cr = await ctl.finish();
  const seconds = Math.max(a.seconds, 12); // a hung check takes the whole 5 s deadline
  const only = a.dead;
  const hang = startAttack({ port: p.http, kind: 'hang', conns: only === 'refused' ? 1 : a.attackers * 2, rate: 0, total: 0 });
  const refused = startAttack({ port: p.http, kind: 'refused', conns: only === 'hang' ? 1 : a.attackers, rate: only === 'hang' ? 1 : a.rate, total: 0 });
  await sleep(1000);
  const during = (await phase(p, specs, seconds))[0]!;
  const [hr, rr] = await Promise.all([hang.finish(), refused.finish()]);
  const route = (name: string, r: AttackResult): string => `| ${name} | ${ms(r.p50)} | ${ms(r.p99)} | ${ms(r.max)} | ${(r.requests / r.seconds).toFixed(0)} | ${statusText(r.statuses)} |`;
  return [
    `### dead-auth: auth-url to a service that never answers (${a.attackers * 2} connections) and to a closed port (${a.attackers} at ${a.rate || 'max'} req/s), ${seconds} s (ms)`,
    '',
    '| plain route | p50 | p99 | max | p99 ratio | statuses | p99 ratio to control |',
    '|---|---|---|---|---|---|---|',
    `| baseline | ${probeCells(base, null)} | - |`,
    `| control: ${(cr.requests / cr.seconds).toFixed(0)} req/s answered 401 at once | ${probeCells(control, base)} | - |`,
    `| during the attack | ${probeCells(during, base)} | ${ratio(pct(during.latencies, 0.99), pct(control.latencies, 0.99))} |`,
    '',
    '| attacked route | p50 | p99 | max | req/s | statuses |',
    '|---|---|---|---|---|---|',
    route('never answers', hr),
    route('refused', rr),
  ];
}

async function scenarioAddresses(p: Portico, a: Args): Promise<string[]> {
  const plain: ProbeSpec = { host: 'plain.bench', loops: 2 };
  // a legitimate client of the limited route (2 req/s, under its limit) and a hot one
  const polite: ProbeSpec = { host: 'limited.bench', headers: { 'x-forwarded-for': '192.0.2.1' }, loops: 1, pauseMs: 500 };
  const hot: ProbeSpec = { host: 'limited.bench', headers: { 'x-forwarded-for': '192.0.2.2' }, loops: 1 };
  const rows: string[] = [];
  const mem0 = await memoryOf(p);
  const [base] = await phase(p, [plain], a.seconds);
  rows.push(`| baseline | ${probeCells(base!, null)} | - | - | - |`);

  const ctl = startAttack({ port: p.http, kind: 'addresses-plain', conns: a.attackers / 2, rate: a.floodRate, total: 0 });
  await sleep(1000);
  const [ctlProbe] = await phase(p, [plain], a.seconds);
  const cr = await ctl.finish();
  rows.push(`| control: distinct addresses to the plain route | ${probeCells(ctlProbe!, base!)} | - | ${(cr.requests / cr.seconds).toFixed(0)} | ${statusText(cr.statuses)} |`);
  const mem1 = await memoryOf(p);

  const flood = startAttack({ port: p.http, kind: 'addresses', conns: a.attackers / 2, rate: a.floodRate, total: a.addresses });
  const t0 = Date.now();
  let finished = false;
  void flood.done.finally(() => (finished = true)).catch(() => {});
  const probes: Probe[] = [];
  const hotRuns: { probe: Probe; seconds: number }[] = [];
  let polite2: Probe | null = null;
  // probe in windows until the flood has sent every address (bounded: 10 minutes)
  while (!finished && Date.now() - t0 < 600_000) {
    const w0 = Date.now();
    const [pl, po, ho] = await phase(p, [plain, polite, hot], Math.min(a.seconds, 5));
    probes.push(pl!);
    polite2 = polite2 === null ? po! : { latencies: [...polite2.latencies, ...po!.latencies], statuses: merge(polite2.statuses, po!.statuses) };
    hotRuns.push({ probe: ho!, seconds: (Date.now() - w0) / 1000 });
  }
  const fr = await flood.finish(); // (the worker stays alive until told)
  const all: Probe = { latencies: probes.flatMap((x) => x.latencies).sort((x, y) => x - y), statuses: probes.reduce<Record<string, number>>((s, x) => merge(s, x.statuses), {}) };
  rows.push(`| ${fr.requests.toLocaleString('en')} distinct addresses to the limited route | ${probeCells(all, base!)} | ${ratio(pct(all.latencies, 0.99), pct(ctlProbe!.latencies, 0.99))} | ${(fr.requests / fr.seconds).toFixed(0)} | ${statusText(fr.statuses)} |`);
  const mem2 = await memoryOf(p);
  // the limit for the hot client: burst (10 × 5) + 1 at once, then 10 per second, per window
  // (each window after the first continues the same bucket, so only the rate applies there)
  const hotOk = hotRuns.reduce((s, r) => s + (r.probe.statuses['200'] ?? 0), 0);
  const hotSeconds = hotRuns.reduce((s, r) => s + r.seconds, 0);
  const hotAll = hotRuns.reduce<Record<string, number>>((s, r) => merge(s, r.probe.statuses), {});
  return [
    `### addresses: ${fr.requests.toLocaleString('en')} distinct client addresses against limit-rps 10 (${a.attackers / 2} connections at ${a.floodRate || 'max'} req/s; ${((Date.now() - t0) / 1000).toFixed(0)} s), control: the same rate to the plain route for ${a.seconds} s (ms)`,
    '',
    '| phase | plain p50 | plain p99 | plain max | p99 ratio to baseline | plain statuses | p99 ratio to control | flood req/s | flood statuses |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    '| Portico memory | RSS MiB | V8 heap used after a full GC, MiB |',
    '|---|---|---|',
    `| at start | ${mem0.rss.toFixed(0)} | ${mem0.heap.toFixed(0)} |`,
    `| after the control flood | ${mem1.rss.toFixed(0)} | ${mem1.heap.toFixed(0)} |`,
    `| after the distinct-address flood | ${mem2.rss.toFixed(0)} | ${mem2.heap.toFixed(0)} |`,
    '',
    `Hot client (one address, back to back, ${hotSeconds.toFixed(1)} s): ${statusText(hotAll)}; accepted ${hotOk}, the limit allows ${(51 + 10 * hotSeconds).toFixed(0)} (51 at once + 10/s). ` +
      `Polite client (2 req/s): p99 ${ms(pct(polite2?.latencies.sort((x, y) => x - y) ?? [], 0.99))} ms, ${statusText(polite2?.statuses ?? {})}.`,
  ];
}

function merge(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scenarios: { type: 'string', default: 'basic,dead-auth,addresses' },
      seconds: { type: 'string', default: '6' },
      attackers: { type: 'string', default: '100' },
      rate: { type: 'string', default: '2000' },
      addresses: { type: 'string', default: '100000' },
      'flood-rate': { type: 'string', default: '3000' },
      dead: { type: 'string', default: '' },
      cli: { type: 'string' },
    },
  });
  const args: Args = {
    seconds: Math.min(120, Math.max(1, Number(values.seconds))),
    attackers: Math.min(1000, Math.max(2, Number(values.attackers))),
    rate: Math.max(0, Number(values.rate)),
    addresses: Math.min(10_000_000, Math.max(1000, Number(values.addresses))),
    floodRate: Math.max(0, Number(values['flood-rate'])),
    dead: values.dead,
  };
  const cli = values.cli ?? new URL('../dist/cli.js', import.meta.url).pathname;
  const dir = mkdtempSync(path.join(tmpdir(), 'portico-bench-abuse-'));
  const upstream = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  upstream.keepAliveTimeout = 60_000;
  // accepts and never answers (connections closed only when the client gives up)
  const hanging = new Set<net.Socket>();
  const hang = net.createServer((s) => {
    hanging.add(s);
    s.on('error', () => {});
    s.on('close', () => hanging.delete(s));
    s.resume();
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  await new Promise<void>((r) => hang.listen(0, '127.0.0.1', () => r()));
  const refused = await freePort();
  const mdir = manifests(dir, (upstream.address() as net.AddressInfo).port, (hang.address() as net.AddressInfo).port, refused);
  const out: string[] = [];
  const t0 = Date.now();
  try {
    for (const name of values.scenarios.split(',')) {
      const run = { basic: scenarioBasic, 'dead-auth': scenarioDeadAuth, addresses: scenarioAddresses }[name];
      if (run === undefined) throw new Error(`unknown scenario ${name}`);
      const p = await startPortico(cli, mdir, dir);
      try {
        out.push(...(await run(p, args)), '');
      } finally {
        await stop(p.child);
      }
    }
  } finally {
    upstream.closeAllConnections();
    upstream.close();
    for (const s of hanging) s.destroy();
    hang.close();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`Portico ${cli}, ${new Date().toISOString()}, ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);
  console.log(out.join('\n'));
}

if (isMainThread) await main();
