import { describe, expect, it } from 'vitest';
import { busyStretches, frameKind, frameName, summarize, type CpuProfile, type ProfileNode } from '../../bench/cpuprofile.ts';

const DIST = 'file:///work/x/dist/proxy/proxy.js';
const UNDICI = 'file:///work/x/node_modules/undici/lib/core/request.js';
const node = (id: number, functionName: string, url: string, children: number[] = [], lineNumber = 9): ProfileNode => ({
  id,
  callFrame: { functionName, url, lineNumber },
  children,
});

/** warm-up burst (3 ms of handle), 1 s idle, measured burst (10 ms), 0.5 s idle. */
function profile(): CpuProfile {
  const nodes = [
    node(1, '(root)', '', [2, 3, 5]),
    node(2, '(idle)', ''),
    node(3, 'handle', DIST, [4]),
    node(4, 'processHeader', UNDICI),
    node(5, '(garbage collector)', ''),
  ];
  const samples: number[] = [];
  const timeDeltas: number[] = [];
  const add = (id: number, n: number, deltaUs: number) => {
    for (let i = 0; i < n; i++) {
      samples.push(id);
      timeDeltas.push(deltaUs);
    }
  };
  add(3, 3, 1000);
  add(2, 10, 100_000);
  add(4, 5, 1000);
  add(3, 3, 1000);
  add(5, 2, 1000);
  add(2, 5, 100_000);
  return { nodes, startTime: 0, endTime: 1_600_000, samples, timeDeltas };
}

describe('bench/cpuprofile', () => {
  it('splits a profile into busy stretches at idle gaps', () => {
    const s = busyStretches(profile(), 500_000);
    expect(s.length).toBe(2);
    expect(s[0]![2]).toBe(2000 + 100_000); // the last warm-up sample lasts until the first idle one
    expect(s[1]![2]).toBe(9000 + 100_000);
  });

  it('summarizes the busiest stretch: self time per function and kind, folded stacks', () => {
    const p = profile();
    p.timeDeltas = p.timeDeltas.map((d, i) => (i > 0 && p.samples[i] === 2 && p.samples[i - 1] !== 2 ? 1000 : d)); // busy samples all last 1 ms
    const s = summarize(p);
    expect(s.busyUs).toBe(10_000);
    expect(s.kinds).toEqual([
      { kind: 'undici', us: 5000 },
      { kind: 'Portico (dist/)', us: 3000 },
      { kind: 'GC', us: 2000 },
    ]);
    expect(s.functions[0]).toEqual({ name: 'processHeader undici/lib/core/request.js:10', kind: 'undici', us: 5000 });
    expect(s.folded.sort()).toEqual([
      '(garbage collector) 2000',
      'handle dist/proxy/proxy.js:10 3000',
      'handle dist/proxy/proxy.js:10;processHeader undici/lib/core/request.js:10 5000',
    ]);
  });

  it('names and classifies frames', () => {
    expect(frameName({ functionName: '', url: 'node:events', lineNumber: 0 })).toBe('(anonymous) node:events:1');
    expect(frameKind({ functionName: 'emit', url: 'node:events', lineNumber: 0 })).toBe("Node's JavaScript");
    expect(frameKind({ functionName: '(program)', url: '', lineNumber: -1 })).toMatch(/^native/);
    expect(() => summarize({ nodes: [node(1, '(root)', '', [2]), node(2, '(idle)', '')], startTime: 0, endTime: 1, samples: [2], timeDeltas: [1] })).toThrow(/no busy samples/);
  });
});
