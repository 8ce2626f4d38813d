// Reproduction (not a benchmark, not a test): aborting an undici HTTP/2 (h2c) request while
// its streaming body still has data on the way makes Node's native HTTP/2 code spin in
// Http2Session::SendPendingData (nghttp2_session_mem_send) with memory growing without bound;
// the event loop never runs again. An abort after the body stopped does not spin, but sends the
// server no RST_STREAM either (Node's Http2Stream.close() emits 'aborted', on which the pipe
// undici feeds the body through destroys the stream before the reset is submitted): the
// server keeps the stream open until the connection ends. Destroying the HTTP/2 stream itself
// with an error before the abort does neither: the server gets RST_STREAM(INTERNAL_ERROR). That
// is what Portico does before any abort of its own while a body streams to an HTTP/2 backend
// (proxy-body-size, client gone, body timeout: src/proxy/h2-upstream-body.ts). Seen with undici 8.12.4, 8.13.0 and 8.14.1 on Node
// 24.21.0; rerun after upgrading either:
//
//   node bench/h2-abort-spin.ts          (Node 24: node_modules/.bin/node)
//   UNDICI=/path/to/undici/index.js node bench/h2-abort-spin.ts     (another undici copy)
//
// prints, for each way of aborting, "spins" (the child did not answer within 5 s) or "ok" with
// what the server saw of the stream. The child is a node:http2 h2c server and an undici Pool
// in one process; loopback only.

import { spawn } from 'node:child_process';
import http2 from 'node:http2';
import { PassThrough, type Writable } from 'node:stream';

const WAYS = ['abort-while-sending', 'abort-after-body-stopped', 'destroy-stream-then-abort'] as const;
type Way = (typeof WAYS)[number];
type Controller = { abort(e: Error): void };

async function child(way: Way): Promise<void> {
  const { Pool } = (await import(process.env.UNDICI ?? 'undici')) as typeof import('undici');
  const server = http2.createServer();
  let seen = 'no stream';
  server.on('stream', (st) => {
    seen = 'left open';
    st.respond({ ':status': 200 });
    st.on('data', (d: Buffer) => st.write(d.subarray(0, 10)));
    st.on('end', () => {
      if (!st.closed && !st.destroyed) seen = 'ended (END_STREAM)';
      st.end();
    });
    st.on('aborted', () => (seen = `reset (code ${st.rstCode})`));
    st.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  const pool = new Pool(`http://127.0.0.1:${port}`, { allowH2: true, pipelining: 1, useH2c: true, h2Options: { useH2c: true } } as never);
  // the HTTP/2 stream undici pipes the body into (its stream.pipeline calls `pipe`)
  let h2stream: Writable | null = null;
  class Body extends PassThrough {
    override pipe<T extends NodeJS.WritableStream>(destination: T, options?: { end?: boolean }): T {
      h2stream = destination as unknown as Writable;
      return super.pipe(destination, options);
    }
  }
  const body = new Body();
  let controller: Controller | null = null;
  pool.dispatch({ path: '/', method: 'POST', body, headers: {} }, {
    onRequestStart: (c: Controller) => void (controller = c),
    onResponseStart: () => {},
    onResponseData: () => {},
    onResponseEnd: () => {},
    onResponseError: () => {},
  } as never);
  let written = 0;
  let stopped = false;
  for (let i = 0; i < 40 && !stopped; i++) {
    body.write(Buffer.alloc(16 * 1024, 120));
    written += 16 * 1024;
    if (written > 64 * 1024 && controller !== null) {
      const c: Controller = controller;
      controller = null;
      stopped = true;
      const err = new Error('body too large');
      if (way === 'abort-while-sending') c.abort(err);
      else if (way === 'abort-after-body-stopped') setTimeout(() => c.abort(err), 300);
      else {
        (h2stream as Writable | null)?.destroy(err);
        c.abort(err);
      }
    }
    await new Promise((r) => setImmediate(r));
  }
  setTimeout(() => {
    process.stdout.write(`alive; the server's stream: ${seen}\n`);
    process.exit(0);
  }, 1000);
}

async function main(): Promise<void> {
  for (const way of WAYS) {
    const c = spawn(process.execPath, [new URL(import.meta.url).pathname, '--child', way], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    const timer = setTimeout(() => c.kill('SIGKILL'), 5000);
    await new Promise<void>((r) => c.on('exit', () => r()));
    clearTimeout(timer);
    process.stdout.write(`${way}: ${out.startsWith('alive') ? `ok (${out.trim().slice('alive; '.length)})` : 'spins'}\n`);
  }
}

if (process.argv[2] === '--child') await child(process.argv[3] as Way);
else await main();
