// Request body limit (ingress-nginx proxy-body-size, nginx's client_max_body_size): a declared
// Content-Length above the limit is answered 413 before the upstream sees a byte; a body
// without one (chunked, HTTP/2) is counted as it streams and cut at the limit.

import type { IncomingMessage } from 'node:http';
import { Transform, type Readable } from 'node:stream';

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

/**
 * The request body passed through a counter: past `limit` bytes nothing more is passed on and
 * `onExceeded` is called once (the caller aborts the upstream request). The stream itself does
 * not fail: an errored body stream left the HTTP/2 request unread and spinning. A body cut at
 * the limit never ends either: its end would tell the upstream it was complete. (To an HTTP/2
 * backend the caller resets the upstream stream before aborting: h2-upstream-body.ts.)
 */
export function limitedBody(req: IncomingMessage, limit: number, onExceeded: (err: BodyTooLarge) => void): Readable {
  let seen = 0;
  let exceeded = false;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen <= limit) {
        callback(null, chunk);
        return;
      }
      if (!exceeded) {
        exceeded = true;
        onExceeded(new BodyTooLarge(limit));
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
