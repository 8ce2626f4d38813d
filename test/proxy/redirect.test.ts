// Redirect Locations from literal parts and nginx-named request values, and app-root.
import { describe, expect, it } from 'vitest';
import { buildLocation, redirectFor } from '../../src/proxy/filters/redirect.ts';
import type { InboundHead } from '../../src/proxy/inbound.ts';
import { makeRoute } from './fixtures.ts';

function head(url: string, host = 'Shop.Test:8080'): InboundHead {
  const q = url.indexOf('?');
  return { host, url, path: q < 0 ? url : url.slice(0, q), hasBody: false, bodyLength: -1, reject: 0, requestId: 'r', clientIp: '127.0.0.1', headers: [], upgrade: '', te: false, accessScheme: 'http' };
}

describe('redirects', () => {
  it('fills $scheme, $host (no port, lower case), $request_uri, $uri, $args, $is_args', () => {
    const parts = ['x://', { variable: 'host' as const }, '|', { variable: 'scheme' as const }, '|', { variable: 'request_uri' as const }, '|', { variable: 'uri' as const }, '|', { variable: 'is_args' as const }, { variable: 'args' as const }];
    expect(buildLocation(parts, head('/a/b?x=1'), 'https')).toBe('x://shop.test|https|/a/b?x=1|/a/b|?x=1');
    expect(buildLocation(parts, head('/a'), 'http')).toBe('x://shop.test|http|/a|/a|');
  });

  it('app-root redirects exactly / (302, Host as sent); other paths forward', () => {
    const route = { ...makeRoute({ host: 'shop.test', key: 'svc' }), filters: { appRoot: '/app1' } };
    expect(redirectFor(route, head('/'), 'https')).toEqual({ status: 302, location: 'https://Shop.Test:8080/app1' });
    expect(redirectFor(route, head('/?x=1'), 'https')).toEqual({ status: 302, location: 'https://Shop.Test:8080/app1' });
    expect(redirectFor(route, head('/x'), 'https')).toBeNull();
    expect(redirectFor(makeRoute({ host: 'shop.test', key: 'svc' }), head('/'), 'https')).toBeNull();
  });
});

describe('--http-redirect-code', () => {
  it('sets the status of redirects to HTTPS', async () => {
    const { FakeConfig, FakeEndpoints, request, startProxy } = await import('./fixtures.ts');
    const config = new FakeConfig([{ host: 'app.test', key: 'svc' }], 1, ['app.test']);
    const p = await startProxy({ config, endpoints: new FakeEndpoints(), settings: { httpRedirectCode: 301 } });
    try {
      const r = await request(p.port, { path: '/a?b=1' });
      expect(r.status).toBe(301);
      expect(r.headers.location).toBe('https://app.test/a?b=1');
    } finally {
      await p.close();
    }
  });
});
