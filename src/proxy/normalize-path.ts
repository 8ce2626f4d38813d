// The request path routing sees, and the one that goes upstream: RFC 3986 §6.2.2 syntax-based
// normalisation, as nginx does before it matches locations.
//
//   1. %XX of an unreserved character (ALPHA DIGIT - . _ ~) is decoded (`%61dmin` → `admin`,
//      `%2e%2e` → `..`); every other escape stays exactly as sent, so `%2F` is never a
//      separator and `%25` never becomes a new escape.
//   2. Repeated slashes are merged (nginx merge_slashes on, its default).
//   3. Dot segments are removed (RFC 3986 §5.2.4): `/public/../admin` → `/admin`; `..` never
//      climbs above the root.
// `\` is an ordinary character (not a separator), as in RFC 3986.
//
// A dot segment with path parameters (`..;`, `.;x`, also as `%2e%2e;`) has no normal form:
// servlet containers (Tomcat, Jetty) drop `;...` before resolving dot segments, so
// `/public/..;/admin` is `/admin` to them while RFC 3986 sees a segment named `..;`. Such a
// request is refused (normalisePath answers null, the proxy 400) rather than guessed at.
//
// Routing on the raw text let `/public/../admin` match the `/public` rule while the upstream
// (which resolves dot segments) served `/admin`, a rule that may belong to someone else or be
// protected. The normalised path is therefore both matched and forwarded: the upstream
// receives what was routed (see README "Routing").
//
// Most paths need nothing: `needsNormalising` is one allocation-free pass that only looks for
// '%', '//' and `.`/`..` segments; `normalisePath` runs only when it says so.

/** True when `path` (no query) has a '%', an empty segment, or a segment `.` / `..` (alone or before ';'). */
export function needsNormalising(path: string): boolean {
  const n = path.length;
  for (let i = 0; i < n; i++) {
    const c = path.charCodeAt(i);
    if (c === 37 /* % */) return true;
    if (c !== 47 /* / */) continue;
    if (i + 1 >= n) return false;
    const c1 = path.charCodeAt(i + 1);
    if (c1 === 47) return true;
    if (c1 !== 46 /* . */) continue;
    // "/." followed by end or '/', or "/.." followed by end or '/'
    if (i + 2 >= n) return true;
    const c2 = path.charCodeAt(i + 2);
    if (c2 === 47 || c2 === 59 /* ; */) return true;
    if (c2 === 46) {
      if (i + 3 >= n) return true;
      const c3 = path.charCodeAt(i + 3);
      if (c3 === 47 || c3 === 59) return true;
    }
  }
  return false;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

function isUnreserved(c: number): boolean {
  return (
    (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 95 || c === 126
  );
}

/** Decodes %XX of unreserved characters only; the rest of the text is kept as it is. */
export function decodeUnreserved(path: string): string {
  let i = path.indexOf('%');
  if (i === -1) return path;
  let out = '';
  let from = 0;
  for (; i !== -1 && i + 2 < path.length; i = path.indexOf('%', i + 1)) {
    const hi = hexValue(path.charCodeAt(i + 1));
    const lo = hexValue(path.charCodeAt(i + 2));
    if (hi < 0 || lo < 0) continue;
    const c = hi * 16 + lo;
    if (!isUnreserved(c)) continue;
    out += path.slice(from, i) + String.fromCharCode(c);
    from = i + 3;
    i += 2;
  }
  return from === 0 ? path : out + path.slice(from);
}

/**
 * The normalised form of an origin-form path (no query), or null when a segment is a dot
 * segment with parameters (`..;`), which cannot be normalised safely. Paths that do not
 * start with '/' are returned unchanged (the caller has refused or converted other forms).
 */
export function normalisePath(path: string): string | null {
  if (path.charCodeAt(0) !== 47 /* / */) return path;
  const decoded = decodeUnreserved(path);
  const segs = decoded.split('/');
  const out: string[] = [];
  let trailing = false;
  // segs[0] is the empty text before the leading '/'
  for (let i = 1; i < segs.length; i++) {
    const s = segs[i]!;
    const last = i === segs.length - 1;
    if (s === '' || s === '.') {
      if (last) trailing = true;
      continue;
    }
    if (s === '..') {
      out.pop();
      if (last) trailing = true;
      continue;
    }
    if (s.charCodeAt(0) === 46 && (s.startsWith('.;') || s.startsWith('..;'))) return null;
    out.push(s);
  }
  if (out.length === 0) return '/';
  const joined = '/' + out.join('/');
  return trailing ? joined + '/' : joined;
}
