// Failures of an outgoing client (external auth, mirrors) told at most once per origin every
// FAILURE_REPORT_MS, with the reason in words (an error code, or "no answer within N ms" for
// a timeout): a dead service must not flood the log. At most 1,000 origins are remembered.

/** How often failures of one origin are reported. */
export const FAILURE_REPORT_MS = 10_000;

export class OriginFailures {
  private readonly reported = new Map<string, number>();
  private readonly onFailure: ((origin: string, reason: string) => void) | null;
  private readonly timeoutMs: number;

  constructor(onFailure: ((origin: string, reason: string) => void) | null, timeoutMs: number) {
    this.onFailure = onFailure;
    this.timeoutMs = timeoutMs;
  }

  report(origin: string, err: unknown): void {
    if (this.onFailure === null) return;
    const now = Date.now();
    const last = this.reported.get(origin);
    if (last !== undefined && now - last < FAILURE_REPORT_MS) return;
    if (this.reported.size > 1000) this.reported.clear();
    this.reported.set(origin, now);
    const e = err as { code?: unknown; name?: unknown } | null;
    const reason = typeof e?.code === 'string' ? e.code : typeof e?.name === 'string' ? e.name : 'error';
    this.onFailure(origin, reason === 'TimeoutError' || reason === 'AbortError' ? `no answer within ${this.timeoutMs} ms` : reason);
  }
}
