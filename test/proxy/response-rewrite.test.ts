// proxy-redirect-from/-to, proxy-cookie-path and proxy-cookie-domain on a response's header
// list (proxy/filters/response-rewrite.ts), with nginx's matching rules: Location and Path by
// case-sensitive start, Domain whole and case-insensitive with a leading dot kept.

import { describe, expect, it } from 'vitest';
import { rewriteResponseHeaders, rewriteSetCookie } from '../../src/proxy/filters/response-rewrite.ts';

describe('response header rewrites', () => {
  it('Location and the URL of Refresh starting with `from` get `to` instead; other starts and other headers stay', () => {
    const h = [
      'location', 'http://app.internal:8080/login?x=1',
      'refresh', '5; URL=http://app.internal:8080/next',
      'content-location', 'http://app.internal:8080/a',
      'x-other', 'http://app.internal:8080/b',
    ];
    rewriteResponseHeaders(h, { redirect: { from: 'http://app.internal:8080/', to: 'https://shop.example.com/app/' } });
    expect(h).toEqual([
      'location', 'https://shop.example.com/app/login?x=1',
      'refresh', '5; URL=https://shop.example.com/app/next',
      'content-location', 'http://app.internal:8080/a',
      'x-other', 'http://app.internal:8080/b',
    ]);
    const other = ['location', 'HTTP://APP.INTERNAL:8080/login', 'refresh', '3'];
    rewriteResponseHeaders(other, { redirect: { from: 'http://app.internal:8080/', to: '/' } });
    expect(other).toEqual(['location', 'HTTP://APP.INTERNAL:8080/login', 'refresh', '3']); // case-sensitive, as nginx
  });

  it('Set-Cookie: Path by its start, Domain whole and case-insensitively with the leading dot kept; the rest untouched', () => {
    const rw = { cookiePath: { from: '/one/', to: '/' }, cookieDomain: { from: 'localhost', to: 'example.org' } };
    expect(rewriteSetCookie('a=1; Path=/one/two; Domain=.LocalHost; HttpOnly', rw)).toBe('a=1; Path=/two; Domain=.example.org; HttpOnly');
    expect(rewriteSetCookie('a=1;path=/one/;domain=localhost', rw)).toBe('a=1;path=/;domain=example.org');
    // not a match: another path start, a subdomain, the value itself
    expect(rewriteSetCookie('Path=/one/x; Path=/onex; Domain=a.localhost', rw)).toBe('Path=/one/x; Path=/onex; Domain=a.localhost');
    const h = ['set-cookie', 's=1; Path=/one/a', 'set-cookie', 't=2; Domain=localhost', 'vary', 'cookie'];
    rewriteResponseHeaders(h, rw);
    expect(h).toEqual(['set-cookie', 's=1; Path=/a', 'set-cookie', 't=2; Domain=example.org', 'vary', 'cookie']);
  });
});
