// Request mirroring (ingress-nginx mirror-target): copies of requests sent to another origin
// and forgotten. A copy never delays, changes or fails the client's exchange: it is sent after
// the request is dispatched upstream, its answer is read and dropped, and a failure only
// counts. One undici Pool per mirror origin (keep-alive, MIRROR_CONNECTIONS connections); at
// most MIRROR_IN_FLIGHT copies at once per process, beyond which copies are dropped (a slow or
// dead mirror must not grow memory). One client per proxy, created on the first copy.

import { Pool } from 'undici';
import { OriginFailures } from './origin-failures.ts';

export const MIRROR_CONNECTIONS = 32;
export const MIRROR_IN_FLIGHT = 1024;
/** Connect, and the whole copy (head and body of the answer). */
export const MIRROR_TIMEOUT_MS = 10_000;

/** What happened to copies, for tests and logs. */
export interface MirrorCounts {
  sent: number;
  failed: number;
  dropped: number;
}

export class MirrorClient {
  private readonly pools = new Map<string, Pool>();
  private inFlight = 0;
  private readonly maxInFlight: number;
  private readonly timeoutMs: number;
  readonly counts: MirrorCounts = { sent: 0, failed: 0, dropped: 0 };
  private readonly failures: OriginFailures;

  constructor(opts: { maxInFlight?: number; timeoutMs?: number; onFailure?: (origin: string, reason: string) => void } = {}) {
    this.maxInFlight = opts.maxInFlight ?? MIRROR_IN_FLIGHT;
    this.timeoutMs = opts.timeoutMs ?? MIRROR_TIMEOUT_MS;
    this.failures = new OriginFailures(opts.onFailure ?? null, this.timeoutMs);
  }

  /**
   * Sends one copy: `headers` flat `[name, value, ...]` (Host included), `body` the request
   * body read in full, or null. Never throws, never rejects.
   */
  send(origin: string, path: string, method: string, headers: readonly string[], body: Buffer | null): void {
    if (this.inFlight >= this.maxInFlight) {
      this.counts.dropped++;
      return;
    }
    let pool = this.pools.get(origin);
    if (pool === undefined) {
      pool = new Pool(origin, { connections: MIRROR_CONNECTIONS, connectTimeout: this.timeoutMs, headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs });
      this.pools.set(origin, pool);
    }
    this.inFlight++;
    const done = (): void => {
      this.inFlight--;
    };
    const signal = AbortSignal.timeout(this.timeoutMs);
    pool
      .request({ path, method: method as 'GET', headers: headers as string[], body, signal })
      .then(
        async (res) => {
          this.counts.sent++;
          await res.body.dump();
        },
        (err: unknown) => {
          this.counts.failed++;
          this.failures.report(origin, err);
        },
      )
      .catch(() => {})
      .finally(done);
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.destroy().catch(() => {})));
  }
}
