// The routing config the proxy reads: RoutingConfig over the virtual hosts that translation
// produced (builder.ts, one per host), compiled into two flat lookup tables.
//
//   host (host-table.ts): Host header → host id: exact, else one-label wildcard, else the
//        rules without host;
//   path (path-table.ts): (host id, raw path) → the longest matching rule, Exact first.
// No fall-through between hosts: once a host is chosen, a path miss goes to that host's
// default backend, then to the global one, then null (the proxy answers 404). Both steps cost
// a few probes whatever the number of Ingresses, and allocate nothing unless the Host header
// needs normalising (upper case, a port, a trailing dot).

import { HostTable } from './host-table.ts';
import { PathTable } from './path-table.ts';
import type { ObjectRef, Problem, Route, RoutingConfig, TlsBinding } from './types.ts';
import type { VirtualHost } from './virtual-host.ts';

export type { VirtualHost };

export interface RouteTableInit {
  version: number;
  virtualHosts: readonly VirtualHost[];
  /** The global default backend: requests that match no virtual host. */
  defaultRoute: Route | null;
  problems: readonly Problem[];
  ingresses: readonly ObjectRef[];
  tls?: readonly TlsBinding[];
}

export class RouteTable implements RoutingConfig {
  readonly version: number;
  readonly problems: readonly Problem[];
  readonly ingresses: readonly ObjectRef[];
  readonly tls: readonly TlsBinding[];
  readonly defaultRoute: Route | null;
  private readonly hosts: readonly VirtualHost[];
  private readonly fallbacks: readonly (Route | null)[];
  private readonly hostTable: HostTable;
  private readonly pathTable: PathTable;

  constructor(init: RouteTableInit) {
    this.version = init.version;
    this.problems = Object.freeze(init.problems.slice());
    this.ingresses = Object.freeze(init.ingresses.slice());
    this.tls = Object.freeze((init.tls ?? []).slice());
    this.defaultRoute = init.defaultRoute;
    this.hosts = Object.freeze(init.virtualHosts.slice());
    this.fallbacks = this.hosts.map((vh) => vh.fallback);
    this.hostTable = new HostTable(this.hosts);
    this.pathTable = new PathTable(this.hosts);
  }

  match(host: string, path: string): Route | null {
    const id = this.hostTable.lookup(typeof host === 'string' ? host : '');
    if (id < 0) return this.defaultRoute;
    return this.pathTable.match(id, typeof path === 'string' ? path : '/') ?? this.fallbacks[id] ?? this.defaultRoute;
  }

  /** The virtual host a request Host header selects, or null when none does. */
  virtualHostFor(host: string): VirtualHost | null {
    const id = this.hostTable.lookup(typeof host === 'string' ? host : '');
    return id < 0 ? null : (this.hosts[id] ?? null);
  }

  /** The hosts this table was compiled from, for debugging and incremental rebuilds. */
  virtualHosts(): readonly VirtualHost[] {
    return this.hosts;
  }

  *routes(): Iterable<Route> {
    // A route is reported once even if it serves as several things.
    const seen = new Set<Route>();
    for (const vh of this.hosts) {
      for (const r of vh.routes) {
        if (!seen.has(r)) {
          seen.add(r);
          yield r;
        }
      }
      if (vh.fallback !== null && !seen.has(vh.fallback)) {
        seen.add(vh.fallback);
        yield vh.fallback;
      }
    }
    if (this.defaultRoute !== null && !seen.has(this.defaultRoute)) yield this.defaultRoute;
  }
}

/** The configuration before the first translation: routes nothing. */
export function emptyRoutingConfig(version = 0): RoutingConfig {
  return new RouteTable({ version, virtualHosts: [], defaultRoute: null, problems: [], ingresses: [] });
}
