// A clock for the informers' backoff that moves only when a test says so.

import type { InformerClock } from '../../src/sources/kubernetes/informer.ts';

/** Timers that fire only through `next()`, which also moves the clock to them. */
export class ManualClock implements InformerClock {
  t = 0;
  private seq = 0;
  readonly timers = new Map<number, { at: number; fn: () => void }>();
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + ms, fn });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  /** The largest jitter, so each backoff is its full step. */
  random(): number {
    return 0.999;
  }
  /** When the earliest timer is due; undefined when none is pending. */
  nextAt(): number | undefined {
    let at: number | undefined;
    for (const e of this.timers.values()) if (at === undefined || e.at < at) at = e.at;
    return at;
  }

  /** Moves the clock to the earliest timer and runs it. */
  next(): void {
    let first: [number, { at: number; fn: () => void }] | undefined;
    for (const e of this.timers) if (first === undefined || e[1].at < first[1].at) first = e;
    if (first === undefined) throw new Error('no timer pending');
    this.timers.delete(first[0]);
    this.t = Math.max(this.t, first[1].at);
    first[1].fn();
  }

  /** Runs every pending timer, the ones they set synchronously included (bounded). */
  runAll(): number {
    let n = 0;
    for (; n < 1000 && this.timers.size > 0; n++) this.next();
    return n;
  }
}
