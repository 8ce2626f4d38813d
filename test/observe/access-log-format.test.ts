import { describe, expect, it } from 'vitest';
import { compileFormat, type AccessLogRecord, type AccessLogRequest } from '../../src/observe/access-log-format.ts';
import { DEFAULT_ACCESS_LOG_FIELDS, ACCESS_LOG_FIELDS } from '../../src/config/access-log-fields.ts';

function request(over: Partial<AccessLogRequest> = {}): AccessLogRequest {
  return {
    rawHeaders: ['Host', 'shop.example', 'User-Agent', 'curl/8.5', 'REFERER', 'https://ref.example/', 'Accept', '*/*'],
    url: '/cart?token=secret&x=1',
    httpVersion: '1.1',
    httpVersionMajor: 1,
    socket: {} as AccessLogRequest['socket'],
    ...over,
  };
}

function record(over: Partial<AccessLogRecord> = {}): AccessLogRecord {
  return {
    method: 'GET',
    host: 'shop.example',
    path: '/cart',
    scheme: 'https',
    status: 200,
    bytesSent: 42,
    requestBytes: 180,
    durationMs: 3.5,
    upstreamStatus: 200,
    upstreamHeaderMs: 1.5,
    upstreamResponseMs: 2.5,
    upstream: '10.0.0.7:8080',
    attempts: 1,
    ingress: { namespace: 'shop', name: 'web' },
    routePath: '/',
    backend: 'shop/frontend:http',
    requestId: 'abc',
    clientIp: '192.0.2.1',
    upgrade: false,
    error: null,
    request: request(),
    ...over,
  };
}

describe('access log format', () => {
  it('writes the default fields in order, the query string never', () => {
    const entry = compileFormat(DEFAULT_ACCESS_LOG_FIELDS)(record());
    expect(Object.keys(entry)).toEqual([...DEFAULT_ACCESS_LOG_FIELDS]);
    expect(JSON.stringify(entry)).not.toContain('token');
    expect(entry).toMatchObject({
      protocol: 'HTTP/1.1',
      userAgent: 'curl/8.5',
      referer: 'https://ref.example/',
      requestBytes: 180,
      upstreamStatus: 200,
      upstreamResponseMs: 2.5,
      tlsVersion: null,
      tlsCipher: null,
      ingress: { namespace: 'shop', name: 'web' },
    });
  });

  it('only the chosen fields, with the query string when chosen', () => {
    expect(compileFormat(['status', 'query'])(record())).toEqual({ status: 200, query: 'token=secret&x=1' });
    expect(compileFormat(['query'])(record({ request: request({ url: '/plain' }) }))).toEqual({ query: '' });
  });

  it('HTTP/2 and TLS: protocol, TLS version and cipher from the request\'s socket', () => {
    // HTTP/2: what the HTTPS listener put on the request (the socket stand-in is not asked)
    const tls = { version: 'TLSv1.3', cipher: 'TLS_AES_128_GCM_SHA256' };
    const entry = compileFormat(['protocol', 'tlsVersion', 'tlsCipher'])(record({ request: request({ httpVersion: '2.0', httpVersionMajor: 2, tls }) }));
    expect(entry).toEqual({ protocol: 'HTTP/2', tlsVersion: 'TLSv1.3', tlsCipher: 'TLS_AES_128_GCM_SHA256' });
  });

  it('HTTP/1.1 over TLS: the request\'s socket', () => {
    const socket = { getProtocol: () => 'TLSv1.2', getCipher: () => ({ name: 'ECDHE-RSA-AES128-GCM-SHA256' }) } as unknown as AccessLogRequest['socket'];
    expect(compileFormat(['tlsVersion', 'tlsCipher'])(record({ request: request({ socket }) }))).toEqual({ tlsVersion: 'TLSv1.2', tlsCipher: 'ECDHE-RSA-AES128-GCM-SHA256' });
  });

  it('fields that need the request are null without one; absent headers are null', () => {
    const entry = compileFormat(ACCESS_LOG_FIELDS)(record({ request: null }));
    for (const f of ['query', 'protocol', 'userAgent', 'referer', 'tlsVersion', 'tlsCipher']) expect(entry[f], f).toBeNull();
    expect(compileFormat(['userAgent'])(record({ request: request({ rawHeaders: ['Host', 'a'] }) }))).toEqual({ userAgent: null });
  });

  it('refuses an unknown field', () => {
    expect(() => compileFormat(['method', 'nope'])).toThrow('unknown access log field "nope"');
  });
});
