// Source address filter (ingress-nginx allowlist/denylist-source-range, nginx's allow/deny):
// the client address is checked against the route's deny list, then its allow list; either
// one, when the route has none, is the proxy's global list (--denylist-source-range,
// --whitelist-source-range). A denied request gets 403, before any other stage runs.
//
// The client address is InboundHead.clientIp: the socket peer, the PROXY protocol source
// (which the listener makes the peer), or the X-Forwarded-For client when the peer is a
// trusted proxy. Matching is the one CIDR matcher (values/cidr.ts): IPv4, IPv6 and
// IPv4-mapped IPv6 (`::ffff:10.1.2.3` is inside `10.0.0.0/8`).

import type { SourceRange } from '../../model/types.ts';
import { parseCidrs, type CidrMatcher } from '../../values/cidr.ts';
import type { InboundHead } from '../inbound.ts';

/** Whether `ip` passes: not in `deny`, and in `allow` when there is one. */
export function sourceAllowed(ip: string, allow: CidrMatcher | null, deny: CidrMatcher | null): boolean {
  if (deny !== null && deny.contains(ip)) return false;
  if (allow !== null && !allow.contains(ip)) return false;
  return true;
}

// Every route of an Ingress shares one SourceRange: its matchers are built once for all.
const matchers = new WeakMap<readonly string[], CidrMatcher>();

/** The matcher of a list the model validated; null if it cannot be parsed after all. */
export function matcherOf(list: readonly string[]): CidrMatcher | null {
  let m = matchers.get(list);
  if (m === undefined) {
    try {
      m = parseCidrs(list);
    } catch {
      return null;
    }
    matchers.set(list, m);
  }
  return m;
}

/** The global lists, parsed once from the settings; null entries mean "no such list". */
export interface GlobalSourceRange {
  readonly allow: CidrMatcher | null;
  readonly deny: CidrMatcher | null;
}

export const NO_GLOBAL_SOURCE_RANGE: GlobalSourceRange = Object.freeze({ allow: null, deny: null });

/** The global lists from settings (already validated there: a bad entry throws). */
export function globalSourceRange(allow: readonly string[], deny: readonly string[]): GlobalSourceRange {
  const a = allow.filter((c) => c.trim() !== '');
  const d = deny.filter((c) => c.trim() !== '');
  if (a.length === 0 && d.length === 0) return NO_GLOBAL_SOURCE_RANGE;
  return Object.freeze({ allow: a.length === 0 ? null : parseCidrs(a), deny: d.length === 0 ? null : parseCidrs(d) });
}

/** The stage for a route's lists over the global ones, or null when neither has a list. */
export function sourceRangeStage(route: SourceRange | undefined, global: GlobalSourceRange): ((head: InboundHead) => number) | null {
  if ((route?.allow !== undefined && matcherOf(route.allow) === null) || (route?.deny !== undefined && matcherOf(route.deny) === null)) {
    // the model answers 503 for lists it cannot read, so this is belt and braces: fail closed
    return () => 503;
  }
  const allow = route?.allow !== undefined ? matcherOf(route.allow) : global.allow;
  const deny = route?.deny !== undefined ? matcherOf(route.deny) : global.deny;
  if (allow === null && deny === null) return null;
  return (head) => (sourceAllowed(head.clientIp, allow, deny) ? 0 : 403);
}
