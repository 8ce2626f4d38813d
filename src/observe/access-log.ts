// Access log: one JSON line per request. Lines are batched and written once per event-loop
// turn, so logging costs one write per burst rather than one syscall per request.

export interface Writable {
  write(chunk: string): boolean;
}

export class AccessLog {
  private buffer: string[] = [];
  private scheduled = false;
  private readonly out: Writable;

  constructor(out: Writable) {
    this.out = out;
  }

  /** Adds the line with `time` (when the request finished) first. */
  write(entry: object): void {
    const json = JSON.stringify(entry);
    const time = `{"time":"${new Date().toISOString()}"`;
    this.buffer.push(json === '{}' ? `${time}}` : `${time},${json.slice(1)}`);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  readonly flush = (): void => {
    this.scheduled = false;
    if (this.buffer.length === 0) return;
    const text = this.buffer.join('\n') + '\n';
    this.buffer = [];
    this.out.write(text);
  };
}
