// ingress-nginx ssl-ciphers and ssl-prefer-server-ciphers (under `portico.dev/` or
// `nginx.ingress.kubernetes.io/`): the cipher list and cipher order of the TLS handshakes of
// the Ingress's hosts. ingress-nginx writes them into the host's server block (ssl_ciphers,
// ssl_prefer_server_ciphers), taking each from the oldest Ingress of the host that sets it,
// whether or not a spec.tls names the host; Portico puts them on the virtual host (builder.ts
// applyHandshake), and the listener starts that host's handshakes with them
// (proxy/cipher-profiles.ts, tls/manager.ts).
//
// An invalid value is a problem and the listener's setting is kept for the host: a cipher list
// OpenSSL would refuse must never make every handshake of the host fail.

import { porticoNames, readAliased } from './aliased.ts';
import { parseCipherList } from './cipher-list.ts';
import { parseBool } from './external-auth-options.ts';
import { describe } from './read.ts';

export const TLS_CIPHER_OPTION_NAMES = ['ssl-ciphers', 'ssl-prefer-server-ciphers'] as const;
export const TLS_CIPHER_OPTION_ANNOTATIONS: readonly string[] = porticoNames(TLS_CIPHER_OPTION_NAMES);

type Report = (reason: 'InvalidAnnotation', message: string) => void;

/** What one Ingress asks of its hosts' TLS handshakes; a field is absent when not (validly) set. */
export interface ServerCipherOptions {
  /** OpenSSL cipher list, checked (cipher-list.ts). */
  readonly ciphers?: string;
  /** true: the server's cipher order wins (ssl_prefer_server_ciphers on). */
  readonly preferServerCiphers?: boolean;
}

/** The Ingress's ssl-ciphers / ssl-prefer-server-ciphers, or undefined when neither is (validly) set. */
export function readServerCipherOptions(annotations: unknown, report: Report): ServerCipherOptions | undefined {
  if (annotations === null || typeof annotations !== 'object') return undefined;
  const a = annotations as Record<string, unknown>;
  const out: { ciphers?: string; preferServerCiphers?: boolean } = {};
  const ciphers = readAliased(a, 'ssl-ciphers', report);
  if (ciphers !== undefined) {
    const parsed = parseCipherList(ciphers[1], true);
    if ('invalid' in parsed) report('InvalidAnnotation', `Annotation "${ciphers[0]}" is refused: ${parsed.invalid}; the hosts of this Ingress keep the listener's ciphers`);
    else out.ciphers = parsed.ciphers;
  }
  const prefer = readAliased(a, 'ssl-prefer-server-ciphers', report);
  if (prefer !== undefined) {
    const v = typeof prefer[1] === 'string' ? parseBool(prefer[1]) : undefined;
    if (v === undefined) report('InvalidAnnotation', `Annotation "${prefer[0]}" is ${describe(prefer[1])}, not "true" or "false"; it is ignored`);
    else out.preferServerCiphers = v;
  }
  return Object.keys(out).length === 0 ? undefined : Object.freeze(out);
}
