import type { ExternalAuth } from '../model/types.ts';

export interface ProxySettings {
  /** TCP connect timeout to an endpoint. */
  connectTimeoutMs: number;
  /** Time from having sent the request to the first response byte (→ 504). */
  responseHeaderTimeoutMs: number;
  /** Max gap between body chunks, either way (upstream body, client socket). */
  idleTimeoutMs: number;
  /** CIDRs whose X-Forwarded-* headers are kept (appended to). */
  trustedProxies: string[];
  /**
   * Max upstream connections per pod endpoint (HTTP/1.1 pools); requests beyond it wait up to
   * upstreamQueueTimeoutMs for one (slots.ts).
   */
  maxConnectionsPerEndpoint: number;
  /** Longest wait for a free upstream connection, then 503; 0: wait without limit. */
  upstreamQueueTimeoutMs?: number;
  /**
   * Longest the upstream may go without accepting more of a streamed request body (nginx
   * proxy_send_timeout), then 504; a route's proxy-send-timeout replaces it; 0: --idle-timeout.
   */
  sendTimeoutMs?: number;
  /** Longest pause between two reads of a request body (nginx client_body_timeout), then 408. */
  clientBodyTimeoutMs?: number;
  /** Longest time a request body may take to arrive in full, then 408; 0: no limit. */
  clientBodyDeadlineMs?: number;
  /**
   * Request bodies with a declared length up to this many bytes are read in full before an
   * upstream connection is taken (ingress-nginx proxy-request-buffering, in memory only), so a
   * slow client holds no upstream connection; 0: always stream.
   */
  clientBodyBufferSize?: number;
  /** Idle upstream socket lifetime; keep it below the upstreams' own keep-alive (Node: 5 s). */
  upstreamKeepAliveMs: number;
  /** Strict-Transport-Security value added to HTTPS responses that lack one; null: none. */
  hsts: string | null;
  /**
   * Put the request's X-Request-Id on proxied responses too (replacing one the upstream set).
   * Off by default, as in ingress-nginx, Envoy and Traefik: the upstream's own response headers
   * pass unchanged (applications commonly echo the id they received). Local answers (404,
   * 502, ...) always carry it.
   */
  responseRequestId?: boolean;
  /**
   * PEM bundle trusted for TLS backends with verification on (`portico.dev/backend-tls-verify`),
   * in addition to Node's default trust store; null/absent: the default store only.
   */
  backendCa?: string | null;
  /**
   * Largest request body in bytes for routes without their own limit (ingress-nginx's
   * proxy-body-size, default 1m); 0: no limit. Larger declared bodies get 413.
   */
  bodyLimit?: number;
  /**
   * Status of the redirects to HTTPS (ssl-redirect) and of from-to-www-redirect twins
   * (ingress-nginx's http-redirect-code, default 308): 301, 302, 307 or 308.
   */
  httpRedirectCode?: number;
  /**
   * Routes whose Ingress does not say ssl-redirect: redirect plain HTTP to HTTPS on hosts with
   * TLS (--ssl-redirect, ingress-nginx's ConfigMap ssl-redirect; default true).
   */
  sslRedirect?: boolean;
  /** Routes whose Ingress does not say force-ssl-redirect: redirect on every host (default false). */
  forceSslRedirect?: boolean;
  /** Proxy TRACE requests (off: 405, since TRACE echoes cookies and credentials back). */
  allowTrace?: boolean;
  /** Status of requests over limit-rps / limit-rpm (ingress-nginx limit-req-status-code, default 503). */
  limitReqStatusCode?: number;
  /** Status of requests over limit-connections (ingress-nginx limit-conn-status-code, default 503). */
  limitConnStatusCode?: number;
  /**
   * Processes serving this pod's traffic (the --workers count, 1 for a single process): each
   * enforces its share of the rate and connection limits (filters/rate-limit.ts).
   */
  rateLimitShares?: number;
  /**
   * Global source allow-list (ingress-nginx ConfigMap whitelist-source-range): CIDRs or
   * addresses; others get 403 on routes without their own allow-list. Empty/absent: none.
   */
  allowSourceRange?: readonly string[];
  /** Global source deny-list (denylist-source-range): listed clients get 403 on routes without their own. */
  denySourceRange?: readonly string[];
  /**
   * --global-auth-url and companions (ingress-nginx ConfigMap global-auth-*): external
   * authentication of every route without its own auth-url or enable-global-auth "false".
   */
  globalAuth?: ExternalAuth | null;
}

export const DEFAULT_PROXY_SETTINGS: ProxySettings = Object.freeze({
  connectTimeoutMs: 5000,
  responseHeaderTimeoutMs: 60_000,
  idleTimeoutMs: 60_000,
  trustedProxies: [] as string[],
  maxConnectionsPerEndpoint: 256,
  upstreamKeepAliveMs: 4000,
  hsts: null,
  responseRequestId: false,
  backendCa: null,
  bodyLimit: 1024 * 1024,
  allowTrace: false,
  upstreamQueueTimeoutMs: 5000,
  clientBodyTimeoutMs: 60_000,
  clientBodyDeadlineMs: 300_000,
  clientBodyBufferSize: 64 * 1024,
}) as ProxySettings;
