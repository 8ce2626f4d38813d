import { describe, expect, it } from 'vitest';
import { workerHeap } from '../../src/workers/heap.ts';

const MiB = 1048576;

describe('workerHeap', () => {
  it('caps each worker at its share of the container limit (1 GiB, 2 workers: 3 processes)', () => {
    const h = workerHeap(['--enable-source-maps'], undefined, 1024 * MiB, 2);
    expect(h.oldSpaceMiB).toBe(Math.floor((1024 / 3) * 0.7));
    expect(h.execArgv).toEqual(['--enable-source-maps', `--max-old-space-size=${h.oldSpaceMiB}`, '--max-semi-space-size=16']);
  });

  it('never goes below what a large configuration needs', () => {
    expect(workerHeap([], undefined, 512 * MiB, 4).oldSpaceMiB).toBe(192);
  });

  it('leaves Node alone without a limit (cgroup max reads as 2^64) or when asked', () => {
    expect(workerHeap([], undefined, 2 ** 64, 2)).toEqual({ execArgv: [], oldSpaceMiB: undefined });
    expect(workerHeap([], undefined, 0, 2).oldSpaceMiB).toBeUndefined();
  });

  it('an operator heap flag wins, in execArgv or NODE_OPTIONS, each on its own', () => {
    expect(workerHeap(['--max-old-space-size=900'], undefined, 1024 * MiB, 2)).toEqual({
      execArgv: ['--max-old-space-size=900', '--max-semi-space-size=16'],
      oldSpaceMiB: undefined,
    });
    // the image's NODE_OPTIONS sets the semi-space size: the old-space cap still applies
    const image = workerHeap([], '--max-semi-space-size=16', 1024 * MiB, 2);
    expect(image.oldSpaceMiB).toBe(Math.floor((1024 / 3) * 0.7));
    expect(image.execArgv).toEqual([`--max-old-space-size=${image.oldSpaceMiB}`]);
    expect(workerHeap([], '--max-heap-size=700 --min-semi-space-size=4', 1024 * MiB, 2)).toEqual({ execArgv: [], oldSpaceMiB: undefined });
  });
});
