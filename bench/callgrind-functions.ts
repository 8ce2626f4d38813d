// callgrind-functions.ts — where a proxy's instructions go, per function, and what differs
// between two profiles (e.g. node24 and Portico, or Portico before and after a change).
//
// Input: callgrind dumps as bench/instructions.sh keeps them (KEEP_TMP=1, one file per window
// and thread), each optionally with the V8 perf map of its process (PROFILE=1 in
// instructions.sh runs node with --perf-basic-prof: /tmp/perf-<pid>.map names the addresses of
// V8's compiled JavaScript, which callgrind only knows as hex addresses). Without a map every
// JIT address counts as "JIT".
//
// Output: per function, self instructions and calls per request (dump total ÷ --requests), and
// with two dumps the difference, largest first; then totals by kind (our code in dist/, undici,
// Node's JavaScript, V8 builtins, inline caches, regular expressions, C++).
//
// Usage: node bench/callgrind-functions.ts [--requests 1000] [--top 40] A.cg[=A.map] [B.cg[=B.map]]

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface Profile {
  self: Map<string, number>;
  calls: Map<string, number>;
}

/** A perf map (start size name per line) as a lookup: the last code object covering an address. */
function perfMap(path: string): (addr: number) => string {
  const byStart = new Map<number, { size: number; name: string }>();
  for (const line of readFileSync(path, 'latin1').split('\n')) {
    const a = line.indexOf(' ');
    const b = line.indexOf(' ', a + 1);
    if (a <= 0 || b <= a) continue;
    const start = parseInt(line.slice(0, a), 16);
    const size = parseInt(line.slice(a + 1, b), 16);
    if (Number.isFinite(start) && Number.isFinite(size)) byStart.set(start, { size, name: line.slice(b + 1) });
  }
  const starts = [...byStart.keys()].sort((x, y) => x - y);
  return (addr) => {
    // binary search for the last start <= addr, then walk back over nearby overlapping entries
    let lo = 0;
    let hi = starts.length - 1;
    let at = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (starts[mid]! <= addr) {
        at = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    for (let i = at; i >= 0 && addr - starts[i]! < 1 << 20; i--) {
      const e = byStart.get(starts[i]!)!;
      if (addr < starts[i]! + e.size) return e.name;
    }
    return 'JIT (unmapped)';
  };
}

/** One function name as reported: JIT addresses resolved, install paths and tier marks dropped. */
function display(raw: string, resolve: ((addr: number) => string) | null): string {
  if (!raw.startsWith('0x')) return raw;
  if (resolve === null) return 'JIT';
  return resolve(parseInt(raw.split("'")[0]!, 16))
    .replace(/\S*\/node_modules\/undici\//, 'undici/')
    .replace(/^JS:[*~^+]?/, 'JS:');
}

function load(path: string, mapPath: string | undefined): Profile {
  const resolve = mapPath === undefined ? null : perfMap(mapPath);
  const names = new Map<string, string>();
  const self = new Map<string, number>();
  const calls = new Map<string, number>();
  // callgrind's name compression: "(id) name" the first time, "(id)" after
  const nameOf = (tok: string): string => {
    const m = /^\((\d+)\)(?: (.*))?$/.exec(tok.trim());
    if (m === null) return display(tok.trim(), resolve);
    if (m[2] !== undefined) names.set(m[1]!, display(m[2], resolve));
    return names.get(m[1]!) ?? '?';
  };
  let fn = '?';
  let callee = '?';
  let costOfCall = false;
  for (const line of readFileSync(path, 'latin1').split('\n')) {
    if (line.startsWith('fn=')) {
      fn = nameOf(line.slice(3));
      costOfCall = false;
    } else if (line.startsWith('cfn=')) callee = nameOf(line.slice(4));
    else if (line.startsWith('calls=')) {
      calls.set(callee, (calls.get(callee) ?? 0) + Number(line.slice(6).split(' ')[0]));
      costOfCall = true; // the next cost line is the call's inclusive cost, not fn's own
    } else if (/^[0-9+*-]/.test(line)) {
      if (costOfCall) {
        costOfCall = false;
        continue;
      }
      const ir = Number(line.split(' ')[1] ?? 0);
      if (ir > 0) self.set(fn, (self.get(fn) ?? 0) + ir);
    }
  }
  return { self, calls };
}

function kind(name: string): string {
  if (name.includes('/dist/') || name.includes('node-ceiling')) return 'proxy code (dist/, node-ceiling)';
  if (name.startsWith('JS:') && name.includes('undici/')) return 'undici';
  if (name.startsWith('JS:') && name.includes('node:')) return "Node's JavaScript";
  if (name.startsWith('JS:')) return 'other JavaScript';
  if (name.startsWith('RegExp')) return 'regular expressions';
  if (name.startsWith('Builtins_') && name.includes('IC')) return 'V8 inline-cache misses';
  if (name.startsWith('Builtins_')) return 'V8 builtins';
  if (name.startsWith('JIT')) return 'JIT (unmapped)';
  if (/Scaveng|Heap::|Mark|Sweep|GC/.test(name)) return 'GC';
  return 'C++ (V8, Node, libc)';
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { requests: { type: 'string', default: '1000' }, top: { type: 'string', default: '40' } },
});
if (positionals.length < 1 || positionals.length > 2) {
  process.stderr.write('usage: node bench/callgrind-functions.ts [--requests N] [--top K] A.cg[=A.map] [B.cg[=B.map]]\n');
  process.exit(2);
}
const perRequest = Number(values.requests);
const top = Number(values.top);
const profiles = positionals.map((p) => {
  const [cg, map] = p.split('=');
  return load(cg!, map);
});
const a = profiles[0]!;
const b = profiles[1];
const names = new Set([...a.self.keys(), ...(b?.self.keys() ?? [])]);
const row = (p: Profile, n: string): string =>
  `${Math.round((p.self.get(n) ?? 0) / perRequest).toLocaleString('en').padStart(8)} ${((p.calls.get(n) ?? 0) / perRequest).toFixed(2).padStart(7)}`;
const total = (p: Profile): number => [...p.self.values()].reduce((s, x) => s + x, 0) / perRequest;
const diff = (n: string): number => ((b?.self.get(n) ?? 0) - (a.self.get(n) ?? 0)) / perRequest;

console.log(`instructions per request: ${profiles.map((p) => Math.round(total(p)).toLocaleString('en')).join('  ')}`);
console.log(b === undefined ? '    self   calls  function' : '  A self A calls    B self B calls     B - A  function');
const order = [...names].sort((x, y) => (b === undefined ? (a.self.get(y) ?? 0) - (a.self.get(x) ?? 0) : Math.abs(diff(y)) - Math.abs(diff(x))));
for (const n of order.slice(0, top)) {
  const d = b === undefined ? '' : `${(diff(n) >= 0 ? '+' : '') + Math.round(diff(n)).toLocaleString('en')}`.padStart(10);
  console.log(`${row(a, n)}${b === undefined ? '' : '  ' + row(b, n)}${d}  ${n.slice(0, 120)}`);
}
const kinds = new Map<string, [number, number]>();
for (const n of names) {
  const k = kinds.get(kind(n)) ?? [0, 0];
  k[0] += (a.self.get(n) ?? 0) / perRequest;
  k[1] += (b?.self.get(n) ?? 0) / perRequest;
  kinds.set(kind(n), k);
}
console.log('\nby kind (self instructions per request)');
for (const [k, [x, y]] of [...kinds].sort((p, q) => q[1][0] + q[1][1] - p[1][0] - p[1][1])) {
  console.log(`${Math.round(x).toLocaleString('en').padStart(9)}${b === undefined ? '' : Math.round(y).toLocaleString('en').padStart(10) + ((y - x >= 0 ? '+' : '') + Math.round(y - x).toLocaleString('en')).padStart(10)}  ${k}`);
}
