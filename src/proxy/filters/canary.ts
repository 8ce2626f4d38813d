// Which backend a rule with a canary sends a request to (ingress-nginx canary): the header
// rule, then the cookie rule, then the weight. Runs only for rules that have a canary.

import type { Backend, Canary } from '../../model/types.ts';

/** The value of header `name` (lower case) in a flat [name, value, ...] list, or null. */
function headerValue(headers: readonly string[], name: string): string | null {
  for (let i = 0; i < headers.length; i += 2) {
    const n = headers[i]!;
    if (n.length === name.length && n.toLowerCase() === name) return headers[i + 1]!;
  }
  return null;
}

/** The value of cookie `name` in the request's Cookie headers, or null. */
function cookieValue(headers: readonly string[], name: string): string | null {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.length !== 6 || headers[i]!.toLowerCase() !== 'cookie') continue;
    for (const part of headers[i + 1]!.split(';')) {
      const eq = part.indexOf('=');
      if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
    }
  }
  return null;
}

/**
 * true: the canary; false: the primary. `random` is in [0, 1) (injected for tests).
 */
export function routeToCanary(canary: Canary, headers: readonly string[], random: number): boolean {
  if (canary.header !== '') {
    const v = headerValue(headers, canary.header);
    if (v !== null) {
      if (canary.headerValue !== '') {
        if (v === canary.headerValue) return true;
      } else if (canary.headerPattern !== null) {
        if (canary.headerPattern.test(v)) return true;
      } else if (v === 'always') return true;
      else if (v === 'never') return false;
    }
  }
  if (canary.cookie !== '') {
    const v = cookieValue(headers, canary.cookie);
    if (v === 'always') return true;
    if (v === 'never') return false;
  }
  return canary.weight > 0 && random * canary.weightTotal < canary.weight;
}

/** The backend for this request: the rule's own, or its canary's. */
export function chooseBackend(primary: Backend, canary: Canary, headers: readonly string[]): Backend {
  return routeToCanary(canary, headers, Math.random()) ? canary.backend : primary;
}
