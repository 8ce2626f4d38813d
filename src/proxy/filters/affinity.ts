// Cookie session affinity (ingress-nginx affinity: cookie), in ingress-nginx's two modes:
// - persistent: the client's cookie names its endpoint by an opaque token (a hash of
//   `ip:port`, never the address itself). A request whose token is in the endpoint set goes
//   there; otherwise the balancer picks and the response sets the cookie. When an endpoint
//   leaves, its clients move once and stay on the new one.
// - balanced (the default): the cookie carries a random session key, and the endpoint is the
//   key's rendezvous hash over the current endpoints (the balancer's ip-hash). The cookie never
//   changes; when the Service scales up, about 1/n of the sessions move to each new endpoint
//   (ingress-nginx's sticky_balanced with its consistent hash), and when an endpoint leaves
//   only its sessions move.

import { createHash, randomBytes } from 'node:crypto';
import type { CookieAffinity } from '../../model/types.ts';
import type { BalancerState } from '../balancer.ts';
import type { Upstream } from '../upstreams.ts';
import { sameSiteNoneCompatible, userAgentOf } from './same-site.ts';

const tokens = new WeakMap<Upstream, string>();

/** The token naming `up` in affinity cookies, made once per endpoint. */
export function affinityToken(up: Upstream): string {
  let t = tokens.get(up);
  if (t === undefined) {
    t = createHash('sha256').update(up.key).digest('hex').slice(0, 20);
    tokens.set(up, t);
  }
  return t;
}

/** The cookie `name`'s value in a flat upstream header list, or null. */
export function cookieFrom(headers: readonly string[], name: string): string | null {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.length !== 6 || headers[i]!.toLowerCase() !== 'cookie') continue;
    const value = headers[i + 1]!;
    let start = 0;
    while (start < value.length) {
      let end = value.indexOf(';', start);
      if (end === -1) end = value.length;
      const eq = value.indexOf('=', start);
      if (eq !== -1 && eq < end && value.slice(start, eq).trim() === name) return value.slice(eq + 1, end).trim();
      start = end + 1;
    }
  }
  return null;
}

/** The endpoint the request's cookie names, when it is still in the set; else null. */
export function stickyUpstream(state: BalancerState, affinity: CookieAffinity, headers: readonly string[]): Upstream | null {
  const token = cookieFrom(headers, affinity.name);
  if (token === null) return null;
  for (const up of state.upstreams) if (affinityToken(up) === token) return up;
  return null;
}

// A balanced session key: 20 hex digits, and `c` after them when the session is the canary's
// (affinity-canary-behavior sticky: the client stays on the canary)
const SESSION_KEY = /^[0-9a-f]{20}c?$/;
const CANARY_MARK = 'c';

/** balanced mode: the session key of the request's cookie (without its canary mark), or null without a well-formed one. */
export function sessionKey(affinity: CookieAffinity, headers: readonly string[]): string | null {
  const key = cookieFrom(headers, affinity.name);
  return key !== null && SESSION_KEY.test(key) ? key.slice(0, 20) : null;
}

/** The cookie value of a balanced session: the key, marked when the session is the canary's. */
export function sessionValue(key: string, canary: boolean): string {
  return canary ? key + CANARY_MARK : key;
}

/**
 * affinity-canary-behavior sticky: which side of a canary rule the request's cookie ties the
 * client to — 'canary', 'primary', or null when the cookie ties it to neither (then the canary
 * rules decide). Balanced: the session key's mark. Persistent: whose endpoint the token names.
 */
export function stickySide(
  affinity: CookieAffinity,
  headers: readonly string[],
  canaryState: () => BalancerState | null,
  primaryState: () => BalancerState | null,
): 'canary' | 'primary' | null {
  const value = cookieFrom(headers, affinity.name);
  if (value === null) return null;
  if (affinity.mode === undefined) {
    if (!SESSION_KEY.test(value)) return null;
    return value.length > 20 ? 'canary' : 'primary';
  }
  const names = (st: BalancerState | null): boolean => st !== null && st.upstreams.some((u) => affinityToken(u) === value);
  if (names(canaryState())) return 'canary';
  if (names(primaryState())) return 'primary';
  return null;
}

/** balanced mode: a new random session key (80 bits, hex: the cookie's value). */
export function newSessionKey(): string {
  return randomBytes(10).toString('hex');
}

/**
 * The Set-Cookie value that pins the client to `up` (persistent mode). `requestHeaders`: the
 * request's, read only with session-cookie-conditional-samesite-none (its User-Agent).
 */
export function affinityCookie(affinity: CookieAffinity, up: Upstream, requestHeaders: readonly string[] | null = null, now: number = Date.now()): string {
  return sessionCookie(affinity, affinityToken(up), requestHeaders, now);
}

/** The Set-Cookie value carrying `value` with the affinity's attributes (`requestHeaders` as for affinityCookie). */
export function sessionCookie(affinity: CookieAffinity, value: string, requestHeaders: readonly string[] | null = null, now: number = Date.now()): string {
  let c = `${affinity.name}=${value}; Path=${affinity.path}`;
  if (affinity.expires !== null) c += `; Expires=${new Date(now + affinity.expires * 1000).toUTCString()}`;
  if (affinity.maxAge !== null) c += `; Max-Age=${affinity.maxAge}`;
  if (affinity.domain !== null) c += `; Domain=${affinity.domain}`;
  // session-cookie-conditional-samesite-none: the User-Agent is looked at only here, when a
  // cookie is being set on such a route
  if (affinity.sameSite !== null && (affinity.conditionalSameSiteNone !== true || requestHeaders === null || sameSiteNoneCompatible(userAgentOf(requestHeaders)))) c += `; SameSite=${affinity.sameSite}`;
  if (affinity.secure) c += '; Secure';
  return c + '; HttpOnly';
}

/**
 * session-cookie-change-on-failure: the Set-Cookie that pins the client to `up`, the endpoint a
 * failed request went to next. Persistent: its token. Balanced: a new session key that hashes
 * to `up` (up to 20 tries, as ingress-nginx's sticky_balanced; null when none did).
 */
export function repinCookie(affinity: CookieAffinity, state: BalancerState, up: Upstream, canary = false, requestHeaders: readonly string[] | null = null): string | null {
  if (affinity.mode === 'persistent') return affinityCookie(affinity, up, requestHeaders);
  for (let i = 0; i < 20; i++) {
    const key = newSessionKey();
    if (state.pick('ip-hash', key, null) === up) return sessionCookie(affinity, sessionValue(key, canary), requestHeaders);
  }
  return null;
}
