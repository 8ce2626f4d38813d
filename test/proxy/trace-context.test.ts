// W3C trace context at the proxy: parsing traceparent, the sampling decision (parent first,
// then the ratio), the header sent upstream, and the span reported at the end of an exchange
// through a real listener.

import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { RequestInfo } from '../../src/proxy/proxy.ts';
import { beginTrace, parseTraceparent, type RequestTracer, type TraceContext } from '../../src/proxy/trace-context.ts';
import type { RoutingConfig } from '../../src/model/types.ts';
import { FakeConfig, FakeEndpoints, request, startProxy, startUpstream, until } from './fixtures.ts';

const PARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

function tracer(sample: boolean, ended: { ctx: TraceContext; info: RequestInfo }[] = []): RequestTracer {
  return { sampleRoot: () => sample, end: (ctx, info) => void ended.push({ ctx, info: { ...info } }) };
}

describe('parseTraceparent', () => {
  it.each([
    [PARENT, { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', sampled: true }],
    ['00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00', { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', sampled: false }],
    ['01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03-future', { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', sampled: true }],
  ])('%s', (value, want) => expect(parseTraceparent(value)).toEqual(want));

  it.each([
    '',
    'garbage',
    '00-00000000000000000000000000000000-b7ad6b7169203331-01', // all-zero trace id
    '00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01', // all-zero span id
    'ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', // version ff
    '00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01', // upper case
    '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x', // version 00 has no more fields
  ])('%j is not valid', (value) => expect(parseTraceparent(value)).toBeNull());
});

describe('beginTrace', () => {
  it('a sampled parent: traced, same trace id, a new span id upstream', () => {
    const headers = ['host', 'a', 'traceparent', PARENT, 'tracestate', 'k=v'];
    const ctx = beginTrace(headers, tracer(false))!;
    expect(ctx.traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(ctx.parentSpanId).toBe('b7ad6b7169203331');
    expect(ctx.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(headers).toEqual(['host', 'a', 'traceparent', `00-${ctx.traceId}-${ctx.spanId}-01`, 'tracestate', 'k=v']);
  });

  it('an unsampled parent is not traced and passes through untouched, whatever the ratio', () => {
    const value = PARENT.replace(/-01$/, '-00');
    const headers = ['Traceparent', value];
    expect(beginTrace(headers, tracer(true))).toBeNull();
    expect(headers).toEqual(['Traceparent', value]);
  });

  it('no parent (or an invalid one): the ratio decides; a traced request starts a trace', () => {
    const none: string[] = ['host', 'a'];
    expect(beginTrace(none, tracer(false))).toBeNull();
    expect(none).toEqual(['host', 'a']);
    const traced: string[] = ['host', 'a', 'traceparent', 'junk'];
    const ctx = beginTrace(traced, tracer(true))!;
    expect(ctx.parentSpanId).toBe('');
    expect(ctx.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(traced[3]).toBe(`00-${ctx.traceId}-${ctx.spanId}-01`);
  });
});

describe('the proxy with a tracer', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()!();
  });

  /** A proxy on `config` whose tracer samples every root and records ended spans; its port. */
  async function tracedProxy(config: RoutingConfig, endpoints: FakeEndpoints, ended: { ctx: TraceContext; info: RequestInfo }[]): Promise<number> {
    const p = await startProxy({ config, endpoints, tracer: tracer(true, ended) });
    cleanups.push(() => p.close());
    return p.port;
  }

  it('the upstream sees its span as parent; the span ends with the exchange, status and route', async () => {
    const seen: (string | undefined)[] = [];
    const u = await startUpstream((req: http.IncomingMessage, res: http.ServerResponse) => {
      seen.push(req.headers.traceparent as string | undefined);
      res.end('ok');
    });
    cleanups.push(() => u.close());
    const endpoints = new FakeEndpoints();
    endpoints.set('svc', [u.port]);
    const ended: { ctx: TraceContext; info: RequestInfo }[] = [];
    const p = await startProxy({ routes: [{ host: 'app.test', key: 'svc' }], endpoints });
    cleanups.push(() => p.close());
    // a second proxy on the same routes, with the tracer
    const port = await tracedProxy(p.config.current, endpoints, ended);
    const r = await request(port, { path: '/x', headers: { traceparent: PARENT } });
    expect(r.status).toBe(200);
    await until(() => ended.length === 1, 2000, 'the span to end');
    const { ctx, info } = ended[0]!;
    expect(seen).toEqual([`00-0af7651916cd43dd8448eb211c80319c-${ctx.spanId}-01`]);
    expect(ctx.parentSpanId).toBe('b7ad6b7169203331');
    expect(info).toMatchObject({ status: 200, method: 'GET', path: '/x', routePath: '/', attempts: 1 });
    expect(info.durationMs).toBeGreaterThan(0);
    // the untraced proxy forwards traceparent as sent
    await request(p.port, { path: '/y', headers: { traceparent: PARENT } });
    expect(seen[1]).toBe(PARENT);
  });

  it('a WebSocket upgrade is one span, from the request to the close of its connection, with the upstream as its child', async () => {
    const seen: (string | undefined)[] = [];
    const u = await startUpstream((_req, res) => res.end('plain'));
    cleanups.push(() => u.close());
    u.server.on('upgrade', (req: http.IncomingMessage, socket: import('node:net').Socket) => {
      seen.push(req.headers.traceparent as string | undefined);
      socket.on('error', () => {});
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      socket.end(); // the upstream closes at once: the exchange (and its span) ends
    });
    const endpoints = new FakeEndpoints();
    endpoints.set('svc', [u.port]);
    const ended: { ctx: TraceContext; info: RequestInfo }[] = [];
    const port = await tracedProxy(new FakeConfig([{ host: 'app.test', key: 'svc' }]), endpoints, ended);
    const net = await import('node:net');
    const sock = net.connect(port, '127.0.0.1');
    sock.on('error', () => {});
    sock.resume(); // read to the end, so the upstream's close reaches this socket
    cleanups.push(async () => void sock.destroy());
    sock.write(
      'GET /ws HTTP/1.1\r\nHost: app.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n' +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\ntraceparent: ${PARENT}\r\n\r\n`,
    );
    await until(() => ended.length === 1, 3000, 'the upgrade span to end');
    const { ctx, info } = ended[0]!;
    expect(ctx.parentSpanId).toBe('b7ad6b7169203331');
    expect(seen).toEqual([`00-0af7651916cd43dd8448eb211c80319c-${ctx.spanId}-01`]);
    expect(info).toMatchObject({ upgrade: true, status: 101, path: '/ws', routePath: '/' });
    // a refused upgrade is a span too (404 here)
    const other = net.connect(port, '127.0.0.1');
    other.on('error', () => {});
    other.resume();
    cleanups.push(async () => void other.destroy());
    other.write('GET /ws HTTP/1.1\r\nHost: nowhere.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    await until(() => ended.length === 2, 3000, 'the refused upgrade\'s span to end');
    expect(ended[1]!.info).toMatchObject({ upgrade: true, status: 404, error: 'no_route' });
  });

  it('per route: tracing off leaves the request and its traceparent alone; not trusting incoming spans starts a new trace', async () => {
    const seen: (string | undefined)[] = [];
    const u = await startUpstream((req: http.IncomingMessage, res: http.ServerResponse) => {
      seen.push(req.headers.traceparent as string | undefined);
      res.end('ok');
    });
    cleanups.push(() => u.close());
    const endpoints = new FakeEndpoints();
    endpoints.set('svc', [u.port]);
    const ended: { ctx: TraceContext; info: RequestInfo }[] = [];
    const config = new FakeConfig([
      { host: 'off.test', key: 'svc', filters: { tracing: { enabled: false, trustIncoming: true, operationName: '' } } },
      { host: 'fresh.test', key: 'svc', filters: { tracing: { enabled: true, trustIncoming: false, operationName: '' } } },
    ]);
    const port = await tracedProxy(config, endpoints, ended);
    await request(port, { host: 'off.test', path: '/', headers: { traceparent: PARENT } });
    await request(port, { host: 'fresh.test', path: '/', headers: { traceparent: PARENT } });
    await until(() => ended.length === 1, 2000, 'one span');
    expect(seen[0]).toBe(PARENT);
    const { ctx } = ended[0]!;
    expect(ctx.parentSpanId).toBe('');
    expect(ctx.traceId).not.toBe('0af7651916cd43dd8448eb211c80319c');
    expect(seen[1]).toBe(`00-${ctx.traceId}-${ctx.spanId}-01`);
  });
});
