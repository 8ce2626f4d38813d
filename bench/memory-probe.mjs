// Preload for the benchmarks' memory detail (`node --expose-gc --import bench/memory-probe.mjs`):
// on SIGUSR2 the process runs a full GC and appends one JSON line to
// $PORTICO_MEMORY_PROBE_DIR/<pid>.jsonl with process.memoryUsage() before and after it (MiB) and
// V8's own count of the heap's physical memory, so a benchmark can tell live data (heapUsed
// after GC), memory V8 holds but does not use (heapTotal − heapUsed), memory outside the heap
// (external, arrayBuffers) and memory the process keeps resident although nothing uses it
// (RSS − everything else). Cluster workers inherit the flags, so they answer too.
import { appendFileSync } from 'node:fs';
import v8 from 'node:v8';

const dir = process.env.PORTICO_MEMORY_PROBE_DIR;
if (dir) {
  const mib = (n) => Math.round((n / 1048576) * 10) / 10;
  const usage = () => Object.fromEntries(Object.entries(process.memoryUsage()).map(([k, v]) => [k, mib(v)]));
  process.on('SIGUSR2', () => {
    const before = usage();
    globalThis.gc?.();
    const after = usage();
    const physical = mib(v8.getHeapStatistics().total_physical_size);
    appendFileSync(`${dir}/${process.pid}.jsonl`, JSON.stringify({ pid: process.pid, at: Date.now(), gc: typeof globalThis.gc === 'function', before, after, heapPhysical: physical }) + '\n');
  });
}
