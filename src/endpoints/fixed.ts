// Backends that are one fixed address instead of a Service's EndpointSlices: an ExternalName
// Service (a DNS name, resolved by Node's resolver each time a connection is opened; keep-alive
// connections are reused meanwhile) and ingress-nginx's service-upstream (the Service's
// ClusterIP, balanced by kube-proxy). The model names them with keys of their own,
// `@addr/<host>:<port>`, which the endpoint index answers without any EndpointSlice.

import { FIXED_KEY_PREFIX } from '../values/fixed-address.ts';
import type { EndpointSet, UpstreamEndpoint } from './types.ts';

const sets = new Map<string, EndpointSet>();

/** The one-endpoint set of a fixed key, or null when `key` is not one. Made once per key. */
export function fixedEndpointSet(key: string): EndpointSet | null {
  if (!key.startsWith(FIXED_KEY_PREFIX)) return null;
  let set = sets.get(key);
  if (set === undefined) {
    const rest = key.slice(FIXED_KEY_PREFIX.length);
    const colon = rest.lastIndexOf(':');
    const address = rest.slice(0, colon);
    const port = Number(rest.slice(colon + 1));
    if (colon <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) return null;
    const endpoint: UpstreamEndpoint = Object.freeze({
      address,
      port,
      key: address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`,
      terminating: false,
    });
    set = Object.freeze({ endpoints: Object.freeze([endpoint]) });
    // bounded: keys come from the configuration, a few per ExternalName Service
    if (sets.size > 10_000) sets.clear();
    sets.set(key, set);
  }
  return set;
}
