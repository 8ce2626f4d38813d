// External authentication (ingress-nginx auth-url, nginx's auth_request): before the request
// goes upstream, a subrequest without body asks the auth service. The only stage that waits
// on the network, so the only one that makes a plan asynchronous (plan.ts); a cached result
// answers synchronously.
//
// The subrequest: method auth-method (GET), target auth-url, the request's upstream headers
// (hop-by-hop dropped, X-Forwarded-* as Portico computed them) without Content-Length, plus
// Host (the auth URL's host name), X-Original-URL ($scheme://$http_host$request_uri),
// X-Original-Method, X-Sent-From: nginx-ingress-controller, X-Real-IP,
// X-Auth-Request-Redirect (auth-request-redirect, else the request URI), and with auth-method
// X-Original-URI and X-Scheme. Client-sent headers of those names never reach the auth service.
// auth-proxy-set-headers (a ConfigMap) adds its headers, replacing the client's of those names
// (an empty value removes the client's and sends none, as nginx's proxy_set_header).
//
// The answer, as auth_request:
//   2xx      the request goes on; auth-response-headers are copied from the auth response
//            into the upstream request (client-sent values of those names are always
//            removed, so a client cannot pose as an authenticated user); its Set-Cookie goes
//            to the client with the response;
//   401      answered 401 with the auth service's WWW-Authenticate, or, with auth-signin, a
//            302 to the sign-in URL with the original URL (escaped) in its redirect parameter
//            and the auth service's Set-Cookie;
//   403      answered 403;
//   other    (3xx, 404, 5xx), a connection failure or the deadline: 500.
// With auth-always-set-cookie, the Set-Cookie also goes out with the 401/403.
//
// auth-cache-key: results with a status auth-cache-duration lists are kept per rule, auth URL
// and rendered key (ExternalAuthClient's bounded cache); responses with Set-Cookie or
// Cache-Control no-store / no-cache / private are not kept (nginx's proxy_cache would not).

import type { AuthUrlPart, ExternalAuth, Route } from '../../model/types.ts';
import type { AuthResult, ExternalAuthClient } from '../auth-client.ts';
import { addAnswerHeaders, addResponseHeaders, type PlanHead, type WaitingStage } from '../plan.ts';
import { hostname } from '../tls-hosts.ts';
import { hashKey } from './hash-key.ts';

/** Names the stage sets on the subrequest: a client's own values of these are dropped. */
const OWN_HEADERS = new Set([
  'host',
  'content-length',
  'x-original-url',
  'x-original-method',
  'x-original-uri',
  'x-scheme',
  'x-sent-from',
  'x-real-ip',
  'x-auth-request-redirect',
]);

/** nginx's set_escape_uri: everything but unreserved characters percent-encoded. */
export function escapeUri(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

function schemeOf(head: PlanHead): string {
  return head.scheme ?? 'http';
}

/** The X-Forwarded-Proto Portico sends upstream (nginx's $pass_access_scheme), else $scheme. */
function passScheme(head: PlanHead): string {
  const h = head.headers;
  for (let i = 0; i < h.length; i += 2) {
    const n = h[i]!;
    if (n.length === 17 && n.toLowerCase() === 'x-forwarded-proto') return h[i + 1]!;
  }
  return schemeOf(head);
}

/** A URL template filled in with the request's values. */
export function renderUrl(parts: readonly AuthUrlPart[], head: PlanHead): string {
  let out = '';
  for (const p of parts) {
    if (typeof p === 'string') out += p;
    else if (p.variable === 'host') out += hostname(head.host);
    else if (p.variable === 'scheme') out += schemeOf(head);
    else if (p.variable === 'request_uri') out += head.url;
    else out += escapeUri(head.url);
  }
  return out;
}

/** The sign-in redirect's Location (ingress-nginx buildAuthSignURL). */
export function signinLocation(auth: ExternalAuth, head: PlanHead): string {
  const base = renderUrl(auth.signin ?? [], head);
  if (auth.signinJoin === '') return base;
  return base + auth.signinJoin + passScheme(head) + '://' + head.host + escapeUri(head.url);
}

/** The subrequest's headers (see the top of this file). */
export function authRequestHeaders(auth: ExternalAuth, authHost: string, head: PlanHead): string[] {
  const out: string[] = [];
  const h = head.headers;
  const set = auth.proxySetHeaders?.headers;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!;
    const lower = name.toLowerCase();
    if (OWN_HEADERS.has(lower)) continue;
    if (set !== undefined && includesName(set, lower)) continue;
    out.push(name, h[i + 1]!);
  }
  // auth-proxy-set-headers (nginx proxy_set_header): replaces the client's; empty: not sent
  if (set !== undefined) {
    for (let i = 0; i < set.length; i += 2) if (set[i + 1] !== '') out.push(set[i]!, set[i + 1]!);
  }
  const scheme = schemeOf(head);
  out.push(
    'host', authHost,
    'x-original-url', scheme + '://' + head.host + head.url,
    'x-original-method', head.method,
    'x-sent-from', 'nginx-ingress-controller',
    'x-real-ip', head.clientIp,
    'x-auth-request-redirect', auth.requestRedirect === '' ? head.url : auth.requestRedirect,
  );
  if (auth.methodSet) out.push('x-original-uri', head.url, 'x-scheme', passScheme(head));
  return out;
}

/** Whether flat `[name, value, ...]` (lower-case names) has `lower`. */
function includesName(flat: readonly string[], lower: string): boolean {
  for (let i = 0; i < flat.length; i += 2) if (flat[i] === lower) return true;
  return false;
}

/**
 * Removes the client's headers named by auth-response-headers from the upstream request (they
 * are the auth service's to set): no client can pose as an authenticated user.
 */
export function stripAuthResponseHeaders(auth: ExternalAuth, head: PlanHead): void {
  const names = auth.responseHeaders;
  if (names.length === 0) return;
  const h = head.headers;
  const kept: string[] = [];
  for (let i = 0; i < h.length; i += 2) {
    if (!names.includes(h[i]!.toLowerCase())) kept.push(h[i]!, h[i + 1]!);
  }
  head.headers = kept;
}

/** Applies an auth result to the request: 0 to go on, else the status to answer. */
export function applyAuthResult(auth: ExternalAuth, result: AuthResult, head: PlanHead): number {
  const status = result.status;
  if (status >= 200 && status < 300) {
    if (auth.responseHeaders.length > 0) {
      stripAuthResponseHeaders(auth, head);
      head.headers.push(...result.copied);
    }
    for (const c of result.setCookie) addResponseHeaders(head, 'set-cookie', c);
    return 0;
  }
  if (status === 401 && auth.signin !== null) {
    addAnswerHeaders(head, 'location', signinLocation(auth, head));
    for (const c of result.setCookie) addAnswerHeaders(head, 'set-cookie', c);
    return 302;
  }
  if (status === 401 || status === 403) {
    if (status === 401 && result.wwwAuthenticate !== null) addAnswerHeaders(head, 'www-authenticate', result.wwwAuthenticate);
    if (auth.alwaysSetCookie) for (const c of result.setCookie) addAnswerHeaders(head, 'set-cookie', c);
    return status;
  }
  return 500;
}

/** How long auth-cache-duration keeps a result of this status (0: not kept). */
function cacheMs(auth: ExternalAuth, result: AuthResult): number {
  const cache = auth.cache;
  if (cache === null || result.status === 0 || result.uncacheable || result.setCookie.length > 0) return 0;
  for (const e of cache.valid) if (e.status === result.status) return e.ms;
  for (const e of cache.valid) if (e.status === 0) return e.ms;
  return 0;
}

/**
 * The stage for `route`'s external authentication. `$host` in the auth service's host part is
 * the route's (exact) host; on a rule without one the stage fails closed (the model already
 * answers 503 for such rules).
 */
export function externalAuthStage(auth: ExternalAuth, route: Route, client: ExternalAuthClient): WaitingStage {
  let origin = auth.origin;
  if (auth.originUsesHost) {
    if (route.host === '' || route.host.startsWith('*.')) return () => 503;
    origin = origin.replace('$host', route.host);
  }
  const authHost = hostname(origin.slice(origin.indexOf('://') + 3));
  const keyspace = route.host + '\n' + route.path + '\n' + auth.url + '\n';
  const cache = auth.cache;
  return (head) => {
    let key = '';
    if (cache !== null) {
      key = keyspace + hashKey(cache.key, head);
      const hit = client.cached(key);
      if (hit !== undefined) return applyAuthResult(auth, hit, head);
    }
    const target = renderUrl(auth.target, head);
    return client.check(origin, target, auth.method, authRequestHeaders(auth, authHost, head), auth.responseHeaders).then((result) => {
      if (cache !== null) {
        const ms = cacheMs(auth, result);
        if (ms > 0) client.remember(key, result, ms);
      }
      return applyAuthResult(auth, result, head);
    });
  };
}
