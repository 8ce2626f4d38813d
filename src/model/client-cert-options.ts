// The annotation group that asks for client certificates (mutual TLS to Portico), as
// ingress-nginx's auth-tls-*: auth-tls-secret (a Secret whose `ca.crt` holds the CA bundle,
// optional `ca.crl` a CRL), auth-tls-verify-client, auth-tls-verify-depth,
// auth-tls-error-page, auth-tls-pass-certificate-to-upstream, auth-tls-match-cn. Each name is
// read under `portico.dev/<name>` or, in its absence, `nginx.ingress.kubernetes.io/<name>`.
//
// In ingress-nginx client authentication belongs to the server (the host), not to a location:
// the oldest Ingress of a host with a usable auth-tls-secret sets it for every path of that
// host, other Ingresses' paths included. builder.ts does the same (applyClientCert): this file
// reads one Ingress; the host decides.
//
// Fail closed: a value that cannot be honoured (a missing Secret, no `ca.crt`, a CA bundle or
// CRL that does not parse, an invalid verify mode, depth or match-cn) never leaves the host
// open: its rules answer 503 with a problem. ingress-nginx answers 403 for the whole server
// when the Secret is unusable, and silently disables client authentication when `ca.crt` is
// missing; Portico refuses both loudly.

import { GO_BOOL_ACCEPTED, parseGoBool } from '../values/go-bool.ts';
import { createHash, X509Certificate } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type { Snapshot } from '../store/store.ts';
import { readAliased, porticoNames } from './aliased.ts';
import type { ProblemReason } from './problems.ts';
import { describe, isDict } from './read.ts';
import { compileUserRegex } from './regex.ts';
import type { ClientCertPolicy, ClientCertVerify, RouteAction } from './types.ts';

export const CLIENT_CERT_OPTION_NAMES = [
  'auth-tls-secret',
  'auth-tls-verify-client',
  'auth-tls-verify-depth',
  'auth-tls-error-page',
  'auth-tls-pass-certificate-to-upstream',
  'auth-tls-match-cn',
] as const;

/** The group's `portico.dev/` names (known Portico annotations). */
export const CLIENT_CERT_OPTION_ANNOTATIONS: readonly string[] = porticoNames(CLIENT_CERT_OPTION_NAMES);

/** ingress-nginx's defaults: verify `on`, depth 1. */
export const DEFAULT_VERIFY: ClientCertVerify = 'on';
export const DEFAULT_DEPTH = 1;
/** OpenSSL's own limit; a deeper chain is a mistake. */
const MAX_DEPTH = 100;

export type ClientCertReport = (reason: ProblemReason, message: string) => void;

/** What every rule of a host answers when its client-certificate settings cannot be honoured. */
export const DENIED_CLIENT_CERT: RouteAction = Object.freeze({
  kind: 'direct',
  status: 503,
  body: "service unavailable: this host's client certificate authentication is misconfigured",
});

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const PEM_CRL = /-----BEGIN X509 CRL-----[\s\S]+?-----END X509 CRL-----/g;

/**
 * The client-certificate policy an Ingress's annotations ask for: undefined when it sets no
 * auth-tls-secret (the other names alone have no effect, as in ingress-nginx; a problem says
 * so), 'denied' when it cannot be honoured. `namespace` is the Ingress's; the Secret is read
 * through `snapshot`, so a change to it re-translates the Ingress.
 */
export function readClientCertOptions(annotations: unknown, snapshot: Snapshot, namespace: string, report: ClientCertReport): ClientCertPolicy | 'denied' | undefined {
  if (!isDict(annotations)) return undefined;
  const read = (name: (typeof CLIENT_CERT_OPTION_NAMES)[number]): [string, unknown] | undefined => readAliased(annotations, name, report);
  const secretAnn = read('auth-tls-secret');
  if (secretAnn === undefined) {
    const stray = CLIENT_CERT_OPTION_NAMES.slice(1).map(read).filter((v) => v !== undefined);
    if (stray.length > 0) {
      report('InvalidAnnotation', `${stray.map(([k]) => `"${k}"`).join(', ')} ${stray.length === 1 ? 'has' : 'have'} no effect without auth-tls-secret; no client certificate is requested`);
    }
    return undefined;
  }
  const deny = (message: string): 'denied' => {
    report('InvalidAnnotation', `${message}; every rule of this host answers 503 until it is fixed`);
    return 'denied';
  };
  const ref = typeof secretAnn[1] === 'string' ? parseSecretRef(secretAnn[1].trim(), namespace) : undefined;
  if (ref === undefined) return deny(`Annotation "${secretAnn[0]}" has the value ${describe(secretAnn[1])}, which is not a Secret name ("name" or "namespace/name")`);

  let verify: ClientCertVerify = DEFAULT_VERIFY;
  const verifyAnn = read('auth-tls-verify-client');
  if (verifyAnn !== undefined) {
    const v = typeof verifyAnn[1] === 'string' ? verifyAnn[1].trim() : '';
    if (v !== 'on' && v !== 'off' && v !== 'optional' && v !== 'optional_no_ca') {
      // ingress-nginx falls back to "on" here; Portico says so and does the same (the strict choice)
      report('InvalidAnnotation', `Annotation "${verifyAnn[0]}" has the value ${describe(verifyAnn[1])}, which is not valid; accepted values are "on", "off", "optional" and "optional_no_ca". "on" is used`);
    } else verify = v;
  }

  let depth = DEFAULT_DEPTH;
  const depthAnn = read('auth-tls-verify-depth');
  if (depthAnn !== undefined) {
    const raw = typeof depthAnn[1] === 'number' ? String(depthAnn[1]) : typeof depthAnn[1] === 'string' ? depthAnn[1].trim() : '';
    if (!/^\d{1,3}$/.test(raw) || Number(raw) > MAX_DEPTH) {
      return deny(`Annotation "${depthAnn[0]}" has the value ${describe(depthAnn[1])}, which is not a depth; accepted values are whole numbers from 1 to ${MAX_DEPTH}`);
    }
    // ingress-nginx reads 0 as "not set"
    depth = Number(raw) === 0 ? DEFAULT_DEPTH : Number(raw);
  }

  let errorPage = '';
  const pageAnn = read('auth-tls-error-page');
  if (pageAnn !== undefined) {
    const url = typeof pageAnn[1] === 'string' ? pageAnn[1].trim() : '';
    if (!isRedirectUrl(url)) {
      return deny(
        `Annotation "${pageAnn[0]}" has the value ${describe(pageAnn[1])}, which Portico cannot use; accepted values are absolute http:// or https:// URLs such as "https://login.example.com/cert-error" (ingress-nginx's internal redirects to a path or @location are not available)`,
      );
    }
    errorPage = url;
  }

  let passCertificate = false;
  const passAnn = read('auth-tls-pass-certificate-to-upstream');
  if (passAnn !== undefined) {
    // Go's ParseBool, as ingress-nginx reads it
    const v = typeof passAnn[1] === 'boolean' ? passAnn[1] : typeof passAnn[1] === 'string' ? parseGoBool(passAnn[1].trim()) : undefined;
    if (v === undefined) return deny(`Annotation "${passAnn[0]}" has the value ${describe(passAnn[1])}, which is not valid; accepted values are ${GO_BOOL_ACCEPTED}`);
    passCertificate = v;
  }

  let matchCn: ClientCertPolicy['matchCn'] = null;
  const cnAnn = read('auth-tls-match-cn');
  if (cnAnn !== undefined) {
    const v = typeof cnAnn[1] === 'string' ? cnAnn[1] : '';
    if (!v.startsWith('CN=')) return deny(`Annotation "${cnAnn[0]}" has the value ${describe(cnAnn[1])}, which does not start with "CN=" (for example "CN=client" or "CN=(a|b)")`);
    // nginx: `$ssl_client_s_dn !~ "<value>"`: an unanchored, case-sensitive search
    const re = compileUserRegex(v);
    if ('invalid' in re) return deny(`Annotation "${cnAnn[0]}": ${re.invalid}`);
    matchCn = re;
  }

  const where = `auth-tls-secret "${ref.namespace}/${ref.name}"`;
  const secret = snapshot.get('Secret', `${ref.namespace}/${ref.name}`);
  if (secret === undefined) {
    report('AuthSecretInvalid', `${where} was not found; every rule of this host answers 503 until it exists`);
    return 'denied';
  }
  const data = (secret as { data?: unknown }).data;
  const caPem = isDict(data) ? decode(data['ca.crt']) : undefined;
  if (caPem === undefined) {
    report('AuthSecretInvalid', `${where} has no key "ca.crt" with the CA certificates; every rule of this host answers 503 until it does`);
    return 'denied';
  }
  const cas = caPem.match(PEM_CERT) ?? [];
  const parsed: X509Certificate[] = [];
  for (const pem of cas) {
    try {
      parsed.push(new X509Certificate(pem));
    } catch {
      report('AuthSecretInvalid', `${where}: a certificate in "ca.crt" does not parse; every rule of this host answers 503 until it does`);
      return 'denied';
    }
  }
  if (parsed.length === 0) {
    report('AuthSecretInvalid', `${where}: "ca.crt" holds no PEM certificate; every rule of this host answers 503 until it does`);
    return 'denied';
  }
  if (!parsed.some((c) => c.ca)) report('AuthSecretInvalid', `${where}: no certificate in "ca.crt" is a CA certificate (basicConstraints CA:TRUE); client certificates will not verify against it`);
  let crlPem = '';
  if (isDict(data) && data['ca.crl'] !== undefined) {
    const crl = decode(data['ca.crl']);
    const blocks = crl?.match(PEM_CRL) ?? [];
    if (blocks.length === 0) {
      report('AuthSecretInvalid', `${where}: "ca.crl" holds no PEM CRL; every rule of this host answers 503 until it does`);
      return 'denied';
    }
    crlPem = blocks.join('\n') + '\n';
    try {
      createSecureContext({ crl: crlPem }); // what the handshake will load: refuse it here, not there
    } catch {
      report('AuthSecretInvalid', `${where}: "ca.crl" does not parse as a CRL; every rule of this host answers 503 until it does`);
      return 'denied';
    }
  }
  const ca = cas.join('\n') + '\n';
  const key = createHash('sha256').update(`${ca}\0${crlPem}\0${verify}\0${depth}`).digest('hex');
  const summary = {
    secret: `${ref.namespace}/${ref.name}`,
    verify,
    depth,
    caCertificates: parsed.length,
    crl: crlPem !== '',
    errorPage,
    passCertificate,
    matchCn: matchCn?.source ?? null,
  };
  return Object.freeze({
    secret: summary.secret,
    caPem: ca,
    crlPem,
    verify,
    depth,
    errorPage,
    passCertificate,
    matchCn,
    key,
    // PEM bundles stay out of JSON (golden files, debug dumps)
    toJSON: () => summary,
  });
}

/** ingress-nginx's error page forms that are a URL to redirect to: absolute http(s) URLs only. */
function isRedirectUrl(url: string): boolean {
  if (!/^https?:\/\/[A-Za-z0-9.-]+(:\d+)?(\/[A-Za-z0-9\-_.~/%]*)?(\?[A-Za-z0-9\-_.~=&%]*)?$/.test(url)) return false;
  try {
    return new URL(url).host !== '';
  } catch {
    return false;
  }
}

/** `name` (in the Ingress's namespace) or `namespace/name`, both DNS-1123 names. */
function parseSecretRef(raw: string, namespace: string): { namespace: string; name: string } | undefined {
  const parts = raw.split('/');
  const name = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
  if (parts.length === 1 && name.test(parts[0]!)) return { namespace, name: parts[0]! };
  if (parts.length === 2 && name.test(parts[0]!) && name.test(parts[1]!)) return { namespace: parts[0]!, name: parts[1]! };
  return undefined;
}

function decode(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(v.replace(/\s/g, ''))) return undefined;
  return Buffer.from(v, 'base64').toString('utf8');
}
