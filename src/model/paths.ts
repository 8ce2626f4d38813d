// Rule paths and path types: validation (the API server's rules, so files are held to the
// same standard as kubectl apply) and the key each path is matched under.
//
// Matching model (route-table.ts): Exact paths are looked up as written. Prefix paths (and
// ImplementationSpecific, which Portico treats as Prefix) are looked up by their "prefix key":
// the path without trailing slashes, so '/foo/' and '/foo' both mean the element list [foo]
// and '/' means the empty list (matches everything). A request path matches a prefix key when
// the key equals the request path up to a '/' boundary or its end.

import type { PathType } from './types.ts';
import { describe, type Invalid } from './read.ts';


/**
 * The path type; a missing one is read as ImplementationSpecific (the API requires the field,
 * but controllers have always been lenient here, and for Portico it behaves as Prefix).
 */
export function parsePathType(raw: unknown): PathType | Invalid {
  if (raw === undefined || raw === null || raw === '') return 'ImplementationSpecific';
  if (raw === 'Exact' || raw === 'Prefix' || raw === 'ImplementationSpecific') return raw;
  return { invalid: `pathType ${describe(raw)} is not valid; use "Exact", "Prefix" or "ImplementationSpecific"` };
}

// Sequences the API server refuses in Exact and Prefix paths (networking/validation): they
// could never match a normalised request path, so accepting them would only hide a mistake.
//   contains: "//", "/./", "/../", "%2f", "%2F"      ends with: "/..", "/."
/** The refused sequence `path` contains, or undefined. One scan, no allocation. */
function invalidSequence(path: string): string | undefined {
  const len = path.length;
  for (let i = 0; i < len; i++) {
    const c = path.charCodeAt(i);
    if (c === 37 /* % */) {
      if (path.charCodeAt(i + 1) === 50 /* 2 */ && (path.charCodeAt(i + 2) | 32) === 102 /* f */) return path.slice(i, i + 3);
    } else if (c === 47 /* / */) {
      const next = path.charCodeAt(i + 1);
      if (next === 47) return '//';
      if (next !== 46 /* . */) continue;
      const after = path.charCodeAt(i + 2);
      if (after === 47) return '/./';
      if (i + 2 === len) return '/.';
      if (after === 46 && path.charCodeAt(i + 3) === 47) return '/../';
      if (after === 46 && i + 3 === len) return '/..';
    }
  }
  return undefined;
}

/** The rule path: '/' when absent; must start with '/'. */
export function parsePath(raw: unknown, pathType: PathType): string | Invalid {
  if (raw === undefined || raw === null || raw === '') return '/';
  if (typeof raw !== 'string') return { invalid: `path must be a string starting with "/", not ${describe(raw)}` };
  if (raw.charCodeAt(0) !== 47 /* / */) return { invalid: `path ${describe(raw)} must start with "/"` };
  if (pathType !== 'ImplementationSpecific') {
    const bad = invalidSequence(raw);
    if (bad !== undefined) {
      const where = bad === '/.' || bad === '/..' ? 'end with' : 'contain';
      return { invalid: `path ${describe(raw)} must not ${where} "${bad}" (pathType ${pathType})` };
    }
  }
  return raw;
}

/** Whether the path type matches by element-wise prefix (everything but Exact, for now). */
export function isPrefixType(pathType: PathType): boolean {
  return pathType !== 'Exact';
}

/** The key a Prefix path is stored under: trailing slashes removed, so '/' becomes ''. */
export function prefixKey(path: string): string {
  let end = path.length;
  while (end > 0 && path.charCodeAt(end - 1) === 47 /* / */) end--;
  return end === path.length ? path : path.slice(0, end);
}

/** The key a rule is matched (and de-duplicated) under, whatever its type. */
export function matchKey(path: string, pathType: PathType): string {
  return isPrefixType(pathType) ? prefixKey(path) : path;
}
