// Heap limits for proxy workers in a memory-limited container.
//
// Node sizes V8's heap from the container's memory limit, but every process does so on its
// own: with --workers N, N + 1 processes each believe they may use the whole limit, so
// together they can grow past it and the pod is OOM-killed instead of collecting garbage
// sooner. When the container has a limit, each worker gets an old-space cap of its share of
// the limit, and 16 MiB semi-spaces: for a small container Node picks 1 MiB, and a young
// generation that small is collected every ~60 requests (bench: 81 against 74 µs of CPU per
// keep-alive request with 16 MiB). Each is left alone when the operator set that flag (in
// execArgv or NODE_OPTIONS); the image sets `--max-semi-space-size=16` in NODE_OPTIONS for the
// single process and the primary, whose flags are fixed before it knows what it is.

/** Limits above this are "no limit" (cgroup v2 `max` reads as 2^64). */
const NO_LIMIT = 2 ** 50;
/** Below this a worker cannot hold a large configuration; the cap does not go lower. */
const MIN_OLD_SPACE_MIB = 192;
/** Of a process's share of the limit, the part its old space may use (the rest: young
 * generation, code, buffers outside the heap, the runtime itself). */
const OLD_SPACE_FRACTION = 0.7;
const SEMI_SPACE_MIB = 16;

const OLD_SPACE_FLAGS = /--max-old-space-size|--max-heap-size/;
const SEMI_SPACE_FLAGS = /--(?:max|min)-semi-space-size/;

export interface WorkerHeap {
  /** Node flags for the workers (the primary's own execArgv, plus the caps when chosen). */
  execArgv: string[];
  /** The old-space cap given to each worker in MiB; undefined when none was set. */
  oldSpaceMiB: number | undefined;
}

/**
 * The workers' execArgv. `constrainedBytes` is `process.constrainedMemory()`; `nodeOptions`
 * the NODE_OPTIONS environment variable (workers inherit it).
 */
export function workerHeap(execArgv: readonly string[], nodeOptions: string | undefined, constrainedBytes: number, workers: number): WorkerHeap {
  const own = [...execArgv];
  if (!(constrainedBytes > 0) || constrainedBytes >= NO_LIMIT || workers < 1) return { execArgv: own, oldSpaceMiB: undefined };
  const operatorSet = (flags: RegExp): boolean => own.some((a) => flags.test(a)) || flags.test(nodeOptions ?? '');
  let oldSpaceMiB: number | undefined;
  if (!operatorSet(OLD_SPACE_FLAGS)) {
    const shareMiB = constrainedBytes / 1048576 / (workers + 1);
    oldSpaceMiB = Math.max(MIN_OLD_SPACE_MIB, Math.floor(shareMiB * OLD_SPACE_FRACTION));
    own.push(`--max-old-space-size=${oldSpaceMiB}`);
  }
  if (!operatorSet(SEMI_SPACE_FLAGS)) own.push(`--max-semi-space-size=${SEMI_SPACE_MIB}`);
  return { execArgv: own, oldSpaceMiB };
}
