// What the proxy reports about each finished exchange (plain request or WebSocket upgrade):
// the access log, metrics and tracing read it (ProxyDeps.onRequestDone, RequestTracer.end).

import type { IncomingMessage } from 'node:http';
import type { ObjectRef, Route } from '../model/types.ts';

/** Why a request did not end in a complete upstream response. */
export type ErrorKind =
  | 'bad_request' // 400/501 answered by us
  | 'no_route' // 404
  | 'no_endpoints' // 503
  | 'direct' // answered by the rule's direct response (e.g. 503 for an access control not enforced)
  | 'rate_limited' // limit-rps / limit-rpm refused it (--limit-req-status-code)
  | 'connection_limited' // limit-connections refused it (--limit-conn-status-code)
  | 'body_too_large' // 413: the request body is over the route's limit
  | 'access_denied' // 403 (source address) or 401 (basic authentication) from the route's filters
  | 'shutting_down' // 503 during close()
  | 'connect' // refused / unreachable → 502
  | 'connect_timeout' // → 504
  | 'reset' // upstream closed/reset before a response → 502
  | 'headers_timeout' // → 504
  | 'send_timeout' // the upstream stopped accepting the request body (proxy-send-timeout) → 504
  | 'body_timeout' // upstream stalled mid-body → client connection destroyed
  | 'upstream_error' // anything else from the upstream side
  | 'client_abort' // the client went away first
  | 'client_timeout' // the client connection was idle too long (stalled upload, not reading), or its body took too long (408)
  | 'upstream_busy' // 503: no upstream connection came free within --upstream-queue-timeout
  | 'internal'; // a bug of ours, answered 500

export interface RequestInfo {
  method: string;
  /** Host header as received ('' when absent). */
  host: string;
  /** Path without query. */
  path: string;
  scheme: 'http' | 'https';
  /** Status sent to the client (0 if none was sent). */
  status: number;
  /** Response body bytes passed to the client socket (upstream bodies; not local error pages). */
  bytesSent: number;
  durationMs: number;
  /**
   * Upstream time from dispatching the request to its response headers (for the first attempt
   * from the request's arrival: it is dispatched in the same tick, microseconds later); null
   * without a response.
   */
  upstreamHeaderMs: number | null;
  /** `ip:port` of the last endpoint tried, null when none was. */
  upstream: string | null;
  /** Number of upstream attempts (2 when retried). */
  attempts: number;
  /** The Ingress that owns the matched route, null when none matched. */
  ingress: ObjectRef | null;
  /** The matched route's path ('' for default backends), null when none matched. */
  routePath: string | null;
  /** The backend's endpointsKey (`namespace/service:port`), null when none matched. */
  backend: string | null;
  requestId: string;
  clientIp: string;
  /** true for Upgrade (WebSocket) exchanges; duration then spans the whole connection. */
  upgrade: boolean;
  error: ErrorKind | null;
  /** The matched route (its identity keys the metrics' label cache), null when none matched. */
  route: Route | null;
  /**
   * The client's request, valid during onRequestDone only: what the access log reads for its
   * optional fields (headers, query string, TLS), so the proxy computes none of them.
   */
  request: IncomingMessage | null;
  /**
   * Request line + headers (as `name: value` lines) + the declared Content-Length, in bytes: what
   * nginx's $request_length counts. A streamed body without Content-Length is not counted.
   */
  requestBytes: number;
  /** Status of the upstream's response (last attempt), null without one. */
  upstreamStatus: number | null;
  /** Upstream time from dispatching the request (last attempt) to the end of its response, null when it did not end. */
  upstreamResponseMs: number | null;
}

/** A RequestInfo with nothing in it, to be refilled (plain requests share one per proxy). */
export function emptyRequestInfo(): RequestInfo {
  return {
    method: '',
    host: '',
    path: '',
    scheme: 'http',
    status: 0,
    bytesSent: 0,
    durationMs: 0,
    upstreamHeaderMs: null,
    upstream: null,
    attempts: 0,
    ingress: null,
    routePath: null,
    backend: null,
    requestId: '',
    clientIp: '',
    upgrade: false,
    error: null,
    route: null,
    request: null,
    requestBytes: 0,
    upstreamStatus: null,
    upstreamResponseMs: null,
  };
}
