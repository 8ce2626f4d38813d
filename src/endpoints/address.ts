// Which EndpointSlice addresses the proxy can connect to.
//
// An address that is not an IP literal of the slice's family (`999.1.1.1`, `::g`, a host name,
// an empty string) used to reach the upstream pools, where undici refused it per request with
// "Invalid URL"; a host name would even be resolved through DNS on every connection. They are
// dropped when the slice is loaded instead, and reported (see problems.ts).

import net from 'node:net';

/** The address types the proxy routes to (FQDN slices name hosts, not pods). */
export type RoutableAddressType = 'IPv4' | 'IPv6';

/**
 * True when `address` is an IP literal of `addressType`. `net.isIP*` costs about 0.1 µs per
 * address, so a relist of 200,000 endpoints pays some 20 ms for it. IPv6 zone indexes
 * (`fe80::1%eth0`) pass `net.isIPv6` but mean nothing outside the node that wrote them and
 * break the `[ip]:port` key: refused.
 */
export function validAddress(address: string, addressType: RoutableAddressType): boolean {
  if (addressType === 'IPv4') return net.isIPv4(address);
  return address.indexOf('%') === -1 && net.isIPv6(address);
}
