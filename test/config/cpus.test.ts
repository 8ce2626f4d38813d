import { describe, expect, it } from 'vitest';
import { autoWorkers, availableCpus, parseCpuMax } from '../../src/config/cpus.ts';
import { parseSettings, SettingsError } from '../../src/config/settings.ts';

describe('parseCpuMax (cgroup v2 cpu.max)', () => {
  it('reads quota/period, rounded up', () => {
    expect(parseCpuMax('200000 100000\n')).toBe(2);
    expect(parseCpuMax('150000 100000')).toBe(2);
    expect(parseCpuMax('50000 100000')).toBe(1);
    expect(parseCpuMax('400000 100000')).toBe(4);
    expect(parseCpuMax('300000')).toBe(3);
  });

  it('no quota or garbage: undefined', () => {
    expect(parseCpuMax('max 100000\n')).toBeUndefined();
    expect(parseCpuMax('')).toBeUndefined();
    expect(parseCpuMax('abc 100000')).toBeUndefined();
    expect(parseCpuMax('0 100000')).toBeUndefined();
  });
});

describe('availableCpus', () => {
  it('uses the quota, capped by the CPUs the process may run on', () => {
    expect(availableCpus({ readCpuMax: () => '200000 100000', parallelism: () => 8 })).toBe(2);
    expect(availableCpus({ readCpuMax: () => '800000 100000', parallelism: () => 4 })).toBe(4);
  });

  it('without a quota (or without cgroup v2): availableParallelism', () => {
    expect(availableCpus({ readCpuMax: () => 'max 100000', parallelism: () => 6 })).toBe(6);
    expect(availableCpus({ readCpuMax: () => undefined, parallelism: () => 3 })).toBe(3);
    expect(availableCpus({ readCpuMax: () => undefined, parallelism: () => 0 })).toBe(1);
  });
});

describe('--workers', () => {
  it('defaults to auto (one per CPU, one process on one CPU); accepts numbers, auto and the environment', () => {
    expect(parseSettings([], {}).settings.workers).toBe(autoWorkers(availableCpus()));
    expect(autoWorkers(1)).toBe(0);
    expect(autoWorkers(2)).toBe(2);
    expect(autoWorkers(16)).toBe(16);
    expect(parseSettings(['--workers', '3'], {}).settings.workers).toBe(3);
    expect(parseSettings([], { PORTICO_WORKERS: '2' }).settings.workers).toBe(2);
    expect(parseSettings(['--workers', 'auto'], {}).settings.workers).toBe(autoWorkers(availableCpus()));
    expect(parseSettings(['--workers', '0'], {}).settings.workers).toBe(0);
  });

  it('auto with --nginx-configmap: one worker even on one CPU, since its edits are applied by replacing workers; an explicit 0 stays', () => {
    expect(autoWorkers(1, { liveSettings: true })).toBe(1);
    expect(autoWorkers(4, { liveSettings: true })).toBe(4);
    const cm = ['--nginx-configmap', 'ingress-nginx/ingress-nginx-controller'];
    expect(parseSettings(cm, {}).settings.workers).toBe(Math.max(1, autoWorkers(availableCpus())));
    expect(parseSettings([...cm, '--workers', '0'], {}).settings.workers).toBe(0);
  });

  it('rejects anything else with a message naming the accepted values', () => {
    expect(() => parseSettings(['--workers', '-1'], {})).toThrow(SettingsError);
    expect(() => parseSettings(['--workers', 'many'], {})).toThrow(/0 \(single process\), auto/);
    expect(() => parseSettings(['--workers', '1000'], {})).toThrow(SettingsError);
  });
});
