// `portico.dev/*` annotations → RoutePolicy. One table entry per annotation: its name, the
// RoutePolicy field it sets, its default, and a parser that returns undefined for a value it
// does not accept. A bad value never stops the Ingress from routing: it gets the default and
// a problem that names the annotation, the value and what would have been accepted.

import { GO_BOOL_ACCEPTED, parseGoBool } from '../values/go-bool.ts';
import { NGINX_PREFIX, nginxAnnotation, snippetRestrictsAccess } from './nginx-annotations.ts';
import { CANARY_OPTION_ANNOTATIONS } from './canary-options.ts';
import { REDIRECT_OPTION_ANNOTATIONS } from './redirect-options.ts';
import { ACCESS_OPTION_ANNOTATIONS } from './access-options.ts';
import { CORS_OPTION_ANNOTATIONS } from './cors-options.ts';
import { RETRY_OPTION_ANNOTATIONS } from './retry-options.ts';
import { RESPONSE_REWRITE_OPTION_ANNOTATIONS } from './response-rewrite-options.ts';
import { MIRROR_OPTION_ANNOTATIONS } from './mirror-options.ts';
import { LIMIT_RATE_OPTION_ANNOTATIONS } from './limit-rate-options.ts';
import { TRACING_OPTION_ANNOTATIONS } from './tracing-options.ts';
import { ERROR_BACKEND_OPTION_ANNOTATIONS } from './error-backend-options.ts';
import { BACKEND_TLS_OPTION_ANNOTATIONS } from './backend-tls-options.ts';
import { CLIENT_CERT_OPTION_ANNOTATIONS } from './client-cert-options.ts';
import { TLS_CIPHER_OPTION_ANNOTATIONS } from './tls-cipher-options.ts';
import { RATE_LIMIT_OPTION_ANNOTATIONS } from './rate-limit-options.ts';
import { EXTERNAL_AUTH_OPTION_ANNOTATIONS } from './external-auth-options.ts';
import { CUSTOM_HEADERS_OPTION_ANNOTATIONS } from './custom-headers-options.ts';
import { ROUTE_OPTION_ANNOTATIONS } from './route-options.ts';
import { PASSTHROUGH_OPTION_ANNOTATIONS } from './passthrough-options.ts';
import { describe, isDict } from './read.ts';
import { DEFAULT_POLICY, type BackendProtocol, type LoadBalanceAlgorithm, type RoutePolicy } from './types.ts';

export const ANNOTATION_PREFIX = 'portico.dev/';

export interface AnnotationParser<K extends keyof RoutePolicy> {
  /** Full annotation name, e.g. `portico.dev/load-balance`. */
  readonly name: string;
  /** The RoutePolicy field the annotation sets. */
  readonly field: K;
  /** Value used when the annotation is absent or invalid. */
  readonly default: RoutePolicy[K];
  /** How a problem message names the default, when quoting the value would not say much. */
  readonly defaultText?: string;
  /** What the parser accepts, as words for a problem message. */
  readonly accepted: string;
  /** The typed value, or undefined when `raw` is not acceptable. `raw` is already trimmed. */
  parse(raw: string): RoutePolicy[K] | undefined;
  /**
   * The ingress-nginx annotation with the same meaning, read when the Portico one is absent,
   * with ingress-nginx's own spelling of values (its meaning and default are the same).
   */
  readonly nginx?: AliasParser<RoutePolicy[K]>;
}

/** How an ingress-nginx alias spells its values. */
export interface AliasParser<T> {
  /** Full annotation name, e.g. `nginx.ingress.kubernetes.io/ssl-redirect`. */
  readonly name: string;
  readonly accepted: string;
  parse(raw: string): T | undefined;
}

/** One parser per RoutePolicy field, whatever its value type. */
export type AnyAnnotationParser = { [K in keyof RoutePolicy]: AnnotationParser<K> }[keyof RoutePolicy];

// ---- value parsers, reusable by future entries -------------------------------------------

/** One of a fixed set of words (exact, case-sensitive, like Kubernetes enums). */
export function oneOf<T extends string>(values: readonly T[]): { accepted: string; parse(raw: string): T | undefined } {
  const set = new Set<string>(values);
  const quoted = values.map((v) => `"${v}"`);
  const accepted =
    quoted.length <= 1 ? quoted.join('') : `${quoted.slice(0, -1).join(', ')} or ${quoted[quoted.length - 1]}`;
  return { accepted, parse: (raw) => (set.has(raw) ? (raw as T) : undefined) };
}

/**
 * One of a fixed set of upper-case words, accepted in any case and returned upper-case
 * (ingress-nginx upper-cases its backend-protocol value the same way, so `grpc` works there too).
 */
export function oneOfUpper<T extends string>(values: readonly T[]): { accepted: string; parse(raw: string): T | undefined } {
  const exact = oneOf(values);
  return { accepted: `${exact.accepted} (any case)`, parse: (raw) => exact.parse(raw.toUpperCase()) };
}

/**
 * A DNS name (RFC 1123 labels of letters, digits and `-`, dot-separated, at most 253
 * characters), returned lower-case. IP addresses are refused: TLS sends no SNI for them
 * (RFC 6066 §3), so they cannot be a server name.
 */
export const dnsName: { accepted: string; parse(raw: string): string | undefined } = {
  accepted: 'a DNS name such as "api.example.svc" (letters, digits, "-" and ".", not an IP address)',
  parse: (raw) => {
    const name = raw.toLowerCase();
    if (name.length === 0 || name.length > 253) return undefined;
    const labels = name.split('.');
    for (const label of labels) {
      if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(label)) return undefined;
    }
    // an all-numeric last label is an IPv4 address (or not a name at all)
    if (/^[0-9]+$/.test(labels[labels.length - 1]!)) return undefined;
    return name;
  },
};

/** "true" or "false", as Kubernetes annotations spell booleans. */
export const boolean: { accepted: string; parse(raw: string): boolean | undefined } = {
  accepted: '"true" or "false"',
  parse: (raw) => (raw === 'true' ? true : raw === 'false' ? false : undefined),
};

/**
 * A boolean as ingress-nginx reads one (Go's strconv.ParseBool): 1, t, T, TRUE, true, True,
 * 0, f, F, FALSE, false, False.
 */
export const goBoolean: { accepted: string; parse(raw: string): boolean | undefined } = { accepted: GO_BOOL_ACCEPTED, parse: parseGoBool };

/** nginx's "on" / "off". */
export const onOff: { accepted: string; parse(raw: string): boolean | undefined } = {
  accepted: '"on" or "off"',
  parse: (raw) => (raw === 'on' ? true : raw === 'off' ? false : undefined),
};

const NGINX = 'nginx.ingress.kubernetes.io/';

// ---- the table ---------------------------------------------------------------------------

const loadBalance: AnnotationParser<'loadBalance'> = {
  name: `${ANNOTATION_PREFIX}load-balance`,
  field: 'loadBalance',
  default: DEFAULT_POLICY.loadBalance,
  ...oneOf<LoadBalanceAlgorithm>(['round-robin', 'least-conn', 'ip-hash']),
  // ingress-nginx's ewma (peak EWMA of response times) is served by least-conn, which also
  // steers away from slow pods (they hold more requests in flight).
  nginx: {
    name: `${NGINX}load-balance`,
    accepted: '"round_robin" or "ewma" (served as least-conn)',
    parse: (raw) => (raw === 'round_robin' ? 'round-robin' : raw === 'ewma' ? 'least-conn' : undefined),
  },
};

const sslRedirect: AnnotationParser<'sslRedirect'> = {
  name: `${ANNOTATION_PREFIX}ssl-redirect`,
  field: 'sslRedirect',
  default: DEFAULT_POLICY.sslRedirect,
  defaultText: '(--ssl-redirect, true unless set otherwise)',
  ...boolean,
  nginx: { name: `${NGINX}ssl-redirect`, ...goBoolean },
};

const forceSslRedirect: AnnotationParser<'forceSslRedirect'> = {
  name: `${ANNOTATION_PREFIX}force-ssl-redirect`,
  field: 'forceSslRedirect',
  default: DEFAULT_POLICY.forceSslRedirect,
  defaultText: '(--force-ssl-redirect, false unless set otherwise)',
  ...boolean,
  nginx: { name: `${NGINX}force-ssl-redirect`, ...goBoolean },
};

/**
 * `HTTP` (default), `HTTPS`, `GRPC`, `GRPCS` or `H2C`, in any case. GRPC and H2C are the same
 * wire (HTTP/2 cleartext with prior knowledge); GRPCS is HTTP/2 over TLS.
 */
const backendProtocol: AnnotationParser<'backendProtocol'> = {
  name: `${ANNOTATION_PREFIX}backend-protocol`,
  field: 'backendProtocol',
  default: DEFAULT_POLICY.backendProtocol,
  ...oneOfUpper<BackendProtocol>(['HTTP', 'HTTPS', 'GRPC', 'GRPCS', 'H2C']),
  // AUTO_HTTP and FCGI are ingress-nginx values Portico does not implement: invalid, so HTTP
  // (what ingress-nginx itself falls back to for a value it refuses) and a problem.
  nginx: { name: `${NGINX}backend-protocol`, ...oneOfUpper<BackendProtocol>(['HTTP', 'HTTPS', 'GRPC', 'GRPCS']) },
};

/**
 * For HTTPS/GRPCS backends: verify the pod's certificate (system roots, plus the proxy's
 * extra backend CA bundle if it has one) and its name. Default "false": pods mostly serve
 * self-signed certificates, and ingress-nginx's proxy-ssl-verify is off by default as well.
 * No effect on other protocols.
 */
const backendTlsVerify: AnnotationParser<'backendTlsVerify'> = {
  name: `${ANNOTATION_PREFIX}backend-tls-verify`,
  field: 'backendTlsVerify',
  default: DEFAULT_POLICY.backendTlsVerify,
  defaultText: '(off: backend certificates are not verified)',
  ...boolean,
  nginx: { name: `${NGINX}proxy-ssl-verify`, ...onOff },
};

/**
 * For HTTPS/GRPCS backends: the SNI name sent to the pod and, with verification on, the name
 * its certificate must carry. Default (absent): the Service's DNS name
 * `<service>.<namespace>.svc`. No effect on other protocols.
 */
const backendTlsServerName: AnnotationParser<'backendTlsServerName'> = {
  name: `${ANNOTATION_PREFIX}backend-tls-server-name`,
  field: 'backendTlsServerName',
  default: DEFAULT_POLICY.backendTlsServerName,
  defaultText: '(the Service\'s DNS name <service>.<namespace>.svc)',
  ...dnsName,
  nginx: { name: `${NGINX}proxy-ssl-name`, ...dnsName },
};

export const ANNOTATIONS: readonly AnyAnnotationParser[] = [loadBalance, sslRedirect, forceSslRedirect, backendProtocol, backendTlsVerify, backendTlsServerName];

/** Portico annotations read outside the model (not typos): the ACME room reads these. */
export const ANNOTATIONS_READ_ELSEWHERE: readonly string[] = [`${ANNOTATION_PREFIX}acme`, ...ROUTE_OPTION_ANNOTATIONS, ...REDIRECT_OPTION_ANNOTATIONS, ...CANARY_OPTION_ANNOTATIONS, ...ACCESS_OPTION_ANNOTATIONS, ...CORS_OPTION_ANNOTATIONS, ...RETRY_OPTION_ANNOTATIONS, ...ERROR_BACKEND_OPTION_ANNOTATIONS, ...BACKEND_TLS_OPTION_ANNOTATIONS, ...CLIENT_CERT_OPTION_ANNOTATIONS, ...TLS_CIPHER_OPTION_ANNOTATIONS, ...RATE_LIMIT_OPTION_ANNOTATIONS, ...EXTERNAL_AUTH_OPTION_ANNOTATIONS, ...RESPONSE_REWRITE_OPTION_ANNOTATIONS, ...MIRROR_OPTION_ANNOTATIONS, ...LIMIT_RATE_OPTION_ANNOTATIONS, ...TRACING_OPTION_ANNOTATIONS, ...CUSTOM_HEADERS_OPTION_ANNOTATIONS,
  ...PASSTHROUGH_OPTION_ANNOTATIONS];

const BY_NAME: ReadonlyMap<string, AnyAnnotationParser> = new Map(ANNOTATIONS.map((p) => [p.name, p]));

// ---- applying the table to an Ingress ------------------------------------------------------

export type AnnotationProblem = (
  reason: 'InvalidAnnotation' | 'UnknownAnnotation' | 'UnsupportedAnnotation' | 'AccessControlNotEnforced',
  message: string,
) => void;

/**
 * The policy an Ingress's annotations ask for. Returns the shared DEFAULT_POLICY when nothing
 * differs from it (the common case: no allocation, and routes can be compared by reference).
 */
export function parsePolicy(annotations: unknown, report: AnnotationProblem): RoutePolicy {
  if (annotations === undefined || annotations === null) return DEFAULT_POLICY;
  if (!isDict(annotations)) {
    report('InvalidAnnotation', `metadata.annotations is ${describe(annotations)}, not a map of strings; the annotations are ignored.`);
    return DEFAULT_POLICY;
  }

  for (const key of Object.keys(annotations)) {
    if (key.startsWith(ANNOTATION_PREFIX) && !BY_NAME.has(key) && !ANNOTATIONS_READ_ELSEWHERE.includes(key)) {
      report(
        'UnknownAnnotation',
        `Annotation "${key}" is not a Portico annotation and is ignored; check its spelling. Known: ${[...BY_NAME.keys()].join(', ')}.`,
      );
    }
  }

  let policy: RoutePolicy | undefined;
  for (const parser of ANNOTATIONS) policy = applyParser(parser, annotations, report, policy);
  return policy === undefined ? DEFAULT_POLICY : Object.freeze(policy);
}

/** Reads one annotation into `policy`, copying DEFAULT_POLICY on the first non-default value. */
function applyParser<K extends keyof RoutePolicy>(
  parser: AnnotationParser<K>,
  annotations: Record<string, unknown>,
  report: AnnotationProblem,
  policy: RoutePolicy | undefined,
): RoutePolicy | undefined {
  const value = readValue(parser, annotations, report);
  if (value === parser.default) return policy;
  const out = policy ?? { ...DEFAULT_POLICY };
  out[parser.field] = value;
  return out;
}

function readValue<K extends keyof RoutePolicy>(
  parser: AnnotationParser<K>,
  annotations: Record<string, unknown>,
  report: AnnotationProblem,
): RoutePolicy[K] {
  const raw = annotations[parser.name];
  const alias = parser.nginx;
  if (raw === undefined) {
    // the Portico name wins; the ingress-nginx name is read only in its absence
    if (alias === undefined || annotations[alias.name] === undefined) return parser.default;
    return readOne(alias.name, alias, annotations[alias.name], parser, report);
  }
  if (alias !== undefined && annotations[alias.name] !== undefined) {
    report(
      'InvalidAnnotation',
      `Annotations "${parser.name}" and "${alias.name}" are both set; "${parser.name}" is used and "${alias.name}" is ignored`,
    );
  }
  return readOne(parser.name, parser, raw, parser, report);
}

function readOne<K extends keyof RoutePolicy>(
  name: string,
  syntax: { accepted: string; parse(raw: string): RoutePolicy[K] | undefined },
  raw: unknown,
  parser: AnnotationParser<K>,
  report: AnnotationProblem,
): RoutePolicy[K] {
  const parsed = typeof raw === 'string' ? syntax.parse(raw.trim()) : undefined;
  if (parsed !== undefined) return parsed;
  report(
    'InvalidAnnotation',
    `Annotation "${name}" has the value ${describe(raw)}, which is not valid; accepted values are ${syntax.accepted}. Using the default ${parser.defaultText ?? `"${String(parser.default)}"`}.`,
  );
  return parser.default;
}

/** The ingress-nginx annotations the policy table reads as aliases. */
export const NGINX_ALIASES: readonly string[] = ANNOTATIONS.flatMap((p) => (p.nginx === undefined ? [] : [p.nginx.name]));

// ---- ingress-nginx's annotations ------------------------------------------------------------

/**
 * Reports every `nginx.ingress.kubernetes.io/*` annotation Portico does not implement, and
 * returns the access-control annotations among them (empty when none): an Ingress that has
 * any must not be served openly (see nginx-annotations.ts), so its caller turns its rules into
 * 503 answers. A snippet is an access control when it carries an nginx access directive.
 */
export function unenforcedAccessControls(annotations: unknown, report: AnnotationProblem): string[] {
  const unenforced: string[] = [];
  if (!isDict(annotations)) return unenforced;
  for (const key of Object.keys(annotations).sort()) {
    if (!key.startsWith(NGINX_PREFIX)) continue;
    const known = nginxAnnotation(key);
    if (known === undefined) {
      report('UnknownAnnotation', `Annotation "${key}" is not an ingress-nginx annotation Portico knows and is ignored; check its spelling`);
      continue;
    }
    if (known.support !== 'unsupported') continue;
    const value = annotations[key];
    const guards = known.guards || (typeof value === 'string' && snippetRestrictsAccess(known.name, value));
    if (guards) unenforced.push(key);
    report(
      'UnsupportedAnnotation',
      `Annotation "${key}" is not supported by Portico: ${known.note}${guards ? '. It restricts access, so every rule of this Ingress answers 503 until it is removed' : '; it is ignored'}`,
    );
  }
  return unenforced;
}
