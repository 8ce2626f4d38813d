// ingress-nginx custom-headers: `<namespace>/<configmap>` whose data are response headers set
// on every response of the Ingress's rules (nginx's more_set_headers: each replaces the
// upstream's header of that name, on every status, Portico's own answers included). Read
// under `portico.dev/custom-headers` or, in its absence, `nginx.ingress.kubernetes.io/...`.
//
// As in ingress-nginx, a ConfigMap that cannot be used (missing, in another namespace, an
// invalid header name or value) denies the rules: every rule of the Ingress answers 503 with
// a problem, rather than serving responses without headers (often security headers) their
// owner asked for. Values are literal text: a `$` is sent as `$`, as ingress-nginx escapes it.
//
// ingress-nginx also requires every name to be listed in its ConfigMap key
// global-allowed-response-headers (default: none). Portico has no such list (see README):
// the headers cannot reach nginx configuration here, and the backend behind the rule can set
// any response header anyway; names that frame the message are refused instead.

import type { Snapshot } from '../store/store.ts';
import { porticoNames, readAliased } from './aliased.ts';
import { readConfigMapHeaders } from './configmap-headers.ts';
import type { ProblemReason } from './problems.ts';
import { describe, isDict } from './read.ts';
import type { ConfigMapHeaders, RouteAction } from './types.ts';

export const CUSTOM_HEADERS_OPTION_NAMES = ['custom-headers'] as const;

/** The group's `portico.dev/` names (known Portico annotations). */
export const CUSTOM_HEADERS_OPTION_ANNOTATIONS: readonly string[] = porticoNames(CUSTOM_HEADERS_OPTION_NAMES);

export const DENIED_CUSTOM_HEADERS: RouteAction = Object.freeze({ kind: 'direct', status: 503, body: 'service unavailable: this route\'s custom response headers are misconfigured' });

export interface CustomHeadersOptions {
  /** The headers every rule of the Ingress sets, when the annotation is set and usable. */
  readonly customHeaders?: ConfigMapHeaders;
  /** Non-null when the annotation is set but unusable: every rule answers this. */
  readonly denied: RouteAction | null;
}

const NONE: CustomHeadersOptions = Object.freeze({ denied: null });

export function readCustomHeadersOptions(annotations: unknown, snapshot: Snapshot, namespace: string, report: (reason: ProblemReason, message: string) => void): CustomHeadersOptions {
  if (!isDict(annotations)) return NONE;
  const found = readAliased(annotations, 'custom-headers', report);
  if (found === undefined) return NONE;
  const read = readConfigMapHeaders(found[1], snapshot, namespace, { allowEmpty: false, allowDollar: true });
  if ('invalid' in read) {
    report('ConfigMapInvalid', `Annotation "${found[0]}" has the value ${describe(found[1])}, which cannot be used: ${read.invalid}. Every rule of this Ingress answers 503 until it is fixed`);
    return Object.freeze({ denied: DENIED_CUSTOM_HEADERS });
  }
  if (read.headers.length === 0) return NONE;
  return Object.freeze({ customHeaders: read, denied: null });
}
