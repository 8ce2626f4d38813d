// The routing config the proxy reads: RoutingConfig over the virtual hosts that translation
// produced (builder.ts, one per host), each compiled on its own (path-table.ts) and found by
// the Host header (host-table.ts):
//
//   host: Host header → the host's compiled table: exact, else one-label wildcard, else the
//         rules without host;
//   path: (that table, raw path) → the longest matching rule, Exact first; of rules with
//         request predicates (method, headers, query) the first that holds (path-table.ts).
// No fall-through between hosts: once a host is chosen, a path miss goes to that host's
// default backend, then to the global one, then null (the proxy answers 404). Both steps cost
// a few probes whatever the number of Ingresses, and allocate nothing unless the Host header
// needs normalising (upper case, a port, a trailing dot).
//
// A table is immutable. `RouteTable.update` makes the next one from the previous: only the
// hosts given are compiled, every other host's compiled table is shared (incremental.ts).

import { HostTable } from './host-table.ts';
import { PathTable } from './path-table.ts';
import type { MatchRequest, ObjectRef, Problem, Route, RoutingConfig, TlsBinding } from './types.ts';
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

/**
 * The next table after a previous one: what changed, and the lists as they are now. The lists
 * are kept as they are, neither copied nor frozen (freezing a 10,000-entry array costs ~1 ms,
 * the whole budget of an edit): the caller must not change them afterwards.
 */
export interface RouteTableDelta {
  version: number;
  /** Virtual hosts added or rebuilt; every other host of the previous table is kept as it is. */
  virtualHosts: readonly VirtualHost[];
  /** Hosts to take out (those not in the previous table are ignored). */
  removedHosts: readonly string[];
  defaultRoute: Route | null;
  problems: readonly Problem[];
  ingresses: readonly ObjectRef[];
  tls: readonly TlsBinding[];
}

/** Frozen lists are taken as they are (so one list can serve several tables), others copied. */
function frozen<T>(list: readonly T[]): readonly T[] {
  return Object.isFrozen(list) ? list : Object.freeze(list.slice());
}

function compile(hosts: readonly VirtualHost[]): PathTable[] {
  const out: PathTable[] = new Array<PathTable>(hosts.length);
  for (let i = 0; i < hosts.length; i++) out[i] = new PathTable(hosts[i] as VirtualHost);
  return out;
}

export class RouteTable implements RoutingConfig {
  readonly version: number;
  readonly problems: readonly Problem[];
  readonly ingresses: readonly ObjectRef[];
  readonly tls: readonly TlsBinding[];
  readonly defaultRoute: Route | null;
  private readonly table: HostTable;
  /** virtualHosts(), made on first use. */
  private hostList: readonly VirtualHost[] | null;

  /**
   * Should a host repeat in `init.virtualHosts`, its first entry is kept. The lists are copied
   * and frozen, unless already frozen. With `previous` (see update()), only the hosts given
   * are compiled and the lists are taken as they are.
   */
  constructor(init: RouteTableInit, previous?: { table: RouteTable; removedHosts: readonly string[] }) {
    this.version = init.version;
    this.problems = previous === undefined ? frozen(init.problems) : init.problems;
    this.ingresses = previous === undefined ? frozen(init.ingresses) : init.ingresses;
    this.tls = previous === undefined ? frozen(init.tls ?? []) : (init.tls ?? []);
    this.defaultRoute = init.defaultRoute;
    this.table =
      previous === undefined
        ? HostTable.of(compile(init.virtualHosts))
        : previous.table.table.with(compile(init.virtualHosts), previous.removedHosts);
    this.hostList = null;
  }

  /**
   * The table after `previous` with `delta` applied: the hosts in `delta.virtualHosts` are
   * compiled, those in `delta.removedHosts` dropped, all others shared with `previous`.
   */
  static update(previous: RouteTable, delta: RouteTableDelta): RouteTable {
    return new RouteTable(
      { version: delta.version, virtualHosts: delta.virtualHosts, defaultRoute: delta.defaultRoute, problems: delta.problems, ingresses: delta.ingresses, tls: delta.tls },
      { table: previous, removedHosts: delta.removedHosts },
    );
  }

  match(host: string, path: string, request?: MatchRequest): Route | null {
    const t = this.table.lookup(typeof host === 'string' ? host : '');
    if (t === null) return this.defaultRoute;
    return t.match(typeof path === 'string' ? path : '/', request) ?? t.fallback ?? this.defaultRoute;
  }

  /** The virtual host a request Host header selects, or null when none does. */
  virtualHostFor(host: string): VirtualHost | null {
    return this.table.lookup(typeof host === 'string' ? host : '')?.vh ?? null;
  }

  /** The virtual host named exactly `host` (a rule host: '', `a.com` or `*.a.com`), or null. */
  virtualHost(host: string): VirtualHost | null {
    return this.table.get(host)?.vh ?? null;
  }

  passthrough(serverName: string): Route | null {
    return this.table.lookup(serverName)?.vh.passthrough ?? null;
  }

  /** The hosts this table was compiled from, for debugging; order unspecified. */
  virtualHosts(): readonly VirtualHost[] {
    if (this.hostList === null) {
      const list: VirtualHost[] = [];
      for (const t of this.table.values()) list.push(t.vh);
      this.hostList = Object.freeze(list);
    }
    return this.hostList;
  }

  /** Number of virtual hosts. */
  get hostCount(): number {
    return this.table.size;
  }

  *routes(): Iterable<Route> {
    // A route is reported once even if it serves as several things.
    const seen = new Set<Route>();
    for (const t of this.table.values()) {
      for (const r of t.vh.routes) {
        if (!seen.has(r)) {
          seen.add(r);
          yield r;
        }
      }
      const fallback = t.fallback;
      if (fallback !== null && !seen.has(fallback)) {
        seen.add(fallback);
        yield fallback;
      }
    }
    if (this.defaultRoute !== null && !seen.has(this.defaultRoute)) yield this.defaultRoute;
  }
}

/** The configuration before the first translation: routes nothing. */
export function emptyRoutingConfig(version = 0): RoutingConfig {
  return new RouteTable({ version, virtualHosts: [], defaultRoute: null, problems: [], ingresses: [] });
}
