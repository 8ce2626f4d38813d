// Ready endpoints per Service port, as the proxy consumes them.

export interface UpstreamEndpoint {
  /** IP address as written in the EndpointSlice (IPv6 without brackets). */
  address: string;
  port: number;
  /** `ip:port`, IPv6 as `[ip]:port`: unique per endpoint, used for pools and hashing. */
  key: string;
  /** true when the endpoint is serving only because it is terminating (fallback set). */
  terminating: boolean;
}

/** An immutable set; a change produces a new set object (compare by reference). */
export interface EndpointSet {
  readonly endpoints: readonly UpstreamEndpoint[];
}

export interface EndpointLookup {
  /** Endpoints for `namespace/service:portName`; an empty set when none are known. */
  get(endpointsKey: string): EndpointSet;
}
