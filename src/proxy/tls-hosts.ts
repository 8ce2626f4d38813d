// Which hosts of a RoutingConfig are served over TLS (spec.tls), for the HTTP → HTTPS
// redirect (RoutePolicy.sslRedirect). Built once per config object.

import type { TlsBinding } from '../model/types.ts';

export class TlsHosts {
  readonly empty: boolean;
  private readonly exact = new Set<string>();
  /** Parents of `*.parent` bindings (a wildcard covers exactly one more label). */
  private readonly wildcardParents = new Set<string>();

  constructor(bindings: readonly TlsBinding[]) {
    for (const b of bindings) {
      const h = b.host.toLowerCase();
      if (h.startsWith('*.')) this.wildcardParents.add(h.slice(2));
      else this.exact.add(h);
    }
    this.empty = this.exact.size === 0 && this.wildcardParents.size === 0;
  }

  /** `host` as received in the Host header (any case, may carry a port). */
  has(host: string): boolean {
    if (this.empty) return false;
    const h = hostname(host);
    if (this.exact.has(h)) return true;
    const dot = h.indexOf('.');
    return dot > 0 && this.wildcardParents.has(h.slice(dot + 1));
  }
}

/** Lower-case host without port (`[v6]:443` → `[v6]`). */
export function hostname(host: string): string {
  let h = host;
  const colon = h.lastIndexOf(':');
  if (colon > 0 && h.indexOf(']') < colon) h = h.slice(0, colon);
  return h.toLowerCase();
}
