// URL rewrite (ingress-nginx rewrite-target): the upstream path becomes the route's target
// with `$n` filled from the route's regex match on the request path, as nginx's
// `rewrite "(?i)<path>" <target> break` does. nginx's argument rule is kept: the original
// query string follows the new path, after `&` when the target has arguments of its own, and
// is dropped when the target ends with `?`.

import type { PathRewrite, UserRegex } from '../../model/types.ts';

/**
 * The new request target (path and query) for `path` (the request path, no query) and
 * `url` (the request target as received), or null when the regex does not match (then the
 * target is left alone; the route matched by the same regex, so this does not happen).
 */
export function rewriteUrl(rewrite: PathRewrite, regex: UserRegex, path: string, url: string): string | null {
  const m = regex.re.matcher(path);
  if (!m.find()) return null;
  let target = '';
  for (const part of rewrite.template) target += typeof part === 'number' ? (m.group(part) ?? '') : part;
  const q = url.indexOf('?');
  const query = q === -1 ? '' : url.slice(q + 1);
  if (target.endsWith('?')) return target.slice(0, -1) === '' ? '/' : target.slice(0, -1);
  if (target === '' || target.charCodeAt(0) !== 47 /* / */) target = '/' + target;
  if (query === '') return target;
  return target + (target.includes('?') ? '&' : '?') + query;
}
