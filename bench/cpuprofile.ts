// cpuprofile.ts — reads a V8 CPU profile (node --cpu-prof) of a proxy under load: the busy
// stretch that was measured, self time per function and per kind of code, and the stacks in
// the "folded" format of flame-graph tools (flamegraph.pl, inferno, speedscope).
// bench/cpu-profile.ts produces the profiles; this module only reads them.

/** The parts of a .cpuprofile (Chrome DevTools' Profile object) used here. */
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  /** Node id of each sample. */
  samples: number[];
  /** Microseconds before each sample (since the previous one; the first since startTime). */
  timeDeltas: number[];
}

export interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

export interface Summary {
  /** The measured stretch, microseconds from the profile's start. */
  fromUs: number;
  toUs: number;
  /** Time the main thread was not idle in that stretch (µs). */
  busyUs: number;
  /** Self time per function, largest first (µs). */
  functions: { name: string; kind: string; us: number }[];
  /** Self time per kind of code, largest first (µs). */
  kinds: { kind: string; us: number }[];
  /** Folded stacks (`root;caller;callee count-in-µs`), one per distinct stack. */
  folded: string[];
}

const IDLE = '(idle)';

/** A frame as one short name: function, then where it is (dist/…, undici/…, node:…). */
export function frameName(cf: ProfileNode['callFrame']): string {
  const fn = cf.functionName === '' ? '(anonymous)' : cf.functionName;
  if (cf.url === '') return fn;
  const url = cf.url
    .replace(/^.*\/node_modules\//, '')
    .replace(/^file:\/\/.*?\/dist\//, 'dist/')
    .replace(/^file:\/\//, '');
  return `${fn} ${url}:${cf.lineNumber + 1}`;
}

/** What kind of code a frame is. */
export function frameKind(cf: ProfileNode['callFrame']): string {
  const { functionName: fn, url } = cf;
  if (url === '') {
    if (fn === '(garbage collector)') return 'GC';
    if (fn === '(program)') return 'native (V8, libuv, C++ outside JavaScript)';
    if (fn === IDLE) return 'idle';
    return 'V8 builtins and native functions';
  }
  if (/\/dist\//.test(url) && !url.includes('/node_modules/')) return 'Portico (dist/)';
  if (url.includes('/node_modules/undici/')) return 'undici';
  if (url.startsWith('node:')) return "Node's JavaScript";
  return 'other JavaScript';
}

/**
 * The busy stretches of a profile, split where the main thread stayed idle for `gapUs` or
 * more, as [fromUs, toUs, busyUs].
 */
export function busyStretches(p: CpuProfile, gapUs: number): [number, number, number][] {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const out: [number, number, number][] = [];
  let t = 0;
  let cur: [number, number, number] | null = null;
  let idleSince = -1;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    const dur = p.timeDeltas[i + 1] ?? 0; // a sample stands for the time until the next one
    const idle = byId.get(p.samples[i]!)?.callFrame.functionName === IDLE;
    if (idle) {
      if (idleSince < 0) idleSince = t;
      if (cur !== null && t + dur - idleSince >= gapUs) {
        out.push(cur);
        cur = null;
      }
      continue;
    }
    idleSince = -1;
    if (cur === null) cur = [t, t + dur, 0];
    cur[1] = t + dur;
    cur[2] += dur;
  }
  if (cur !== null) out.push(cur);
  return out;
}

/**
 * Self time per function and kind, and folded stacks, over the samples in [fromUs, toUs)
 * (default: the busiest stretch between idle gaps of 500 ms, i.e. the measured load when the
 * warm-up was shorter and both were separated by a pause).
 */
export function summarize(p: CpuProfile, window?: { fromUs: number; toUs: number }): Summary {
  let fromUs: number;
  let toUs: number;
  if (window !== undefined) ({ fromUs, toUs } = window);
  else {
    const stretches = busyStretches(p, 500_000);
    if (stretches.length === 0) throw new Error('the profile has no busy samples');
    const best = stretches.reduce((a, b) => (b[2] > a[2] ? b : a));
    [fromUs, toUs] = best;
  }
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const self = new Map<number, number>(); // node id -> µs
  let t = 0;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    if (t < fromUs || t >= toUs) continue;
    const dur = p.timeDeltas[i + 1] ?? 0;
    const id = p.samples[i]!;
    if (byId.get(id)?.callFrame.functionName === IDLE) continue;
    self.set(id, (self.get(id) ?? 0) + dur);
  }

  const functions = new Map<string, { name: string; kind: string; us: number }>();
  const kinds = new Map<string, number>();
  const folded = new Map<string, number>();
  let busyUs = 0;
  for (const [id, us] of self) {
    const cf = byId.get(id)!.callFrame;
    const name = frameName(cf);
    const kind = frameKind(cf);
    const f = functions.get(name) ?? { name, kind, us: 0 };
    f.us += us;
    functions.set(name, f);
    kinds.set(kind, (kinds.get(kind) ?? 0) + us);
    busyUs += us;
    const stack: string[] = [];
    for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) {
      const n = byId.get(x)!;
      if (n.callFrame.functionName === '(root)') break;
      // flame-graph tools split frames on ';' and the count on the last space
      stack.push(frameName(n.callFrame).replaceAll(';', ','));
    }
    const key = stack.reverse().join(';');
    folded.set(key, (folded.get(key) ?? 0) + us);
  }
  return {
    fromUs,
    toUs,
    busyUs,
    functions: [...functions.values()].sort((a, b) => b.us - a.us),
    kinds: [...kinds].map(([kind, us]) => ({ kind, us })).sort((a, b) => b.us - a.us),
    folded: [...folded].filter(([, us]) => us > 0).map(([stack, us]) => `${stack} ${Math.round(us)}`),
  };
}
