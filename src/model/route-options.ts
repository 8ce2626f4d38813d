// The annotation group that shapes each rule of an Ingress: regex paths and rewriting
// (use-regex, rewrite-target, x-forwarded-prefix), the upstream Host (upstream-vhost) and the
// body limit (proxy-body-size). Each is read under `portico.dev/<name>` or, in its absence,
// `nginx.ingress.kubernetes.io/<name>`, with ingress-nginx's meaning and defaults. The group
// sees the rule's path (a rewrite is needed only when the target differs from it) and its
// sibling annotations (x-forwarded-prefix applies only with a rewrite).

import { parseGoBool } from '../values/go-bool.ts';
import { parseSize } from '../values/size.ts';
import { porticoNames, readAliased, type AliasReport } from './aliased.ts';
import { describe, isDict } from './read.ts';
import { compileUserRegex, parseRewriteTemplate } from './regex.ts';
import type { UserRegex } from './regex.ts';
import { FORWARD, NO_FILTERS, type CookieAffinity, type HashKeyPart, type RouteAction, type RouteFilters } from './types.ts';


/** The group's names, without prefix. */
export const ROUTE_OPTION_NAMES = [
  'use-regex',
  'rewrite-target',
  'x-forwarded-prefix',
  'upstream-vhost',
  'proxy-body-size',
  'proxy-connect-timeout',
  'proxy-read-timeout',
  'proxy-send-timeout',
  'proxy-request-buffering',
  'client-body-buffer-size',
  'proxy-buffer-size',
  'service-upstream',
  'affinity',
  'affinity-mode',
  'session-cookie-name',
  'session-cookie-path',
  'session-cookie-max-age',
  'session-cookie-expires',
  'session-cookie-samesite',
  'session-cookie-secure',
  'session-cookie-domain',
  'session-cookie-change-on-failure',
  'session-cookie-conditional-samesite-none',
  'affinity-canary-behavior',
  'upstream-hash-by',
  'upstream-hash-by-subset',
  'upstream-hash-by-subset-size',
  'server-alias',
  'enable-access-log',
] as const;
type Name = (typeof ROUTE_OPTION_NAMES)[number];

/** The group's `portico.dev/` names (known Portico annotations). */
export const ROUTE_OPTION_ANNOTATIONS: readonly string[] = porticoNames(ROUTE_OPTION_NAMES);

export type Report = (reason: 'InvalidAnnotation' | 'InvalidPath', message: string) => void;

/** The Ingress-wide values; per-rule results come from `forRule`. */
export interface RouteOptions {
  readonly useRegex: boolean;
  /** '' when absent. */
  readonly rewriteTarget: string;
  /** rewrite-target is set but unusable: every rule answers 503 (never the unrewritten path). */
  readonly rewriteBroken: boolean;
  /** Filters every rule of the Ingress shares when it needs no rewrite (NO_FILTERS if none). */
  readonly shared: RouteFilters;
  readonly forwardedPrefix: string;
}

export const NO_ROUTE_OPTIONS: RouteOptions = Object.freeze({ useRegex: false, rewriteTarget: '', rewriteBroken: false, shared: NO_FILTERS, forwardedPrefix: '' });

function read(annotations: Record<string, unknown>, name: Name, report: AliasReport): [string, unknown] | undefined {
  return readAliased(annotations, name, report);
}

/** The upstream response head undici accepts by default (Node's http.maxHeaderSize). */
const DEFAULT_RESPONSE_HEAD = 16 * 1024;
const MAX_RESPONSE_HEAD = 1024 * 1024;
/** The largest body read in full before connecting, as --client-body-buffer-size allows. */
const MAX_BODY_BUFFER = 64 * 1024 * 1024;

/**
 * proxy-request-buffering "off" (0: bodies stream to the upstream at once) and
 * client-body-buffer-size (how large a body is read in full first); "off" wins over a size.
 */
function readBodyBuffering(annotations: Record<string, unknown>, report: AliasReport): number | undefined {
  let out: number | undefined;
  const size = read(annotations, 'client-body-buffer-size', report);
  if (size !== undefined) {
    const v = typeof size[1] === 'string' ? parseSize(size[1].trim()) : undefined;
    if (v === undefined || v > MAX_BODY_BUFFER) invalid(report, size[0], size[1], 'a size up to 64m with an optional k or m suffix ("16k"), or "0" to stream every body', 'The global --client-body-buffer-size applies.');
    else out = v;
  }
  const mode = read(annotations, 'proxy-request-buffering', report);
  if (mode !== undefined) {
    const v = typeof mode[1] === 'string' ? mode[1].trim() : undefined;
    if (v === 'off') out = 0;
    else if (v !== 'on') invalid(report, mode[0], mode[1], '"on" or "off"', 'Bodies are buffered as --client-body-buffer-size says.');
  }
  return out;
}

function invalid(report: AliasReport, key: string, raw: unknown, accepted: string, fallback: string): void {
  report('InvalidAnnotation', `Annotation "${key}" has the value ${describe(raw)}, which is not valid; accepted values are ${accepted}. ${fallback}`);
}

/** Go's strconv.ParseBool, as ingress-nginx reads booleans. */
const goBool = parseGoBool;

/** Whole seconds as ingress-nginx's timeout annotations take them (an integer, no unit). */
function seconds(raw: string): number | undefined {
  if (!/^\d{1,5}$/.test(raw)) return undefined;
  const n = Number(raw);
  return n >= 1 && n <= 86_400 ? n : undefined;
}

/** A Host header value: a DNS name or IP literal, optionally with a port; no spaces or controls. */
function hostHeader(raw: string): string | undefined {
  return /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)(:\d{1,5})?$/.test(raw) ? raw : undefined;
}

/** A header value: visible ASCII and spaces, at most 1024 characters. */
function headerValue(raw: string): string | undefined {
  return raw.length <= 1024 && /^[\x20-\x7e]*$/.test(raw) ? raw : undefined;
}

export function readRouteOptions(annotations: unknown, report: Report): RouteOptions {
  if (!isDict(annotations)) return NO_ROUTE_OPTIONS;
  let useRegex = false;
  let rewriteTarget = '';
  let rewriteBroken = false;
  let forwardedPrefix = '';
  const shared: { -readonly [K in keyof RouteFilters]: RouteFilters[K] } = {};

  const regex = read(annotations, 'use-regex', report);
  if (regex !== undefined) {
    const v = typeof regex[1] === 'string' ? goBool(regex[1].trim()) : undefined;
    if (v === undefined) invalid(report, regex[0], regex[1], '"true" or "false"', 'Paths are not regular expressions.');
    else useRegex = v;
  }
  const target = read(annotations, 'rewrite-target', report);
  if (target !== undefined) {
    const v = typeof target[1] === 'string' ? target[1].trim() : undefined;
    if (v === undefined || v.length > 2048 || /[\s\x00-\x1f\x7f]/.test(v) || /^[a-z][a-z0-9+.-]*:\/\//i.test(v)) {
      // an absolute URL makes nginx's rewrite a redirect: that is permanent-redirect's job
      invalid(report, target[0], target[1], 'a path such as "/$2" (no spaces or control characters; for a redirect to a URL use permanent-redirect or temporal-redirect)', 'Every rule of this Ingress answers 503 rather than send unrewritten paths upstream.');
      rewriteBroken = true;
    } else rewriteTarget = v;
  }
  const prefix = read(annotations, 'x-forwarded-prefix', report);
  if (prefix !== undefined) {
    const v = typeof prefix[1] === 'string' ? headerValue(prefix[1].trim()) : undefined;
    if (v === undefined) invalid(report, prefix[0], prefix[1], 'a header value of printable ASCII, at most 1024 characters', 'No X-Forwarded-Prefix is sent.');
    else forwardedPrefix = v;
  }
  const vhost = read(annotations, 'upstream-vhost', report);
  if (vhost !== undefined) {
    const v = typeof vhost[1] === 'string' ? hostHeader(vhost[1].trim()) : undefined;
    if (v === undefined) invalid(report, vhost[0], vhost[1], 'a host name or IP address, optionally with ":port"', 'The client\'s Host header is sent.');
    else shared.upstreamHost = v;
  }
  const size = read(annotations, 'proxy-body-size', report);
  if (size !== undefined) {
    const v = typeof size[1] === 'string' ? parseSize(size[1].trim()) : undefined;
    if (v === undefined) invalid(report, size[0], size[1], 'a size in bytes with an optional k, m or g suffix ("8m"), or "0" for no limit', 'The global limit (--proxy-body-size) applies.');
    else shared.bodyLimit = v;
  }
  const buffering = readBodyBuffering(annotations, report);
  if (buffering !== undefined) shared.bodyBufferSize = buffering;
  const headSize = read(annotations, 'proxy-buffer-size', report);
  if (headSize !== undefined) {
    const v = typeof headSize[1] === 'string' ? parseSize(headSize[1].trim()) : undefined;
    if (v === undefined || v < 1 || v > MAX_RESPONSE_HEAD) invalid(report, headSize[0], headSize[1], 'a size from 1 byte to 1m with an optional k or m suffix ("16k")', 'Upstream response heads up to 16 KiB are accepted.');
    // up to undici's 16 KiB Portico accepts the head anyway (ingress-nginx's 4k default would refuse some)
    else if (v > DEFAULT_RESPONSE_HEAD) shared.responseHeadMax = v;
  }
  const accessLog = read(annotations, 'enable-access-log', report);
  if (accessLog !== undefined) {
    const v = typeof accessLog[1] === 'string' ? goBool(accessLog[1].trim()) : undefined;
    if (v === undefined) invalid(report, accessLog[0], accessLog[1], '"true" or "false"', 'Its requests are logged.');
    else if (!v) shared.accessLog = false;
  }
  const timeouts: { connectMs?: number; readMs?: number; sendMs?: number } = {};
  for (const [name, field] of [['proxy-connect-timeout', 'connectMs'], ['proxy-read-timeout', 'readMs'], ['proxy-send-timeout', 'sendMs']] as const) {
    const t = read(annotations, name, report);
    if (t === undefined) continue;
    const v = typeof t[1] === 'string' ? seconds(t[1].trim()) : undefined;
    if (v === undefined) invalid(report, t[0], t[1], 'a whole number of seconds from 1 to 86400, such as "60" (no unit, as ingress-nginx reads it)', 'The global timeout applies.');
    else timeouts[field] = v * 1000;
  }
  if (Object.keys(timeouts).length > 0) shared.timeouts = Object.freeze(timeouts);
  const affinity = readAffinity(annotations, report);
  if (affinity !== null) shared.affinity = affinity;
  const hash = read(annotations, 'upstream-hash-by', report);
  if (hash !== undefined) {
    const parts = typeof hash[1] === 'string' ? parseHashKey(hash[1].trim()) : { invalid: `it is ${describe(hash[1])}` };
    if ('invalid' in parts) report('InvalidAnnotation', `Annotation "${hash[0]}" has the value ${describe(hash[1])}, which is not valid: ${parts.invalid}. Requests are balanced without it.`);
    else shared.hashBy = parts;
  }
  const subset = readHashSubset(annotations, shared.hashBy !== undefined, report);
  if (subset !== null) shared.hashSubset = subset;
  if (!useRegex && !rewriteBroken && rewriteTarget === '' && forwardedPrefix === '' && Object.keys(shared).length === 0) return NO_ROUTE_OPTIONS;
  return Object.freeze({ useRegex, rewriteTarget, rewriteBroken, forwardedPrefix, shared: Object.keys(shared).length === 0 ? NO_FILTERS : Object.freeze(shared) });
}

/**
 * `options` with `extra` filters (another annotation group's, e.g. access controls) added to
 * what every rule shares; the same object when `extra` is empty.
 */
export function withFilters(options: RouteOptions, extra: RouteFilters): RouteOptions {
  if (Object.keys(extra).length === 0) return options;
  return Object.freeze({ ...options, shared: Object.freeze({ ...options.shared, ...extra }) });
}

/** One rule's regex and filters, or the reason it cannot be served. */
export interface RuleShape {
  readonly regex: UserRegex | null;
  readonly filters: RouteFilters;
  /** FORWARD, or a 503 when the rewrite cannot be honoured (never the wrong path upstream). */
  readonly action: RouteAction;
}

/** Whether ingress-nginx would rewrite this rule (its `needsRewrite`). */
export function needsRewrite(options: RouteOptions, path: string): boolean {
  return options.rewriteTarget !== '' && options.rewriteTarget !== path;
}

/** A rewrite that cannot be honoured: the rule answers 503 rather than send the wrong path. */
const REWRITE_UNAVAILABLE: RouteAction = Object.freeze({ kind: 'direct', status: 503, body: 'service unavailable: this route\'s rewrite-target is invalid' });

/**
 * The shape of the rule at `path`, or null when its path cannot be used as a regex (reported,
 * the rule is skipped). `at` names the rule in problems. `action` is the Ingress's own.
 */
export function shapeRule(options: RouteOptions, path: string, action: RouteAction, at: string, report: Report): RuleShape | null {
  if (options.rewriteBroken) return { regex: null, filters: options.shared, action: action === FORWARD ? REWRITE_UNAVAILABLE : action };
  const rewrite = needsRewrite(options, path);
  if (!options.useRegex && !rewrite) return { regex: null, filters: options.shared, action };
  const regex = pathRegex(path);
  if ('invalid' in regex) {
    report('InvalidPath', `${at}: ${regex.invalid}; the path is skipped`);
    return null;
  }
  if (!rewrite) return { regex, filters: options.shared, action };
  const template = parseRewriteTemplate(options.rewriteTarget, regex.groups);
  if ('invalid' in template) {
    report('InvalidAnnotation', `${at}: rewrite-target ${JSON.stringify(options.rewriteTarget)} cannot be used: ${template.invalid}; the path answers 503`);
    return { regex, filters: options.shared, action: action === FORWARD ? REWRITE_UNAVAILABLE : action };
  }
  const filters: RouteFilters = Object.freeze({
    ...options.shared,
    rewrite: Object.freeze({ template: Object.freeze(template) }),
    ...(options.forwardedPrefix === '' ? {} : { forwardedPrefix: options.forwardedPrefix }),
  });
  return { regex, filters, action };
}

// Compiling costs ~0.3 ms; the same path is compiled again on every rebuild of its host, so
// compiled paths are remembered (bounded: cleared when it grows past the limit).
const compiled = new Map<string, UserRegex | { invalid: string }>();
const COMPILED_MAX = 20_000;

/** `^<path>`, case-insensitive: how ingress-nginx writes every location of a regex host. */
export function pathRegex(path: string): UserRegex | { invalid: string } {
  let r = compiled.get(path);
  if (r === undefined) {
    if (compiled.size >= COMPILED_MAX) compiled.clear();
    r = compileUserRegex(path, { anchor: '^', caseInsensitive: true });
    compiled.set(path, r);
  }
  return r;
}

/**
 * ingress-nginx service-upstream: "true" sends the Ingress's traffic to each Service's
 * ClusterIP (kube-proxy balances) instead of the pod endpoints.
 */
export function readServiceUpstream(annotations: unknown, report: Report): boolean {
  if (!isDict(annotations)) return false;
  const r = read(annotations, 'service-upstream', report);
  if (r === undefined) return false;
  const v = typeof r[1] === 'string' ? goBool(r[1].trim()) : undefined;
  if (v === undefined) invalid(report, r[0], r[1], '"true" or "false"', 'Traffic goes to the pod endpoints.');
  return v === true;
}

const SAME_SITE: ReadonlyMap<string, 'None' | 'Lax' | 'Strict'> = new Map([['none', 'None'], ['lax', 'Lax'], ['strict', 'Strict']]);

/** ingress-nginx cookie affinity: `affinity: cookie` and its session-cookie-* companions. */
function readAffinity(annotations: Record<string, unknown>, report: Report): CookieAffinity | null {
  const kind = read(annotations, 'affinity', report);
  if (kind === undefined) return null;
  if ((typeof kind[1] === 'string' ? kind[1].trim() : kind[1]) !== 'cookie') {
    invalid(report, kind[0], kind[1], '"cookie"', 'Requests are balanced without affinity.');
    return null;
  }
  const text = (name: Name): [string, string] | undefined => {
    const r = read(annotations, name, report);
    return r === undefined ? undefined : [r[0], typeof r[1] === 'string' ? r[1].trim() : String(r[1])];
  };
  const mode = text('affinity-mode');
  if (mode !== undefined && mode[1] !== 'balanced' && mode[1] !== 'persistent') invalid(report, mode[0], mode[1], '"balanced" or "persistent"', 'Using "balanced".');
  const persistent = mode !== undefined && mode[1] === 'persistent';
  let name = 'INGRESSCOOKIE';
  const n = text('session-cookie-name');
  if (n !== undefined) {
    if (/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/.test(n[1])) name = n[1];
    else invalid(report, n[0], n[1], 'a cookie name (letters, digits and !#$%&\'*+.^_`|~-)', 'Using "INGRESSCOOKIE".');
  }
  let path = '/';
  const p = text('session-cookie-path');
  if (p !== undefined) {
    if (/^\/[\x21-\x3a\x3c-\x7e]{0,1023}$/.test(p[1])) path = p[1];
    else invalid(report, p[0], p[1], 'a path starting with "/" without ";" or spaces', 'Using "/".');
  }
  const secondsOf = (name: Name): number | null => {
    const r = text(name);
    if (r === undefined) return null;
    if (/^\d{1,10}$/.test(r[1])) return Number(r[1]);
    invalid(report, r[0], r[1], 'a whole number of seconds', 'The cookie lasts for the browser session.');
    return null;
  };
  const maxAge = secondsOf('session-cookie-max-age');
  const expires = secondsOf('session-cookie-expires');
  let sameSite: CookieAffinity['sameSite'] = null;
  const ss = text('session-cookie-samesite');
  if (ss !== undefined) {
    // any case, as ingress-nginx accepts it (browsers read the attribute in any case too)
    const canonical = SAME_SITE.get(ss[1].toLowerCase());
    if (canonical !== undefined) sameSite = canonical;
    else invalid(report, ss[0], ss[1], '"None", "Lax" or "Strict" (any case)', 'No SameSite attribute is sent.');
  }
  let secure = false;
  const sec = text('session-cookie-secure');
  if (sec !== undefined) {
    const v = goBool(sec[1]);
    if (v === undefined) invalid(report, sec[0], sec[1], '"true" or "false"', 'The cookie is not marked Secure.');
    else secure = v;
  }
  let domain: string | null = null;
  const d = text('session-cookie-domain');
  if (d !== undefined) {
    if (/^\.?[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/.test(d[1])) domain = d[1];
    else invalid(report, d[0], d[1], 'a domain name', 'No Domain attribute is sent.');
  }
  let changeOnFailure = false;
  const cof = text('session-cookie-change-on-failure');
  if (cof !== undefined) {
    const v = goBool(cof[1]);
    if (v === undefined) invalid(report, cof[0], cof[1], '"true" or "false"', 'The cookie keeps its endpoint after a failed attempt.');
    else changeOnFailure = v;
  }
  let conditional = false;
  const csn = text('session-cookie-conditional-samesite-none');
  if (csn !== undefined) {
    const v = goBool(csn[1]);
    if (v === undefined) invalid(report, csn[0], csn[1], '"true" or "false"', 'SameSite is sent to every browser as session-cookie-samesite says.');
    else conditional = v;
  }
  const legacy = readCanaryBehavior(annotations, report);
  // SameSite=None needs Secure, or browsers drop the cookie
  return Object.freeze({ ...(persistent ? { mode: 'persistent' as const } : {}), ...(changeOnFailure ? { changeOnFailure: true as const } : {}), ...(legacy ? { canaryBehavior: 'legacy' as const } : {}), ...(conditional && sameSite === 'None' ? { conditionalSameSiteNone: true as const } : {}), name, path, maxAge, expires, sameSite, secure: secure || sameSite === 'None', domain });
}

/**
 * ingress-nginx affinity-canary-behavior: whether it is "legacy" ("sticky", the default, is
 * false). ingress-nginx reads it on the canary Ingress; Portico on the primary's too.
 */
export function readCanaryBehavior(annotations: Record<string, unknown>, report: AliasReport): boolean {
  const cb = read(annotations, 'affinity-canary-behavior', report);
  if (cb === undefined) return false;
  const v = typeof cb[1] === 'string' ? cb[1].trim() : cb[1];
  if (v === 'legacy') return true;
  if (v !== 'sticky') invalid(report, cb[0], cb[1], '"sticky" or "legacy"', 'Using "sticky".');
  return false;
}

/**
 * ingress-nginx upstream-hash-by: literal text and nginx request values — $request_uri, $uri,
 * $args, $host, $remote_addr (and $binary_remote_addr, the same address), $http_<header>,
 * $cookie_<name>, $arg_<name>. Other variables are refused.
 */
export function parseHashKey(raw: string): HashKeyPart[] | { invalid: string } {
  if (raw === '' || raw.length > 256) return { invalid: 'it must be 1 to 256 characters' };
  const parts: HashKeyPart[] = [];
  let text = '';
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] !== '$') {
      text += raw[i];
      continue;
    }
    const m = /^\$\{?([a-z_][a-z0-9_]*)\}?/i.exec(raw.slice(i));
    if (m === null) return { invalid: `"$" at position ${i} starts no variable` };
    const v = m[1]!.toLowerCase();
    let part: HashKeyPart;
    if (v === 'request_uri' || v === 'uri' || v === 'args' || v === 'host' || v === 'remote_addr') part = Object.freeze({ variable: v });
    else if (v === 'binary_remote_addr') part = Object.freeze({ variable: 'remote_addr' as const });
    else if (v.startsWith('http_') && v.length > 5) part = Object.freeze({ header: v.slice(5).replace(/_/g, '-') });
    else if (v.startsWith('cookie_') && v.length > 7) part = Object.freeze({ cookie: m[1]!.slice(7) });
    else if (v.startsWith('arg_') && v.length > 4) part = Object.freeze({ arg: m[1]!.slice(4) });
    else return { invalid: `$${m[1]} is not a request value Portico hashes by ($request_uri, $uri, $args, $host, $remote_addr, $http_<header>, $cookie_<name>, $arg_<name>)` };
    if (text !== '') parts.push(text);
    text = '';
    parts.push(part);
    i += m[0].length - 1;
  }
  if (text !== '') parts.push(text);
  return Object.freeze(parts) as HashKeyPart[];
}

/** The largest upstream-hash-by-subset-size: a subset is scanned per request. */
const SUBSET_MAX = 64;

/**
 * ingress-nginx upstream-hash-by-subset and -subset-size (default 3): the subset size when
 * subsets are on and there is a usable hash key, else null. ingress-nginx ignores the subset
 * annotations without upstream-hash-by; Portico says so with a problem.
 */
function readHashSubset(annotations: Record<string, unknown>, hashed: boolean, report: Report): number | null {
  const on = read(annotations, 'upstream-hash-by-subset', report);
  const size = read(annotations, 'upstream-hash-by-subset-size', report);
  let enabled = false;
  if (on !== undefined) {
    const v = typeof on[1] === 'string' ? goBool(on[1].trim()) : undefined;
    if (v === undefined) invalid(report, on[0], on[1], '"true" or "false"', 'Requests are hashed onto single endpoints.');
    else enabled = v;
  }
  let n = 3;
  if (size !== undefined) {
    const raw = typeof size[1] === 'string' ? size[1].trim() : '';
    // ingress-nginx reads 0 as its default 3
    if (/^\d{1,3}$/.test(raw) && Number(raw) <= SUBSET_MAX) n = Number(raw) === 0 ? 3 : Number(raw);
    else invalid(report, size[0], size[1], `a whole number from 1 to ${SUBSET_MAX}`, 'Using 3.');
  }
  if (!enabled) return null;
  if (!hashed) {
    report('InvalidAnnotation', `Annotation "${on![0]}" has no effect without a valid upstream-hash-by: requests are balanced without hashing.`);
    return null;
  }
  return n;
}

/**
 * ingress-nginx server-alias: comma-separated host names that serve the same rules as the
 * Ingress's host. Returns the raw names; the processor validates them as rule hosts.
 */
export function readServerAliases(annotations: unknown, report: Report): { key: string; names: string[] } | null {
  if (!isDict(annotations)) return null;
  const r = read(annotations, 'server-alias', report);
  if (r === undefined) return null;
  if (typeof r[1] !== 'string') {
    invalid(report, r[0], r[1], 'comma-separated host names', 'No alias is served.');
    return null;
  }
  return { key: r[0], names: r[1].split(',').map((n) => n.trim()).filter((n) => n !== '') };
}
