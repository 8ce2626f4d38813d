// ingress-nginx's redirect annotations, read under `portico.dev/<name>` or, in its absence,
// `nginx.ingress.kubernetes.io/<name>`:
//   temporal-redirect (+ -code, default 302) wins over permanent-redirect (+ -code, default
//   301), as in ingress-nginx: every request of the Ingress's rules is answered with that
//   redirect; the URL must be http(s) and may use a fixed set of request values ($scheme,
//   $host, $request_uri, $uri, $args, $is_args) — never other nginx variables;
//   app-root: a request for exactly `/` is redirected (302) to that path;
//   from-to-www-redirect: the www / non-www twin of each rule host redirects (308) to it,
//   unless another rule defines that twin.

import { GO_BOOL_ACCEPTED, parseGoBool } from '../values/go-bool.ts';
import { porticoNames, readAliased } from './aliased.ts';
import { describe, isDict } from './read.ts';
import type { LocationPart, LocationVariable, RedirectAction } from './types.ts';


export const REDIRECT_OPTION_NAMES = [
  'permanent-redirect',
  'permanent-redirect-code',
  'temporal-redirect',
  'temporal-redirect-code',
  'app-root',
  'from-to-www-redirect',
] as const;
type Name = (typeof REDIRECT_OPTION_NAMES)[number];

export const REDIRECT_OPTION_ANNOTATIONS: readonly string[] = porticoNames(REDIRECT_OPTION_NAMES);

export type Report = (reason: 'InvalidAnnotation', message: string) => void;

export interface RedirectOptions {
  /** The redirect every rule answers with, or null. */
  readonly redirect: RedirectAction | null;
  /** app-root path, or ''. */
  readonly appRoot: string;
  readonly fromToWww: boolean;
}

export const NO_REDIRECTS: RedirectOptions = Object.freeze({ redirect: null, appRoot: '', fromToWww: false });

const VARIABLES: ReadonlySet<string> = new Set<LocationVariable>(['scheme', 'host', 'request_uri', 'uri', 'args', 'is_args']);

function read(annotations: Record<string, unknown>, name: Name, report: Report): [string, unknown] | undefined {
  return readAliased(annotations, name, report);
}

/** An http(s) URL with optional `$variable`s of the fixed set, split into parts. */
export function parseRedirectUrl(raw: string): LocationPart[] | { invalid: string } {
  if (raw.length > 2048 || /[\s\x00-\x1f\x7f"]/.test(raw)) return { invalid: 'it contains spaces, quotes or control characters' };
  if (!/^https?:\/\/[^/$]/i.test(raw)) return { invalid: 'only http:// and https:// URLs with a host are accepted' };
  const parts: LocationPart[] = [];
  let text = '';
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] !== '$') {
      text += raw[i];
      continue;
    }
    const m = /^\$\{?([a-z_]+)\}?/.exec(raw.slice(i));
    if (m === null || !VARIABLES.has(m[1]!)) {
      return { invalid: `"${m?.[0] ?? '$'}" is not one of the request values Portico fills in ($scheme, $host, $request_uri, $uri, $args, $is_args)` };
    }
    if (text !== '') parts.push(text);
    text = '';
    parts.push(Object.freeze({ variable: m[1] as LocationVariable }));
    i += m[0].length - 1;
  }
  if (text !== '') parts.push(text);
  return parts;
}

function code(annotations: Record<string, unknown>, name: Name, fallback: number, max: number, report: Report): number {
  const r = read(annotations, name, report);
  if (r === undefined) return fallback;
  const n = typeof r[1] === 'string' && /^\d{3}$/.test(r[1].trim()) ? Number(r[1].trim()) : NaN;
  if (n >= 300 && n <= max) return n;
  report('InvalidAnnotation', `Annotation "${r[0]}" has the value ${describe(r[1])}, which is not valid; accepted values are redirect status codes from 300 to ${max}. Using ${fallback}.`);
  return fallback;
}

export function readRedirectOptions(annotations: unknown, report: Report): RedirectOptions {
  if (!isDict(annotations)) return NO_REDIRECTS;
  let redirect: RedirectAction | null = null;
  for (const [name, codeName, fallback, max] of [
    ['temporal-redirect', 'temporal-redirect-code', 302, 307],
    ['permanent-redirect', 'permanent-redirect-code', 301, 308],
  ] as const) {
    const r = read(annotations, name, report);
    if (r === undefined) continue;
    const parts = typeof r[1] === 'string' ? parseRedirectUrl(r[1].trim()) : { invalid: `it is ${describe(r[1])}, not a URL` };
    if ('invalid' in parts) {
      report('InvalidAnnotation', `Annotation "${r[0]}" has the value ${describe(r[1])}, which is not valid: ${parts.invalid}. The rules are served without this redirect.`);
      continue;
    }
    if (redirect !== null) {
      report('InvalidAnnotation', `Annotation "${r[0]}" is ignored: temporal-redirect is also set and takes precedence, as in ingress-nginx.`);
      continue;
    }
    redirect = Object.freeze({ kind: 'redirect', status: code(annotations, codeName, fallback, max, report), location: Object.freeze(parts) });
  }
  let appRoot = '';
  const root = read(annotations, 'app-root', report);
  if (root !== undefined) {
    const v = typeof root[1] === 'string' ? root[1].trim() : '';
    if (/^\/[\x21-\x7e]{0,1023}$/.test(v) && !v.includes('$')) appRoot = v;
    else report('InvalidAnnotation', `Annotation "${root[0]}" has the value ${describe(root[1])}, which is not valid; accepted values are a path starting with "/" without spaces, control characters or "$", such as "/app1". No app-root redirect is made.`);
  }
  let fromToWww = false;
  const www = read(annotations, 'from-to-www-redirect', report);
  if (www !== undefined) {
    // a Go boolean, as ingress-nginx reads it ("True" and "1" redirect there too)
    const v = typeof www[1] === 'string' ? parseGoBool(www[1].trim()) : undefined;
    if (v === true) fromToWww = true;
    else if (v === undefined) report('InvalidAnnotation', `Annotation "${www[0]}" has the value ${describe(www[1])}, which is not valid; accepted values are ${GO_BOOL_ACCEPTED}. No www redirect is made.`);
  }
  if (redirect === null && appRoot === '' && !fromToWww) return NO_REDIRECTS;
  return Object.freeze({ redirect, appRoot, fromToWww });
}

/** The www / non-www twin of a rule host, or null (wildcards and IP-like names have none). */
export function wwwTwin(host: string): string | null {
  if (host === '' || host.startsWith('*.')) return null;
  if (host.startsWith('www.')) return host.length > 4 && host.slice(4).includes('.') ? host.slice(4) : null;
  return `www.${host}`;
}

/** The redirect the twin host answers with: 308 to the same URL on `host`. */
export function wwwRedirect(host: string): RedirectAction {
  return Object.freeze({
    kind: 'redirect',
    status: 308,
    location: Object.freeze([Object.freeze({ variable: 'scheme' as const }), `://${host}`, Object.freeze({ variable: 'request_uri' as const })]),
    wwwAlias: true,
  });
}
