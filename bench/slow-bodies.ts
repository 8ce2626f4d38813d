// Slow request bodies against one backend (issue #15): while 300 HTTP/1.1 connections upload
// a body a byte every few seconds and two HTTP/2 connections hold 250 streams each with a
// stalled body, other clients GET from the same backend; their latency (p50, p99, max) and
// how many got 200, 503 or no answer within 10 s is reported, for each scenario:
//
//   legacy       --client-body-buffer-size 0 --upstream-queue-timeout 0 (streamed bodies, an
//                unbounded wait for a connection: the behaviour before issue #15)
//   defaults     the program's defaults (bodies up to 64k read before a connection is taken,
//                5 s queue timeout, 128 HTTP/2 streams, 32 uploading per connection)
//   large-body   defaults, but the slow bodies declare 512 KiB (above the buffer size), so
//                they do hold upstream connections: the queue timeout has to answer
//
// Portico is the built program (dist/cli.js) in file mode, one process; the backend is a
// Node server in this process. Run: node bench/slow-bodies.ts [--seconds 15]
// [--scenarios legacy,defaults,large-body] [--slow 300] [--streams 250] (after npm run build).
// Loopback only; every wait is bounded; only processes started here are stopped. Benchmarks
// report, they never assert speed.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { get, sleep, stop, listeningPorts } from './loopback.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '15' },
    scenarios: { type: 'string', default: 'legacy,defaults,large-body' },
    slow: { type: 'string', default: '300' },
    streams: { type: 'string', default: '250' },
    cli: { type: 'string' },
  },
});
const SECONDS = Math.min(120, Math.max(1, Number(values.seconds)));
const SLOW = Math.min(2000, Number(values.slow));
const STREAMS = Math.min(1000, Number(values.streams));
const CLI = values.cli ?? new URL('../dist/cli.js', import.meta.url).pathname;
const dir = mkdtempSync(path.join(tmpdir(), 'portico-bench-slow-'));

const SCENARIOS: Record<string, { args: string[]; bodySize: number }> = {
  legacy: { args: ['--client-body-buffer-size', '0', '--upstream-queue-timeout', '0'], bodySize: 1000 },
  defaults: { args: [], bodySize: 1000 },
  'large-body': { args: [], bodySize: 512 * 1024 },
};

function manifests(port: number): string {
  const mdir = path.join(dir, 'manifests');
  mkdirSync(mdir, { recursive: true });
  writeFileSync(
    path.join(mdir, 'bench.yaml'),
    [
      'apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: { name: portico }\nspec: { controller: portico.dev/ingress-controller }',
      'apiVersion: v1\nkind: Service\nmetadata: { name: upstream, namespace: bench }\nspec: { ports: [{ name: http, port: 80 }] }',
      `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: { name: upstream-1, namespace: bench, labels: { kubernetes.io/service-name: upstream } }\naddressType: IPv4\nports: [{ name: http, port: ${port} }]\nendpoints: [{ addresses: ["127.0.0.1"] }]`,
      'apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: { name: app, namespace: bench }\nspec:\n  ingressClassName: portico\n  rules: [{ host: app.bench, http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: upstream, port: { number: 80 } } } }] } }]',
    ].join('\n---\n') + '\n',
  );
  return mdir;
}

async function startPortico(mdir: string, args: string[]): Promise<{ child: ChildProcess; http: number; https: number }> {
  const child = spawn(
    process.execPath,
    [CLI, '--manifests', mdir, '--bind-address', '127.0.0.1', '--http-port', '0', '--https-port', '0', '--health-port', '0', '--access-log', 'false', '--workers', '0', '--shutdown-delay', '0s', '--shutdown-grace', '1s', ...args],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const ports = listeningPorts(child);
  for (let i = 0; i < 600 && (ports.health === undefined || ports.http === undefined || ports.https === undefined); i++) await sleep(50);
  for (let i = 0; i < 600 && (await get(ports.health!, 'x', '/readyz')) !== 200; i++) await sleep(50);
  if ((await get(ports.http!, 'app.bench')) !== 200) throw new Error('app.bench does not route');
  return { child, http: ports.http!, https: ports.https! };
}

/** 300 HTTP/1.1 uploads: the head, then one body byte every 2 s until stopped. */
function slowUploads(port: number, n: number, bodySize: number): { close(): void; answered: () => number } {
  const socks: net.Socket[] = [];
  let answered = 0;
  for (let i = 0; i < n; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    s.once('data', () => answered++);
    s.write(`POST /upload/${i} HTTP/1.1\r\nHost: app.bench\r\nContent-Length: ${bodySize}\r\n\r\nx`);
    socks.push(s);
  }
  const timer = setInterval(() => {
    for (const s of socks) if (!s.destroyed) s.write('x');
  }, 2000);
  return {
    close() {
      clearInterval(timer);
      for (const s of socks) s.destroy();
    },
    answered: () => answered,
  };
}

/** Two HTTP/2 connections, `streams` POST streams each, one body byte sent, then nothing. */
function stalledStreams(port: number, streams: number, bodySize: number): { close(): void; opened: () => number; refused: () => number } {
  const sessions: http2.ClientHttp2Session[] = [];
  let opened = 0;
  let refused = 0;
  for (let c = 0; c < 2; c++) {
    const session = http2.connect(`https://127.0.0.1:${port}`, { rejectUnauthorized: false, servername: 'app.bench' });
    session.on('error', () => {});
    for (let i = 0; i < streams; i++) {
      try {
        const st = session.request({ ':method': 'POST', ':path': `/h2/${c}/${i}`, ':authority': 'app.bench', 'content-length': String(bodySize) }, { endStream: false });
        st.on('error', () => {});
        st.once('ready', () => opened++);
        st.once('close', () => {
          if (st.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM) refused++;
        });
        st.write('x');
      } catch {
        /* out of streams */
      }
    }
    sessions.push(session);
  }
  return {
    close() {
      for (const s of sessions) s.destroy();
    },
    opened: () => opened,
    refused: () => refused,
  };
}

interface Probe {
  latencies: number[];
  ok: number;
  busy: number;
  other: number;
  timeouts: number;
}

/** `loops` clients GET / one after another until `until`; 10 s per request at most. */
async function probeClients(port: number, until: number, loops: number): Promise<Probe> {
  const p: Probe = { latencies: [], ok: 0, busy: 0, other: 0, timeouts: 0 };
  const agent = new http.Agent({ keepAlive: true, maxSockets: loops });
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const t = performance.now();
      const req = http.get({ host: '127.0.0.1', port, path: '/', headers: { host: 'app.bench' }, agent, timeout: 10_000 }, (res) => {
        res.resume().on('end', () => {
          p.latencies.push(performance.now() - t);
          if (res.statusCode === 200) p.ok++;
          else if (res.statusCode === 503) p.busy++;
          else p.other++;
          resolve();
        });
      });
      req.on('timeout', () => {
        p.timeouts++;
        req.destroy();
      });
      req.on('error', () => resolve());
    });
  await Promise.all(
    Array.from({ length: loops }, async () => {
      for (let i = 0; i < 1_000_000 && Date.now() < until; i++) await one();
    }),
  );
  agent.destroy();
  return p;
}

function pct(sorted: number[], q: number): string {
  if (sorted.length === 0) return '-';
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(1);
}

async function main(): Promise<void> {
  let upstreamConns = 0;
  let maxOpen = 0;
  let open = 0;
  const upstream = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  upstream.on('connection', (s) => {
    upstreamConns++;
    open++;
    maxOpen = Math.max(maxOpen, open);
    s.on('close', () => open--);
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const mdir = manifests((upstream.address() as net.AddressInfo).port);
  const rows: string[] = [];
  try {
    for (const name of values.scenarios.split(',')) {
      const sc = SCENARIOS[name];
      if (sc === undefined) throw new Error(`unknown scenario ${name}`);
      const p = await startPortico(mdir, sc.args);
      upstreamConns = 0;
      maxOpen = open;
      try {
        const baseline = await probeClients(p.http, Date.now() + 2000, 4);
        const h1 = slowUploads(p.http, SLOW, sc.bodySize);
        const h2 = stalledStreams(p.https, STREAMS, sc.bodySize);
        await sleep(2000); // let the attack take its connections
        const probe = await probeClients(p.http, Date.now() + SECONDS * 1000, 4);
        const sorted = probe.latencies.sort((a, b) => a - b);
        const base = baseline.latencies.sort((a, b) => a - b);
        rows.push(
          `| ${name} | ${pct(base, 0.99)} | ${pct(sorted, 0.5)} | ${pct(sorted, 0.99)} | ${sorted.length ? sorted.at(-1)!.toFixed(0) : '-'} | ${probe.ok} | ${probe.busy} | ${probe.other} | ${probe.timeouts} | ${maxOpen} | ${h2.opened()} / ${h2.refused()} |`,
        );
        h1.close();
        h2.close();
      } finally {
        await stop(p.child);
      }
    }
  } finally {
    upstream.closeAllConnections();
    upstream.close();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`${SLOW} slow HTTP/1.1 uploads + 2×${STREAMS} stalled HTTP/2 streams, 4 probing clients for ${SECONDS} s (latencies in ms)\n`);
  console.log('| scenario | p99 before attack | p50 | p99 | max | 200 | 503 | other | no answer in 10 s | upstream conns open (max) | h2 streams opened / refused |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
}

await main();
