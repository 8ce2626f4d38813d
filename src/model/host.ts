// Hosts, twice: rule hosts are validated once per translation (Kubernetes' own rules, so an
// object the API server accepted is never refused here), request hosts are normalised once
// per request (so that function avoids regexes and allocations on the common path).

import type { Invalid } from './read.ts';

/** DNS-1123 subdomain, as Kubernetes validates Ingress hosts (lower case, max 253). */
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const IPV4 = /^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$/;
const MAX_HOST = 253;

/**
 * A rule's host, lower-cased and validated: '' (no host: every request), a DNS name, or
 * `*.` + DNS name where the wildcard is the whole first label and stands for exactly one label.
 */
export function parseRuleHost(raw: unknown): string | Invalid {
  if (raw === undefined || raw === null || raw === '') return '';
  if (typeof raw !== 'string') {
    return { invalid: `host must be a string such as "www.example.com", not ${typeof raw}` };
  }
  const host = raw.toLowerCase();
  if (host.includes(':')) {
    return { invalid: `host ${JSON.stringify(raw)} must not contain a port or be an IPv6 address; use a DNS name such as "www.example.com"` };
  }
  const wildcard = host.startsWith('*.');
  const name = wildcard ? host.slice(2) : host;
  if (host.length > MAX_HOST) {
    return { invalid: `host ${JSON.stringify(raw)} is longer than ${MAX_HOST} characters` };
  }
  if (!SUBDOMAIN.test(name)) {
    const why = name.includes('*')
      ? 'a wildcard is allowed only as the whole first label, as in "*.example.com"'
      : 'it must be a DNS name made of labels of letters, digits and "-", separated by "." (no trailing dot)';
    return { invalid: `host ${JSON.stringify(raw)} is not valid: ${why}` };
  }
  if (!wildcard && IPV4.test(name)) {
    return { invalid: `host ${JSON.stringify(raw)} is an IP address; Ingress hosts must be DNS names (omit the host to match every request)` };
  }
  return host;
}

export function isWildcardHost(host: string): boolean {
  return host.charCodeAt(0) === 42 /* * */ && host.charCodeAt(1) === 46 /* . */;
}

/**
 * The Host header as the route table keys it: without `:port` (also after `[v6]`), without one
 * trailing dot, ASCII letters lower-cased. Returns `raw` itself when it is already in that
 * form, which is the usual case, so most requests allocate nothing here. Non-ASCII letters are
 * left alone: rule hosts are ASCII, and Unicode case folding must not turn a foreign letter
 * into one of theirs (the Kelvin sign lower-cases to 'k').
 */
export function normalizeRequestHost(raw: string): string {
  const len = raw.length;
  let end = len;
  let lower = true;
  let ascii = true;
  // IPv6 literal: its ':'s are not a port; the port, if any, follows the closing bracket.
  const v6 = len > 0 && raw.charCodeAt(0) === 91; /* [ */
  if (v6) {
    const close = raw.indexOf(']');
    if (close >= 0) end = close + 1;
  }
  for (let i = 0; i < end; i++) {
    const c = raw.charCodeAt(i);
    if (c === 58 /* : */ && !v6) {
      end = i;
      break;
    }
    if (c >= 65 && c <= 90) lower = false;
    else if (c > 127) ascii = false;
  }
  if (end > 0 && raw.charCodeAt(end - 1) === 46 /* . */) end--;
  const host = end === len ? raw : raw.slice(0, end);
  if (lower) return host;
  return ascii ? host.toLowerCase() : host.replace(/[A-Z]+/g, (s) => s.toLowerCase());
}
