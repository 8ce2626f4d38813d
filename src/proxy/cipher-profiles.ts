// Per-host cipher lists and cipher order (ingress-nginx ssl-ciphers, ssl-prefer-server-ciphers)
// on the one HTTPS listener.
//
// Why this way. The SNI callback gives a handshake its host's certificate by switching the
// connection to another SecureContext (OpenSSL SSL_set_SSL_CTX), but OpenSSL keeps the cipher
// list and options (cipher server preference) of the context the connection was created with:
// measured on Node 24, a host whose SNI context allows only AES-256 still negotiates AES-128.
// nginx has the same limit for ssl_protocols and works around it for ciphers in its own
// servername callback, which Node's does not expose. So the choice is made before the TLS
// connection exists: the ClientHello's server name is read from the first bytes
// (client-hello.ts), and the TLS socket is created from that host's profile context (its
// ciphers and order, the listener's other settings, the default certificate; SNI then still
// picks the certificate as for every host). tls/manager.ts builds the profile contexts
// (TlsManager.profileFor); runtime/data-plane.ts puts this peek on the HTTPS listener.
//
// Cost: nothing while no host sets a profile (the connection goes straight to the TLS
// server). With profiles, every connection of the listener waits for its ClientHello (one
// record, usually one segment) before the TLS socket is made.
//
// The trade-off: the TLS server creates its sockets from `server._sharedCreds` (Node's
// internal field for the server's own context), which is replaced only for the synchronous
// call that creates the socket. When the field is not there (a future Node), connections to
// hosts with a profile are refused rather than served with ciphers their Ingress excluded.

import type net from 'node:net';
import type tls from 'node:tls';
import type { SecureContext } from 'node:tls';
import { awaitClientHello } from './client-hello.ts';

/** Time allowed for the ClientHello (the TLS handshake's own timeout starts after it). */
export const CLIENT_HELLO_TIMEOUT_MS = 10_000;

/** What the listener asks for each connection. */
export interface ProfileLookup {
  /** Whether any host has a profile now (false: no peek at all). */
  active(): boolean;
  /** The context a handshake for this server name (lower case) starts from, or null: the server's own. */
  contextFor(serverName: string): SecureContext | null;
  /** Called once when Node's internals are not as expected (connections with a profile are then refused). */
  onUnavailable?(): void;
}

interface ServerInternals {
  _sharedCreds?: SecureContext;
}

/**
 * Puts the ClientHello peek in front of `server`'s 'connection' listeners (the TLS server's own:
 * call it right after creating the server, before any other wrapper such as the PROXY
 * protocol reader, so that those run first).
 */
export function startHandshakesByProfile(server: tls.Server, lookup: ProfileLookup, helloTimeoutMs = CLIENT_HELLO_TIMEOUT_MS): void {
  const listeners = server.listeners('connection') as ((socket: net.Socket) => void)[];
  server.removeAllListeners('connection');
  const internals = server as unknown as ServerInternals;
  let unavailableReported = false;

  const handOver = (socket: net.Socket, context: SecureContext | null): void => {
    if (context === null) {
      for (const l of listeners) l.call(server, socket);
      return;
    }
    if (!('_sharedCreds' in internals) || internals._sharedCreds === undefined) {
      if (!unavailableReported) {
        unavailableReported = true;
        lookup.onUnavailable?.();
      }
      socket.destroy();
      return;
    }
    const own = internals._sharedCreds;
    internals._sharedCreds = context;
    try {
      for (const l of listeners) l.call(server, socket);
    } finally {
      internals._sharedCreds = own;
    }
  };

  server.on('connection', (socket: net.Socket) => {
    if (!lookup.active()) {
      handOver(socket, null);
      return;
    }
    awaitClientHello(socket, helloTimeoutMs, (peek, buf) => {
      socket.unshift(buf);
      // not a ClientHello this parser reads, or no server name: the TLS server decides as always
      const context = peek.kind === 'hello' && peek.serverName !== null ? lookup.contextFor(peek.serverName) : null;
      // the TLS socket reads the put-back bytes itself (see proxy-protocol.ts)
      handOver(socket, context);
    });
  });
}
