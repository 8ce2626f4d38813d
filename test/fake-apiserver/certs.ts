// Test PKI for the fake API server's TLS mode: a CA, a serving certificate for 127.0.0.1 (IP SAN)
// and client certificates (CN = user name, O = groups, as kube-apiserver reads them), all signed
// by the CA. ECDSA P-256 through @peculiar/x509 (a dependency of the product) and WebCrypto, so
// no openssl binary is needed.

import { X509Certificate, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

export interface CertAndKey {
  certPem: string;
  keyPem: string;
  /** SHA-256 fingerprint as Node shows it (`getPeerCertificate().fingerprint256`, the fake's RequestRecord). */
  fingerprint256: string;
}

export interface IssueOptions {
  commonName: string;
  /** Subject O= entries (kube-apiserver: the user's groups). */
  organizations?: string[];
  usage: 'server' | 'client';
  ipAddresses?: string[];
  dnsNames?: string[];
  notBefore?: Date;
  /** Default: one year from now. X.509 keeps whole seconds (UTCTime). */
  notAfter?: Date;
}

export interface TestCa extends CertAndKey {
  /** A certificate signed by this CA. */
  issue(opts: IssueOptions): Promise<CertAndKey>;
  /** A serving certificate for 127.0.0.1 and localhost (what FakeApiServer's TLS mode needs). */
  issueServer(): Promise<CertAndKey>;
  /** A PEM CRL signed by this CA revoking these certificates (PEM), valid for a day. */
  crl(revoked?: string[]): Promise<string>;
}

type Keys = webcrypto.CryptoKeyPair;

async function keyPair(): Promise<Keys> {
  return (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as Keys;
}

async function keyPem(keys: Keys): Promise<string> {
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
  return `-----BEGIN PRIVATE KEY-----\n${pkcs8.replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END PRIVATE KEY-----\n`;
}

function finish(cert: x509.X509Certificate, key: string): CertAndKey {
  const certPem = `${cert.toString('pem')}\n`;
  return { certPem, keyPem: key, fingerprint256: new X509Certificate(certPem).fingerprint256 };
}

function subject(commonName: string, organizations: string[] = []): string {
  const esc = (v: string) => v.replace(/([,+"\\<>;=])/g, '\\$1');
  return [`CN=${esc(commonName)}`, ...organizations.map((o) => `O=${esc(o)}`)].join(', ');
}

function serial(): string {
  // Positive, 16 bytes, like real CAs.
  const b = webcrypto.getRandomValues(new Uint8Array(16));
  b[0] = (b[0]! & 0x7f) | 0x01;
  return Buffer.from(b).toString('hex');
}

/** A new self-signed CA (a fresh key each call: two CAs never trust each other's certificates). */
export async function createTestCa(commonName = 'fake-apiserver-ca'): Promise<TestCa> {
  const caKeys = await keyPair();
  const now = Date.now();
  type CryptoKeys = Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'];
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: subject(commonName),
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 365 * 86_400_000),
    signingAlgorithm: ALG,
    keys: caKeys as unknown as CryptoKeys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey as unknown as CryptoKeys['publicKey']),
    ],
  });
  const ca = finish(caCert, await keyPem(caKeys));

  const issue = async (opts: IssueOptions): Promise<CertAndKey> => {
    const keys = await keyPair();
    const names = [
      ...(opts.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
      ...(opts.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
    ];
    const t = Date.now();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: subject(opts.commonName, opts.organizations),
      issuer: caCert.subject,
      notBefore: opts.notBefore ?? new Date(t - 60_000),
      notAfter: opts.notAfter ?? new Date(t + 365 * 86_400_000),
      signingAlgorithm: ALG,
      publicKey: keys.publicKey as unknown as CryptoKeys['publicKey'],
      signingKey: caKeys.privateKey as unknown as CryptoKeys['privateKey'],
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([opts.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
        await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey as unknown as CryptoKeys['publicKey']),
        ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : []),
      ],
    });
    return finish(cert, await keyPem(keys));
  };

  const crl = async (revoked: string[] = []): Promise<string> => {
    const t = Date.now();
    const list = await x509.X509CrlGenerator.create({
      issuer: caCert.subject,
      thisUpdate: new Date(t - 60_000),
      nextUpdate: new Date(t + 86_400_000),
      signingAlgorithm: ALG,
      signingKey: caKeys.privateKey as unknown as CryptoKeys['privateKey'],
      entries: revoked.map((pem) => ({ serialNumber: new X509Certificate(pem).serialNumber.toLowerCase(), revocationDate: new Date(t - 30_000) })),
    });
    // OpenSSL reads the X509 CRL label only
    return `${list.toString('pem').replace(/-----(BEGIN|END) CRL-----/g, '-----$1 X509 CRL-----')}\n`;
  };

  return {
    ...ca,
    crl,
    issue,
    issueServer: () => issue({ commonName: 'fake-apiserver', usage: 'server', ipAddresses: ['127.0.0.1'], dnsNames: ['localhost'] }),
  };
}
