// Data-plane memory benchmark: RSS of each Portico process idle and under load, in one-process
// mode and with proxy workers. Portico runs in file mode with `--ingresses` routes to one
// upstream (Debian's nginx on loopback, started here; a small Node server if nginx is
// missing); wrk loads one route for `--seconds` while RSS is sampled every 250 ms. Prints a
// Markdown table: RSS idle after ready, the highest RSS during the load, RSS 5 s after it, and
// wrk's throughput.
// Run: node bench/memory.ts [--workers 0,2] [--seconds 10] [--connections 64] [--threads 2]
// [--ingresses 100] [--memory-detail] [--cli dist/cli.js]   (after `npm run build`).
// BENCH_NODE_ARGS adds node flags for Portico (and its workers, which inherit them), e.g.
// "--max-old-space-size=256 --max-semi-space-size=1" (what Node picks in a 512 MiB container).
// Loopback only; every wait is bounded; only processes started here are stopped.

import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { get, sleep, startUpstream, stop, listeningPorts } from './loopback.ts';
import { formatDetail, probeMemory, rssOf, waitForChildren, type MemoryDetail } from './procs.ts';

const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: '0,2' },
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '64' },
    threads: { type: 'string', default: '2' },
    ingresses: { type: 'string', default: '100' },
    'memory-detail': { type: 'boolean', default: false },
    cli: { type: 'string' },
  },
});
const MODES = values.workers.split(',').map(Number);
const SECONDS = Math.min(120, Number(values.seconds));
const INGRESSES = Math.max(1, Number(values.ingresses));
const CLI = values.cli ?? new URL('../dist/cli.js', import.meta.url).pathname;
const PROBE = new URL('./memory-probe.mjs', import.meta.url).pathname;
const NODE_ARGS = [...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean), ...(values['memory-detail'] ? ['--expose-gc', '--import', PROBE] : [])];

const dir = mkdtempSync(path.join(tmpdir(), 'portico-bench-mem-'));

function writeManifests(upstreamPort: number): string {
  const mdir = path.join(dir, 'manifests');
  const docs = [
    'apiVersion: networking.k8s.io/v1\nkind: IngressClass\nmetadata: { name: portico }\nspec: { controller: portico.dev/ingress-controller }',
    'apiVersion: v1\nkind: Service\nmetadata: { name: upstream, namespace: bench }\nspec: { ports: [{ name: http, port: 80 }] }',
    `apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: { name: upstream-1, namespace: bench, labels: { kubernetes.io/service-name: upstream } }\naddressType: IPv4\nports: [{ name: http, port: ${upstreamPort} }]\nendpoints: [{ addresses: ["127.0.0.1"] }]`,
  ];
  for (let i = 0; i < INGRESSES; i++) {
    docs.push(
      `apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: { name: ing-${i}, namespace: bench }\nspec:\n  ingressClassName: portico\n  rules: [{ host: h${i}.bench, http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: upstream, port: { number: 80 } } } }] } }]`,
    );
  }
  spawnSync('mkdir', ['-p', mdir]);
  writeFileSync(path.join(mdir, 'bench.yaml'), docs.join('\n---\n') + '\n');
  return mdir;
}

interface Row {
  mode: string;
  process: string;
  idle: number;
  peak: number;
  after: number;
  detailIdle: MemoryDetail | undefined;
  detailAfter: MemoryDetail | undefined;
}

async function runMode(workers: number, manifests: string): Promise<{ rows: Row[]; rps: string; errors: string }> {
  const child = spawn(
    process.execPath,
    [
      ...NODE_ARGS,
      CLI,
      '--manifests',
      manifests,
      '--bind-address',
      '127.0.0.1',
      '--http-port',
      '0',
      '--https-port',
      '0',
      '--health-port',
      '0',
      '--access-log',
      'false',
      '--log-level',
      'info',
      '--shutdown-delay',
      '0s',
      '--shutdown-grace',
      '2s',
      '--workers',
      String(workers),
    ],
    { env: { ...process.env, PORTICO_MEMORY_PROBE_DIR: dir }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const ports = listeningPorts(child);
  try {
    for (let i = 0; i < 600 && (ports.health === undefined || ports.http === undefined); i++) await sleep(50);
    for (let i = 0; i < 600 && (await get(ports.health!, 'x', '/readyz')) !== 200; i++) await sleep(50);
    if ((await get(ports.http!, 'h0.bench')) !== 200) throw new Error(`--workers ${workers}: h0.bench does not route`);
    const pids = [child.pid!, ...(workers > 0 ? await waitForChildren(child.pid!, workers) : [])];
    await sleep(3000);
    const idle = pids.map(rssOf);
    const detailIdle = values['memory-detail'] ? await probeMemory(dir, pids) : undefined;

    const peak = [...idle];
    const wrk = spawn('wrk', ['-t', values.threads, '-c', values.connections, '-d', `${SECONDS}s`, '-H', 'Host: h0.bench', `http://127.0.0.1:${ports.http}/`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    wrk.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const done = once(wrk, 'exit');
    const killer = setTimeout(() => wrk.kill('SIGKILL'), (SECONDS + 30) * 1000);
    let finished = false;
    void done.then(() => (finished = true));
    while (!finished) {
      pids.forEach((pid, i) => (peak[i] = Math.max(peak[i]!, rssOf(pid))));
      await sleep(250);
    }
    clearTimeout(killer);
    await sleep(5000);
    const after = pids.map(rssOf);
    const detailAfter = values['memory-detail'] ? await probeMemory(dir, pids) : undefined;
    const rps = /Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? '?';
    const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? '0';
    const sockErr = /Socket errors:([^\n]+)/.exec(out)?.[1]?.trim() ?? 'none';
    const mode = workers > 0 ? `--workers ${workers}` : 'one process';
    const rows = pids.map((pid, i) => ({
      mode,
      process: workers === 0 ? 'the process' : i === 0 ? 'primary' : `worker ${i}`,
      idle: idle[i]!,
      peak: peak[i]!,
      after: after[i]!,
      detailIdle: detailIdle?.get(pid),
      detailAfter: detailAfter?.get(pid),
    }));
    return { rows, rps: Number(rps).toFixed(0), errors: `non-2xx ${non2xx}, socket errors ${sockErr}` };
  } finally {
    await stop(child);
  }
}

const upstream = await startUpstream(dir);
try {
  const manifests = writeManifests(upstream.port);
  const results = [];
  for (const w of MODES) results.push(await runMode(w, manifests));
  console.log(
    `Data-plane memory: Portico in file mode, ${INGRESSES} Ingresses, wrk -t${values.threads} -c${values.connections} -d${SECONDS}s on one route, upstream ${upstream.name} (${new Date().toISOString().slice(0, 10)}, node ${process.version}${NODE_ARGS.length ? `, node flags ${NODE_ARGS.join(' ')}` : ''})\n`,
  );
  console.log('| mode | process | RSS idle (MiB) | RSS under load, max (MiB) | RSS 5 s after (MiB) |');
  console.log('|---|---|---:|---:|---:|');
  for (const r of results) for (const x of r.rows) console.log(`| ${x.mode} | ${x.process} | ${x.idle.toFixed(0)} | ${x.peak.toFixed(0)} | ${x.after.toFixed(0)} |`);
  console.log('\n| mode | requests/s | errors |');
  console.log('|---|---:|---|');
  for (const r of results) console.log(`| ${r.rows[0]!.mode} | ${r.rps} | ${r.errors} |`);
  if (values['memory-detail']) {
    console.log('\nMemory detail (MiB; heap after a full GC):\n');
    console.log('| mode | process | idle | 5 s after the load |');
    console.log('|---|---|---|---|');
    for (const r of results) for (const x of r.rows) console.log(`| ${x.mode} | ${x.process} | ${formatDetail(x.detailIdle)} | ${formatDetail(x.detailAfter)} |`);
  }
} finally {
  await upstream.close();
  rmSync(dir, { recursive: true, force: true });
}
