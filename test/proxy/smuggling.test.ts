// Request-smuggling attempts over raw sockets: each must be refused (400, or 501 for a
// transfer coding we cannot pass on) and nothing may reach the upstream — neither the outer
// request nor a request hidden in its body.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeEndpoints, rawExchange, startProxy, startUpstream, statusOf } from './fixtures.ts';
import type { RunningProxy, Upstream } from './fixtures.ts';

let u: Upstream;
let p: RunningProxy;
const seen: string[] = [];
const completed: string[] = [];

beforeAll(async () => {
  u = await startUpstream((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => {
      completed.push(`${req.method} ${req.url}`);
      if (req.url === '/slow') setTimeout(() => res.end('upstream'), 200);
      else res.end('upstream');
    });
  });
  const endpoints = new FakeEndpoints();
  endpoints.set('svc', [u.port]);
  p = await startProxy({ routes: [{ host: 'app.test', key: 'svc' }], endpoints });
});
afterAll(async () => {
  await p.close();
  await u.close();
});

const H = 'Host: app.test\r\n';
const smuggled = 'GET /admin HTTP/1.1\r\nHost: app.test\r\n\r\n';

const cases: [name: string, raw: string, status: number][] = [
  ['CL.TE: Content-Length and Transfer-Encoding', `POST / HTTP/1.1\r\n${H}Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG`, 400],
  ['TE.CL: Transfer-Encoding then Content-Length', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\n${smuggled}\r\n0\r\n\r\n`, 400],
  ['duplicate differing Content-Length', `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 44\r\n\r\nhello${smuggled}`, 400],
  ['duplicate identical Content-Length', `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello`, 400],
  ['Content-Length list', `POST / HTTP/1.1\r\n${H}Content-Length: 5, 5\r\n\r\nhello`, 400],
  ['negative / signed Content-Length', `POST / HTTP/1.1\r\n${H}Content-Length: +5\r\n\r\nhello`, 400],
  // llhttp flags these only after the head, so the proxy sees them first and refuses the coding: 501
  ['Transfer-Encoding not ending in chunked', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n${smuggled}`, 501],
  ['Transfer-Encoding chunked then identity', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n`, 400],
  ['two Transfer-Encoding lines', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n0\r\n\r\n`, 400],
  ['obfuscated Transfer-Encoding (xchunked)', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n`, 501],
  ['space before colon', `POST / HTTP/1.1\r\n${H}Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n`, 400],
  ['vertical tab in Transfer-Encoding', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: \x0bchunked\r\n\r\n0\r\n\r\n`, 400],
  ['obs-fold continuation line', `GET / HTTP/1.1\r\n${H}X-A: a\r\n b\r\n\r\n`, 400],
  ['bare LF line endings', `POST / HTTP/1.1\n${H.replace('\r\n', '\n')}Content-Length: 5\n\nhello`, 400],
  ['NUL in a header value', `GET / HTTP/1.1\r\n${H}X-A: a\x00b\r\n\r\n`, 400],
  ['Transfer-Encoding in HTTP/1.0', `POST / HTTP/1.0\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, 400],
  ['gzip, chunked (coding we cannot pass on)', `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, 501],
  ['two Host headers', `GET / HTTP/1.1\r\nHost: app.test\r\nHost: evil.test\r\n\r\n`, 400],
  ['no Host in HTTP/1.1', 'GET / HTTP/1.1\r\n\r\n', 400],
];

describe('request smuggling attempts', () => {
  it.each(cases)('%s → refused, nothing reaches the upstream', async (_name, raw, status) => {
    const before = seen.length;
    const out = await rawExchange(p.port, raw, 500);
    expect(statusOf(out)).toBe(status);
    // exactly one response and the connection is closed: nothing hidden in the body is parsed
    expect(out.match(/HTTP\/1\.1 \d{3}/g)?.length).toBe(1);
    expect(seen.length).toBe(before);
  });

  // A malformed chunk is found only while the body streams: the upstream request has begun by
  // then. The client gets 400, the upstream sees its request aborted (never complete), and
  // nothing after the bad chunk is parsed as a request.
  const midStream: [string, string][] = [
    ['bad chunk size', `POST /a HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5x\r\nhello\r\n0\r\n\r\n${smuggled}`],
    ['chunk lines with bare LF', `POST /b HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n${smuggled}`],
    ['chunk longer than its size', `POST /c HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n${smuggled}`],
  ];
  it.each(midStream)('%s → 400, upstream request aborted, nothing smuggled', async (_name, raw) => {
    const completeBefore = completed.length;
    const out = await rawExchange(p.port, raw, 500);
    expect(statusOf(out)).toBe(400);
    expect(out.match(/HTTP\/1\.1 \d{3}/g)?.length).toBe(1);
    expect(completed.length).toBe(completeBefore);
    expect(seen.filter((s) => s.includes('/admin'))).toEqual([]);
  });

  it('a bad chunk in a pipelined request answers that request: the one before it still gets its response', async () => {
    const raw = `GET /slow HTTP/1.1\r\n${H}\r\nPOST /d HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5x\r\nhello\r\n0\r\n\r\n${smuggled}`;
    const out = await rawExchange(p.port, raw, 1500);
    expect(out.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 400']);
    expect(out).toContain('upstream');
    expect(seen.filter((s) => s.includes('/admin'))).toEqual([]);
  });

  it('nothing reached the upstream for the head-level attempts, and a well-formed request still does', async () => {
    seen.splice(0, seen.length, ...seen.filter((s) => !/^(POST \/[abcd]|GET \/slow)$/.test(s)));
    expect(seen).toEqual([]);
    const out = await rawExchange(p.port, `POST /ok HTTP/1.1\r\n${H}Content-Length: 5\r\nConnection: close\r\n\r\nhello`, 1000);
    expect(statusOf(out)).toBe(200);
    expect(seen).toEqual(['POST /ok']);
  });
});
