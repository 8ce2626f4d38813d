// Turns store changes into routing configurations: coalesces bursts of object events
// (a few milliseconds, capped), runs the translation, swaps the result in with one reference
// assignment, and reports problems that are new since the last build.
// The translation is handed the changes it coalesced, so it can build incrementally from its
// previous result (model/incremental.ts): an edit then costs the hosts it touches, not a
// rebuild of everything. At start-up, and after a failed build (whose changes would otherwise
// be lost), it is asked to build from scratch.
// EndpointSlice events never come here: endpoints move on their own lane (endpoints/).

import type { Store, StoreChange, Snapshot } from '../store/store.ts';
import type { Kind } from '../store/types.ts';
import { routingRelevant } from '../store/routing-relevant.ts';
import type { Problem, RoutingConfig } from '../model/types.ts';
import type { Logger } from '../observe/log.ts';

/**
 * The config for `snapshot`. `changes`: the routing-relevant store changes since the previous
 * call (coalesced, in order, repeats possible), so the previous result can be updated;
 * undefined: build from scratch.
 */
export type TranslateFn = (snapshot: Snapshot, version: number, changes?: readonly StoreChange[]) => RoutingConfig;

export interface ReconcilerOptions {
  store: Store;
  translate: TranslateFn;
  log: Logger;
  /** Wait this long after a change for more changes (default 10 ms). */
  coalesceMs?: number;
  /** Never delay a rebuild longer than this after the first pending change (default 100 ms). */
  maxDelayMs?: number;
  /** Kinds whose changes trigger a rebuild. */
  kinds?: readonly Kind[];
  /** Called after each swap. */
  onSwap?: (config: RoutingConfig, stats: BuildStats) => void;
  /** Called when a build failed and the previous configuration stays (metrics: last apply failed). */
  onFailure?: (err: Error) => void;
  /**
   * Given each new configuration's problems, right after the swap (before onSwap). Absent:
   * nobody reports them here (a proxy worker: the primary builds the same configuration and
   * reports once; see runtime/core.ts).
   */
  reportProblems?: (problems: readonly Problem[]) => void;
}

export interface BuildStats {
  durationMs: number;
  changes: number;
  problems: number;
}

// Secret: an Ingress with basic auth reads its users from one (the translator re-reads only
// the Ingresses that read the changed Secret; TLS Secrets have no readers there). ConfigMap:
// custom-headers and auth-proxy-set-headers read one (likewise only its readers are redone)
const ROUTING_KINDS: readonly Kind[] = ['Ingress', 'IngressClass', 'Service', 'Secret', 'ConfigMap'];

export class Reconciler {
  private config: RoutingConfig;
  private version = 0;
  private pending = 0;
  /** The changes coalesced since the last build. */
  private changes: StoreChange[] = [];
  /** The next build must start from scratch (start-up, or the last build failed). */
  private needFull = true;
  private firstPendingAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private readonly opts: ReconcilerOptions;
  private readonly kinds: ReadonlySet<Kind>;
  private readonly coalesceMs: number;
  private readonly maxDelayMs: number;
  private builds = 0;
  private translate: TranslateFn;

  constructor(opts: ReconcilerOptions) {
    this.opts = opts;
    this.translate = opts.translate;
    this.kinds = new Set(opts.kinds ?? ROUTING_KINDS);
    this.coalesceMs = opts.coalesceMs ?? 10;
    this.maxDelayMs = opts.maxDelayMs ?? 100;
    this.config = this.translate(opts.store, 0);
  }

  /** The configuration the proxy should use now. Cheap: called per request. */
  readonly current = (): RoutingConfig => this.config;

  get buildCount(): number {
    return this.builds;
  }

  /** Builds once now (from scratch) and then follows the store. */
  start(): void {
    this.unsubscribe = this.opts.store.subscribe((c) => this.onChange(c));
    this.needFull = true;
    this.rebuild();
  }

  stop(): void {
    this.unsubscribe?.();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /**
   * Translates with `translate` from now on (options that come from settings changed: an
   * edited --nginx-configmap) and rebuilds from scratch at once, so the next configuration is
   * the new options' whole answer.
   */
  replaceTranslate(translate: TranslateFn): void {
    this.translate = translate;
    this.needFull = true;
    this.rebuild();
  }

  /** Builds now if anything is pending (used at start-up and in tests). */
  flush(): void {
    if (this.pending > 0) this.rebuild();
  }

  private onChange(change: StoreChange): void {
    if (!this.kinds.has(change.kind)) return;
    if (!routingRelevant(change)) return;
    const now = performance.now();
    if (this.pending++ === 0) this.firstPendingAt = now;
    this.changes.push(change);
    if (this.timer) clearTimeout(this.timer);
    const waited = now - this.firstPendingAt;
    const delay = Math.max(0, Math.min(this.coalesceMs, this.maxDelayMs - waited));
    this.timer = setTimeout(() => this.rebuild(), delay);
  }

  private rebuild(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const changes = this.pending;
    const changed = this.needFull ? undefined : this.changes;
    this.pending = 0;
    this.changes = [];
    const started = performance.now();
    let next: RoutingConfig;
    try {
      next = this.translate(this.opts.store, ++this.version, changed);
    } catch (err) {
      // translate is meant never to throw; if it does, keep serving the last good config,
      // and build from scratch next time (these changes are gone).
      this.needFull = true;
      this.opts.log.error('translation failed; keeping the previous configuration', { err: err as Error });
      this.opts.onFailure?.(err as Error);
      return;
    }
    this.needFull = false;
    this.config = next;
    this.builds++;
    const stats: BuildStats = { durationMs: performance.now() - started, changes, problems: next.problems.length };
    this.opts.reportProblems?.(next.problems);
    this.opts.log.debug('routing configuration swapped', { version: next.version, ...stats });
    this.opts.onSwap?.(next, stats);
  }
}
