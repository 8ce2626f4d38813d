// Revocation lists of a client-certificate policy (ingress-nginx auth-tls-secret's ca.crl),
// readable outside a handshake: a resumed TLS session skips OpenSSL's verification, so the
// request stage checks its certificate itself (client-cert.ts), CRLs included. OpenSSL's
// rules as Node configures them (CRL_CHECK and CRL_CHECK_ALL): every certificate of the chain
// but the trust anchor needs a current CRL from its issuer, and must not be listed in it.
//
// Parsing needs @peculiar/x509 (loaded on first use, only by hosts with a CRL); CRL
// signatures are verified once, against the CA bundle, when loaded. Until then, and when a
// CRL cannot be read, resumed sessions count as failed (fail closed).

import { X509Certificate, webcrypto } from 'node:crypto';
import type * as X509 from '@peculiar/x509';

// loaded by the first host with a CRL (the library and its ASN.1 stack are about 20 MiB of RSS)
let loaded: Promise<typeof X509> | undefined;
function loadX509(): Promise<typeof X509> {
  loaded ??= import('@peculiar/x509').then((x509) => {
    x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
    return x509;
  });
  return loaded;
}

const PEM_CRL = /-----BEGIN X509 CRL-----[\s\S]+?-----END X509 CRL-----/g;

/** Per issuing CA (its SHA-256 fingerprint): revoked serials and when the CRL expires. */
export type Revocations = ReadonlyMap<string, { readonly serials: ReadonlySet<string>; readonly nextUpdate: number }>;

/** Serial numbers as hex without leading zeros, lower case. */
export function normalSerial(hex: string): string {
  return hex.toLowerCase().replace(/^0+(?=.)/, '');
}

/** The CRLs of `crlPem` whose signature verifies against a CA of `cas`, keyed by that CA. */
export async function loadRevocations(crlPem: string, cas: readonly X509Certificate[]): Promise<Revocations> {
  const x509 = await loadX509();
  const out = new Map<string, { serials: Set<string>; nextUpdate: number }>();
  for (const pem of crlPem.match(PEM_CRL) ?? []) {
    const crl = new x509.X509Crl(pem);
    for (const ca of cas) {
      const key = await new x509.X509Certificate(ca.raw).publicKey.export();
      if (!(await crl.verify({ publicKey: key }))) continue;
      const serials = out.get(ca.fingerprint256)?.serials ?? new Set<string>();
      for (const e of crl.entries) serials.add(normalSerial(e.serialNumber));
      out.set(ca.fingerprint256, { serials, nextUpdate: crl.nextUpdate?.getTime() ?? Number.POSITIVE_INFINITY });
      break;
    }
  }
  return out;
}

/** '' when `cert`, issued by `issuer`, passes the CRL check; else OpenSSL's code. */
export function revocationFault(revocations: Revocations, cert: X509Certificate, issuer: X509Certificate, now: number): string {
  const list = revocations.get(issuer.fingerprint256);
  if (list === undefined) return 'UNABLE_TO_GET_CRL';
  if (list.nextUpdate < now) return 'CRL_HAS_EXPIRED';
  return list.serials.has(normalSerial(cert.serialNumber)) ? 'CERT_REVOKED' : '';
}
