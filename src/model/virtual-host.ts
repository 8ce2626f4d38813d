// The unit translation works in: one host and everything that serves it. builder.ts makes
// one per host from the Ingresses that name it; route-table.ts compiles them for lookups.
// Keeping this boundary lets a later incremental translator rebuild only the hosts an edit
// touches and reuse the others as they are.

import type { Route } from './types.ts';

export interface VirtualHost {
  /** '' (rules without host), an exact host, or `*.suffix`. */
  readonly host: string;
  /** Rule routes; at most one per (Exact | Prefix-like, match key) — builder.ts decides. */
  readonly routes: readonly Route[];
  /** The default backend for paths of this host that match no rule, if one applies. */
  readonly fallback: Route | null;
}
