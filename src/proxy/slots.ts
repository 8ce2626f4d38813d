// Connection slots of one endpoint's HTTP/1.1 pools, and the requests waiting for one.
//
// undici's Pool queues requests beyond its connection cap without bound and without a
// deadline: 256 slow uploads held every connection of an endpoint and every other request to
// it hung behind them. So the proxy counts the requests it has handed to an endpoint's
// HTTP/1.1 pools (at most one per connection: pipelining is 1) and hands over no more than the
// cap; the rest wait here, first come first served, and the proxy's periodic pass answers 503
// to those that waited longer than --upstream-queue-timeout (Proxy.idleSweep).
//
// Waiters are removed lazily: a waiter that gave up (client gone, timed out) clears its
// `waitingFor` and is skipped when its turn comes. HTTP/2 upstream pools multiplex, and are
// not counted.

export interface SlotWaiter {
  /** The slots this waiter is queued on; null once admitted or given up. */
  waitingFor: EndpointSlots | null;
  /** Called when a slot is this waiter's: it must dispatch now (or release the slot). */
  admitted(): void;
}

export class EndpointSlots {
  /** Requests handed to the pools and not finished. */
  busy = 0;
  private readonly cap: number;
  private queue: (SlotWaiter | null)[] = [];
  private head = 0;

  constructor(cap: number) {
    this.cap = cap > 0 ? cap : 1;
  }

  /** Take a slot (true), or queue `w` for one (false). */
  acquire(w: SlotWaiter): boolean {
    if (this.busy < this.cap && this.head === this.queue.length) {
      this.busy++;
      return true;
    }
    w.waitingFor = this;
    this.queue.push(w);
    return false;
  }

  /** Give a slot back; the first live waiter gets it. */
  release(): void {
    this.busy--;
    while (this.busy < this.cap && this.head < this.queue.length) {
      const w = this.queue[this.head];
      this.queue[this.head++] = null;
      if (w === null || w === undefined || w.waitingFor !== this) continue;
      w.waitingFor = null;
      this.busy++;
      w.admitted();
    }
    if (this.head === this.queue.length && this.head > 0) {
      this.queue = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.queue.length) {
      // keep the array from growing for ever under a steady queue
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  /** Requests queued (including ones that gave up and were not skipped yet). */
  get queued(): number {
    return this.queue.length - this.head;
  }
}

/** Stop waiting (client gone, or timed out). */
export function cancelWait(w: SlotWaiter): void {
  w.waitingFor = null;
}
