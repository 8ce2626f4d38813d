// The manifests watcher's timing under fake timers, on an in-memory directory: debounce,
// settling (nothing is read while a file is still changing), and a burst of changes applied
// as one step. No sleeps: time only moves when the test moves it.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { systemClock, type Clock } from '../../src/sources/files/clock.ts';
import { ManifestDirectorySource, type ManifestDirectorySourceOptions } from '../../src/sources/files/source.ts';
import { Store, type StoreChange } from '../../src/store/store.ts';
import type { Service } from '../../src/store/types.ts';
import { MemoryDirectory } from './memory-directory.ts';
import { recordingLogger, type LogLine } from './helpers.ts';

const svc = (name: string, port = 80) => `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\nspec:\n  ports:\n  - port: ${port}\n`;
const DEBOUNCE = 50;
const SETTLE = 200;

/**
 * The clock the watcher gets, injected: systemClock reads the global timer functions at each
 * call, and vi.useFakeTimers() replaces them, so time only moves when a test advances it.
 */
const fakeClock: Clock = systemClock;

beforeEach(() => {
  vi.useFakeTimers({ now: new Date('2026-01-01T00:00:00Z') });
});
afterEach(() => {
  vi.useRealTimers();
});

async function setup(files: Record<string, string>, opts: Partial<ManifestDirectorySourceOptions> = {}) {
  const dir = new MemoryDirectory();
  // files that exist before the test starts: written long ago
  for (const [name, text] of Object.entries(files)) dir.write(name, text, Date.now() - 60_000);
  const store = new Store();
  const changes: { change: StoreChange; at: number; scan: number }[] = [];
  const lines: LogLine[] = [];
  const source = new ManifestDirectorySource({
    dir: dir.path,
    directory: dir,
    clock: fakeClock,
    store,
    log: recordingLogger(lines),
    debounceMs: DEBOUNCE,
    settleMs: SETTLE,
    ...opts,
  });
  store.subscribe((change) => changes.push({ change, at: Date.now(), scan: source.scanCount }));
  await source.start(); // old files: loaded without waiting
  dir.reads.length = 0;
  changes.length = 0;
  const port = (name: string) => (store.get('Service', `default/${name}`) as Service | undefined)?.spec?.ports?.[0]?.port;
  const applied = () => lines.filter((l) => l.msg === 'manifests changed');
  return { dir, store, changes, lines, source, port, applied };
}

describe('ManifestDirectorySource timing (fake timers)', () => {
  it('loads files that stand still at start without waiting', async () => {
    const { port, source } = await setup({ 'a.yaml': svc('a', 81) });
    expect(port('a')).toBe(81);
    await source.stop();
  });

  it('debounces change events: one scan after the burst, not one per event', async () => {
    const { dir, source, port } = await setup({ 'a.yaml': svc('a') });
    const scans = source.scanCount;
    for (let i = 1; i <= 5; i++) {
      dir.write('a.yaml', svc('a', 8000 + i));
      await vi.advanceTimersByTimeAsync(DEBOUNCE - 10);
    }
    expect(source.scanCount).toBe(scans); // still within the debounce
    await vi.advanceTimersByTimeAsync(10);
    expect(source.scanCount).toBe(scans + 1);
    expect(port('a')).toBe(80); // seen, but not yet settled
    await vi.advanceTimersByTimeAsync(SETTLE);
    expect(port('a')).toBe(8005);
    expect(dir.reads).toEqual(['a.yaml']); // the final content only, read once
    await source.stop();
  });

  it('a file rewritten in place over 250 ms is read once, complete; the truncated state is never applied', async () => {
    const ingressFile = `${svc('keep', 80)}---\n${svc('web', 80)}`;
    const { dir, source, port, changes } = await setup({ 'app.yaml': ingressFile });
    const next = `${svc('keep', 80)}---\n${svc('web', 81)}`;
    // truncate, then write in five pieces 50 ms apart; the early states parse (a prefix of
    // YAML), and would remove Service web
    const pieces = [0.2, 0.4, 0.6, 0.8, 1].map((f) => next.slice(0, Math.floor(next.length * f)));
    dir.write('app.yaml', '');
    for (const piece of pieces) {
      await vi.advanceTimersByTimeAsync(50);
      dir.write('app.yaml', piece);
    }
    await vi.advanceTimersByTimeAsync(SETTLE + DEBOUNCE);
    expect(port('web')).toBe(81);
    expect(changes.map((c) => [c.change.key, c.change.current !== undefined])).toEqual([['default/web', true]]);
    expect(dir.reads).toEqual(['app.yaml']);
    await source.stop();
  });

  it('a burst that adds new files and deletes old ones is applied as one step', async () => {
    const { dir, source, port, changes, applied } = await setup({ 'old-1.yaml': svc('old1'), 'old-2.yaml': svc('old2') });
    dir.write('new-1.yaml', svc('new1'));
    await vi.advanceTimersByTimeAsync(5);
    dir.remove('old-1.yaml');
    await vi.advanceTimersByTimeAsync(5);
    dir.write('new-2.yaml', svc('new2'));
    dir.remove('old-2.yaml');
    await vi.advanceTimersByTimeAsync(DEBOUNCE + SETTLE + 10);
    expect([port('new1'), port('new2'), port('old1'), port('old2')]).toEqual([80, 80, undefined, undefined]);
    // four store changes, at one instant, within one scan
    expect(changes.length).toBe(4);
    expect(new Set(changes.map((c) => `${c.at}/${c.scan}`)).size).toBe(1);
    expect(applied().map((l) => l.fields)).toEqual([{ dir: dir.path, files: ['new-1.yaml', 'new-2.yaml', 'old-1.yaml', 'old-2.yaml'], upserted: 2, removed: 2 }]);
    await source.stop();
  });

  it('an editor that moves the file away and writes it anew later never removes its objects', async () => {
    const { dir, source, port, changes } = await setup({ 'a.yaml': svc('a') });
    dir.rename('a.yaml', 'a.yaml~');
    await vi.advanceTimersByTimeAsync(120); // longer than the debounce: a scan sees a.yaml missing
    dir.write('a.yaml', svc('a', 81));
    dir.remove('a.yaml~');
    await vi.advanceTimersByTimeAsync(DEBOUNCE + SETTLE + 10);
    expect(port('a')).toBe(81);
    expect(changes.filter((c) => c.change.current === undefined)).toEqual([]);
    await source.stop();
  });

  it('a deletion alone waits for the directory to stand still, like any change', async () => {
    const { dir, source, port } = await setup({ 'a.yaml': svc('a'), 'b.yaml': svc('b') });
    dir.remove('b.yaml');
    await vi.advanceTimersByTimeAsync(DEBOUNCE + 10);
    expect(port('b')).toBe(80);
    await vi.advanceTimersByTimeAsync(SETTLE);
    expect(port('b')).toBeUndefined();
    await source.stop();
  });

  it('a directory that never stands still is applied after maxSettleMs', async () => {
    const { dir, source, port, lines } = await setup({ 'a.yaml': svc('a') }, { maxSettleMs: 1000 });
    for (let i = 1; i <= 30 && port('a') === 80; i++) {
      dir.write('a.yaml', svc('a', 9000 + i));
      await vi.advanceTimersByTimeAsync(100);
    }
    expect(port('a')).toBeGreaterThan(9000);
    expect(Date.now() - new Date('2026-01-01T00:00:00Z').getTime()).toBeLessThanOrEqual(1300);
    expect(lines.some((l) => /keeps changing/.test(l.msg))).toBe(true);
    await source.stop();
  });

  it('polls when not watching; a change older than the settle interval by its mtime applies at once', async () => {
    const { dir, source, port } = await setup({ 'a.yaml': svc('a') }, { watch: false, pollIntervalMs: 1000 });
    dir.write('a.yaml', svc('a', 81));
    await vi.advanceTimersByTimeAsync(999);
    expect(port('a')).toBe(80);
    await vi.advanceTimersByTimeAsync(1);
    expect(port('a')).toBe(81);
    await source.stop();
  });

  it('start waits until a file that is still being written stands still', async () => {
    const dir = new MemoryDirectory();
    dir.write('a.yaml', svc('a', 80).slice(0, 30)); // being written right now
    const store = new Store();
    const source = new ManifestDirectorySource({ dir: dir.path, directory: dir, clock: fakeClock, store, log: recordingLogger(), debounceMs: DEBOUNCE, settleMs: SETTLE });
    let started = false;
    const starting = source.start().then(() => (started = true));
    await vi.advanceTimersByTimeAsync(100);
    dir.write('a.yaml', svc('a', 80));
    await vi.advanceTimersByTimeAsync(100);
    expect(started).toBe(false);
    await vi.advanceTimersByTimeAsync(SETTLE);
    await starting;
    expect(store.get('Service', 'default/a')).toBeDefined();
    expect(source.problems).toEqual([]);
    await source.stop();
  });
});
