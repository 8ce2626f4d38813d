// A memory cgroup for a benchmarked program, so it runs under the limit a Kubernetes container
// would have (`resources.limits.memory`): Node then sizes its heaps for the limit, and Portico
// its workers' heaps (src/workers/heap.ts), as in a pod. Linux, root, cgroup v1 or v2.
//
// The program is started through `sh -c 'echo $$ > cgroup.procs; exec …'`, so the process
// that joins the cgroup is the program itself (same pid) and its workers inherit it.

import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export class MemoryCgroup {
  readonly dir: string;
  private readonly v2: boolean;

  private constructor(dir: string, v2: boolean) {
    this.dir = dir;
    this.v2 = v2;
  }

  /** Creates the cgroup with `limitMiB`; throws with what is missing when it cannot. */
  static create(name: string, limitMiB: number): MemoryCgroup {
    const v2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
    const parent = v2 ? '/sys/fs/cgroup' : '/sys/fs/cgroup/memory';
    if (!existsSync(parent)) throw new Error(`--memory-limit needs a memory cgroup hierarchy (${parent} does not exist)`);
    const dir = path.join(parent, name);
    try {
      mkdirSync(dir);
      writeFileSync(path.join(dir, v2 ? 'memory.max' : 'memory.limit_in_bytes'), String(limitMiB * 1024 * 1024));
      // a container has no swap to spill to either (v1 keeps swap accounting separate)
      if (v2) writeFileSync(path.join(dir, 'memory.swap.max'), '0');
    } catch (err) {
      throw new Error(`cannot create the memory cgroup ${dir} (run as root on Linux): ${(err as Error).message}`);
    }
    return new MemoryCgroup(dir, v2);
  }

  /** The command and arguments that run `argv` inside this cgroup. */
  wrap(argv: readonly string[]): [string, string[]] {
    const procs = path.join(this.dir, 'cgroup.procs');
    return ['/bin/sh', ['-c', `echo $$ > '${procs}' && exec "$@"`, 'sh', ...argv]];
  }

  /** Memory the cgroup is charged for now (what the kernel compares with the limit), MiB. */
  usageMiB(): number {
    return Number(readFileSync(path.join(this.dir, this.v2 ? 'memory.current' : 'memory.usage_in_bytes'), 'utf8')) / 1024 / 1024;
  }

  /** Times the limit was hit (v1: failcnt; v2: the "max" events), and OOM kills (v2 only). */
  limitEvents(): string {
    if (!this.v2) return `${readFileSync(path.join(this.dir, 'memory.failcnt'), 'utf8').trim()} failcnt`;
    const events = readFileSync(path.join(this.dir, 'memory.events'), 'utf8');
    const field = (k: string) => new RegExp(`^${k} (\\d+)$`, 'm').exec(events)?.[1] ?? '0';
    return `${field('max')} at max, ${field('oom_kill')} OOM kills`;
  }

  /** Removes the cgroup (its processes must have exited). */
  remove(): void {
    try {
      rmdirSync(this.dir);
    } catch {
      /* still busy: the kernel frees it when the last process leaves */
    }
  }
}
