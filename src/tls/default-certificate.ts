// The certificate served when no other fits (unknown SNI, no SNI, a broken Secret): a
// self-signed one generated at start, like ingress-nginx's "Fake Certificate", unless
// --default-ssl-certificate names a Secret.

import { webcrypto } from 'node:crypto';
import type * as X509 from '@peculiar/x509';

// @peculiar/x509 (and its ASN.1 stack, about 20 MiB of RSS) is loaded on the first call: only
// the process that generates the certificate needs it, not the proxy workers it is sent to.
let loaded: Promise<typeof X509> | undefined;
function loadX509(): Promise<typeof X509> {
  loaded ??= import('@peculiar/x509').then((x509) => {
    x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
    return x509;
  });
  return loaded;
}

export interface SelfSignedOptions {
  commonName?: string;
  dnsNames?: string[];
  notBefore?: Date;
  notAfter?: Date;
}

export async function generateSelfSigned(opts: SelfSignedOptions = {}): Promise<{ certPem: string; keyPem: string }> {
  const x509 = await loadX509();
  const commonName = opts.commonName ?? 'Portico Default Certificate';
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${commonName}`,
    notBefore: opts.notBefore ?? new Date(now - 60_000),
    notAfter: opts.notAfter ?? new Date(now + 365 * 86_400_000),
    signingAlgorithm: algorithm,
    keys: keys as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'],
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      ...(opts.dnsNames?.length ? [new x509.SubjectAlternativeNameExtension(opts.dnsNames.map((value) => ({ type: 'dns' as const, value })))] : []),
    ],
  });
  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${Buffer.from(pkcs8).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END PRIVATE KEY-----\n`;
  return { certPem: cert.toString('pem') + '\n', keyPem };
}
