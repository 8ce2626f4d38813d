// The pure half of ACME: which certificates our Ingresses ask for (from the model's TLS
// bindings), whether the Secret that should hold one needs a new certificate, when to renew,
// how long to back off. No I/O and no clocks (the caller passes `now`), so all of it is
// table-tested.

import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import type { ObjectRef, RoutingConfig } from '../model/types.ts';
import type { Ingress, Secret } from '../store/types.ts';

/** Either annotation set to "true" asks for an ACME certificate (cert-manager's ingress-shim name, and ours). */
export const ACME_ANNOTATIONS: readonly string[] = ['kubernetes.io/tls-acme', 'portico.dev/acme'];
/** Set on certificate Secrets Portico wrote. */
export const MANAGED_ANNOTATION = 'portico.dev/acme-managed';
/** The hosts Portico last ordered for that Secret (comma-separated, informational). */
export const HOSTS_ANNOTATION = 'portico.dev/acme-hosts';

/** The most names one order may carry (Let's Encrypt's limit). */
export const MAX_HOSTS_PER_CERTIFICATE = 100;

export interface DesiredCertificate {
  namespace: string;
  secretName: string;
  /** Lower-case, de-duplicated, sorted. */
  hosts: readonly string[];
  /** `namespace/name` of the Ingresses asking for it. */
  ingresses: readonly string[];
}

export interface DesiredProblem {
  ingress: string;
  message: string;
}

export function acmeRequested(ingress: Ingress): boolean {
  const ann = ingress.metadata.annotations;
  if (!ann) return false;
  return ACME_ANNOTATIONS.some((a) => typeof ann[a] === 'string' && ann[a].trim().toLowerCase() === 'true');
}

const LABEL_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const SECRET_NAME_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** A host an HTTP-01 order can carry, normalised; or why not. */
export function normaliseHost(raw: string): { host: string } | { problem: string } {
  const host = raw.trim().toLowerCase().replace(/\.$/, '');
  if (host.startsWith('*.')) return { problem: `host ${raw}: wildcard names need the DNS-01 challenge, which Portico does not do` };
  if (isIP(host) !== 0) return { problem: `host ${raw}: IP addresses cannot be validated with HTTP-01` };
  if (host.length === 0 || host.length > 253 || !host.split('.').every((l) => LABEL_RE.test(l))) {
    return { problem: `host ${raw}: not a valid DNS name` };
  }
  return { host };
}

/** What ACME reads of the routing model: the TLS bindings and the Ingresses that are ours. */
export type TlsView = Pick<RoutingConfig, 'tls' | 'ingresses'>;

/**
 * The certificates asked for, from the model's TLS bindings (never `spec.tls` itself: the
 * model decides which hosts a TLS entry covers, e.g. the rule hosts when it lists none, and
 * which Ingress owns a host). A binding counts when its owning Ingress carries an ACME
 * annotation; its host goes into the certificate of its Secret. Several Ingresses naming one
 * Secret get one certificate for the union of their hosts.
 */
export function desiredCertificates(
  view: TlsView,
  ingressOf: (ref: ObjectRef) => Ingress | undefined,
): { certificates: Map<string, DesiredCertificate>; problems: DesiredProblem[] } {
  const acc = new Map<string, { namespace: string; secretName: string; hosts: Set<string>; ingresses: Set<string> }>();
  const problems: DesiredProblem[] = [];
  const report = (ingress: string, message: string) => {
    if (!problems.some((p) => p.ingress === ingress && p.message === message)) problems.push({ ingress, message });
  };
  const requested = (ref: ObjectRef): boolean => {
    const ing = ingressOf(ref);
    return ing !== undefined && acmeRequested(ing);
  };
  const bound = new Set<string>();
  for (const b of view.tls) {
    if (!requested(b.ingress)) continue;
    const ingKey = refKey(b.ingress);
    bound.add(ingKey);
    const slash = b.secret.indexOf('/');
    const namespace = b.secret.slice(0, slash);
    const secretName = b.secret.slice(slash + 1);
    if (!SECRET_NAME_RE.test(secretName) || secretName.length > 253) {
      report(ingKey, `spec.tls secretName ${secretName} is not a valid Secret name`);
      continue;
    }
    let a = acc.get(b.secret);
    if (!a) {
      a = { namespace, secretName, hosts: new Set(), ingresses: new Set() };
      acc.set(b.secret, a);
    }
    a.ingresses.add(ingKey);
    const n = normaliseHost(b.host);
    if ('problem' in n) report(ingKey, n.problem);
    else a.hosts.add(n.host);
  }
  for (const ref of view.ingresses) {
    const ingKey = refKey(ref);
    if (bound.has(ingKey) || !requested(ref)) continue;
    report(ingKey, 'ACME requested but no host of this Ingress is served over TLS with its Secret (spec.tls with a secretName, and hosts or rule hosts; an older Ingress may serve them already)');
  }
  const certificates = new Map<string, DesiredCertificate>();
  for (const [key, a] of acc) {
    let hosts = [...a.hosts].sort();
    if (hosts.length === 0) {
      for (const ing of a.ingresses) report(ing, `spec.tls entry for Secret ${a.secretName} has no hosts a certificate can be ordered for`);
      continue;
    }
    if (hosts.length > MAX_HOSTS_PER_CERTIFICATE) {
      for (const ing of a.ingresses) {
        report(ing, `Secret ${a.secretName} would need ${hosts.length} names; only the first ${MAX_HOSTS_PER_CERTIFICATE} are ordered`);
      }
      hosts = hosts.slice(0, MAX_HOSTS_PER_CERTIFICATE);
    }
    certificates.set(key, { namespace: a.namespace, secretName: a.secretName, hosts, ingresses: [...a.ingresses].sort() });
  }
  return { certificates, problems };
}

function refKey(ref: ObjectRef): string {
  return `${ref.namespace}/${ref.name}`;
}

export interface ParsedCertificate {
  serial: string;
  notBefore: number;
  notAfter: number;
  x509: X509Certificate;
}

/** The leaf of a PEM chain (the first certificate), with its validity in epoch ms. */
export function parseCertificatePem(pem: string): ParsedCertificate {
  const x509 = new X509Certificate(pem);
  const notBefore = x509.validFromDate.getTime();
  const notAfter = x509.validToDate.getTime();
  if (!(notAfter > notBefore)) throw new Error('certificate validity period is empty');
  return { serial: x509.serialNumber, notBefore, notAfter, x509 };
}

/** Parses a TLS Secret: the leaf certificate, and the key must be its key. Throws on anything wrong. */
export function parseTlsSecret(secret: Secret): ParsedCertificate {
  const crt = secret.data?.['tls.crt'];
  const key = secret.data?.['tls.key'];
  if (typeof crt !== 'string' || crt === '') throw new Error('tls.crt is missing');
  if (typeof key !== 'string' || key === '') throw new Error('tls.key is missing');
  const parsed = parseCertificatePem(Buffer.from(crt, 'base64').toString('utf8'));
  if (!parsed.x509.checkPrivateKey(createPrivateKey(Buffer.from(key, 'base64').toString('utf8')))) {
    throw new Error('tls.key does not belong to the certificate in tls.crt');
  }
  return parsed;
}

/** The hosts `cert` does not cover (wildcard SANs count, as a client would see them). */
export function uncoveredHosts(cert: X509Certificate, hosts: readonly string[]): string[] {
  return hosts.filter((h) => cert.checkHost(h) === undefined);
}

export interface RenewalPolicy {
  /** Renew once this fraction of the certificate's own lifetime has passed (default 2/3). */
  renewFraction: number;
  /**
   * Spread: renew up to this fraction of the lifetime earlier, by a jitter that is stable
   * per Secret and certificate (so every reconcile, and a new leader, agree).
   */
  jitterFraction: number;
}

export const DEFAULT_RENEWAL_POLICY: RenewalPolicy = { renewFraction: 2 / 3, jitterFraction: 0.05 };

/** A stable number in [0, 1) from a string (SHA-256). */
export function hashJitter(seed: string): number {
  return createHash('sha256').update(seed).digest().readUInt32BE(0) / 2 ** 32;
}

export function renewalTime(notBefore: number, notAfter: number, policy: RenewalPolicy, jitter01: number): number {
  const lifetime = notAfter - notBefore;
  return Math.round(notBefore + lifetime * policy.renewFraction - lifetime * policy.jitterFraction * jitter01);
}

export type CertificateReason = 'missing' | 'unparseable' | 'hosts' | 'renewal-due' | 'valid';

export interface CertificateCheck {
  need: boolean;
  reason: CertificateReason;
  detail?: string;
  serial?: string;
  notAfter?: number;
  /** When the current certificate is due (for `valid` and `renewal-due`). */
  renewAt?: number;
}

/**
 * Does `secret` (the Secret named by the Ingress) need a new certificate for `hosts` at
 * `now`? Missing, unparseable (or key not matching), not covering every host, or past its
 * renewal time → yes.
 */
export function checkCertificate(
  secret: Secret | undefined,
  hosts: readonly string[],
  now: number,
  policy: RenewalPolicy = DEFAULT_RENEWAL_POLICY,
  jitter: (seed: string) => number = hashJitter,
): CertificateCheck {
  if (secret === undefined) return { need: true, reason: 'missing' };
  let cert: ParsedCertificate;
  try {
    cert = parseTlsSecret(secret);
  } catch (err) {
    return { need: true, reason: 'unparseable', detail: (err as Error).message };
  }
  const seed = `${secret.metadata.namespace ?? ''}/${secret.metadata.name}/${cert.serial}`;
  const renewAt = renewalTime(cert.notBefore, cert.notAfter, policy, jitter(seed));
  const base = { serial: cert.serial, notAfter: cert.notAfter, renewAt };
  const missing = uncoveredHosts(cert.x509, hosts);
  if (missing.length > 0) return { need: true, reason: 'hosts', detail: `not covered: ${missing.join(', ')}`, ...base };
  if (now >= renewAt) return { need: true, reason: 'renewal-due', ...base };
  return { need: false, reason: 'valid', ...base };
}

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
}

export const DEFAULT_ORDER_BACKOFF: BackoffPolicy = { initialMs: 60_000, maxMs: 24 * 3600_000 };

/**
 * Delay before the next attempt after `failures` consecutive failures (≥ 1): doubling from
 * `initialMs`, capped at `maxMs`, plus up to 10 % random spread (`random` in [0, 1)).
 */
export function backoffDelay(failures: number, policy: BackoffPolicy, random: number = 0): number {
  const step = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(Math.max(failures - 1, 0), 30));
  return Math.round(Math.min(policy.maxMs, step * (1 + 0.1 * random)));
}

/** A Retry-After header value (delta-seconds or HTTP-date) as milliseconds from `now`. */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/**
 * Let's Encrypt rate-limit problems say when to come back in their detail text:
 * "… retry after 2025-01-01 12:00:00 UTC: see https://…". Milliseconds from `now`.
 */
export function retryAfterFromMessage(message: string, now: number): number | undefined {
  const m = /retry after (\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:\.\d+)?)\s*(?:UTC|Z)?/i.exec(message);
  if (!m) return undefined;
  const at = Date.parse(`${m[1]}T${m[2]}Z`);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}
