// Request predicates of a rule: besides its path, a rule may ask for a method, header values
// and query parameter values (Gateway API HTTPRouteMatch; no Ingress annotation makes them).
// All of a rule's predicates must hold (AND). Several rules may share a path key
// (path-table.ts): they are tried in precedence order, the first whose predicates hold wins,
// and when none holds the lookup goes on with the next shorter path, as if the key had no
// rule (Gateway API: every match competes, the longest path first).
//
// Semantics, where Gateway API leaves a choice:
// - header names are case-insensitive, values compared exactly (case-sensitive) or by a regex
//   on the linear-time engine (regex.ts, unanchored: it must match somewhere in the value,
//   write ^...$ for the whole value). A header sent on several lines is compared as its
//   values joined with ", " (RFC 9110 §5.3; Node's req.headers joins so too, Envoy with
//   ","). HTTP/2 pseudo-headers (':authority', ...) are never headers here.
// - query parameter names are compared exactly (case-sensitive); a name or value with a '%'
//   is percent-decoded first ('+' stays '+'; a malformed escape is compared as sent). A
//   parameter repeated in the query: its first value counts (Gateway API leaves repeats to
//   the implementation and recommends the first). `?a` has the value ''.
// - a request given without method, headers or query (explain without them, tests) has none:
//   a method predicate then fails, as does any header or query predicate.
// Evaluating allocates nothing, except to join a repeated header or decode an escaped query.

import type { UserRegex } from './regex.ts';

/** A header or query parameter value: exactly this text, or a regex that must match in it. */
export type ValueMatch = { readonly name: string; readonly value: string } | { readonly name: string; readonly regex: UserRegex };

export interface RoutePredicates {
  /** Upper case (as Node hands methods over), or null: any method. */
  readonly method: string | null;
  /** Lower-case names, each at most once; all must hold. */
  readonly headers: readonly ValueMatch[];
  /** Names as written, each at most once; all must hold. */
  readonly query: readonly ValueMatch[];
}

/** What a lookup may know of a request besides host and path. Node's request heads fit as they are. */
export interface MatchRequest {
  /** As received (Node upper-cases the methods it knows). */
  readonly method: string;
  /** The request target with its query as sent (only what follows '?' is read). */
  readonly url: string;
  /** The header lines as received, flat `[name, value, ...]`, names in any case (Node's rawHeaders). */
  readonly rawHeaders: readonly string[];
}

/** A request with no method, headers or query: what predicates see when none is given. */
export const NO_REQUEST: MatchRequest = Object.freeze({ method: '', url: '', rawHeaders: Object.freeze([]) as readonly string[] });

/**
 * Frozen, normalised predicates: method upper-cased; header names lower-cased; of several
 * entries with the same (header: case-insensitive) name only the first is kept, as Gateway API
 * requires. Returns undefined when nothing is asked (then the route carries none).
 */
export function routePredicates(init: { method?: string | null; headers?: readonly ValueMatch[]; query?: readonly ValueMatch[] }): RoutePredicates | undefined {
  const method = init.method === undefined || init.method === null || init.method === '' ? null : init.method.toUpperCase();
  const headers = firstOfEachName(init.headers ?? [], true);
  const query = firstOfEachName(init.query ?? [], false);
  if (method === null && headers.length === 0 && query.length === 0) return undefined;
  return Object.freeze({ method, headers, query });
}

function firstOfEachName(list: readonly ValueMatch[], lower: boolean): readonly ValueMatch[] {
  const out: ValueMatch[] = [];
  const seen = new Set<string>();
  for (const m of list) {
    const name = lower ? m.name.toLowerCase() : m.name;
    if (seen.has(name)) continue;
    seen.add(name);
    out.push(Object.freeze('regex' in m ? { name, regex: m.regex } : { name, value: m.value }));
  }
  return Object.freeze(out);
}

/** Whether two routes' predicates ask for the same (then the later route can never match). */
export function samePredicates(a: RoutePredicates | undefined, b: RoutePredicates | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  return a.method === b.method && sameMatches(a.headers, b.headers) && sameMatches(a.query, b.query);
}

function sameMatches(a: readonly ValueMatch[], b: readonly ValueMatch[]): boolean {
  if (a.length !== b.length) return false;
  // order does not matter (all must hold); names are unique in each list
  for (const m of a) {
    const o = b.find((x) => x.name === m.name);
    if (o === undefined) return false;
    if ('regex' in m) {
      if (!('regex' in o) || o.regex.source !== m.regex.source || o.regex.toJSON() !== m.regex.toJSON()) return false;
    } else if ('regex' in o || o.value !== m.value) return false;
  }
  return true;
}

/**
 * Gateway API precedence among rules of the same path: a method match first, then more header
 * matches, then more query matches. Negative: `a` comes first; 0: a tie (their order decides).
 */
export function comparePredicates(a: RoutePredicates | undefined, b: RoutePredicates | undefined): number {
  const am = a !== undefined && a.method !== null ? 1 : 0;
  const bm = b !== undefined && b.method !== null ? 1 : 0;
  if (am !== bm) return bm - am;
  const ah = a === undefined ? 0 : a.headers.length;
  const bh = b === undefined ? 0 : b.headers.length;
  if (ah !== bh) return bh - ah;
  return (b === undefined ? 0 : b.query.length) - (a === undefined ? 0 : a.query.length);
}

/** Whether `req` satisfies every predicate. */
export function predicatesHold(p: RoutePredicates, req: MatchRequest): boolean {
  if (p.method !== null && req.method !== p.method) return false;
  const headers = p.headers;
  for (let i = 0; i < headers.length; i++) {
    const m = headers[i] as ValueMatch;
    const v = headerValue(req.rawHeaders, m.name);
    if (v === null || !valueHolds(m, v)) return false;
  }
  const query = p.query;
  if (query.length > 0) {
    const url = req.url;
    const q = url.indexOf('?');
    if (q === -1) return false;
    for (let i = 0; i < query.length; i++) if (!queryHolds(url, q + 1, query[i] as ValueMatch)) return false;
  }
  return true;
}

function valueHolds(m: ValueMatch, v: string): boolean {
  return 'regex' in m ? m.regex.test(v) : v === m.value;
}

/** Header `name` (lower case) of raw header lines, its lines joined with ", "; null when absent. */
export function headerValue(raw: readonly string[], name: string): string | null {
  let out: string | null = null;
  const len = name.length;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i] as string;
    if (n.length !== len || !equalsLower(n, name)) continue;
    const v = raw[i + 1] as string;
    out = out === null ? v : out + ', ' + v;
  }
  return out;
}

/** `n` equals the lower-case `name` ignoring ASCII case, without allocating. */
function equalsLower(n: string, name: string): boolean {
  for (let i = 0; i < n.length; i++) {
    let c = n.charCodeAt(i);
    if (c >= 65 && c <= 90) c |= 32;
    if (c !== name.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * Whether the first value of query parameter `m.name` in `url`'s query (from `start`, after
 * '?'; a '#' ends it) satisfies `m`. Compared in place unless a '%' asks for decoding.
 */
export function queryHolds(url: string, start: number, m: ValueMatch): boolean {
  const hash = url.indexOf('#', start);
  const end = hash === -1 ? url.length : hash;
  const pct = url.indexOf('%', start);
  const escaped = pct !== -1 && pct < end;
  const name = m.name;
  let i = start;
  while (i <= end) {
    let amp = url.indexOf('&', i);
    if (amp === -1 || amp > end) amp = end;
    let eq = url.indexOf('=', i);
    if (eq === -1 || eq > amp) eq = amp;
    const named = escaped ? decoded(url, i, eq) === name : eq - i === name.length && url.startsWith(name, i);
    if (named) {
      const from = eq === amp ? amp : eq + 1;
      if (!('regex' in m) && !escaped) return amp - from === m.value.length && url.startsWith(m.value, from);
      const v = decoded(url, from, amp);
      return 'regex' in m ? m.regex.test(v) : v === m.value;
    }
    i = amp + 1;
  }
  return false;
}

/** `url`'s text [from, to), percent-decoded when it has a '%' (as sent when malformed). */
function decoded(url: string, from: number, to: number): string {
  const text = url.slice(from, to);
  if (text.indexOf('%') === -1) return text;
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** The predicates in words, for explain and /debug/routes: `method GET, header x-env: canary`. */
export function describePredicates(p: RoutePredicates): string {
  const parts: string[] = [];
  if (p.method !== null) parts.push(`method ${p.method}`);
  for (const m of p.headers) parts.push('regex' in m ? `header ${m.name} ~ ${m.regex.source}` : `header ${m.name}: ${m.value}`);
  for (const m of p.query) parts.push('regex' in m ? `query ${m.name} ~ ${m.regex.source}` : `query ${m.name}=${m.value}`);
  return parts.join(', ');
}
