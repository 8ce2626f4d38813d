// Reproduction (not a benchmark, not a test): aborting an undici HTTP/2 (h2c) request while
// its streaming body still has data on the way makes Node's native HTTP/2 code spin in
// Http2Session::SendPendingData (nghttp2_session_mem_send) with memory growing without bound;
// the event loop never runs again. It is why Portico does not cut an HTTP/2 client's body at
// proxy-body-size on its way to an HTTP/2 (gRPC, H2C) backend (proxy.ts, "limited by a declared
// length only"). Seen with undici 8.12.4 and Node 24.21.0; rerun after upgrading either:
//
//   node bench/h2-abort-spin.ts          (Node 24: node_modules/.bin/node)
//
// prints, for each way of aborting, "spins" (the child did not answer within 5 s) or "ok". The
// child is a node:http2 h2c server and an undici Pool in one process; loopback only.

import { spawn } from 'node:child_process';
import http2 from 'node:http2';
import { PassThrough } from 'node:stream';
import { Pool } from 'undici';

type Way = 'abort-while-sending' | 'abort-after-body-stopped';

async function child(way: Way): Promise<void> {
  const server = http2.createServer();
  server.on('stream', (st) => {
    st.respond({ ':status': 200 });
    st.on('data', (d: Buffer) => st.write(d.subarray(0, 10)));
    st.on('end', () => st.end());
    st.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  const pool = new Pool(`http://127.0.0.1:${port}`, { allowH2: true, pipelining: 1, useH2c: true, h2Options: { useH2c: true } } as Pool.Options);
  const body = new PassThrough();
  let controller: { abort(e: Error): void } | null = null;
  pool.dispatch({ path: '/', method: 'POST', body, headers: {} }, {
    onRequestStart: (c: { abort(e: Error): void }) => void (controller = c),
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
      const c: { abort(e: Error): void } = controller;
      controller = null;
      stopped = true;
      if (way === 'abort-while-sending') c.abort(new Error('body too large'));
      else setTimeout(() => c.abort(new Error('body too large')), 300);
    }
    await new Promise((r) => setImmediate(r));
  }
  setTimeout(() => {
    process.stdout.write('alive\n');
    process.exit(0);
  }, 1000);
}

async function main(): Promise<void> {
  for (const way of ['abort-while-sending', 'abort-after-body-stopped'] as const) {
    const c = spawn(process.execPath, [new URL(import.meta.url).pathname, '--child', way], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    const timer = setTimeout(() => c.kill('SIGKILL'), 5000);
    await new Promise<void>((r) => c.on('exit', () => r()));
    clearTimeout(timer);
    process.stdout.write(`${way}: ${out.includes('alive') ? 'ok' : 'spins'}\n`);
  }
}

if (process.argv[2] === '--child') await child(process.argv[3] as Way);
else await main();
