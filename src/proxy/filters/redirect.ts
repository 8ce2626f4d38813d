// Redirect answers of a rule: its redirect action (ingress-nginx permanent-redirect,
// temporal-redirect, from-to-www-redirect) and app-root. The Location is assembled from the
// action's literal parts and a fixed set of request values, named as nginx names them.

import type { LocationPart, Route } from '../../model/types.ts';
import type { InboundHead } from '../inbound.ts';
import { hostname } from '../tls-hosts.ts';

export interface RedirectAnswer {
  status: number;
  location: string;
}

function query(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? '' : url.slice(q + 1);
}

/** The Location for `parts`, with `$scheme`, `$host`, `$request_uri`, `$uri`, `$args`, `$is_args`. */
export function buildLocation(parts: readonly LocationPart[], head: Pick<InboundHead, 'host' | 'url' | 'path'>, scheme: string): string {
  let out = '';
  for (const p of parts) {
    if (typeof p === 'string') {
      out += p;
      continue;
    }
    switch (p.variable) {
      case 'scheme':
        out += scheme;
        break;
      case 'host':
        out += hostname(head.host);
        break;
      case 'request_uri':
        out += head.url;
        break;
      case 'uri':
        out += head.path;
        break;
      case 'args':
        out += query(head.url);
        break;
      case 'is_args':
        out += query(head.url) === '' ? '' : '?';
        break;
    }
  }
  return out;
}

/** The redirect this rule answers `head` with, or null when it forwards. */
export function redirectFor(route: Route, head: InboundHead, scheme: string): RedirectAnswer | null {
  const action = route.action;
  if (action.kind === 'redirect') return { status: action.status, location: buildLocation(action.location, head, scheme) };
  const root = route.filters.appRoot;
  // nginx: `if ($uri = /) { return 302 $scheme://$http_host<app-root>; }`
  if (root !== undefined && (head.path === '/' || head.path === '')) return { status: 302, location: `${scheme}://${head.host}${root}` };
  return null;
}
