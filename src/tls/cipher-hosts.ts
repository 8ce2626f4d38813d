// Which hosts start their TLS handshakes from settings of their own (ingress-nginx ssl-ciphers,
// ssl-prefer-server-ciphers): read from the virtual hosts when a configuration is swapped in,
// for TlsManager's profile table. A host's settings do not depend on spec.tls: a host served
// with the default certificate has them too, as in ingress-nginx.

import type { HostHandshake, VirtualHost } from '../model/virtual-host.ts';

/**
 * Per host (exact or `*.parent`): its handshake settings, or null for hosts without, so that an
 * exact host is not taken for a wildcard host's settings (routing matches exact first). Empty
 * when no host has any: the listener then never reads a ClientHello ahead of the handshake.
 */
export function cipherProfileHosts(virtualHosts: Iterable<VirtualHost>): Map<string, HostHandshake | null> {
  const out = new Map<string, HostHandshake | null>();
  let any = false;
  for (const vh of virtualHosts) {
    if (vh.host === '') continue;
    const hs = vh.handshake ?? null;
    if (hs !== null) any = true;
    out.set(vh.host, hs);
  }
  return any ? out : new Map();
}
