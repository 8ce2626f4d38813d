// Time for the manifests watcher, injected so its debounce and settle logic run under fake
// timers in tests.

export interface Clock {
  /** Epoch milliseconds (compared with file modification times). */
  now(): number;
  /** Calls `fn` once after `ms`; returns a function that cancels it. Never keeps the process alive. */
  schedule(fn: () => void, ms: number): () => void;
}

/** The process clock. Reads the global timer functions at each call (so fake timers apply). */
export const systemClock: Clock = {
  now: () => Date.now(),
  schedule(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return () => clearTimeout(t);
  },
};
