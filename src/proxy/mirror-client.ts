// Request mirroring (ingress-nginx mirror-target): copies of requests sent to another origin
// and forgotten. A copy never delays, changes or fails the client's exchange: it is sent after
// the request is dispatched upstream, its answer is read and dropped, and a failure only
// counts. One undici Pool per mirror origin (keep-alive, MIRROR_CONNECTIONS connections); at
// most MIRROR_IN_FLIGHT copies at once per process, beyond which copies are dropped (a slow or
// dead mirror must not grow memory). One client per proxy, created on the first copy.

import { Pool } from 'undici';

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
  private readonly onFailure: (origin: string, reason: string) => void;
  private readonly reported = new Map<string, number>();

  constructor(opts: { maxInFlight?: number; timeoutMs?: number; onFailure?: (origin: string, reason: string) => void } = {}) {
    this.maxInFlight = opts.maxInFlight ?? MIRROR_IN_FLIGHT;
    this.timeoutMs = opts.timeoutMs ?? MIRROR_TIMEOUT_MS;
    this.onFailure = opts.onFailure ?? (() => {});
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
          this.report(origin, (err as { code?: string }).code ?? (err as Error).message);
        },
      )
      .catch(() => {})
      .finally(done);
  }

  /** At most once per origin every 10 s. */
  private report(origin: string, reason: string): void {
    const now = Date.now();
    if ((this.reported.get(origin) ?? 0) > now) return;
    this.reported.set(origin, now + 10_000);
    this.onFailure(origin, reason);
  }

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.destroy().catch(() => {})));
  }
}
