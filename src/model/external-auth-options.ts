// The annotation group of external authentication (ingress-nginx auth-url and companions,
// nginx's auth_request): auth-url, auth-method, auth-signin, auth-signin-redirect-param,
// auth-response-headers, auth-request-redirect, auth-cache-key, auth-cache-duration,
// auth-always-set-cookie, enable-global-auth, auth-proxy-set-headers (a ConfigMap of headers
// for the subrequest, configmap-headers.ts), and the auth-keepalive* names, accepted as no-ops
// (the proxy keeps its own pool of connections to each auth service). Each name is read under
// `portico.dev/<name>` or, in its absence, `nginx.ingress.kubernetes.io/<name>`.
//
// Fail closed, as access-options.ts: a value that cannot be honoured (an auth-url that is no
// http(s) URL, a variable Portico does not fill in, an invalid method, header list or cache
// duration) never leaves the rules open. Every rule of the Ingress then answers 503 with a
// problem, as ingress-nginx denies such a location.
//
// URLs may name request values as nginx variables: $host, $scheme, $request_uri and
// $escaped_request_uri in the path and query of auth-url and anywhere in auth-signin; in the
// host part of auth-url only `$host` (the rule's host: only rules with an exact host can use
// it, see ingress-processor.ts). Nothing else is ever interpreted.

import { parseGoBool } from '../values/go-bool.ts';
import type { Snapshot } from '../store/store.ts';
import { readAliased, porticoNames } from './aliased.ts';
import { readConfigMapHeaders } from './configmap-headers.ts';
import type { ProblemReason } from './problems.ts';
import { describe, isDict } from './read.ts';
import { parseHashKey } from './route-options.ts';
import type { AuthUrlPart, AuthUrlVariable, ConfigMapHeaders, ExternalAuth, ExternalAuthCache, RouteAction, RouteFilters } from './types.ts';

/** The group's names, without prefix. */
export const EXTERNAL_AUTH_OPTION_NAMES = [
  'auth-url',
  'auth-method',
  'auth-signin',
  'auth-signin-redirect-param',
  'auth-response-headers',
  'auth-request-redirect',
  'auth-cache-key',
  'auth-cache-duration',
  'auth-always-set-cookie',
  'auth-keepalive',
  'auth-keepalive-requests',
  'auth-keepalive-share-vars',
  'auth-keepalive-timeout',
  'enable-global-auth',
  'auth-proxy-set-headers',
] as const;
type Name = (typeof EXTERNAL_AUTH_OPTION_NAMES)[number];

/** The group's `portico.dev/` names (known Portico annotations). */
export const EXTERNAL_AUTH_OPTION_ANNOTATIONS: readonly string[] = porticoNames(EXTERNAL_AUTH_OPTION_NAMES);

export type ExternalAuthReport = (reason: ProblemReason, message: string) => void;

export interface ExternalAuthOptions {
  /** The filters every rule of the Ingress gets (empty object when none). */
  readonly filters: Pick<RouteFilters, 'externalAuth' | 'noGlobalAuth'>;
  /** Non-null when the external authentication cannot be honoured: every rule answers this. */
  readonly denied: RouteAction | null;
}

export const NO_EXTERNAL_AUTH_OPTIONS: ExternalAuthOptions = Object.freeze({ filters: Object.freeze({}), denied: null });

export const DENIED_EXTERNAL_AUTH: RouteAction = Object.freeze({ kind: 'direct', status: 503, body: 'service unavailable: this route\'s external authentication is misconfigured' });

/** ingress-nginx's default of auth-signin-redirect-param. */
export const DEFAULT_REDIRECT_PARAM = 'rd';
/** ingress-nginx's default of auth-cache-duration. */
export const DEFAULT_CACHE_DURATION = '200 202 401 5m';

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE']);
const VARIABLES = new Set<string>(['host', 'scheme', 'request_uri', 'escaped_request_uri']);
const MAX_URL = 2048;

/**
 * Names auth-proxy-set-headers may not set: the stage sets them itself (external-auth.ts), and
 * two values of one would leave the auth service to guess which one counts.
 */
const AUTH_OWN_HEADERS: ReadonlyMap<string, string> = new Map(
  ['x-original-url', 'x-original-method', 'x-original-uri', 'x-scheme', 'x-sent-from', 'x-real-ip', 'x-auth-request-redirect'].map((n) => [n, 'Portico sets it on every auth request']),
);

/**
 * The external authentication an Ingress's annotations ask for. Companions without auth-url
 * have no effect (as in ingress-nginx) and say so. `snapshot` and `namespace` (the Ingress's)
 * serve auth-proxy-set-headers, which names a ConfigMap; without a snapshot (the global auth
 * flags) that annotation cannot be honoured and denies.
 */
export function readExternalAuthOptions(annotations: unknown, report: ExternalAuthReport, snapshot?: Snapshot, namespace = ''): ExternalAuthOptions {
  if (!isDict(annotations)) return NO_EXTERNAL_AUTH_OPTIONS;
  const get = (name: Name): [string, unknown] | undefined => readAliased(annotations, name, report);
  const filters: { externalAuth?: ExternalAuth; noGlobalAuth?: true } = {};
  let denied: RouteAction | null = null;
  const deny = (key: string, value: unknown, accepted: string): void => {
    report('InvalidAnnotation', `Annotation "${key}" has the value ${describe(value)}, which is not valid; accepted ${accepted}. Every rule of this Ingress answers 503 until it is fixed`);
    denied = DENIED_EXTERNAL_AUTH;
  };

  const global = get('enable-global-auth');
  if (global !== undefined) {
    const v = typeof global[1] === 'string' ? parseBool(global[1]) : undefined;
    if (v === undefined) report('InvalidAnnotation', `Annotation "${global[0]}" has the value ${describe(global[1])}, which is not "true" or "false"; global authentication stays on`);
    else if (!v) filters.noGlobalAuth = true;
  }

  const urlAnn = get('auth-url');
  if (urlAnn === undefined) {
    const stray = EXTERNAL_AUTH_OPTION_NAMES.filter((n) => n !== 'enable-global-auth' && !n.startsWith('auth-keepalive')).map((n) => readAliased(annotations, n, () => {})).filter((v) => v !== undefined);
    if (stray.length > 0) {
      report('InvalidAnnotation', `${stray.map(([k]) => `"${k}"`).join(', ')} ${stray.length === 1 ? 'has' : 'have'} no effect without auth-url; the rules are not protected by external authentication`);
    }
    return filters.noGlobalAuth === undefined ? NO_EXTERNAL_AUTH_OPTIONS : Object.freeze({ filters: Object.freeze(filters), denied: null });
  }
  const url = typeof urlAnn[1] === 'string' ? parseAuthUrl(urlAnn[1].trim()) : { invalid: 'it is not a string' };
  if ('invalid' in url) {
    deny(urlAnn[0], urlAnn[1], `is an http:// or https:// URL of the authentication service (${url.invalid})`);
  }

  let method = 'GET';
  let methodSet = false;
  const m = get('auth-method');
  if (m !== undefined) {
    const v = typeof m[1] === 'string' ? m[1].trim() : '';
    if (METHODS.has(v)) {
      method = v;
      methodSet = true;
    } else deny(m[0], m[1], `values are ${[...METHODS].join(', ')}`);
  }

  let signin: readonly AuthUrlPart[] | null = null;
  let signinJoin = '';
  const s = get('auth-signin');
  if (s !== undefined) {
    const raw = typeof s[1] === 'string' ? s[1].trim() : '';
    const t = parseSigninUrl(raw);
    if ('invalid' in t) deny(s[0], s[1], `is an http(s) URL or a path of the sign-in page (${t.invalid})`);
    else {
      signin = t;
      let param = DEFAULT_REDIRECT_PARAM;
      const p = get('auth-signin-redirect-param');
      if (p !== undefined) {
        if (typeof p[1] === 'string' && /^[A-Za-z0-9_.~-]{1,64}$/.test(p[1].trim())) param = p[1].trim();
        else report('InvalidAnnotation', `Annotation "${p[0]}" has the value ${describe(p[1])}, which is not a URL parameter name (letters, digits, "_", ".", "~", "-"); "${DEFAULT_REDIRECT_PARAM}" is used`);
      }
      signinJoin = signinJoinFor(raw, param);
    }
  }

  let responseHeaders: readonly string[] = [];
  const h = get('auth-response-headers');
  if (h !== undefined) {
    const list = typeof h[1] === 'string' ? parseHeaderList(h[1]) : undefined;
    if (list === undefined) deny(h[0], h[1], 'values are comma-separated header names (letters, digits, "-", "_")');
    else responseHeaders = list;
  }

  let requestRedirect = '';
  const rr = get('auth-request-redirect');
  if (rr !== undefined) {
    const v = typeof rr[1] === 'string' ? rr[1].trim() : '';
    if (/^[\x21-\x7e]{1,2048}$/.test(v)) requestRedirect = v;
    else deny(rr[0], rr[1], 'values are a URL without spaces');
  }

  let cache: ExternalAuthCache | null = null;
  const ck = get('auth-cache-key');
  const cd = get('auth-cache-duration');
  let valid = parseCacheDuration(DEFAULT_CACHE_DURATION)!;
  if (cd !== undefined) {
    const v = typeof cd[1] === 'string' ? parseCacheDuration(cd[1]) : undefined;
    if (v === undefined) deny(cd[0], cd[1], 'values are status codes then a time, comma-separated, such as "200 202 10m, 401 5m"');
    else valid = v;
  }
  if (ck !== undefined) {
    const key = typeof ck[1] === 'string' ? parseHashKey(ck[1].trim()) : { invalid: 'it is not a string' };
    if ('invalid' in key) report('InvalidAnnotation', `Annotation "${ck[0]}" has the value ${describe(ck[1])}, which cannot be used: ${key.invalid}; auth results are not cached`);
    else cache = Object.freeze({ key, valid });
  }

  let alwaysSetCookie = false;
  const c = get('auth-always-set-cookie');
  if (c !== undefined) {
    const v = typeof c[1] === 'string' ? parseBool(c[1]) : undefined;
    if (v === undefined) deny(c[0], c[1], 'values are "true" or "false"');
    else alwaysSetCookie = v;
  }

  let proxySetHeaders: ConfigMapHeaders | undefined;
  const ps = get('auth-proxy-set-headers');
  if (ps !== undefined) {
    // ingress-nginx denies the location for any unusable ConfigMap: the auth service would
    // decide without headers it may rely on
    const read = snapshot === undefined ? { invalid: 'ConfigMaps cannot be read here' } : readConfigMapHeaders(ps[1], snapshot, namespace, { reserved: AUTH_OWN_HEADERS, allowEmpty: true, allowDollar: false });
    if ('invalid' in read) {
      report('ConfigMapInvalid', `Annotation "${ps[0]}" has the value ${describe(ps[1])}, which cannot be used: ${read.invalid}. Every rule of this Ingress answers 503 until it is fixed`);
      denied = DENIED_EXTERNAL_AUTH;
    } else if (read.headers.length > 0) proxySetHeaders = read;
  }

  if (denied !== null || 'invalid' in url) return Object.freeze({ filters: Object.freeze(filters), denied: DENIED_EXTERNAL_AUTH });
  filters.externalAuth = Object.freeze({
    url: urlAnn[1] as string,
    origin: url.origin,
    originUsesHost: url.originUsesHost,
    target: url.target,
    method,
    methodSet,
    signin,
    signinJoin,
    responseHeaders,
    requestRedirect,
    cache,
    alwaysSetCookie,
    ...(proxySetHeaders === undefined ? {} : { proxySetHeaders }),
  });
  return Object.freeze({ filters: Object.freeze(filters), denied: null });
}

/** Go's strconv.ParseBool, which ingress-nginx's boolean annotations use. */
export function parseBool(raw: string): boolean | undefined {
  return parseGoBool(raw.trim());
}

/** Literal text and $host, $scheme, $request_uri, $escaped_request_uri ($name or ${name}). */
export function parseUrlTemplate(raw: string): AuthUrlPart[] | { invalid: string } {
  const parts: AuthUrlPart[] = [];
  let text = '';
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] !== '$') {
      text += raw[i];
      continue;
    }
    const m = /^\$(\{([a-z_][a-z0-9_]*)\}|([a-z_][a-z0-9_]*))/i.exec(raw.slice(i));
    if (m === null) return { invalid: `"$" at position ${i} starts no variable` };
    const name = (m[2] ?? m[3])!;
    if (!VARIABLES.has(name)) return { invalid: `$${name} is not a request value Portico fills in ($host, $scheme, $request_uri, $escaped_request_uri)` };
    if (text !== '') parts.push(text);
    text = '';
    parts.push(Object.freeze({ variable: name as AuthUrlVariable }));
    i += m[0].length - 1;
  }
  if (text !== '') parts.push(text);
  return parts;
}

function checkUrlText(raw: string): string | null {
  if (raw === '') return 'it is empty';
  if (raw.length > MAX_URL) return `it is longer than ${MAX_URL} characters`;
  if (!/^[\x21-\x7e]+$/.test(raw)) return 'it has spaces or characters outside printable ASCII';
  if (raw.includes('#')) return 'it has a fragment (#)';
  return null;
}

/** A host as a URL names it: a DNS name, an IPv4 address or a bracketed IPv6 address, with an optional port. */
function validAuthority(authority: string): boolean {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:(\d{1,5}))?$/.exec(authority);
  if (m === null) return false;
  if (m[3] !== undefined && (Number(m[3]) < 1 || Number(m[3]) > 65535)) return false;
  const host = m[1]!;
  if (host.startsWith('[')) {
    try {
      return new URL(`http://${host}/`).hostname !== '';
    } catch {
      return false;
    }
  }
  if (host.length > 253) return false;
  return host.split('.').every((l) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l));
}

/** auth-url → the auth service's origin and the template of its path and query. */
export function parseAuthUrl(raw: string): { origin: string; originUsesHost: boolean; target: readonly AuthUrlPart[] } | { invalid: string } {
  const bad = checkUrlText(raw);
  if (bad !== null) return { invalid: bad };
  const m = /^(https?):\/\/([^/?]*)(.*)$/i.exec(raw);
  if (m === null) return { invalid: 'it does not start with http:// or https://' };
  const scheme = m[1]!.toLowerCase();
  let authority = m[2]!;
  let originUsesHost = false;
  if (authority.includes('@')) return { invalid: 'it has user information before the host' };
  if (authority.startsWith('$host') && /^\$host(:\d{1,5})?$/.test(authority)) {
    originUsesHost = true;
    if (!validAuthority('h' + authority.slice(5))) return { invalid: 'its port is invalid' };
  } else if (authority.includes('$')) {
    return { invalid: 'its host part may name no request value but $host' };
  } else if (!validAuthority(authority)) {
    return { invalid: `"${authority}" is not a valid host` };
  } else authority = authority.toLowerCase();
  let rest = m[3]!;
  if (rest === '') rest = '/';
  else if (rest.startsWith('?')) rest = '/' + rest;
  const target = parseUrlTemplate(rest);
  if ('invalid' in target) return target;
  return { origin: `${scheme}://${authority}`, originUsesHost, target: Object.freeze(target) };
}

/** auth-signin: an http(s) URL (or `$scheme://...`) or an absolute path, with request values. */
export function parseSigninUrl(raw: string): readonly AuthUrlPart[] | { invalid: string } {
  const bad = checkUrlText(raw);
  if (bad !== null) return { invalid: bad };
  if (!/^(https?:\/\/|\$scheme:\/\/|\$\{scheme\}:\/\/|\/(?!\/))/i.test(raw)) return { invalid: 'it does not start with http://, https://, $scheme:// or /' };
  const parts = parseUrlTemplate(raw);
  return 'invalid' in parts ? parts : Object.freeze(parts);
}

/**
 * What joins the original URL to the sign-in URL, as ingress-nginx's buildAuthSignURL: `?p=`
 * when the URL has no query, '' when its query already sets p, else `&p=`.
 */
function signinJoinFor(raw: string, param: string): string {
  const q = raw.indexOf('?');
  const query = q === -1 ? '' : raw.slice(q + 1);
  if (query === '') return `?${param}=`;
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    if (eq !== -1 && pair.slice(0, eq) === param && pair.slice(eq + 1) !== '') return '';
  }
  return `&${param}=`;
}

/** Comma-separated header names (ingress-nginx's `^[a-zA-Z\d\-_]+$`), lower case, no duplicates. */
export function parseHeaderList(raw: string): string[] | undefined {
  const out: string[] = [];
  for (const part of raw.split(',')) {
    const name = part.trim();
    if (name === '') continue;
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(name)) return undefined;
    const lower = name.toLowerCase();
    if (!out.includes(lower)) out.push(lower);
  }
  return out.length > 64 ? undefined : out;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, M: 2_592_000_000, y: 31_536_000_000 };

/** An nginx time such as `30m` or `1h30m`, in ms; undefined when it is none. */
function parseTime(raw: string): number | undefined {
  if (!/^(\d+(ms|s|m|h|d|w|M|y))+$/.test(raw)) return undefined;
  let ms = 0;
  for (const m of raw.matchAll(/(\d+)(ms|s|m|h|d|w|M|y)/g)) ms += Number(m[1]) * UNIT_MS[m[2]!]!;
  return ms;
}

/**
 * auth-cache-duration (nginx proxy_cache_valid, comma-separated): `[code ...] time`; codes are
 * three digits or `any`; without codes, 200, 301 and 302 (nginx's default).
 */
export function parseCacheDuration(raw: string): { status: number; ms: number }[] | undefined {
  const out: { status: number; ms: number }[] = [];
  for (const segment of raw.split(',')) {
    const tokens = segment.trim().split(/\s+/).filter((t) => t !== '');
    if (tokens.length === 0) continue;
    const time = parseTime(tokens[tokens.length - 1]!);
    if (time === undefined) return undefined;
    const codes = tokens.slice(0, -1);
    if (codes.length === 0) codes.push('200', '301', '302');
    for (const code of codes) {
      let status: number;
      if (code === 'any') status = 0;
      else if (/^[1-5]\d\d$/.test(code)) status = Number(code);
      else return undefined;
      if (!out.some((e) => e.status === status)) out.push(Object.freeze({ status, ms: time }));
    }
  }
  if (out.length === 0) return undefined;
  return Object.freeze(out) as { status: number; ms: number }[];
}

/**
 * --global-auth-url and companions (ingress-nginx ConfigMap global-auth-url, -method, -signin,
 * -response-headers), read by the same parser as the annotations; null when no URL is set.
 * Throws with the problems when a value is invalid: the proxy does not start with a global
 * authentication it cannot honour.
 */
export function globalExternalAuth(flags: { url: string; method: string; signin: string; responseHeaders: string }): ExternalAuth | null {
  if (flags.url === '') {
    const stray = Object.entries(flags).filter(([, v]) => v !== '').map(([k]) => k);
    if (stray.length > 0) throw new Error(`--global-auth-${stray[0] === 'responseHeaders' ? 'response-headers' : stray[0]} has no effect without --global-auth-url`);
    return null;
  }
  const annotations: Record<string, string> = { 'portico.dev/auth-url': flags.url };
  if (flags.method !== '') annotations['portico.dev/auth-method'] = flags.method;
  if (flags.signin !== '') annotations['portico.dev/auth-signin'] = flags.signin;
  if (flags.responseHeaders !== '') annotations['portico.dev/auth-response-headers'] = flags.responseHeaders;
  const problems: string[] = [];
  const options = readExternalAuthOptions(annotations, (_reason, message) => problems.push(message.replace(/Annotation "portico\.dev\/auth-/g, '"--global-auth-').replace(/\. Every rule of this Ingress answers 503 until it is fixed/g, '')));
  const auth = options.filters.externalAuth;
  if (auth === undefined || problems.length > 0) throw new Error(problems.join('; ') || '--global-auth-url is invalid');
  return auth;
}
