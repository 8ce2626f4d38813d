// Cross-origin resource sharing as ingress-nginx renders it (enable-cors, cors-*):
//
// - The request's Origin is allowed when the policy allows every origin (`*`) or the Origin
//   matches one of its patterns: case-insensitive, whole string, port included, and
//   `scheme://*.domain` standing for exactly one DNS label before `.domain`.
// - Allowed: Access-Control-Allow-Origin (the Origin as sent, or `*` for a `*` policy, which
//   ingress-nginx sends even without an Origin header), Allow-Credentials (when on) and
//   Expose-Headers (when set) go on the response, replacing the backend's own headers of those
//   names as nginx's more_set_headers does, and on Portico's own answers (a later 401 or 403
//   too, so a browser can read it). Allow-Methods, Allow-Headers and Max-Age go on preflight
//   answers only: ingress-nginx sends them on every response, but browsers read them only in a
//   preflight (Fetch standard), and each header costs every response its validation. An echoed
//   Origin adds `Vary: Origin`, so caches do not serve one origin's answer to another.
// - An allowed OPTIONS request is answered 204 by Portico with those headers and never
//   reaches the backend (nginx's `return 204` in the same phase). This stage runs before the
//   access stages, as nginx's rewrite phase runs before its access phase: a preflight carries
//   no credentials, so authentication must not refuse it.
// - A request from an origin that is not allowed goes on without CORS headers; the browser
//   then withholds the response from the page (the server-side answer is unchanged).

import type { CorsPolicy } from '../../model/types.ts';
import { addAnswerHeaders, addResponseHeaders, type PlanHead, type Stage } from '../plan.ts';

/** A compiled origin pattern. */
interface OriginPattern {
  /** Lower-case text before the wildcard label (`https://`), or the whole origin without one. */
  readonly head: string;
  /** Lower-case text after the wildcard label (`.example.com:8443`); null: no wildcard. */
  readonly tail: string | null;
}

function compile(pattern: string): OriginPattern {
  const p = pattern.toLowerCase();
  const star = p.indexOf('://*.');
  if (star < 0) return { head: p, tail: null };
  return { head: p.slice(0, star + 3), tail: p.slice(star + 4) };
}

function isLabelChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45; // a-z 0-9 -
}

function matches(p: OriginPattern, origin: string): boolean {
  if (p.tail === null) return origin === p.head;
  const mid = origin.length - p.tail.length;
  if (mid <= p.head.length || !origin.startsWith(p.head) || !origin.endsWith(p.tail)) return false;
  for (let i = p.head.length; i < mid; i++) if (!isLabelChar(origin.charCodeAt(i))) return false;
  return true;
}

/** The request's Origin header, or null. */
function originOf(headers: readonly string[]): string | null {
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (name.length === 6 && name.toLowerCase() === 'origin') return headers[i + 1]!;
  }
  return null;
}

/** The CORS stage of a route with a CORS policy. */
export function corsStage(policy: CorsPolicy): Stage {
  // the headers that do not depend on the request, made once per route: a preflight answer
  // gets them all; an actual response only those the Fetch standard reads there (origin,
  // credentials, exposed headers): browsers ignore the others outside a preflight, and each
  // header costs the proxy its validation and serialisation per response
  const actual: string[] = [];
  if (policy.credentials) actual.push('access-control-allow-credentials', 'true');
  if (policy.expose !== '') actual.push('access-control-expose-headers', policy.expose);
  const preflight = [...actual, 'access-control-allow-methods', policy.methods, 'access-control-allow-headers', policy.headers, 'access-control-max-age', String(policy.maxAge)];
  const any = policy.origins === '*';
  const anyActual = Object.freeze(['access-control-allow-origin', '*', ...actual]);
  const anyPreflight = Object.freeze(['access-control-allow-origin', '*', ...preflight]);
  const patterns = any ? [] : (policy.origins as readonly string[]).map(compile);

  return (head: PlanHead): number => {
    const isPreflight = head.method === 'OPTIONS';
    let headers: readonly string[];
    if (any) headers = isPreflight ? anyPreflight : anyActual;
    else {
      const origin = originOf(head.headers);
      if (origin === null) return 0;
      const o = origin.toLowerCase();
      let ok = false;
      for (const p of patterns) {
        if (matches(p, o)) {
          ok = true;
          break;
        }
      }
      if (!ok) return 0;
      headers = ['access-control-allow-origin', origin, ...(isPreflight ? preflight : actual), 'vary', 'Origin'];
    }
    if (isPreflight) {
      addAnswerHeaders(head, ...headers);
      return 204;
    }
    addResponseHeaders(head, ...headers);
    return 0;
  };
}
