// ingress-nginx's annotations that edit the upstream's response headers, read under
// `portico.dev/<name>` or, in its absence, `nginx.ingress.kubernetes.io/<name>`:
//   proxy-redirect-from, proxy-redirect-to   nginx's `proxy_redirect from to`: a Location (or
//                                            the URL of a Refresh) that starts with `from` gets
//                                            `to` instead of that start; "off" or "default" in
//                                            -from (ingress-nginx's default "off") leave them
//                                            as sent (ingress-nginx's proxy_pass has no URI, so
//                                            nginx's default replacement never matches);
//   proxy-cookie-path "FROM TO"              nginx's `proxy_cookie_path`: a Set-Cookie Path
//                                            attribute that starts with FROM gets TO instead;
//   proxy-cookie-domain "FROM TO"            nginx's `proxy_cookie_domain`: a Set-Cookie Domain
//                                            equal to FROM (case-insensitively, a leading dot
//                                            kept) becomes TO.
// Values are plain text (nginx variables and regexes are not interpreted: refused with a
// problem). Only upstream responses are edited, never Portico's own answers.

import { porticoNames, readAliased, type AliasReport } from './aliased.ts';
import { describe } from './read.ts';
import type { ResponseRewrite, TextReplacement } from './types.ts';

export const RESPONSE_REWRITE_OPTION_NAMES = ['proxy-redirect-from', 'proxy-redirect-to', 'proxy-cookie-path', 'proxy-cookie-domain'] as const;
export const RESPONSE_REWRITE_OPTION_ANNOTATIONS: readonly string[] = porticoNames(RESPONSE_REWRITE_OPTION_NAMES);

// ingress-nginx validates with URLIsValidRegex / its cookie-domain class: URL characters, no
// spaces; `$` (nginx variables) and `~` at the start (an nginx regex) are refused here
const URL_TEXT = /^[A-Za-z0-9\-._~:/?#[\]@!&'()*+,;=%]{1,1024}$/;
const DOMAIN_TEXT = /^[A-Za-z0-9\-._~/:]{1,253}$/;

function invalid(report: AliasReport, key: string, raw: unknown, accepted: string, fallback: string): void {
  report('InvalidAnnotation', `Annotation "${key}" has the value ${describe(raw)}, which is not valid; accepted values are ${accepted}. ${fallback}`);
}

/** Plain text nginx would take literally (no variable, no regex). */
function literal(text: string, shape: RegExp): boolean {
  return shape.test(text) && !text.startsWith('~');
}

/** "FROM TO" (two words) or "off"; null for "off", undefined when invalid. */
function pair(raw: string, shape: RegExp): TextReplacement | null | undefined {
  const v = raw.trim();
  if (v === 'off') return null;
  const words = v.split(/\s+/);
  if (words.length !== 2 || !literal(words[0]!, shape) || !literal(words[1]!, shape)) return undefined;
  return Object.freeze({ from: words[0]!, to: words[1]! });
}

/** The response header edits an Ingress's annotations ask for, or undefined for none. */
export function readResponseRewriteOptions(annotations: Record<string, unknown>, report: AliasReport): ResponseRewrite | undefined {
  const out: { redirect?: TextReplacement; cookiePath?: TextReplacement; cookieDomain?: TextReplacement } = {};
  const from = readAliased(annotations, 'proxy-redirect-from', report);
  const to = readAliased(annotations, 'proxy-redirect-to', report);
  if (from !== undefined) {
    const f = typeof from[1] === 'string' ? from[1].trim() : undefined;
    if (f === 'off' || f === 'default') {
      // nginx: proxy_redirect off|default; proxy-redirect-to is not used
    } else if (f === undefined || !literal(f, URL_TEXT)) {
      invalid(report, from[0], from[1], '"off", "default", or the start of a Location to replace, without spaces or nginx variables ("http://app.internal/")', 'Location headers are passed on as sent.');
    } else if (to === undefined) {
      report('InvalidAnnotation', `Annotation "${from[0]}" needs proxy-redirect-to (its replacement); Location headers are passed on as sent`);
    } else {
      const t = typeof to[1] === 'string' ? to[1].trim() : undefined;
      if (t === 'off') {
        // ingress-nginx renders no proxy_redirect when -to is "off"
      } else if (t === undefined || !literal(t, URL_TEXT)) {
        invalid(report, to[0], to[1], 'the replacement text, without spaces or nginx variables ("https://app.example.com/")', 'Location headers are passed on as sent.');
      } else out.redirect = Object.freeze({ from: f, to: t });
    }
  }
  const path = readAliased(annotations, 'proxy-cookie-path', report);
  if (path !== undefined) {
    const p = typeof path[1] === 'string' ? pair(path[1], URL_TEXT) : undefined;
    if (p === undefined) invalid(report, path[0], path[1], '"off" or two paths "FROM TO" ("/one/ /")', 'Set-Cookie paths are passed on as sent.');
    else if (p !== null) out.cookiePath = p;
  }
  const domain = readAliased(annotations, 'proxy-cookie-domain', report);
  if (domain !== undefined) {
    const d = typeof domain[1] === 'string' ? pair(domain[1], DOMAIN_TEXT) : undefined;
    if (d === undefined) invalid(report, domain[0], domain[1], '"off" or two domains "FROM TO" ("localhost example.org")', 'Set-Cookie domains are passed on as sent.');
    else if (d !== null) out.cookieDomain = d;
  }
  return out.redirect === undefined && out.cookiePath === undefined && out.cookieDomain === undefined ? undefined : Object.freeze(out);
}
