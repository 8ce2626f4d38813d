// The endpointsKey of a backend that is one fixed address rather than a Service's
// EndpointSlices (ExternalName Services, ingress-nginx service-upstream): `@addr/<host>:<port>`.
// The model makes such keys, the endpoint index answers them (endpoints/fixed.ts).

export const FIXED_KEY_PREFIX = '@addr/';

/** host: a DNS name, an IPv4 address, or an IPv6 address without brackets. */
export function fixedKey(host: string, port: number): string {
  return `${FIXED_KEY_PREFIX}${host}:${port}`;
}
