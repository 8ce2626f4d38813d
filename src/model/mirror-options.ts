// ingress-nginx's request mirroring, read under `portico.dev/<name>` or, in its absence,
// `nginx.ingress.kubernetes.io/<name>`:
//   mirror-target        an http(s) URL each request of the Ingress's rules is copied to (its
//                        answer is thrown away); `$request_uri`, `$uri`, `$args`, `$is_args`,
//                        `$scheme` and `$host` are filled in from the request, in the path and
//                        query only: the origin is literal text. A URL without a path gets the
//                        request's URI (nginx would send its internal mirror location's);
//   mirror-host          the Host header of the copies (default: the target's host name);
//   mirror-request-body  "off": copies carry no body (default "on").
// An unusable value is a problem and the Ingress is not mirrored (mirroring never changes what
// the client gets, so nothing fails closed).

import { porticoNames, readAliased, type AliasReport } from './aliased.ts';
import { describe } from './read.ts';
import { parseRedirectUrl } from './redirect-options.ts';
import type { LocationPart, Mirror } from './types.ts';

export const MIRROR_OPTION_NAMES = ['mirror-target', 'mirror-host', 'mirror-request-body'] as const;
export const MIRROR_OPTION_ANNOTATIONS: readonly string[] = porticoNames(MIRROR_OPTION_NAMES);

/** A Host header value: a DNS name or IP literal, optionally with a port. */
const HOST = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)(:\d{1,5})?$/;

/**
 * The target split into its literal origin (`https://mirror.test:8443`) and the parts of its
 * path and query, or why it cannot be used.
 */
export function parseMirrorTarget(raw: string): { origin: string; path: readonly LocationPart[] } | { invalid: string } {
  const parts = parseRedirectUrl(raw.trim());
  if ('invalid' in parts) return parts;
  const first = parts[0] as string; // parseRedirectUrl: a URL starts with literal text
  const m = /^(https?:\/\/[^/?#]+)(.*)$/i.exec(first)!;
  const origin = m[1]!;
  const path: LocationPart[] = m[2] === '' ? [] : [m[2]!];
  path.push(...parts.slice(1));
  const next = path[0];
  if (next !== undefined && (typeof next === 'string' ? !next.startsWith('/') && !next.startsWith('?') : next.variable !== 'request_uri' && next.variable !== 'uri')) {
    return { invalid: 'the host part must be literal text, followed by a path, "$request_uri" or "$uri"' };
  }
  try {
    new URL(origin);
  } catch {
    return { invalid: `"${origin}" is not a valid origin` };
  }
  return { origin, path: Object.freeze(path.length === 0 ? [Object.freeze({ variable: 'request_uri' as const })] : path) };
}

/** The Ingress's mirror, or undefined when it has none (or an unusable one, reported). */
export function readMirrorOptions(annotations: Record<string, unknown>, report: AliasReport): Mirror | undefined {
  const target = readAliased(annotations, 'mirror-target', report);
  const host = readAliased(annotations, 'mirror-host', report);
  const body = readAliased(annotations, 'mirror-request-body', report);
  if (target === undefined) {
    if (host !== undefined || body !== undefined) report('InvalidAnnotation', `${[host, body].filter((f) => f !== undefined).map((f) => `"${f![0]}"`).join(' and ')} ha${host !== undefined && body !== undefined ? 've' : 's'} no effect without mirror-target; nothing is mirrored`);
    return undefined;
  }
  const parsed = typeof target[1] === 'string' ? parseMirrorTarget(target[1]) : { invalid: `it is ${describe(target[1])}` };
  if ('invalid' in parsed) {
    report('InvalidAnnotation', `Annotation "${target[0]}" has the value ${describe(target[1])}, which is not valid: ${parsed.invalid}. Requests are not mirrored`);
    return undefined;
  }
  let hostHeader = new URL(parsed.origin).hostname;
  if (host !== undefined) {
    const v = typeof host[1] === 'string' ? host[1].trim() : '';
    if (HOST.test(v)) hostHeader = v;
    else report('InvalidAnnotation', `Annotation "${host[0]}" has the value ${describe(host[1])}, which is not a host name; the copies carry Host "${hostHeader}"`);
  }
  let withBody = true;
  if (body !== undefined) {
    const v = typeof body[1] === 'string' ? body[1].trim() : '';
    if (v === 'off') withBody = false;
    else if (v !== 'on') report('InvalidAnnotation', `Annotation "${body[0]}" has the value ${describe(body[1])}, which is not "on" or "off"; bodies are mirrored`);
  }
  return Object.freeze({ origin: parsed.origin, path: parsed.path, host: hostHeader, body: withBody });
}
