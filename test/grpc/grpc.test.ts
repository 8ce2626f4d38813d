// gRPC end to end through Portico: a real @grpc/grpc-js client speaks h2 over TLS to the HTTPS
// listener; the route's `backendProtocol: 'GRPC'` makes the proxy speak h2c to a real
// @grpc/grpc-js server. Unary (OK, an error status with a message, trailing metadata),
// server streaming (also a status after messages), bidi streaming (interleaved), a large
// message, proxy-body-size counting a whole stream, and a gRPC client against an HTTP/1.1
// route (no trailers: the call fails cleanly).
//
// The service is defined by hand with JSON serializers: no .proto file, no proto-loader.

import * as grpc from '@grpc/grpc-js';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, silentLogger } from '../../src/observe/log.ts';
import { createHttpsListener } from '../../src/proxy/https-listener.ts';
import type { HttpsListener } from '../../src/proxy/https-listener.ts';
import { DEFAULT_PROXY_SETTINGS, Proxy } from '../../src/proxy/proxy.ts';
import type { RequestInfo } from '../../src/proxy/proxy.ts';
import { generateSelfSigned } from '../../src/tls/default-certificate.ts';
import { FakeConfig, FakeEndpoints, startUpstream } from '../proxy/fixtures.ts';
import type { Upstream } from '../proxy/fixtures.ts';

interface Msg {
  n: number;
  text?: string;
}

const json = {
  serialize: (v: Msg): Buffer => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer): Msg => JSON.parse(b.toString('utf8')) as Msg,
};

function method(name: string, requestStream: boolean, responseStream: boolean): grpc.MethodDefinition<Msg, Msg> {
  return {
    path: `/portico.test.Numbers/${name}`,
    requestStream,
    responseStream,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  };
}

const SERVICE = {
  Double: method('Double', false, false),
  Count: method('Count', false, true),
  Chat: method('Chat', true, true),
} satisfies grpc.ServiceDefinition;

const implementation: grpc.UntypedServiceImplementation = {
  Double(call: grpc.ServerUnaryCall<Msg, Msg>, callback: grpc.sendUnaryData<Msg>) {
    const req = call.request;
    if (req.n < 0) {
      callback({ code: grpc.status.INVALID_ARGUMENT, details: `negative: ${req.n} (ünïcode)` });
      return;
    }
    const trailing = new grpc.Metadata();
    trailing.set('x-trailer', 'done');
    // what the proxy added, echoed back for the test to check
    const seen = ['x-forwarded-proto', 'x-forwarded-host', 'x-real-ip'].map((k) => `${k}=${String(call.metadata.get(k)[0] ?? '')}`).join(';');
    callback(null, { n: req.n * 2, text: req.text === 'seen' ? seen : (req.text ?? '') }, trailing);
  },
  Count(call: grpc.ServerWritableStream<Msg, Msg>) {
    const n = call.request.n;
    const count = Math.abs(n);
    for (let i = 1; i <= count; i++) call.write({ n: i });
    if (n < 0) call.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details: 'stopped after ' + count });
    else call.end();
  },
  Chat(call: grpc.ServerDuplexStream<Msg, Msg>) {
    call.on('data', (m: Msg) => call.write({ n: m.n * 10, ...(m.text !== undefined ? { text: m.text } : {}) }));
    call.on('end', () => call.end());
  },
};

// ---- fixture ------------------------------------------------------------------------------

let server: grpc.Server;
let grpcPort = 0;
let h1: Upstream;
let proxy: Proxy;
let listener: HttpsListener;
let proxyPort = 0;
let certPem = '';
const infos: RequestInfo[] = [];
const clients: grpc.Client[] = [];

beforeAll(async () => {
  server = new grpc.Server();
  server.addService(SERVICE, implementation);
  grpcPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
  h1 = await startUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/grpc' });
    res.end();
  });

  const endpoints = new FakeEndpoints();
  endpoints.set('grpc', [grpcPort]);
  endpoints.set('h1', [h1.port]);
  const config = new FakeConfig([
    { host: 'grpc.test', key: 'grpc', backendProtocol: 'GRPC' },
    // proxy-body-size: "0" (the default 1m counts all the messages a call sends, as nginx does)
    { host: 'big.test', key: 'grpc', backendProtocol: 'GRPC', filters: { bodyLimit: 0 } },
    { host: 'h1.test', key: 'h1' },
  ]);
  proxy = new Proxy({
    config: () => config,
    endpoints,
    settings: DEFAULT_PROXY_SETTINGS,
    log: process.env.GRPC_DEBUG ? createLogger('debug') : silentLogger,
    onRequestDone: (i) => infos.push({ ...i }),
  });
  const cert = await generateSelfSigned({ commonName: 'grpc.test', dnsNames: ['grpc.test', 'big.test', 'h1.test'] });
  certPem = cert.certPem;
  listener = createHttpsListener(proxy, { tls: { cert: cert.certPem, key: cert.keyPem } });
  await new Promise<void>((r) => listener.server.listen(0, '127.0.0.1', () => r()));
  proxyPort = (listener.server.address() as AddressInfo).port;
});

afterAll(async () => {
  for (const c of clients) c.close();
  listener.closeAllConnections();
  await new Promise<void>((r) => listener.server.close(() => r()));
  await proxy.close(500);
  server.forceShutdown();
  await h1.close();
});

function client(host = 'grpc.test'): grpc.Client {
  const c = new grpc.Client(`127.0.0.1:${proxyPort}`, grpc.credentials.createSsl(Buffer.from(certPem)), {
    'grpc.ssl_target_name_override': host,
    'grpc.default_authority': host,
  });
  clients.push(c);
  return c;
}

const deadline = (): grpc.CallOptions => ({ deadline: Date.now() + 10_000 });

interface UnaryResult {
  err: grpc.ServiceError | null;
  value: Msg | undefined;
  status: grpc.StatusObject;
  metadata: grpc.Metadata;
}

function unary(c: grpc.Client, req: Msg): Promise<UnaryResult> {
  return new Promise((resolve) => {
    let err: grpc.ServiceError | null = null;
    let value: Msg | undefined;
    let metadata = new grpc.Metadata();
    let done = 0;
    let status: grpc.StatusObject | null = null;
    const finish = () => {
      if (++done === 2 && status !== null) resolve({ err, value, status, metadata });
    };
    const call = c.makeUnaryRequest(SERVICE.Double.path, json.serialize, json.deserialize, req, new grpc.Metadata(), deadline(), (e, v) => {
      err = e;
      value = v;
      finish();
    });
    call.on('metadata', (m: grpc.Metadata) => (metadata = m));
    call.on('status', (s: grpc.StatusObject) => {
      status = s;
      finish();
    });
  });
}

function serverStream(c: grpc.Client, req: Msg): Promise<{ msgs: Msg[]; status: grpc.StatusObject; error: grpc.ServiceError | null }> {
  return new Promise((resolve) => {
    const msgs: Msg[] = [];
    let error: grpc.ServiceError | null = null;
    const call = c.makeServerStreamRequest(SERVICE.Count.path, json.serialize, json.deserialize, req, new grpc.Metadata(), deadline());
    call.on('data', (m: Msg) => msgs.push(m));
    call.on('error', (e: grpc.ServiceError) => (error = e));
    call.on('status', (status: grpc.StatusObject) => {
      // 'status' may come before the last 'data'/'error' events are handled: settle next tick
      setImmediate(() => resolve({ msgs, status, error }));
    });
  });
}

// ---- tests ------------------------------------------------------------------------------

describe('gRPC through the HTTPS listener to a GRPC (h2c) backend', () => {
  it('unary call: OK status, response, trailing metadata; the proxy forwarded headers', async () => {
    const r = await unary(client(), { n: 21, text: 'seen' });
    expect(r.err).toBeNull();
    expect(r.status.code).toBe(grpc.status.OK);
    expect(r.value?.n).toBe(42);
    expect(r.value?.text).toBe('x-forwarded-proto=https;x-forwarded-host=grpc.test;x-real-ip=127.0.0.1');
    expect(r.status.metadata.get('x-trailer')).toEqual(['done']);
    // the proxy adds no response headers of its own (--response-request-id is off by default)
    expect(r.metadata.get('x-request-id')).toEqual([]);
    const info = infos.find((i) => i.path === SERVICE.Double.path && i.error === null);
    expect(info?.status).toBe(200);
    expect(info?.upstream).toBe(`127.0.0.1:${grpcPort}`);
  });

  it('unary call failing: grpc-status and grpc-message (Trailers-Only) reach the client', async () => {
    const r = await unary(client(), { n: -3 });
    expect(r.status.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(r.status.details).toBe('negative: -3 (ünïcode)');
    expect(r.err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(r.value).toBeUndefined();
  });

  it('server streaming: every message, then the OK status from the trailers', async () => {
    const r = await serverStream(client(), { n: 50 });
    expect(r.error).toBeNull();
    expect(r.status.code).toBe(grpc.status.OK);
    expect(r.msgs.map((m) => m.n)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });

  it('server streaming ending in an error: the messages, then the error status from the trailers', async () => {
    const r = await serverStream(client(), { n: -3 });
    expect(r.msgs.map((m) => m.n)).toEqual([1, 2, 3]);
    expect(r.status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(r.status.details).toBe('stopped after 3');
  });

  it('bidi streaming: each reply arrives before the next request is sent (no buffering until the end)', async () => {
    const c = client();
    const call = c.makeBidiStreamRequest(SERVICE.Chat.path, json.serialize, json.deserialize, new grpc.Metadata(), deadline());
    const replies: Msg[] = [];
    let waiter: ((m: Msg) => void) | null = null;
    call.on('data', (m: Msg) => {
      replies.push(m);
      const w = waiter;
      waiter = null;
      w?.(m);
    });
    const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    call.on('error', () => {});
    for (let i = 1; i <= 5; i++) {
      const next = new Promise<Msg>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no reply for ' + i)), 5000);
        waiter = (m) => {
          clearTimeout(t);
          resolve(m);
        };
      });
      call.write({ n: i });
      expect((await next).n).toBe(i * 10);
    }
    call.end();
    expect((await status).code).toBe(grpc.status.OK);
    expect(replies.map((m) => m.n)).toEqual([10, 20, 30, 40, 50]);
  });

  it('large messages stream both ways (flow control through the proxy)', async () => {
    const c = client('big.test');
    const call = c.makeBidiStreamRequest(SERVICE.Chat.path, json.serialize, json.deserialize, new grpc.Metadata(), deadline());
    const big = 'x'.repeat(1024 * 1024);
    const got: Msg[] = [];
    call.on('data', (m: Msg) => got.push(m));
    call.on('error', () => {});
    const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    for (let i = 1; i <= 3; i++) call.write({ n: i, text: big });
    call.end();
    expect((await status).code).toBe(grpc.status.OK);
    await new Promise((r) => setImmediate(r));
    expect(got.map((m) => [m.n, m.text?.length])).toEqual([
      [10, big.length],
      [20, big.length],
      [30, big.length],
    ]);
  });

  it('a call sending more than proxy-body-size gets 413 (grpc-js: UNKNOWN), and the channel goes on', async () => {
    const c = client();
    const call = c.makeBidiStreamRequest(SERVICE.Chat.path, json.serialize, json.deserialize, new grpc.Metadata(), deadline());
    call.on('data', () => {});
    call.on('error', () => {});
    const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    // one message over the limit: cut before the server has a whole message, so before it answers
    call.write({ n: 1, text: 'x'.repeat(2 * 1024 * 1024) });
    call.end();
    const st = await status;
    expect(st.code).toBe(grpc.status.UNKNOWN);
    expect(st.details).toContain('413');
    expect((await unary(c, { n: 21 })).value?.n).toBe(42);
  });

  it('40 concurrent unary calls on one channel all complete', async () => {
    const c = client();
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => unary(c, { n: i })));
    expect(results.map((r) => r.value?.n)).toEqual(Array.from({ length: 40 }, (_, i) => i * 2));
    expect(results.every((r) => r.status.code === grpc.status.OK)).toBe(true);
  });

  it('a gRPC call to an HTTP/1.1 route (no trailers) fails with a status, it does not hang', async () => {
    const r = await unary(client('h1.test'), { n: 1 });
    expect(r.status.code).not.toBe(grpc.status.OK);
    expect(r.err).not.toBeNull();
  });
});
