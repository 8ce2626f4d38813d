// Whether the Kubernetes API answers, as every request of this process sees it.
//
// Each watch backs off on its own while the API is down (informer.ts), which is right during
// an outage: a gentle trickle of retries. But each backoff grows from its own failures only, so
// after a long outage one watch may sleep 18 s more while the lease renewals and the other
// watches already succeed again. Every request reports here; the first success after a
// failure is a recovery, and the watches that are waiting cut their backoff short.
//
// What counts: a response below 500 other than 429 is the API serving (a 404 or a 409 too); a
// 5xx, a 429 (the API shedding load), a network error or a timeout is a failure. A request
// the caller aborted says nothing about the API and is not reported.

export type RecoveryListener = () => void;

export class ApiReachability {
  private failing = false;
  private readonly listeners = new Set<RecoveryListener>();

  /** True after a failure, until the next success. */
  get isFailing(): boolean {
    return this.failing;
  }

  /** A request got an answer that shows the API serving. */
  succeeded(): void {
    if (!this.failing) return;
    this.failing = false;
    for (const l of [...this.listeners]) l();
  }

  failed(): void {
    this.failing = true;
  }

  /** Reports an HTTP status: success or failure as described above. */
  status(code: number): void {
    if (code >= 500 || code === 429) this.failed();
    else this.succeeded();
  }

  /** Called on each recovery (the first success after a failure). Returns an unsubscribe function. */
  onRecovered(listener: RecoveryListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
