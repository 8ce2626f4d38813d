// A request body streamed to an HTTP/2 backend (GRPC, GRPCS, H2C), and how to abort it.
//
// undici pipes such a body into a Node HTTP/2 stream (stream.pipeline, which calls `pipe`).
// undici's abort of that request (Http2Stream.close(), then destroy()) while the body is still
// open goes wrong two ways in Node 24.21 with undici 8.12.4 to 8.14.1 (bench/h2-abort-spin.ts):
// with data written to the stream still on its way, Http2Session::SendPendingData loops
// forever (the event loop never runs again); and in any case no RST_STREAM is sent, because
// close() emits 'aborted', on which the pipe destroys the stream before the reset is submitted,
// so the backend keeps the stream open until the connection ends. Destroying the HTTP/2 stream
// itself with an error does neither: Node resets it (RST_STREAM INTERNAL_ERROR), dropping the
// data in flight, and undici's pipe then fails the request with that error. So the exchange
// remembers that stream and destroys it before any abort of its own.

import { Writable, type Readable } from 'node:stream';

/** Calls `onSink` with each destination `body` is piped into (undici's HTTP/2 stream). */
export function watchSink(body: Readable, onSink: (sink: Writable) => void): void {
  const pipe = body.pipe;
  body.pipe = function pipeWatched<T extends NodeJS.WritableStream>(this: Readable, destination: T, options?: { end?: boolean }): T {
    if (destination instanceof Writable) onSink(destination);
    return pipe.call(this, destination, options) as T;
  };
}

/**
 * Resets the HTTP/2 stream a body is still being written to, before the request is aborted.
 * Nothing to do once the body went out whole (undici's abort then resets the stream itself).
 */
export function resetSink(sink: Writable, err: Error): void {
  if (!sink.destroyed && !sink.writableFinished) sink.destroy(err);
}
