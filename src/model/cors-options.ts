// ingress-nginx's CORS annotations, read under `portico.dev/<name>` or, in its absence,
// `nginx.ingress.kubernetes.io/<name>`, with ingress-nginx's meaning and defaults:
//   enable-cors            "true" turns CORS on for every rule of the Ingress;
//   cors-allow-origin      comma-separated origins (`scheme://host[:port]`, `null`, or `*`),
//                          `scheme://*.example.com` matching one DNS label; default `*`;
//                          `*` anywhere in the list means every origin;
//   cors-allow-methods     default "GET, PUT, POST, DELETE, PATCH, OPTIONS";
//   cors-allow-headers     default "DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization";
//   cors-expose-headers    default none;
//   cors-allow-credentials default "true";
//   cors-max-age           seconds, default 1728000.
// A value ingress-nginx would not accept falls back to its default, as there, with a problem
// that says so. One difference: where ingress-nginx replaces an unparseable origin list with
// `*` (every origin), Portico keeps the entries that parse and allows no origin when none
// does: a typo never widens who may read responses from a browser.

import { GO_BOOL_ACCEPTED, parseGoBool } from '../values/go-bool.ts';
import { porticoNames, readAliased, type AliasReport } from './aliased.ts';
import { describe } from './read.ts';
import type { CorsPolicy } from './types.ts';

export const CORS_OPTION_NAMES = [
  'enable-cors',
  'cors-allow-origin',
  'cors-allow-methods',
  'cors-allow-headers',
  'cors-expose-headers',
  'cors-allow-credentials',
  'cors-max-age',
] as const;
type Name = (typeof CORS_OPTION_NAMES)[number];

export const CORS_OPTION_ANNOTATIONS: readonly string[] = porticoNames(CORS_OPTION_NAMES);

export const DEFAULT_CORS_METHODS = 'GET, PUT, POST, DELETE, PATCH, OPTIONS';
export const DEFAULT_CORS_HEADERS = 'DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization';
export const DEFAULT_CORS_MAX_AGE = 1728000;

// The shapes ingress-nginx validates these values against (annotations/cors), restated.
const ORIGIN = /^(?:[a-z]+:\/\/(?:\*\.)?[A-Za-z0-9.-]*(?::\d+)?|null)$/;
const METHODS = /^(?:[A-Za-z]+,?\s?)+$/;
const HEADERS = /^(?:[A-Za-z0-9_-]+,?\s?)+$/;
const EXPOSE = /^(?:(?:[A-Za-z0-9_-]+|\*),?\s?)+$/;

function read(annotations: Record<string, unknown>, name: Name, report: AliasReport): [string, unknown] | undefined {
  return readAliased(annotations, name, report);
}

function str(found: [string, unknown] | undefined, report: AliasReport): string | undefined {
  if (found === undefined) return undefined;
  if (typeof found[1] === 'string') return found[1];
  report('InvalidAnnotation', `Annotation "${found[0]}" is ${describe(found[1])}, not a string; it is ignored`);
  return undefined;
}

function bool(annotations: Record<string, unknown>, name: Name, fallback: boolean, report: AliasReport): boolean {
  const found = read(annotations, name, report);
  const raw = str(found, report);
  if (raw === undefined) return fallback;
  // Go's ParseBool, as ingress-nginx reads it (and any case of true/false, as before)
  const t = raw.trim();
  const v = parseGoBool(t) ?? parseGoBool(t.toLowerCase());
  if (v !== undefined) return v;
  report('InvalidAnnotation', `Annotation "${found![0]}" has the value "${raw}", which is not valid; accepted values are ${GO_BOOL_ACCEPTED}. ${fallback} is used`);
  return fallback;
}

/** The allowed origins: `*`, or the list of patterns (possibly empty: no origin allowed). */
export function parseAllowOrigin(raw: string, report: (message: string) => void): '*' | string[] {
  if (raw.trim() === '') return '*';
  const out: string[] = [];
  const bad: string[] = [];
  for (const part of raw.split(',')) {
    const origin = part.trim();
    if (origin === '') continue;
    if (origin === '*') return '*';
    if (ORIGIN.test(origin)) {
      if (!out.includes(origin)) out.push(origin);
    } else bad.push(origin);
  }
  if (bad.length > 0) {
    const list = bad.map((o) => `"${o}"`).join(', ');
    report(
      out.length > 0
        ? `origin ${list} is not scheme://host[:port], scheme://*.domain, null or *; it is skipped`
        : `origin ${list} is not scheme://host[:port], scheme://*.domain, null or *; no origin is allowed (ingress-nginx would allow every origin)`,
    );
  }
  return out;
}

/** The Ingress's CORS policy, or undefined when enable-cors is not "true". */
export function readCorsOptions(annotations: unknown, report: AliasReport): CorsPolicy | undefined {
  if (annotations === null || typeof annotations !== 'object') return undefined;
  const a = annotations as Record<string, unknown>;
  if (!bool(a, 'enable-cors', false, report)) {
    for (const name of CORS_OPTION_NAMES) {
      if (name === 'enable-cors') continue;
      const found = read(a, name, report);
      if (found !== undefined) report('InvalidAnnotation', `Annotation "${found[0]}" has no effect without enable-cors: "true"`);
    }
    return undefined;
  }
  const originFound = read(a, 'cors-allow-origin', report);
  const originRaw = str(originFound, report);
  const origins = originRaw === undefined ? '*' : parseAllowOrigin(originRaw, (m) => report('InvalidAnnotation', `Annotation "${originFound![0]}": ${m}`));

  const listValue = (name: Name, shape: RegExp, fallback: string, what: string): string => {
    const found = read(a, name, report);
    const raw = str(found, report);
    if (raw === undefined) return fallback;
    const v = raw.trim();
    if (shape.test(v) && !/[\r\n]/.test(v)) return v;
    report('InvalidAnnotation', `Annotation "${found![0]}" is "${raw}", not a comma-separated list of ${what}; ${fallback === '' ? 'it is ignored' : `"${fallback}" is used`}`);
    return fallback;
  };
  const methods = listValue('cors-allow-methods', METHODS, DEFAULT_CORS_METHODS, 'method names');
  const headers = listValue('cors-allow-headers', HEADERS, DEFAULT_CORS_HEADERS, 'header names');
  const expose = listValue('cors-expose-headers', EXPOSE, '', 'header names or *');
  const credentials = bool(a, 'cors-allow-credentials', true, report);

  let maxAge = DEFAULT_CORS_MAX_AGE;
  const ageFound = read(a, 'cors-max-age', report);
  const ageRaw = str(ageFound, report);
  if (ageRaw !== undefined) {
    const v = ageRaw.trim();
    if (/^\d{1,10}$/.test(v)) maxAge = Number(v);
    else report('InvalidAnnotation', `Annotation "${ageFound![0]}" is "${ageRaw}", not a number of seconds; ${DEFAULT_CORS_MAX_AGE} is used`);
  }

  return Object.freeze({
    origins: origins === '*' ? '*' : Object.freeze(origins),
    methods,
    headers,
    expose,
    credentials,
    maxAge,
  });
}
