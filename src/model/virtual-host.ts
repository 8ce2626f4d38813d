// The unit translation works in: one host and everything that serves it. builder.ts makes
// one per host from the Ingresses that name it; path-table.ts compiles each for lookups.
// The incremental translator (incremental.ts) rebuilds and recompiles only the hosts an edit
// touches and reuses the others (and their compiled tables) as they are.

import type { ObjectRef, Route } from './types.ts';

export interface VirtualHost {
  /** '' (rules without host), an exact host, or `*.suffix`. */
  readonly host: string;
  /** Rule routes; at most one per (Exact | Prefix-like, match key, predicates) — builder.ts decides. */
  readonly routes: readonly Route[];
  /** The default backend for paths of this host that match no rule, if one applies. */
  readonly fallback: Route | null;
  /**
   * Every rule is a regex (Route.regex set), in match order: the first whose regex matches
   * the path wins. Otherwise rules match by Exact and Prefix keys, longest first.
   */
  readonly regex?: boolean;
  /**
   * ingress-nginx ssl-passthrough: TLS connections whose SNI names this host are piped to an
   * endpoint of this route's backend, undecrypted (builder.ts applyPassthrough).
   */
  readonly passthrough?: Route;
  /**
   * ingress-nginx ssl-ciphers / ssl-prefer-server-ciphers: how TLS handshakes whose SNI names
   * this host start (builder.ts applyHandshake), whether or not a spec.tls names the host;
   * absent: the listener's settings.
   */
  readonly handshake?: HostHandshake;
}

/**
 * A host's own TLS handshake settings, as ingress-nginx's server-level ssl_ciphers /
 * ssl_prefer_server_ciphers: each from the oldest Ingress with rules for the host that sets it.
 */
export interface HostHandshake {
  /** OpenSSL cipher list (checked); absent: the listener's. */
  readonly ciphers?: string;
  /**
   * true: the server's cipher order wins. Absent: the server's order when `ciphers` is set
   * (ingress-nginx's default ConfigMap turns ssl_prefer_server_ciphers on), else the
   * listener's (the client's order).
   */
  readonly honorCipherOrder?: boolean;
  /** The Ingress the cipher list comes from (without one, the order's): problems name it. */
  readonly ingress: ObjectRef;
}
