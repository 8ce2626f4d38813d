// The key a route hashes requests by (ingress-nginx upstream-hash-by), assembled from literal
// text and request values; the balancer's rendezvous hashing maps it to an endpoint.

import type { HashKeyPart } from '../../model/types.ts';
import type { InboundHead } from '../inbound.ts';
import { cookieFrom } from './affinity.ts';
import { hostname } from '../tls-hosts.ts';

function headerValue(headers: readonly string[], name: string): string {
  for (let i = 0; i < headers.length; i += 2) {
    const n = headers[i]!;
    if (n.length === name.length && n.toLowerCase() === name) return headers[i + 1]!;
  }
  return '';
}

function argValue(url: string, name: string): string {
  const q = url.indexOf('?');
  if (q === -1) return '';
  for (const pair of url.slice(q + 1).split('&')) {
    const eq = pair.indexOf('=');
    if ((eq === -1 ? pair : pair.slice(0, eq)) === name) return eq === -1 ? '' : pair.slice(eq + 1);
  }
  return '';
}

export function hashKey(parts: readonly HashKeyPart[], head: InboundHead): string {
  let key = '';
  for (const p of parts) {
    if (typeof p === 'string') key += p;
    else if ('variable' in p) {
      switch (p.variable) {
        case 'request_uri':
          key += head.url;
          break;
        case 'uri':
          key += head.path;
          break;
        case 'args': {
          const q = head.url.indexOf('?');
          key += q === -1 ? '' : head.url.slice(q + 1);
          break;
        }
        case 'host':
          key += hostname(head.host);
          break;
        case 'remote_addr':
          key += head.clientIp;
          break;
      }
    } else if ('header' in p) key += headerValue(head.headers, p.header);
    else if ('cookie' in p) key += cookieFrom(head.headers, p.cookie) ?? '';
    else key += argValue(head.url, p.arg);
  }
  return key;
}
