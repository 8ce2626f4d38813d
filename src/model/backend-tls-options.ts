// ingress-nginx's `proxy-ssl-secret` (under `portico.dev/` or `nginx.ingress.kubernetes.io/`):
// a Secret ("name" in the Ingress's namespace, or "namespace/name") for TLS to the backends
// (backend-protocol HTTPS or GRPCS). `tls.crt` + `tls.key` are presented as the client
// certificate (backends that require mTLS), `ca.crt` is the only CA the backends' certificates
// are verified against when proxy-ssl-verify is on (instead of the system roots and
// --backend-ca-file), as nginx's proxy_ssl_certificate / _certificate_key /
// _trusted_certificate.
//
// Fail closed: a Secret that is missing or unusable (no certificate pair and no CA, PEM that
// does not parse, a key that does not match its certificate) makes every rule of the Ingress
// answer 503 with a problem. Connecting without the client certificate, or verifying against
// other CAs, would be a different security arrangement than the one asked for. Key material
// never appears in a problem or a log.

import { createPrivateKey, X509Certificate } from 'node:crypto';
import type { Snapshot } from '../store/store.ts';
import { parseSecretRef } from './access-options.ts';
import { porticoNames, readAliased } from './aliased.ts';
import { describe } from './read.ts';
import { parseCipherList, parseTlsProtocols } from './cipher-list.ts';
import type { BackendTlsHandshake, BackendTlsSecret, RouteAction } from './types.ts';

export const BACKEND_TLS_OPTION_NAMES = ['proxy-ssl-secret', 'proxy-ssl-ciphers', 'proxy-ssl-protocols'] as const;
export const BACKEND_TLS_OPTION_ANNOTATIONS: readonly string[] = porticoNames(BACKEND_TLS_OPTION_NAMES);

type Report = (reason: 'InvalidAnnotation' | 'InvalidTLS', message: string) => void;

export const BACKEND_TLS_DENIED: RouteAction = Object.freeze({ kind: 'direct', status: 503, body: 'service unavailable: this route\'s proxy-ssl-secret is unusable' });

function decode(v: unknown): string | undefined {
  if (typeof v !== 'string' || !/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(v)) return undefined;
  return Buffer.from(v, 'base64').toString('utf8');
}

/** Certificates in a PEM bundle that parse, or null when one does not (or there is none). */
function certificates(pem: string): X509Certificate[] | null {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (blocks === null) return null;
  try {
    return blocks.map((b) => new X509Certificate(b));
  } catch {
    return null;
  }
}

/**
 * The Secret's material, `'denied'` when it is set but unusable (the rules answer 503), or
 * undefined when the annotation is absent.
 */
export function readBackendTlsSecret(annotations: unknown, snapshot: Snapshot, namespace: string, report: Report): BackendTlsSecret | 'denied' | undefined {
  if (annotations === null || typeof annotations !== 'object') return undefined;
  const found = readAliased(annotations as Record<string, unknown>, 'proxy-ssl-secret', (r, m) => report(r, m));
  if (found === undefined) return undefined;
  const ref = typeof found[1] === 'string' ? parseSecretRef(found[1].trim(), namespace) : undefined;
  if (ref === undefined) {
    report('InvalidAnnotation', `Annotation "${found[0]}" has the value ${describe(found[1])}, which is not valid; accepted values are a Secret name ("name" or "namespace/name"). Every rule of this Ingress answers 503 until it is fixed`);
    return 'denied';
  }
  const where = `proxy-ssl-secret "${ref.namespace}/${ref.name}"`;
  const secret = snapshot.get('Secret', `${ref.namespace}/${ref.name}`);
  if (secret === undefined) {
    report('InvalidTLS', `${where} was not found; every rule of this Ingress answers 503 until it exists`);
    return 'denied';
  }
  const data = secret.data ?? {};
  const certText = data['tls.crt'] === undefined ? undefined : decode(data['tls.crt']);
  const keyText = data['tls.key'] === undefined ? undefined : decode(data['tls.key']);
  const caText = data['ca.crt'] === undefined ? undefined : decode(data['ca.crt']);
  const fail = (why: string): 'denied' => {
    report('InvalidTLS', `${where}: ${why}; every rule of this Ingress answers 503 until it is fixed`);
    return 'denied';
  };
  if ((certText === undefined) !== (keyText === undefined)) return fail('it has only one of tls.crt and tls.key (a client certificate needs both)');
  if (certText === undefined && caText === undefined) return fail('it has neither tls.crt + tls.key (a client certificate) nor ca.crt (the CA to verify backends against)');
  const out: { cert?: string; key?: string; ca?: string; secret: string } = { secret: `${ref.namespace}/${ref.name}` };
  if (certText !== undefined && keyText !== undefined) {
    const chain = certificates(certText);
    if (chain === null) return fail('tls.crt is not a PEM certificate');
    let key;
    try {
      key = createPrivateKey(keyText);
    } catch {
      return fail('tls.key is not a PEM private key');
    }
    if (!chain[0]!.checkPrivateKey(key)) return fail('tls.key does not belong to the certificate in tls.crt');
    out.cert = certText;
    out.key = keyText;
  }
  if (caText !== undefined) {
    if (certificates(caText) === null) return fail('ca.crt is not a PEM certificate bundle');
    out.ca = caText;
  }
  return Object.freeze(out);
}

/**
 * ingress-nginx proxy-ssl-ciphers and proxy-ssl-protocols: what TLS connections to the
 * backends may negotiate (nginx proxy_ssl_ciphers, proxy_ssl_protocols). An invalid value is a
 * problem and Node's default is used for it (ingress-nginx also falls back to its default with
 * a warning). Where ingress-nginx reads them only along with a usable proxy-ssl-secret, Portico
 * applies them to every HTTPS / GRPCS backend of the Ingress, as it does proxy-ssl-verify.
 * Absent both: undefined (the route keeps Node's defaults: TLS 1.2 and 1.3, Node's ciphers).
 */
export function readBackendTlsHandshake(annotations: unknown, report: Report): BackendTlsHandshake | undefined {
  if (annotations === null || typeof annotations !== 'object') return undefined;
  const a = annotations as Record<string, unknown>;
  const out: { ciphers?: string; minVersion?: 'TLSv1.2' | 'TLSv1.3'; maxVersion?: 'TLSv1.2' | 'TLSv1.3' } = {};
  const ciphers = readAliased(a, 'proxy-ssl-ciphers', (r, m) => report(r, m));
  if (ciphers !== undefined) {
    const parsed = parseCipherList(ciphers[1], false);
    if ('invalid' in parsed) report('InvalidAnnotation', `Annotation "${ciphers[0]}" is refused: ${parsed.invalid}; Node's default ciphers are used to the backends`);
    else out.ciphers = parsed.ciphers;
  }
  const protocols = readAliased(a, 'proxy-ssl-protocols', (r, m) => report(r, m));
  if (protocols !== undefined) {
    const parsed = parseTlsProtocols(protocols[1]);
    if ('invalid' in parsed) report('InvalidAnnotation', `Annotation "${protocols[0]}" is refused: ${parsed.invalid}; TLSv1.2 and TLSv1.3 are allowed to the backends`);
    else if (parsed.minVersion !== 'TLSv1.2' || parsed.maxVersion !== 'TLSv1.3') {
      out.minVersion = parsed.minVersion;
      out.maxVersion = parsed.maxVersion;
    }
  }
  return Object.keys(out).length === 0 ? undefined : Object.freeze(out);
}
