// Connection slots of one endpoint's HTTP/1.1 pools, and the requests waiting for one.
//
// undici's Pool queues requests beyond its connection cap without bound and without a
// deadline: 256 slow uploads held every connection of an endpoint and every other request to
// it hung behind them. So the proxy counts the requests it has handed to an endpoint's
// HTTP/1.1 pools (at most one per connection: pipelining is 1) and hands over no more than the
// cap; the rest wait here, first come first served, and the proxy's periodic pass answers 503
// to those that waited longer than --upstream-queue-timeout (Proxy.idleSweep).
//
// Uploads get at most half of the slots. A request whose body still streams from the client
// (larger than --client-body-buffer-size, or without a length) holds its connection for as
// long as the client takes to send it, and a few hundred slow clients could hold all of them.
// Requests without a body, or whose body was read in full first, take a slot in
// milliseconds: they may use every slot, and a free slot goes to them before a waiting
// upload, so an endpoint keeps answering them whatever the uploads do. Uploads wait in their
// own queue (first come first served among themselves).
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

/** A FIFO of waiters with lazy removal. */
class WaitQueue {
  private items: (SlotWaiter | null)[] = [];
  private head = 0;

  push(w: SlotWaiter): void {
    this.items.push(w);
  }

  get empty(): boolean {
    return this.head === this.items.length;
  }

  get length(): number {
    return this.items.length - this.head;
  }

  /** The next waiter still waiting on `owner`, taken off the queue; null when none. */
  take(owner: EndpointSlots): SlotWaiter | null {
    while (this.head < this.items.length) {
      const w = this.items[this.head];
      this.items[this.head++] = null;
      if (w !== null && w !== undefined && w.waitingFor === owner) {
        this.compact();
        return w;
      }
    }
    this.compact();
    return null;
  }

  private compact(): void {
    if (this.head === this.items.length && this.head > 0) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      // keep the array from growing for ever under a steady queue
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

export class EndpointSlots {
  /** Requests handed to the pools and not finished. */
  busy = 0;
  /** Of those, uploads (bodies still streaming from the client). */
  uploads = 0;
  private readonly cap: number;
  private readonly uploadCap: number;
  private readonly waiting = new WaitQueue();
  private readonly waitingUploads = new WaitQueue();

  constructor(cap: number) {
    this.cap = cap > 0 ? cap : 1;
    this.uploadCap = Math.max(1, Math.floor(this.cap / 2));
  }

  /** Take a slot (true), or queue `w` for one (false). `upload`: the body streams from the client. */
  acquire(w: SlotWaiter, upload = false): boolean {
    if (upload) {
      if (this.busy < this.cap && this.uploads < this.uploadCap && this.waiting.empty && this.waitingUploads.empty) {
        this.busy++;
        this.uploads++;
        return true;
      }
      w.waitingFor = this;
      this.waitingUploads.push(w);
      return false;
    }
    if (this.busy < this.cap && this.waiting.empty) {
      this.busy++;
      return true;
    }
    w.waitingFor = this;
    this.waiting.push(w);
    return false;
  }

  /** Give a slot back (`upload` as it was acquired); waiters get the free slots. */
  release(upload = false): void {
    this.busy--;
    if (upload) this.uploads--;
    while (this.busy < this.cap) {
      let w = this.waiting.take(this);
      let isUpload = false;
      if (w === null && this.uploads < this.uploadCap) {
        w = this.waitingUploads.take(this);
        isUpload = true;
      }
      if (w === null) break;
      w.waitingFor = null;
      this.busy++;
      if (isUpload) this.uploads++;
      w.admitted();
    }
  }

  /** Requests queued (including ones that gave up and were not skipped yet). */
  get queued(): number {
    return this.waiting.length + this.waitingUploads.length;
  }
}

/** Stop waiting (client gone, or timed out). */
export function cancelWait(w: SlotWaiter): void {
  w.waitingFor = null;
}
