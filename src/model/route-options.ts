// The annotation group that shapes each rule of an Ingress: regex paths and rewriting
// (use-regex, rewrite-target, x-forwarded-prefix), the upstream Host (upstream-vhost) and the
// body limit (proxy-body-size). Each is read under `portico.dev/<name>` or, in its absence,
// `nginx.ingress.kubernetes.io/<name>`, with ingress-nginx's meaning and defaults. The group
// sees the rule's path (a rewrite is needed only when the target differs from it) and its
// sibling annotations (x-forwarded-prefix applies only with a rewrite).

import { parseSize } from '../values/size.ts';
import { describe, isDict } from './read.ts';
import { compileUserRegex, parseRewriteTemplate } from './regex.ts';
import type { UserRegex } from './regex.ts';
import { FORWARD, NO_FILTERS, type RouteAction, type RouteFilters } from './types.ts';

const PORTICO = 'portico.dev/';
const NGINX = 'nginx.ingress.kubernetes.io/';

/** The group's names, without prefix. */
export const ROUTE_OPTION_NAMES = ['use-regex', 'rewrite-target', 'x-forwarded-prefix', 'upstream-vhost', 'proxy-body-size'] as const;
type Name = (typeof ROUTE_OPTION_NAMES)[number];

/** The group's `portico.dev/` names (known Portico annotations). */
export const ROUTE_OPTION_ANNOTATIONS: readonly string[] = ROUTE_OPTION_NAMES.map((n) => PORTICO + n);

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

/** Reads `name` under either prefix: [the key it was found under, its value] or undefined. */
function read(annotations: Record<string, unknown>, name: Name, report: Report): [string, unknown] | undefined {
  const ours = annotations[PORTICO + name];
  const theirs = annotations[NGINX + name];
  if (ours !== undefined) {
    if (theirs !== undefined) report('InvalidAnnotation', `Annotations "${PORTICO + name}" and "${NGINX + name}" are both set; "${PORTICO + name}" is used and "${NGINX + name}" is ignored`);
    return [PORTICO + name, ours];
  }
  return theirs === undefined ? undefined : [NGINX + name, theirs];
}

function invalid(report: Report, key: string, raw: unknown, accepted: string, fallback: string): void {
  report('InvalidAnnotation', `Annotation "${key}" has the value ${describe(raw)}, which is not valid; accepted values are ${accepted}. ${fallback}`);
}

/** Go's strconv.ParseBool, as ingress-nginx reads booleans. */
function goBool(raw: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(raw)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(raw)) return false;
  return undefined;
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
