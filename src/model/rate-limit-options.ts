// The annotation group that limits how fast and how much at once one client address may use an
// Ingress's rules: limit-rps, limit-rpm, limit-burst-multiplier, limit-connections and
// limit-allowlist (older name limit-whitelist). Each name is read under `portico.dev/<name>`
// or, in its absence, `nginx.ingress.kubernetes.io/<name>` (aliased.ts).
//
// ingress-nginx semantics (its ratelimit parser and nginx.tmpl): every limit is per client
// address, per replica, and per Ingress (one nginx zone per Ingress, shared by all its
// rules); a rate's burst is the rate times the multiplier (default 5), excess requests are
// refused at once (`nodelay`) with --limit-req-status-code; limit-connections caps the
// requests in progress per address (--limit-conn-status-code). 0 means "no such limit".
//
// Invalid values. Limits protect capacity; they do not decide who may see a backend, so a
// bad value does not close the Ingress (ingress-nginx rejects the whole Ingress instead):
// an invalid limit is reported and ignored (that limit is off, the others apply); an invalid
// multiplier is reported and the default 5 is used; an invalid allowlist is reported and
// ignored, so the limits apply to every client (stricter, never more open).

import { parseSourceList } from './access-options.ts';
import { porticoNames, readAliased } from './aliased.ts';
import type { ProblemReason } from './problems.ts';
import { describe, isDict } from './read.ts';
import type { ObjectRef, RateLimit, RouteFilters } from './types.ts';

/** The group's names, without prefix (limit-whitelist is limit-allowlist's older name). */
export const RATE_LIMIT_OPTION_NAMES = ['limit-rps', 'limit-rpm', 'limit-burst-multiplier', 'limit-connections', 'limit-allowlist', 'limit-whitelist'] as const;

/** The group's `portico.dev/` names (known Portico annotations). */
export const RATE_LIMIT_OPTION_ANNOTATIONS: readonly string[] = porticoNames(RATE_LIMIT_OPTION_NAMES);

/** ingress-nginx's default burst multiplier. */
export const DEFAULT_BURST_MULTIPLIER = 5;
/** Largest value any limit annotation accepts (nginx keeps rates and counts in machine words). */
const MAX_VALUE = 2_147_483_647;

export type RateLimitReport = (reason: ProblemReason, message: string) => void;

const NONE: Pick<RouteFilters, 'rateLimit'> = Object.freeze({});

/**
 * A whole number as Go's strconv.Atoi reads ingress-nginx's integer annotations (an optional
 * `+`, decimal digits; surrounding spaces tolerated), 0 to MAX_VALUE; undefined otherwise.
 */
export function parseLimitValue(raw: unknown): number | undefined {
  if (typeof raw !== 'string') return undefined;
  const text = raw.trim();
  if (!/^\+?\d{1,10}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= MAX_VALUE ? n : undefined;
}

/**
 * The rate limit every rule of the Ingress `ref` gets, or no filter when the annotations set
 * no limit above 0 (then a multiplier or allowlist alone is reported as having no effect).
 */
export function readRateLimitOptions(annotations: unknown, ref: ObjectRef, report: RateLimitReport): Pick<RouteFilters, 'rateLimit'> {
  if (!isDict(annotations)) return NONE;
  const invalid = (key: string, raw: unknown, accepted: string, consequence: string): void =>
    report('InvalidAnnotation', `Annotation "${key}" has the value ${describe(raw)}, which is not valid; accepted values are ${accepted}. ${consequence}`);

  const limit = (name: 'limit-rps' | 'limit-rpm' | 'limit-connections'): number => {
    const found = readAliased(annotations, name, report);
    if (found === undefined) return 0;
    const n = parseLimitValue(found[1]);
    if (n === undefined) {
      invalid(found[0], found[1], `whole numbers from 0 (no limit) to ${MAX_VALUE}`, 'This limit is not applied');
      return 0;
    }
    return n;
  };
  const rps = limit('limit-rps');
  const rpm = limit('limit-rpm');
  const connections = limit('limit-connections');

  let burstMultiplier = DEFAULT_BURST_MULTIPLIER;
  const multiplier = readAliased(annotations, 'limit-burst-multiplier', report);
  if (multiplier !== undefined) {
    const n = parseLimitValue(multiplier[1]);
    if (n === undefined) invalid(multiplier[0], multiplier[1], `whole numbers from 0 to ${MAX_VALUE}`, `The default ${DEFAULT_BURST_MULTIPLIER} is used`);
    else burstMultiplier = n;
  }

  // limit-allowlist wins over its older name limit-whitelist, under either prefix
  const lists = [readAliased(annotations, 'limit-allowlist', report), readAliased(annotations, 'limit-whitelist', report)].filter((v) => v !== undefined);
  if (lists.length > 1) report('InvalidAnnotation', `Annotations "${lists[0]![0]}" and "${lists[1]![0]}" are both set; "${lists[0]![0]}" is used and "${lists[1]![0]}" is ignored`);
  let exempt: readonly string[] | undefined;
  const list = lists[0];
  if (list !== undefined) {
    const parsed = typeof list[1] === 'string' ? parseSourceList(list[1]) : undefined;
    if (parsed === undefined) {
      invalid(list[0], list[1], 'comma-separated IP addresses or CIDRs such as "10.0.0.0/8, 2001:db8::/32"', 'No client is exempt: the limits apply to every client address');
    } else exempt = Object.freeze(parsed);
  }

  if (rps === 0 && rpm === 0 && connections === 0) {
    const idle = [multiplier, list].filter((v) => v !== undefined).map((v) => `"${v[0]}"`);
    if (idle.length > 0) report('InvalidAnnotation', `${idle.join(' and ')} ${idle.length === 1 ? 'has' : 'have'} no effect without limit-rps, limit-rpm or limit-connections above 0`);
    return NONE;
  }
  const rateLimit: RateLimit = { zone: `${ref.namespace}/${ref.name}`, rps, rpm, burstMultiplier, connections, ...(exempt !== undefined ? { exempt } : {}) };
  return Object.freeze({ rateLimit: Object.freeze(rateLimit) });
}
