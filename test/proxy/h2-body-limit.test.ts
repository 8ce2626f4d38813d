// proxy-body-size on bodies bound for an HTTP/2 backend (H2C; GRPC is the same upstream mode):
// a streamed body over the limit is cut there too, from an HTTP/2 client and from an HTTP/1.1
// chunked one, and an upload whose client goes away is cancelled there, without leaving the
// proxy's event loop spinning in Node's HTTP/2 code or the backend's stream open
// (bench/h2-abort-spin.ts). The proxy runs in a child process, so a spinning proxy fails the
// bounded waits below instead of freezing the test runner; the backend runs here.

import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from './fixtures.ts';

const LIMIT = 64 * 1024;
const CHUNK = Buffer.alloc(16 * 1024, 'x');

/** What the backend saw of each request body: bytes, and whether it ended (else it was reset). */
interface SeenBody {
  path: string;
  bytes: number;
  ended: boolean;
}

let backend: http2.Http2Server;
/** The backend of small.test (1 KiB limit): its own, so its first request waits for a connection. */
let backend2: http2.Http2Server;
let child: ChildProcess;
let port = 0;
let tlsPort = 0;
let cert = '';
/** Bodies by stream close, and by stream open. */
const seen: SeenBody[] = [];
const opened: SeenBody[] = [];
const infos: { status: number; error: string | null }[] = [];

beforeAll(async () => {
  // /up reads the body and answers with its length; /stall never reads (its window stays shut)
  backend = http2.createServer();
  backend2 = http2.createServer();
  const onStream = (st: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void => {
    const body: SeenBody = { path: String(headers[':path']), bytes: 0, ended: false };
    opened.push(body);
    st.on('error', () => {});
    st.on('close', () => seen.push(body));
    if (body.path === '/stall') {
      st.pause();
      return;
    }
    // /mute reads the body and never answers
    if (body.path === '/mute') {
      st.on('data', (c: Buffer) => (body.bytes += c.length));
      return;
    }
    // /early answers its head at once and then reads (as a gRPC bidi stream does)
    if (body.path === '/early') st.respond({ ':status': 200 });
    st.on('data', (c: Buffer) => (body.bytes += c.length));
    st.on('end', () => {
      // a reset stream ends its readable side too, once it is closed
      if (st.closed || st.destroyed) return;
      body.ended = true;
      if (!st.headersSent) st.respond({ ':status': 200 });
      st.end(`got ${body.bytes}`);
    });
  };
  backend.on('stream', onStream);
  backend2.on('stream', onStream);
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', () => r()));
  await new Promise<void>((r) => backend2.listen(0, '127.0.0.1', () => r()));
  child = fork(fileURLToPath(new URL('./h2-body-limit-child.ts', import.meta.url)), [String((backend.address() as AddressInfo).port), String(LIMIT), String((backend2.address() as AddressInfo).port)], {
    execArgv: ['--no-warnings'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = await new Promise<{ port: number; tlsPort: number; cert: string }>((resolve, reject) => {
    child.once('message', (m) => resolve(m as { port: number; tlsPort: number; cert: string }));
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`child exited ${code}`)));
  });
  ({ port, tlsPort, cert } = ready);
  child.on('message', (m) => infos.push(m as { status: number; error: string | null }));
}, 30_000);

afterAll(async () => {
  if (child !== undefined) {
    if (child.connected) child.send('exit');
    await new Promise<void>((r) => {
      if (child.exitCode !== null || child.signalCode !== null) return r();
      // a child that does not quit (a spinning loop) is killed: it is ours
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      child.once('exit', () => {
        clearTimeout(t);
        r();
      });
    });
  }
  for (const b of [backend, backend2]) if (b !== undefined) await new Promise<void>((r) => b.close(() => r()));
});

/**
 * POSTs `size` bytes in DATA frames of up to 16 KiB without content-length on `session`; resolves once
 * the stream is answered and closed (a Node client keeps a stream whose writes are blocked after
 * a RST_STREAM(NO_ERROR) undestroyed: `closed` and `rstCode` say the reset arrived). Bounded:
 * a proxy that stops answering fails here.
 */
async function h2Post(session: http2.ClientHttp2Session, path: string, size: number, authority = 'app.test'): Promise<{ status: number; body: string; rstCode: number | undefined }> {
  const s = session.request({ ':method': 'POST', ':path': path, ':authority': authority }, { endStream: false });
  let status = 0;
  let body = '';
  s.on('response', (h) => (status = Number(h[':status'])));
  s.on('error', () => {});
  s.setEncoding('utf8');
  s.on('data', (d: string) => (body += d));
  let sent = 0;
  const pump = (): void => {
    while (sent < size && !s.closed) {
      const n = Math.min(CHUNK.length, size - sent);
      sent += n;
      if (!s.write(CHUNK.subarray(0, n))) {
        s.once('drain', pump);
        return;
      }
    }
    if (!s.closed) s.end();
  };
  pump();
  await until(() => s.closed && status !== 0, 5000, `the HTTP/2 POST of ${size} bytes to ${path} to be answered and closed`);
  const rstCode = s.rstCode;
  s.destroy();
  return { status, body, rstCode };
}

/** A chunked HTTP/1.1 POST of `size` bytes; the status, 0 if the connection died first. Bounded. */
async function chunkedPost(size: number): Promise<number> {
  let status = -1;
  const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/up', headers: { host: 'app.test' }, agent: false }, (res) => {
    res.resume();
    res.on('end', () => (status = res.statusCode ?? 0));
  });
  req.on('error', () => {
    if (status === -1) status = 0;
  });
  let sent = 0;
  const pump = (): void => {
    while (sent < size && !req.destroyed) {
      const n = Math.min(CHUNK.length, size - sent);
      sent += n;
      if (!req.write(CHUNK.subarray(0, n))) {
        req.once('drain', pump);
        return;
      }
    }
    if (!req.destroyed) req.end();
  };
  pump();
  await until(() => status !== -1, 5000, `the chunked POST of ${size} bytes to be answered`);
  req.destroy();
  return status;
}

function connect(): http2.ClientHttp2Session {
  const session = http2.connect(`https://127.0.0.1:${tlsPort}`, { ca: cert, servername: 'app.test' });
  session.on('error', () => {});
  return session;
}

describe('request body limit to an HTTP/2 backend', () => {
  it('an HTTP/2 stream over the limit gets 413 and a reset, the backend at most the limit; the proxy goes on', async () => {
    const session = connect();
    try {
      const before = seen.length;
      // 4 MiB against 64 KiB: the stream must end long before the client is done
      const over = await h2Post(session, '/up', 4 * 1024 * 1024);
      expect(over.status).toBe(413);
      expect(over.rstCode).toBe(http2.constants.NGHTTP2_NO_ERROR);
      await until(() => infos.some((i) => i.status === 413 && i.error === 'body_too_large'), 3000, 'the 413 to be reported');
      // the backend had the stream, reset before its end, with no more than the limit
      await until(() => seen.length > before, 3000, 'the backend stream to close');
      const cut = seen.slice(before);
      expect(cut).toHaveLength(1);
      expect(cut[0]!.ended).toBe(false);
      expect(cut[0]!.bytes).toBeLessThanOrEqual(LIMIT);
      // the proxy (same client session, same upstream session) still answers, and a body
      // under the limit passes whole
      const under = await h2Post(session, '/up', 48 * 1024);
      expect(under).toMatchObject({ status: 200, body: `got ${48 * 1024}` });
      expect(seen.at(-1)).toEqual({ path: '/up', bytes: 48 * 1024, ended: true });
    } finally {
      session.destroy();
    }
  });

  it('over the limit after the backend answered: both streams are cut, the proxy goes on', async () => {
    const session = connect();
    try {
      const before = opened.length;
      const reported = infos.length;
      const s = session.request({ ':method': 'POST', ':path': '/early', ':authority': 'app.test' }, { endStream: false });
      let status = 0;
      s.on('response', (h) => (status = Number(h[':status'])));
      s.on('error', () => {});
      s.resume();
      await until(() => status !== 0, 3000, 'the early answer');
      expect(status).toBe(200);
      for (let i = 0; i < 8 && !s.closed; i++) {
        s.write(CHUNK);
        await new Promise<void>((r) => setImmediate(r));
      }
      // the client stream is reset with INTERNAL_ERROR (a failed call, not a clean end), the backend's too
      await until(() => s.closed, 3000, 'the client stream to be closed');
      expect(s.rstCode).toBe(http2.constants.NGHTTP2_INTERNAL_ERROR);
      s.destroy();
      const early = opened.slice(before).filter((b) => b.path === '/early');
      expect(early).toHaveLength(1);
      await until(() => seen.includes(early[0]!), 3000, 'the backend stream to be reset');
      expect(early[0]!.ended).toBe(false);
      expect(early[0]!.bytes).toBeLessThanOrEqual(LIMIT);
      await until(() => infos.slice(reported).some((i) => i.status === 200 && i.error === 'body_too_large'), 3000, 'the cut to be reported');
      expect((await h2Post(session, '/up', 16 * 1024)).status).toBe(200);
    } finally {
      session.destroy();
    }
  });

  it('a client that sent its whole over-limit body before the 413: the stream still closes and the request is reported at once', async () => {
    const session = connect();
    try {
      const reported = infos.length;
      const s = session.request({ ':method': 'POST', ':path': '/up', ':authority': 'app.test' }, { endStream: false });
      let status = 0;
      s.on('response', (h) => (status = Number(h[':status'])));
      s.on('error', () => {});
      s.resume();
      // the whole body at once, ended: the client is done before the proxy sees the limit pass
      s.end(Buffer.alloc(LIMIT * 2, 'y'));
      await until(() => status !== 0, 5000, 'the answer');
      expect(status).toBe(413);
      await until(() => s.closed, 3000, 'the client stream to close');
      await until(() => infos.slice(reported).some((i) => i.status === 413), 3000, 'the 413 to be reported (the proxy side of the stream closed)');
    } finally {
      session.destroy();
    }
  });

  it('a body exactly at the limit passes intact', async () => {
    const session = connect();
    try {
      expect(await h2Post(session, '/up', LIMIT)).toMatchObject({ status: 200, body: `got ${LIMIT}` });
    } finally {
      session.destroy();
    }
  });

  it('a backend that stops reading: the stream is still cut (413), and the proxy goes on', async () => {
    const session = connect();
    try {
      const before = seen.length;
      const over = await h2Post(session, '/stall', 1024 * 1024);
      expect(over.status).toBe(413);
      await until(() => seen.length > before, 3000, 'the stalled backend stream to be reset');
      expect(seen.at(-1)).toMatchObject({ path: '/stall', ended: false });
      expect((await h2Post(session, '/up', 16 * 1024)).status).toBe(200);
    } finally {
      session.destroy();
    }
  });

  it('a body past the limit before the upstream connection is up: 413, the backend never gets the end of it', async () => {
    const session = connect();
    try {
      const reported = infos.length;
      // 1 KiB limit, 64 KiB sent at once: counted before undici has connected to this backend,
      // so the request is aborted as it starts, and the backend sees no stream at all (or, if
      // the count came later, a reset one)
      expect((await h2Post(session, '/up?first', 64 * 1024, 'small.test')).status).toBe(413);
      await until(() => infos.slice(reported).some((i) => i.status === 413 && i.error === 'body_too_large'), 3000, 'the 413 to be reported');
      const first = opened.filter((b) => b.path === '/up?first');
      if (first.length > 0) await until(() => seen.includes(first[0]!), 3000, 'the backend stream to close');
      expect(first.every((b) => !b.ended && b.bytes <= 1024)).toBe(true);
      // the same upstream then takes a body under the limit whole
      expect(await h2Post(session, '/up?second', 1024, 'small.test')).toMatchObject({ status: 200, body: 'got 1024' });
      expect(opened.filter((b) => b.path === '/up?first')).toEqual(first);
    } finally {
      session.destroy();
    }
  });

  it('clients that reset their streams mid-upload (with and without a limit): the backend streams are reset, the proxy goes on', async () => {
    const session = connect();
    /** Bytes each round's client wrote, by path. */
    const sentBy = new Map<string, number>();
    try {
      for (let round = 0; round < 40; round++) {
        const path = `/up?gone${round}`;
        const s = session.request({ ':method': 'POST', ':path': path, ':authority': round % 2 === 0 ? 'app.test' : 'open.test' }, { endStream: false });
        s.on('error', () => {});
        let sent = 0;
        await new Promise<void>((resolve) => {
          const pump = (): void => {
            while (sent < (8 + (round % 7) * 8) * 1024) {
              sent += 8 * 1024;
              if (!s.write(CHUNK.subarray(0, 8 * 1024))) break;
            }
            sentBy.set(path, sent);
            s.close(http2.constants.NGHTTP2_CANCEL);
            resolve();
          };
          setImmediate(pump);
        });
      }
      // every upload that reached the backend is closed there, none left open, and none ended
      // short of what its client sent: a cut body never reaches the backend as a complete one.
      // (Node's client close() ends its writable side before the RST_STREAM, so now and then the
      // END_STREAM of a whole body gets out first: that upload was complete, and may end.)
      await until(() => opened.filter((b) => b.path.startsWith('/up?gone')).every((b) => seen.includes(b)), 3000, 'the backend streams of the gone uploads to be reset');
      expect(opened.filter((b) => b.path.startsWith('/up?gone') && b.ended && b.bytes !== sentBy.get(b.path))).toEqual([]);
      expect((await h2Post(session, '/up', 16 * 1024)).status).toBe(200);
      const other = connect();
      try {
        expect((await h2Post(other, '/up', 16 * 1024)).status).toBe(200);
      } finally {
        other.destroy();
      }
    } finally {
      session.destroy();
    }
  });

  it('HTTP/1.1 clients gone mid-upload: the backend streams are reset, the proxy goes on', async () => {
    for (let round = 0; round < 20; round++) {
      const req = http.request({ host: '127.0.0.1', port, method: 'POST', path: `/up?h1gone${round}`, headers: { host: round % 2 === 0 ? 'app.test' : 'open.test' }, agent: false });
      req.on('error', () => {});
      const n = 1 + (round % 6);
      for (let i = 0; i < n; i++) req.write(CHUNK.subarray(0, 8 * 1024));
      await new Promise<void>((r) => setImmediate(r));
      req.destroy();
    }
    await until(() => opened.filter((b) => b.path.startsWith('/up?h1gone')).every((b) => seen.includes(b)), 3000, 'the backend streams of the gone uploads to be reset');
    expect(opened.filter((b) => b.path.startsWith('/up?h1gone') && b.ended)).toEqual([]);
    expect(await chunkedPost(16 * 1024)).toBe(200);
  });

  it("undici's own header timeout while the body still streams: 504, the backend stream is reset, the proxy goes on", async () => {
    const session = connect();
    try {
      const before = opened.length;
      const s = session.request({ ':method': 'POST', ':path': '/mute', ':authority': 'slow.test' }, { endStream: false });
      let status = 0;
      s.on('response', (h) => (status = Number(h[':status'])));
      s.on('error', () => {});
      s.resume();
      // keep the body coming, as fast as flow control lets it (bounded, never ended), until the
      // proxy answers
      let writes = 0;
      const pump = (): void => {
        while (status === 0 && !s.closed && writes < 400) {
          writes++;
          if (!s.write(CHUNK.subarray(0, 4 * 1024))) {
            s.once('drain', pump);
            return;
          }
        }
      };
      pump();
      await until(() => status !== 0, 5000, 'an answer to the upload whose backend never answers');
      expect(status).toBe(504);
      s.destroy();
      const mute = opened.slice(before).filter((b) => b.path === '/mute');
      expect(mute).toHaveLength(1);
      await until(() => seen.includes(mute[0]!), 3000, 'the backend stream to be reset');
      expect(mute[0]!.ended).toBe(false);
      expect((await h2Post(session, '/up', 16 * 1024)).status).toBe(200);
    } finally {
      session.destroy();
    }
  });

  it('a chunked HTTP/1.1 body over the limit is cut on its way to the HTTP/2 backend too', async () => {
    const before = seen.length;
    expect([413, 0]).toContain(await chunkedPost(1024 * 1024));
    await until(() => seen.length > before, 3000, 'the backend stream to close');
    expect(seen.at(-1)!.ended).toBe(false);
    expect(seen.at(-1)!.bytes).toBeLessThanOrEqual(LIMIT);
    expect(await chunkedPost(32 * 1024)).toBe(200);
    expect(seen.at(-1)).toEqual({ path: '/up', bytes: 32 * 1024, ended: true });
  });
});
