// A kubernetes.io/tls Secret → a checked certificate and key. Every failure is a sentence a
// user can act on; nothing of the key or certificate content ever appears in it.

import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import type { Secret } from '../store/types.ts';

export interface ParsedCertificate {
  /** PEM chain as stored (leaf first). */
  certPem: string;
  keyPem: string;
  leaf: X509Certificate;
  notBefore: Date;
  notAfter: Date;
  /** DNS names the leaf is valid for (SANs, lower-case; the CN when there are none). */
  dnsNames: string[];
  serial: string;
}

export type CertificateResult = { ok: true; cert: ParsedCertificate } | { ok: false; reason: string; message: string };

export function parseTlsSecret(secret: Secret, now: Date = new Date()): CertificateResult {
  const where = `Secret ${secret.metadata.namespace ?? ''}/${secret.metadata.name}`;
  const data = secret.data ?? {};
  const crt = data['tls.crt'];
  const key = data['tls.key'];
  if (typeof crt !== 'string' || crt === '' || typeof key !== 'string' || key === '') {
    return { ok: false, reason: 'TLSSecretIncomplete', message: `${where} must hold tls.crt and tls.key` };
  }
  const certPem = Buffer.from(crt, 'base64').toString('utf8');
  const keyPem = Buffer.from(key, 'base64').toString('utf8');
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certPem);
  } catch {
    return { ok: false, reason: 'TLSCertificateInvalid', message: `${where}: tls.crt is not a PEM certificate` };
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(keyPem);
  } catch {
    return { ok: false, reason: 'TLSKeyInvalid', message: `${where}: tls.key is not a PEM private key (encrypted keys are not supported)` };
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    return { ok: false, reason: 'TLSKeyMismatch', message: `${where}: tls.key does not belong to the certificate in tls.crt` };
  }
  const notBefore = new Date(leaf.validFrom);
  const notAfter = new Date(leaf.validTo);
  if (notAfter.getTime() <= now.getTime()) {
    return { ok: false, reason: 'TLSCertificateExpired', message: `${where}: the certificate expired on ${notAfter.toISOString()}` };
  }
  if (notBefore.getTime() > now.getTime() + 5 * 60_000) {
    return { ok: false, reason: 'TLSCertificateNotYetValid', message: `${where}: the certificate is valid only from ${notBefore.toISOString()}` };
  }
  return { ok: true, cert: { certPem, keyPem, leaf, notBefore, notAfter, dnsNames: dnsNamesOf(leaf), serial: leaf.serialNumber } };
}

function dnsNamesOf(cert: X509Certificate): string[] {
  const san = cert.subjectAltName;
  if (san) {
    const names: string[] = [];
    for (const part of san.split(/,\s*/)) if (part.startsWith('DNS:')) names.push(part.slice(4).toLowerCase());
    return names;
  }
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject);
  return cn ? [cn[1]!.toLowerCase()] : [];
}

/** Does a certificate name (`a.example.com` or `*.example.com`) cover this host? */
export function nameCovers(name: string, host: string): boolean {
  if (name === host) return true;
  if (name.startsWith('*.')) {
    const dot = host.indexOf('.');
    return dot > 0 && host.slice(dot + 1) === name.slice(2);
  }
  return false;
}
