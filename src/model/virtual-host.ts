// The unit translation works in: one host and everything that serves it. builder.ts makes
// one per host from the Ingresses that name it; path-table.ts compiles each for lookups.
// The incremental translator (incremental.ts) rebuilds and recompiles only the hosts an edit
// touches and reuses the others (and their compiled tables) as they are.

import type { Route } from './types.ts';

export interface VirtualHost {
  /** '' (rules without host), an exact host, or `*.suffix`. */
  readonly host: string;
  /** Rule routes; at most one per (Exact | Prefix-like, match key) — builder.ts decides. */
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
}
