// How many CPUs this process may use: the cgroup v2 CPU quota when the container has one
// (`cpu.max` = "QUOTA PERIOD", or "max PERIOD" for none), else what Node reports as available
// (which already honours the affinity mask, not the quota).
// It lives in config/ because `--workers auto` is resolved here, while the flags are parsed
// (config/ imports nothing else of ours).

import { readFileSync } from 'node:fs';
import os from 'node:os';

/** CPUs granted by a cgroup v2 `cpu.max` line (rounded up, at least 1); undefined: no quota. */
export function parseCpuMax(text: string): number | undefined {
  const [quota, period] = text.trim().split(/\s+/);
  if (quota === undefined || quota === 'max') return undefined;
  const q = Number(quota);
  const p = period === undefined ? 100_000 : Number(period);
  if (!Number.isFinite(q) || !Number.isFinite(p) || q <= 0 || p <= 0) return undefined;
  return Math.max(1, Math.ceil(q / p));
}

export interface CpuProbe {
  readCpuMax?: () => string | undefined;
  parallelism?: () => number;
}

/**
 * What `--workers auto` means for a number of CPUs: one worker per CPU, but no workers (one
 * process) on one CPU, where a control-plane process beside a single worker would only cost
 * memory and a hop for every configuration change. `liveSettings` (--nginx-configmap): one
 * worker even then, since settings are applied live by replacing workers (one process cannot
 * swap its settings under its listeners, and ingress-nginx applies its ConfigMap's edits live).
 */
export function autoWorkers(cpus: number, opts: { liveSettings?: boolean } = {}): number {
  if (cpus > 1) return cpus;
  return opts.liveSettings === true ? 1 : 0;
}

/** The number of CPUs this process may use (cgroup quota, affinity), at least 1. */
export function availableCpus(probe: CpuProbe = {}): number {
  const parallelism = (probe.parallelism ?? os.availableParallelism)();
  const read =
    probe.readCpuMax ??
    (() => {
      try {
        return readFileSync('/sys/fs/cgroup/cpu.max', 'utf8');
      } catch {
        return undefined;
      }
    });
  const text = read();
  const quota = text === undefined ? undefined : parseCpuMax(text);
  return Math.max(1, quota === undefined ? parallelism : Math.min(quota, parallelism));
}
