// session-cookie-conditional-samesite-none: which User-Agents get the affinity cookie without
// SameSite=None. Real User-Agent strings of the browsers in question.
import { describe, expect, it } from 'vitest';
import type { CookieAffinity } from '../../src/model/types.ts';
import { affinityCookie, sessionCookie } from '../../src/proxy/filters/affinity.ts';
import { sameSiteNoneCompatible, userAgentOf } from '../../src/proxy/filters/same-site.ts';
import { Upstream } from '../../src/proxy/upstreams.ts';
import { DEFAULT_PROXY_SETTINGS } from '../../src/proxy/settings.ts';

// browsers that drop a SameSite=None cookie or take it as Strict
const INCOMPATIBLE: Record<string, string> = {
  'Chrome 41 (ingress-nginx: Chrome/4)': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/41.0.2704.103 Safari/537.36',
  'Chrome 51': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/51.0.2704.103 Safari/537.36',
  'Chrome 66': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/66.0.3359.181 Safari/537.36',
  'Chrome 67 (ingress-nginx: Chrome/6)': 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_13_5) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/67.0.3396.99 Safari/537.36',
  'Chrome 56 on iOS 12 (CriOS)': 'Mozilla/5.0 (iPhone; CPU iPhone OS 12_0 like Mac OS X) AppleWebKit/602.1.50 (KHTML, like Gecko) CriOS/56.0.2924.75 Mobile/14E5239e Safari/602.1',
  'Safari on iOS 12.4': 'Mozilla/5.0 (iPhone; CPU iPhone OS 12_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/12.1.2 Mobile/15E148 Safari/604.1',
  'WebView on iOS 12 (no Safari token)': 'Mozilla/5.0 (iPhone; CPU iPhone OS 12_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/16B92',
  'Safari on iPadOS 12': 'Mozilla/5.0 (iPad; CPU OS 12_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.0 Mobile/15E148 Safari/604.1',
  'Safari 12 on macOS 10.14': 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/12.1.2 Safari/605.1.15',
  'embedded browser on macOS 10.14': 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_2) AppleWebKit/605.1.15 (KHTML, like Gecko)',
  'UC Browser 12.13.0 (no Chrome token)': 'Mozilla/5.0 (Linux; U; Android 9; en-US; SM-G960F Build/PPR1.180610.011) AppleWebKit/534.30 (KHTML, like Gecko) Version/4.0 UCBrowser/12.13.0.1207 Mobile Safari/534.30',
  'UC Browser 11.6.4': 'Mozilla/5.0 (Linux; U; Android 7.0; en-US; SM-G935F Build/NRD90M) AppleWebKit/534.30 (KHTML, like Gecko) Version/4.0 UCBrowser/11.6.4.950 Mobile Safari/534.30',
};

// browsers that handle it (or send no User-Agent)
const COMPATIBLE: Record<string, string> = {
  'Chrome 71': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/71.0.2704.103 Safari/537.36',
  'Chrome 80': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/80.0.2704.103 Safari/537.36',
  'Chrome 131': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Chrome 79 on macOS 10.14': 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_6) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.117 Safari/537.36',
  'Safari 13 on macOS 10.15': 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.0.4 Safari/605.1.15',
  'embedded browser on macOS 10.15': 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)',
  'Safari on iOS 13': 'Mozilla/5.0 (iPhone; CPU iPhone OS 13_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.0 Mobile/15E148 Safari/604.1',
  'Safari on iPadOS 13': 'Mozilla/5.0 (iPad; CPU OS 13_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.0 Mobile/15E148 Safari/604.1',
  'Firefox 120': 'Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0',
  'UC Browser 12.13.2 (no Chrome token)': 'Mozilla/5.0 (Linux; U; Android 9; en-US; SM-G960F Build/PPR1.180610.011) AppleWebKit/534.30 (KHTML, like Gecko) Version/4.0 UCBrowser/12.13.2.1208 Mobile Safari/534.30',
  'UC Browser 13.4.0 (no Chrome token)': 'Mozilla/5.0 (Linux; U; Android 10; en-US; SM-A505F Build/QP1A.190711.020) AppleWebKit/534.30 (KHTML, like Gecko) Version/4.0 UCBrowser/13.4.0.1306 Mobile Safari/534.30',
  curl: 'curl/8.5.0',
  'an unparsable UC version': 'UCBrowser/x.y',
};

describe('SameSite=None compatibility by User-Agent', () => {
  for (const [name, ua] of Object.entries(INCOMPATIBLE)) {
    it(`omits SameSite=None for ${name}`, () => expect(sameSiteNoneCompatible(ua)).toBe(false));
  }
  for (const [name, ua] of Object.entries(COMPATIBLE)) {
    it(`keeps SameSite=None for ${name}`, () => expect(sameSiteNoneCompatible(ua)).toBe(true));
  }
  it('keeps it without a User-Agent, as ingress-nginx', () => expect(sameSiteNoneCompatible(null)).toBe(true));

  it('finds the User-Agent in a flat header list, whatever its case', () => {
    expect(userAgentOf(['host', 'a', 'User-Agent', 'x/1'])).toBe('x/1');
    expect(userAgentOf(['host', 'a'])).toBeNull();
  });
});

describe('the affinity cookie with session-cookie-conditional-samesite-none', () => {
  const NONE: CookieAffinity = { name: 'route', path: '/', maxAge: null, expires: null, sameSite: 'None', secure: true, domain: null, conditionalSameSiteNone: true };
  const old = ['user-agent', INCOMPATIBLE['Safari 12 on macOS 10.14']!];
  const recent = ['user-agent', COMPATIBLE['Chrome 131']!];
  const up = new Upstream({ address: '10.0.0.1', port: 8080, key: '10.0.0.1:8080', terminating: false }, DEFAULT_PROXY_SETTINGS);

  it('drops SameSite=None (and keeps Secure) for a browser that mishandles it, keeps it for others', () => {
    expect(sessionCookie(NONE, 'abc', old)).toBe('route=abc; Path=/; Secure; HttpOnly');
    expect(sessionCookie(NONE, 'abc', recent)).toBe('route=abc; Path=/; SameSite=None; Secure; HttpOnly');
    expect(sessionCookie(NONE, 'abc', ['host', 'a'])).toBe('route=abc; Path=/; SameSite=None; Secure; HttpOnly');
    expect(affinityCookie(NONE, up, old)).toMatch(/^route=[0-9a-f]{20}; Path=\/; Secure; HttpOnly$/);
  });

  it('without the annotation, every browser gets SameSite=None', () => {
    const { conditionalSameSiteNone: _, ...plain } = NONE;
    expect(sessionCookie(plain, 'abc', old)).toBe('route=abc; Path=/; SameSite=None; Secure; HttpOnly');
  });
});
