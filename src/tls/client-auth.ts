// Client certificates per SNI host (ingress-nginx auth-tls-*): only the TLS handshakes of hosts
// whose Ingress asks for client authentication request a certificate.
//
// Why this way. Node's `requestCert` is a tls.Server option: it applies to every handshake
// of the listener. Setting it for all hosts would send a CertificateRequest on every host, and
// for hosts without a CA list that request names no CA, which makes browsers that hold client
// certificates prompt for one on every site Portico serves. A SecureContext (what SNI picks)
// carries the CA store and CA name list, but not the verify mode. So the SNI callback, which
// Node calls with the TLS socket as `this` while the ClientHello is processed (before the
// server's flight is written), sets the verify mode of that one connection (OpenSSL
// SSL_set_verify, through the socket's handle) when the host needs it, and picks a context
// that holds the host's certificate plus its CA bundle and CRL. Verification never fails the
// handshake (`rejectUnauthorized` stays off): the proxy answers 400 or redirects to the error
// page as nginx does, per request (proxy/filters/client-cert.ts).
//
// The trade-off: this reaches into Node internals (the handle's setVerifyMode; the socket's
// _requestCert and _rejectUnauthorized, which make Node fill in `authorized` /
// `authorizationError` after the handshake and keep the connection).
// When they are not there (a future Node), arming fails and the handshake for such a host is
// refused: fail closed, never a host served without the certificate it asked for. The e2e
// test (e2e/client-cert.test.ts) checks the mechanism against the Node in use.
//
// A connection records what it was verified for (ArmedConnection): the policy key of its SNI
// host. A request for another host whose policy has a different key (HTTP/2 coalescing, or
// a request without SNI) is answered 421 by the request stage, never let through.
// Resumed sessions skip the certificate exchange (and Node's SNI callback): the stage checks
// the session's certificate against the host's CAs itself.

import tls, { type SecureContext } from 'node:tls';
import type { ClientCertPolicy, Route } from '../model/types.ts';

// A registry symbol: proxy/filters/client-cert.ts reads it under the same name without importing
// this module (test/proxy/client-cert.test.ts arms sockets with this one and checks the stage).
export const kArmed = Symbol.for('portico.clientCertArmed');

/** What a connection's handshake verified the client certificate for. */
export interface ArmedConnection {
  /** ClientCertPolicy.key of the SNI host's policy. */
  readonly key: string;
  /** The TLS socket itself (HTTP/2 requests see it through a proxy object). */
  readonly socket: tls.TLSSocket;
  /** The request stage's verdict, computed once per connection. */
  verdict: unknown;
}

interface NodeTlsInternals {
  _handle?: { setVerifyMode?: (requestCert: boolean, rejectUnauthorized: boolean) => void } | null;
  _requestCert?: boolean;
  _rejectUnauthorized?: boolean;
  [kArmed]?: ArmedConnection;
}

/**
 * Makes one server-side TLS socket request a client certificate (verified against the
 * context SNI picks; never rejected in the handshake). False when Node's internals are not
 * as expected: the caller then refuses the handshake.
 */
export function armClientAuth(socket: unknown, policy: ClientCertPolicy): boolean {
  if (!(socket instanceof tls.TLSSocket)) return false;
  const inner = socket as unknown as NodeTlsInternals;
  const handle = inner._handle;
  if (handle === null || handle === undefined || typeof handle.setVerifyMode !== 'function') return false;
  handle.setVerifyMode(true, false);
  // Node's server sockets default to rejecting, which would close the connection after the
  // handshake instead of letting the proxy answer 400 as nginx does
  inner._requestCert = true;
  inner._rejectUnauthorized = false;
  inner[kArmed] = { key: policy.key, socket, verdict: null };
  return true;
}

/** What the connection was armed for, or undefined (a plain socket, a host without client auth). */
export function armedOf(socket: unknown): ArmedConnection | undefined {
  if (socket === null || typeof socket !== 'object') return undefined;
  return (socket as NodeTlsInternals)[kArmed];
}

/**
 * Per route host: the client-certificate policy its routes carry (builder.ts gives every
 * route of a host the same one), or null for hosts without. Only handshakes need it, so it
 * is derived from the configuration when it is swapped in.
 */
export function clientAuthHosts(routes: Iterable<Route>): Map<string, ClientCertPolicy | null> {
  const out = new Map<string, ClientCertPolicy | null>();
  let any = false;
  for (const r of routes) {
    if (r.host === '') continue;
    const p = r.filters.clientCert;
    const policy = p !== undefined && p.verify !== 'off' ? p : null;
    if (policy !== null) any = true;
    if (!out.has(r.host) || (out.get(r.host) === null && policy !== null)) out.set(r.host, policy);
  }
  return any ? out : new Map();
}

/** One host's handshake setup: the context with its certificate and the CAs, and the policy. */
export interface HostClientAuth {
  readonly context: SecureContext;
  readonly policy: ClientCertPolicy;
}
