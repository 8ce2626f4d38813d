// Request body limit (ingress-nginx proxy-body-size, nginx's client_max_body_size): a declared
// Content-Length above the limit is answered 413 before the upstream sees a byte; a body
// without one (chunked, HTTP/2) is counted as it streams and cut at the limit.

import type { IncomingMessage } from 'node:http';
import { Transform, Writable, type Readable } from 'node:stream';

/** Thrown into the upstream request when a streamed body passes its limit. */
export class BodyTooLarge extends Error {
  constructor(limit: number) {
    super(`request body larger than ${limit} bytes`);
    this.name = 'BodyTooLarge';
  }
}

/** Whether a declared length (-1: none) is over `limit` (0: no limit). */
export function declaredTooLarge(declared: number, limit: number): boolean {
  return limit > 0 && declared > limit;
}

/** The counting stream; it remembers where it is piped (undici's stream.pipeline calls `pipe`). */
class BodyCounter extends Transform {
  sink: Writable | null = null;

  override pipe<T extends NodeJS.WritableStream>(destination: T, options?: { end?: boolean }): T {
    if (destination instanceof Writable) this.sink = destination;
    return super.pipe(destination, options);
  }
}

/**
 * The request body passed through a counter: past `limit` bytes nothing more is passed on and
 * `onExceeded` is called once (the caller aborts the upstream request). The stream itself does
 * not fail: an errored body stream left the HTTP/2 request unread and spinning. A body cut at
 * the limit never ends either: its end would tell the upstream it was complete.
 *
 * `upstreamH2`: the body goes to an HTTP/2 backend, piped by undici into a Node HTTP/2 stream.
 * undici's abort of that stream (close, then destroy) while data written to it is still on its
 * way makes Node's Http2Session::SendPendingData loop forever, and in any case sends no
 * RST_STREAM: the backend keeps the stream open until the connection ends (close() emits
 * 'aborted', on which the pipe destroys the stream before the reset is submitted). Destroying
 * the HTTP/2 stream itself with an error does neither: Node resets it (INTERNAL_ERROR) with the
 * data in flight dropped, and undici's pipe then fails the request with that error. So it is
 * destroyed first, then `onExceeded` aborts as for any backend (bench/h2-abort-spin.ts).
 */
export function limitedBody(req: IncomingMessage, limit: number, onExceeded: (err: BodyTooLarge) => void, upstreamH2 = false): Readable {
  let seen = 0;
  let exceeded = false;
  const counter: BodyCounter = new BodyCounter({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen <= limit) {
        callback(null, chunk);
        return;
      }
      if (!exceeded) {
        exceeded = true;
        const err = new BodyTooLarge(limit);
        // not piped yet: undici has no HTTP/2 stream for it, and its abort is safe
        if (upstreamH2 && counter.sink !== null && !counter.sink.destroyed) counter.sink.destroy(err);
        onExceeded(err);
      }
      callback();
    },
    flush(callback) {
      if (!exceeded) callback();
    },
  });
  // undici destroys the body with its abort reason, also before it has piped it anywhere (the
  // request aborted while waiting for a connection): nobody else listens then
  counter.on('error', ignore);
  return req.pipe(counter);
}

function ignore(): void {}
