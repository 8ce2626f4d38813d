// The store snapshot a starting worker needs, serialised once for all the workers that start
// together. Workers usually start at the same moment (the pool's start, or several replaced
// at once), and each used to get its own serialisation of the whole store: at 10,000 Ingresses
// and 20,000 EndpointSlices that is tens of MiB of work and memory per worker.
//
// Parts are packed lazily, by the first reader that reaches them, and a packed part is dropped
// once every reader has taken it, so at most the parts between the slowest and the fastest
// reader are held. A reader that joins after a part was dropped packs that part again (it
// joined late: the bytes were no longer held).

import { pack, type PackedMessage, type SnapshotMessage } from './protocol.ts';

export interface SnapshotReader {
  /** The next part (packed), or undefined after the last. */
  next(): PackedMessage | undefined;
  /** No more parts are wanted (after the last, or when the worker went away). */
  close(): void;
}

export class SnapshotParts {
  readonly seq: number;
  private readonly parts: readonly SnapshotMessage[];
  private readonly packed: (PackedMessage | undefined)[];
  /** Per part: how many readers have taken it (or closed before it). */
  private readonly taken: number[];
  private readers = 0;
  private open = 0;
  /** How many times a part was serialised (tests read it). */
  packs = 0;

  constructor(seq: number, parts: readonly SnapshotMessage[]) {
    this.seq = seq;
    this.parts = parts;
    this.packed = parts.map(() => undefined);
    this.taken = parts.map(() => 0);
  }

  /** Readers still reading: a new worker may share these parts while there are any. */
  get active(): boolean {
    return this.open > 0;
  }

  reader(): SnapshotReader {
    this.readers++;
    this.open++;
    let i = 0;
    let closed = false;
    return {
      next: () => {
        if (closed || i >= this.parts.length) return undefined;
        const part = (this.packed[i] ??= this.pack(i));
        this.take(i++);
        return part;
      },
      close: () => {
        if (closed) return;
        closed = true;
        this.open--;
        while (i < this.parts.length) this.take(i++);
      },
    };
  }

  private pack(i: number): PackedMessage {
    this.packs++;
    return pack(this.parts[i]!);
  }

  private take(i: number): void {
    if (++this.taken[i]! >= this.readers) this.packed[i] = undefined;
  }
}
