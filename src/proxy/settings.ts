export interface ProxySettings {
  /** TCP connect timeout to an endpoint. */
  connectTimeoutMs: number;
  /** Time from having sent the request to the first response byte (→ 504). */
  responseHeaderTimeoutMs: number;
  /** Max gap between body chunks, either way (upstream body, client socket). */
  idleTimeoutMs: number;
  /** CIDRs whose X-Forwarded-* headers are kept (appended to). */
  trustedProxies: string[];
  /** Max upstream connections per pod endpoint; requests beyond it queue. */
  maxConnectionsPerEndpoint: number;
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
   * Global source allow-list (ingress-nginx ConfigMap whitelist-source-range): CIDRs or
   * addresses; others get 403 on routes without their own allow-list. Empty/absent: none.
   */
  allowSourceRange?: readonly string[];
  /** Global source deny-list (denylist-source-range): listed clients get 403 on routes without their own. */
  denySourceRange?: readonly string[];
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
}) as ProxySettings;
