// Client certificates (ingress-nginx auth-tls-*), the per-request half: the handshake of a
// host with client authentication requested a certificate and verified it against the
// host's CAs without failing (tls/client-auth.ts); this stage reads the outcome and answers
// as nginx does:
//
//   verify `on`:             no certificate → 400, a certificate that failed → 400;
//   `optional`:              none → on, a failed one → 400;
//   `optional_no_ca`:        none, or one whose only fault is its issuer (unknown CA,
//                            self-signed) → on, with the result upstream; other faults → 400;
//   `off`:                   no certificate was requested; the result is NONE.
// With auth-tls-error-page the 400s are a 302 to it (nginx's `error_page 495 496 = <url>`).
// auth-tls-match-cn is searched in the subject DN (`CN=...`, RFC 2253 as $ssl_client_s_dn);
// no match → 403 (nginx's `return 403` at server level). Upstream get ssl-client-verify
// (SUCCESS, FAILED:<reason>, NONE), ssl-client-subject-dn, ssl-client-issuer-dn and, with
// auth-tls-pass-certificate-to-upstream, ssl-client-cert (the PEM, URL-encoded as nginx's
// $ssl_client_escaped_cert). Whatever the client sent under those names is removed first.
//
// A request for a client-auth host on a connection whose handshake was not verified for that
// host's policy (no SNI, another host's SNI reused through HTTP/2 coalescing, a CA that
// failed to load) is answered 421 Misdirected Request: the client retries on a connection of
// its own. Resumed TLS sessions carry the certificate of an earlier handshake, perhaps one
// made for another host: for them the certificate is checked here against the host's CAs
// (chain within the CA bundle, validity dates, depth, and the CRLs: client-crl.ts).
// The verify depth is counted here too (handshakeVerdict), through the CA bundle. The
// verdict of a full handshake is computed once per connection.

import { X509Certificate } from 'node:crypto';
import type tls from 'node:tls';
import type { ClientCertPolicy } from '../../model/types.ts';
import type { ArmedConnection } from '../../tls/client-auth.ts';
import { addAnswerHeaders, type PlanHead, type WaitingStage } from '../plan.ts';
import { loadRevocations, revocationFault, type Revocations } from './client-crl.ts';

/** What a connection's client certificate amounts to for one policy. */
export interface ClientCertVerdict {
  /** ssl-client-verify: SUCCESS, FAILED:<reason>, NONE. */
  readonly verify: string;
  /** The OpenSSL error code of a failure ('' otherwise): optional_no_ca tolerates some. */
  readonly code: string;
  readonly subject: string;
  readonly issuer: string;
  /** The PEM, URL-encoded; '' without a certificate. */
  readonly escapedPem: string;
}

const NONE: ClientCertVerdict = Object.freeze({ verify: 'NONE', code: '', subject: '', issuer: '', escapedPem: '' });

/** OpenSSL's X509_verify_cert_error_string texts for the codes Node reports. */
const REASONS: Readonly<Record<string, string>> = {
  UNABLE_TO_GET_ISSUER_CERT: 'unable to get issuer certificate',
  UNABLE_TO_GET_CRL: 'unable to get certificate CRL',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'unable to get local issuer certificate',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'unable to verify the first certificate',
  CERT_SIGNATURE_FAILURE: 'certificate signature failure',
  CRL_SIGNATURE_FAILURE: 'CRL signature failure',
  CERT_NOT_YET_VALID: 'certificate is not yet valid',
  CERT_HAS_EXPIRED: 'certificate has expired',
  CRL_NOT_YET_VALID: 'CRL is not yet valid',
  CRL_HAS_EXPIRED: 'CRL has expired',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed certificate',
  SELF_SIGNED_CERT_IN_CHAIN: 'self-signed certificate in certificate chain',
  CERT_CHAIN_TOO_LONG: 'certificate chain too long',
  CERT_REVOKED: 'certificate revoked',
  INVALID_CA: 'invalid CA certificate',
  INVALID_PURPOSE: 'unsupported certificate purpose',
  CERT_UNTRUSTED: 'certificate not trusted',
  CERT_REJECTED: 'certificate rejected',
};

/** nginx's ngx_ssl_verify_error_optional: faults `optional_no_ca` lets through. */
const ISSUER_FAULTS = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
]);

const CLIENT_HEADERS = new Set(['ssl-client-cert', 'ssl-client-verify', 'ssl-client-subject-dn', 'ssl-client-issuer-dn']);

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/**
 * Where tls/client-auth.ts leaves what a connection was verified for: a registry symbol, so
 * the proxy reads it without importing tls/ code (the room table allows tls/ types only).
 */
const kArmed = Symbol.for('portico.clientCertArmed');

function armedOf(socket: object): ArmedConnection | undefined {
  return (socket as { [kArmed]?: ArmedConnection })[kArmed];
}

/** A resumed connection's verdict, kept on its socket (checking a chain costs ~0.3 ms). */
const kResumed = Symbol('portico.clientCertResumed');
interface ResumedCache {
  [kResumed]?: { key: string; revocations: Revocations | null | undefined; verdict: ClientCertVerdict };
}

/**
 * The request stage of a host with client certificates. Synchronous, except on a host with a
 * CRL for a resumed session that arrives while the CRLs are still loading (it waits for them).
 */
export function clientCertStage(policy: ClientCertPolicy): WaitingStage {
  const cas = (policy.caPem.match(PEM_CERT) ?? []).map((pem) => new X509Certificate(pem));
  // CRLs for resumed sessions, loaded in the background; null until then (they fail meanwhile)
  const crl: { revocations: Revocations | null; loading: Promise<void> | null } = { revocations: null, loading: null };
  if (policy.crlPem !== '') {
    crl.loading = loadRevocations(policy.crlPem, cas).then(
      (r) => void (crl.revocations = r),
      () => {}, // unreadable: resumed sessions keep failing (the handshake path uses OpenSSL's own check)
    ).finally(() => void (crl.loading = null));
  }
  const fail = (head: PlanHead): number => {
    if (policy.errorPage === '') return 400;
    addAnswerHeaders(head, 'location', policy.errorPage);
    return 302;
  };
  const stage = (head: PlanHead): number | Promise<number> => {
    let verdict = NONE;
    const conn = head.connection;
    const secure = conn !== null && conn !== undefined && (conn as tls.TLSSocket).encrypted === true;
    if (secure && policy.verify !== 'off') {
      const sock = conn as tls.TLSSocket;
      const armed = armedOf(sock);
      if (sock.isSessionReused()) {
        const loading = crl.loading;
        if (loading !== null) return loading.then(() => stage(head));
        const revocations = policy.crlPem === '' ? undefined : crl.revocations;
        // through an HTTP/2 request's socket proxy, the property lands on the session's socket
        const cache = sock as ResumedCache;
        const hit = cache[kResumed];
        if (hit !== undefined && hit.key === policy.key && hit.revocations === revocations) verdict = hit.verdict;
        else {
          verdict = resumedVerdict(armed?.socket ?? sock, policy, cas, revocations);
          cache[kResumed] = { key: policy.key, revocations, verdict };
        }
      } else {
        if (armed === undefined || armed.key !== policy.key) return 421;
        let v = armed.verdict as ClientCertVerdict | null;
        if (v === null) armed.verdict = v = handshakeVerdict(armed.socket, policy, cas);
        verdict = v;
      }
    }
    if (verdict.verify === 'NONE') {
      // no certificate: `on` requires one (nginx 496); over plain HTTP too, where nginx does not look
      if (policy.verify === 'on') return fail(head);
    } else if (verdict.code !== '') {
      if (policy.verify !== 'optional_no_ca' || !ISSUER_FAULTS.has(verdict.code)) return fail(head);
    }
    if (policy.matchCn !== null && !policy.matchCn.test(verdict.subject)) return 403;
    setClientHeaders(head.headers, verdict, policy.passCertificate);
    return 0;
  };
  return stage;
}

/** Removes client-sent ssl-client-* headers and adds ours (empty values are not sent, as nginx). */
export function setClientHeaders(headers: string[], verdict: ClientCertVerdict, passCertificate: boolean): void {
  for (let i = 0; i < headers.length; i += 2) {
    if (CLIENT_HEADERS.has(headers[i]!.toLowerCase())) {
      headers.splice(i, 2);
      i -= 2;
    }
  }
  if (passCertificate && verdict.escapedPem !== '') headers.push('ssl-client-cert', verdict.escapedPem);
  headers.push('ssl-client-verify', verdict.verify);
  if (verdict.subject !== '') headers.push('ssl-client-subject-dn', verdict.subject);
  if (verdict.issuer !== '') headers.push('ssl-client-issuer-dn', verdict.issuer);
}

/**
 * After a full handshake armed for this policy: OpenSSL's verification (Node's `authorized`),
 * then the depth, which Node cannot set in OpenSSL: the chain is counted here from the client
 * certificate through the CA bundle. Node does not hand the server the intermediates the
 * client sent, so a chain that needs one missing from ca.crt cannot be counted and fails
 * (unable to get local issuer certificate); ingress-nginx's docs ask for the full chain in
 * ca.crt anyway.
 */
export function handshakeVerdict(sock: tls.TLSSocket, policy: ClientCertPolicy, cas: readonly X509Certificate[], now = Date.now()): ClientCertVerdict {
  const cert = sock.getPeerX509Certificate();
  if (cert === undefined) return NONE;
  const code = sock.authorized ? chainFault(cert, cas, policy.depth, now) : String(sock.authorizationError ?? 'CERT_REJECTED');
  return verdictOf(cert, code);
}

/**
 * A resumed session's certificate, checked against the policy's CAs: an issuer chain within
 * the bundle up to a self-signed CA, every certificate current, at most depth + 2 long
 * (OpenSSL's depth: intermediates above the client certificate, the anchor not counted).
 */
export function resumedVerdict(
  sock: tls.TLSSocket,
  policy: ClientCertPolicy,
  cas: readonly X509Certificate[],
  /** The policy's CRLs; undefined: it has none; null: not loaded (yet). */
  revocations?: Revocations | null,
  now = Date.now(),
): ClientCertVerdict {
  const cert = sock.getPeerX509Certificate();
  if (cert === undefined) return NONE;
  if (revocations === null) return verdictOf(cert, 'UNABLE_TO_GET_CRL');
  return verdictOf(cert, chainFault(cert, cas, policy.depth, now, revocations));
}

/** '' when `leaf` chains to a self-signed certificate of `cas` within depth, else the OpenSSL code. */
export function chainFault(leaf: X509Certificate, cas: readonly X509Certificate[], depth: number, now: number, revocations?: Revocations): string {
  let cur = leaf;
  for (let length = 1; ; length++) {
    if (Date.parse(cur.validFrom) > now) return 'CERT_NOT_YET_VALID';
    if (Date.parse(cur.validTo) < now) return 'CERT_HAS_EXPIRED';
    if (cur.checkIssued(cur) && cur.verify(cur.publicKey)) {
      if (cas.some((c) => c.fingerprint256 === cur.fingerprint256)) return '';
      return length === 1 ? 'DEPTH_ZERO_SELF_SIGNED_CERT' : 'SELF_SIGNED_CERT_IN_CHAIN';
    }
    if (length > depth + 1) return 'CERT_CHAIN_TOO_LONG';
    const from = cur;
    const issuer = cas.find((c) => c.ca && from.checkIssued(c) && from.verify(c.publicKey));
    if (issuer === undefined) return length === 1 ? 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' : 'UNABLE_TO_GET_ISSUER_CERT';
    if (revocations !== undefined) {
      const fault = revocationFault(revocations, cur, issuer, now);
      if (fault !== '') return fault;
    }
    cur = issuer;
  }
}

function verdictOf(cert: X509Certificate, code: string): ClientCertVerdict {
  return Object.freeze({
    verify: code === '' ? 'SUCCESS' : `FAILED:${REASONS[code] ?? code.toLowerCase().replace(/_/g, ' ')}`,
    code,
    subject: rfc2253(cert.subject),
    issuer: rfc2253(cert.issuer),
    escapedPem: escapePem(cert.toString()),
  });
}

/**
 * Node's multi-line DN (one RDN per line, in certificate order, values escaped as RFC 2253)
 * in nginx's $ssl_client_s_dn form: RFC 2253, most specific first, comma-separated.
 */
export function rfc2253(multiline: string): string {
  if (multiline === '') return '';
  return multiline.split('\n').filter((l) => l !== '').reverse().map((l) => l.replace(/ \+ /g, '+')).join(',');
}

/** nginx's $ssl_client_escaped_cert: everything but unreserved characters percent-encoded. */
export function escapePem(pem: string): string {
  return encodeURIComponent(pem).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
