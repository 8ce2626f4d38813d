// Edits of an upstream response's headers a route asks for (model/response-rewrite-options.ts):
// nginx's proxy_redirect on Location and the URL of Refresh, proxy_cookie_path and
// proxy_cookie_domain on each Set-Cookie's Path and Domain attributes. Applied to the flat
// header list (lower-case names) before it is written; only routes with a ResponseRewrite pay.

import type { ResponseRewrite, TextReplacement } from '../../model/types.ts';

/** Applies `rw` to a response's flat header list, in place. */
export function rewriteResponseHeaders(headers: string[], rw: ResponseRewrite): void {
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    const value = headers[i + 1]!;
    if (name === 'set-cookie') {
      if (rw.cookiePath !== undefined || rw.cookieDomain !== undefined) headers[i + 1] = rewriteSetCookie(value, rw);
    } else if (rw.redirect !== undefined) {
      if (name === 'location') headers[i + 1] = replaceStart(value, rw.redirect);
      else if (name === 'refresh') headers[i + 1] = rewriteRefresh(value, rw.redirect);
    }
  }
}

/** `value` with `r.from` at its start replaced by `r.to` (case-sensitive, as nginx compares). */
function replaceStart(value: string, r: TextReplacement): string {
  return value.startsWith(r.from) ? r.to + value.slice(r.from.length) : value;
}

/** Refresh: `5; url=http://...`: the URL after `url=` (any case) is rewritten as a Location. */
function rewriteRefresh(value: string, r: TextReplacement): string {
  const at = value.toLowerCase().indexOf('url=');
  if (at < 0) return value;
  const start = at + 4;
  return value.slice(0, start) + replaceStart(value.slice(start), r);
}

/** One Set-Cookie value with its Path and Domain attributes rewritten. */
export function rewriteSetCookie(cookie: string, rw: ResponseRewrite): string {
  const parts = cookie.split(';');
  let changed = false;
  // parts[0] is name=value; attributes follow
  for (let i = 1; i < parts.length; i++) {
    const part = parts[i]!;
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const attr = part.slice(0, eq).trim().toLowerCase();
    const lead = part.slice(0, eq + 1);
    const value = part.slice(eq + 1);
    if (attr === 'path' && rw.cookiePath !== undefined) {
      const v = replaceStart(value.trimStart(), rw.cookiePath);
      if (v !== value.trimStart()) {
        parts[i] = lead + value.slice(0, value.length - value.trimStart().length) + v;
        changed = true;
      }
    } else if (attr === 'domain' && rw.cookieDomain !== undefined) {
      const raw = value.trim();
      const dot = raw.startsWith('.') ? '.' : '';
      if (raw.slice(dot.length).toLowerCase() === rw.cookieDomain.from.toLowerCase()) {
        parts[i] = lead + dot + rw.cookieDomain.to;
        changed = true;
      }
    }
  }
  return changed ? parts.join(';') : cookie;
}
