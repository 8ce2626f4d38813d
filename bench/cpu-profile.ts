// cpu-profile.ts — where one Portico process spends its time under load: a V8 CPU profile
// (node --cpu-prof) of bench/portico-target.mjs (file mode, one route) proxying h2load's
// requests to the loopback upstream, read by bench/cpuprofile.ts.
//
// Steps: start the upstream and Portico (--cpu-prof); send --warmup requests (V8 optimises the
// request path), pause 1.5 s, send --requests requests, pause, stop Portico (SIGTERM) so that
// it writes the profile. The summary covers the measured load only: the busiest stretch
// between idle pauses.
//
// Prints: main-thread busy time per request, self time by kind of code (Portico's dist/,
// undici, Node's JavaScript, GC, native) and the top functions. Writes into --out (default a
// new directory under /tmp): the .cpuprofile (Chrome DevTools' Performance panel or
// speedscope.app open it as a flame chart) and portico.folded (flamegraph.pl / inferno:
// `flamegraph.pl portico.folded > flame.svg`).
//
// Sampling is wall-clock on the main thread: system calls count to the function that made
// them, V8's background threads are not seen. For instruction counts per function, compared
// with the minimal Node proxy, use PROFILE=1 bash bench/instructions.sh.
//
// Run: npm run build && node bench/cpu-profile.ts [--scenario ka|close|16k] [--requests 60000]
//      [--warmup 30000] [--connections 8] [--interval-us 250] [--top 30] [--out DIR]
// Needs h2load (Debian nghttp2-client); nginx optional. Loopback only; every wait is bounded;
// only processes started here are stopped.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { summarize, type CpuProfile } from './cpuprofile.ts';
import { freePort, get, sleep, startUpstream, stop } from './loopback.ts';

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'ka' },
    requests: { type: 'string', default: '60000' },
    warmup: { type: 'string', default: '30000' },
    connections: { type: 'string', default: '8' },
    'interval-us': { type: 'string', default: '250' },
    top: { type: 'string', default: '30' },
    out: { type: 'string' },
  },
});
const SCENARIO = values.scenario;
if (!['ka', 'close', '16k'].includes(SCENARIO)) throw new Error(`--scenario: "${SCENARIO}" is not ka, close or 16k`);
const REQUESTS = Math.max(1000, Math.min(1_000_000, Number(values.requests)));
const WARMUP = Math.max(0, Math.min(REQUESTS - 1, Number(values.warmup))); // the measured stretch must be the longer one
const CONNECTIONS = Math.max(1, Math.min(256, Number(values.connections)));
const INTERVAL_US = Math.max(50, Number(values['interval-us']));
const TOP = Math.max(1, Number(values.top));
const ROOT = new URL('..', import.meta.url).pathname;
const TARGET = path.join(ROOT, 'bench/portico-target.mjs');
const HOST = 'bench.local';

const out = values.out ?? mkdtempSync(path.join(tmpdir(), 'portico-cpu-profile-'));
mkdirSync(out, { recursive: true });

/** h2load: exactly `n` requests; throws unless every one got a 2xx. */
async function load(port: number, n: number): Promise<void> {
  const args = ['--h1', '-n', String(n), '-c', String(Math.min(CONNECTIONS, n)), '-m', '1', '-H', `:authority: ${HOST}`];
  if (SCENARIO === 'close') args.push('-H', 'Connection: close');
  args.push(`http://127.0.0.1:${port}${SCENARIO === '16k' ? '/16k' : '/'}`);
  const child = spawn('h2load', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr.on('data', (d: Buffer) => (text += d.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000 + n); // bounded: ~1 ms per request at worst
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', (err) => reject(new Error(`h2load did not start (${err.message}); install nghttp2-client`)));
    child.on('exit', resolve);
  });
  clearTimeout(killer);
  if (code !== 0 || !text.includes(`status codes: ${n} 2xx`)) throw new Error(`h2load ${SCENARIO} x${n} failed:\n${text.split('\n').slice(-8).join('\n')}`);
}

function gitHead(): string {
  try {
    const head = readFileSync(path.join(ROOT, '.git/HEAD'), 'utf8').trim();
    const ref = /^ref: (.+)$/.exec(head)?.[1];
    return (ref ? readFileSync(path.join(ROOT, '.git', ref), 'utf8').trim() : head).slice(0, 7);
  } catch {
    return 'unknown';
  }
}

const upstream = await startUpstream(out);
let portico: ChildProcess | null = null;
try {
  const port = await freePort();
  portico = spawn(
    process.execPath,
    ['--cpu-prof', '--cpu-prof-dir', out, '--cpu-prof-interval', String(INTERVAL_US), TARGET, '--shutdown-delay', '0s', '--shutdown-grace', '5s'],
    { env: { ...process.env, UPSTREAM: `127.0.0.1:${upstream.port}`, TARGET_PORT: String(port), ROUTE_HOST: HOST }, stdio: ['ignore', 'ignore', 'inherit'] },
  );
  let ready = false;
  for (let i = 0; i < 300 && !ready; i++) {
    ready = (await get(port, HOST)) === 200;
    if (!ready) await sleep(50);
  }
  if (!ready) throw new Error(`Portico did not answer 200 for Host ${HOST} on :${port} within 15 s`);
  if (WARMUP > 0) await load(port, WARMUP);
  await sleep(1500); // an idle gap the summary splits on
  const t0 = process.hrtime.bigint();
  await load(port, REQUESTS);
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  await sleep(1000);
  await stop(portico);

  const file = readdirSync(out).find((f) => f.endsWith('.cpuprofile'));
  if (file === undefined) throw new Error(`no .cpuprofile in ${out}: did Portico exit cleanly on SIGTERM?`);
  const profile = JSON.parse(readFileSync(path.join(out, file), 'utf8')) as CpuProfile;
  const s = summarize(profile);
  const folded = path.join(out, 'portico.folded');
  writeFileSync(folded, s.folded.join('\n') + '\n');

  const pct = (us: number) => ((100 * us) / s.busyUs).toFixed(1);
  const lines = [
    `CPU profile, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, HEAD ${gitHead()}, Node ${process.version}: ` +
      `${SCENARIO}, ${REQUESTS} requests over ${CONNECTIONS} connections after ${WARMUP} warm-up requests, upstream ${upstream.name}, sampled every ${INTERVAL_US} µs.`,
    '',
    `Measured: ${(REQUESTS / (wallMs / 1000)).toFixed(0)} req/s; main thread busy ${(s.busyUs / 1000).toFixed(0)} ms of ${((s.toUs - s.fromUs) / 1000).toFixed(0)} ms, ` +
      `${(s.busyUs / REQUESTS).toFixed(1)} µs per request.`,
    '',
    '| kind of code | self time | share |',
    '|---|---:|---:|',
    ...s.kinds.map((k) => `| ${k.kind} | ${(k.us / 1000).toFixed(0)} ms | ${pct(k.us)} % |`),
    '',
    `| function (top ${TOP} by self time) | kind | share |`,
    '|---|---|---:|',
    ...s.functions.slice(0, TOP).map((f) => `| \`${f.name}\` | ${f.kind} | ${pct(f.us)} % |`),
    '',
    `Profile: ${path.join(out, file)} (Chrome DevTools > Performance > Load profile, or speedscope.app)`,
    `Folded stacks: ${folded} (flamegraph.pl ${folded} > flame.svg)`,
  ];
  console.log(lines.join('\n'));
} finally {
  if (portico !== null) await stop(portico, 'SIGKILL').catch(() => {});
  await upstream.close();
}
