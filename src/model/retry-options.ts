// ingress-nginx's retry annotations, read under `portico.dev/<name>` or, in its absence,
// `nginx.ingress.kubernetes.io/<name>`:
//   proxy-next-upstream          when a request goes to another endpoint: space-separated
//                                `error`, `timeout`, `invalid_header`, `http_500`, `http_502`,
//                                `http_503`, `http_504`, `http_403`, `http_404`, `http_429`,
//                                `non_idempotent`, or `off`; ingress-nginx's default
//                                "error timeout";
//   proxy-next-upstream-tries    attempts in all (the first included), default 3, 0: as many
//                                as the Service has endpoints (at least 2);
//   proxy-next-upstream-timeout  seconds after which no further attempt starts, 0: no limit.
// Without any of them a route keeps Portico's own retry (once, on connect errors and resets
// of idempotent requests without a body; README "Proxy behaviour").

import { porticoNames, readAliased, type AliasReport } from './aliased.ts';
import { describe } from './read.ts';
import type { RetryPolicy } from './types.ts';

export const RETRY_OPTION_NAMES = ['proxy-next-upstream', 'proxy-next-upstream-tries', 'proxy-next-upstream-timeout'] as const;
export const RETRY_OPTION_ANNOTATIONS: readonly string[] = porticoNames(RETRY_OPTION_NAMES);

export const DEFAULT_RETRY_TRIES = 3;
const STATUS_TOKENS: ReadonlyMap<string, number> = new Map([500, 502, 503, 504, 403, 404, 429].map((s) => [`http_${s}`, s]));

/** The conditions of a proxy-next-upstream value, or a reason it is invalid. */
export function parseNextUpstream(raw: string): Omit<RetryPolicy, 'tries' | 'timeoutMs'> | { invalid: string } {
  const tokens = raw.trim().split(/\s+/).filter((t) => t !== '');
  if (tokens.length === 0) return { invalid: 'it is empty' };
  let error = false;
  let timeout = false;
  let invalidHeader = false;
  let nonIdempotent = false;
  let off = false;
  const statuses: number[] = [];
  for (const t of tokens) {
    const status = STATUS_TOKENS.get(t);
    if (status !== undefined) {
      if (!statuses.includes(status)) statuses.push(status);
      continue;
    }
    switch (t) {
      case 'error':
        error = true;
        break;
      case 'timeout':
        timeout = true;
        break;
      case 'invalid_header':
        invalidHeader = true;
        break;
      case 'non_idempotent':
        nonIdempotent = true;
        break;
      case 'off':
        off = true;
        break;
      default:
        return { invalid: `"${t}" is not one of the accepted values error, timeout, invalid_header, http_500, http_502, http_503, http_504, http_403, http_404, http_429, non_idempotent, off (space-separated)` };
    }
  }
  // nginx: `off` turns retries off whatever else is listed
  if (off) return { error: false, timeout: false, invalidHeader: false, statuses: [], nonIdempotent: false };
  return { error, timeout, invalidHeader, statuses: statuses.sort((a, b) => a - b), nonIdempotent };
}

function integer(raw: unknown, max: number): number | undefined {
  if (typeof raw !== 'string' || !/^\d{1,6}$/.test(raw.trim())) return undefined;
  const n = Number(raw.trim());
  return n <= max ? n : undefined;
}

/** The Ingress's retry policy, or undefined when none of the annotations is set. */
export function readRetryOptions(annotations: unknown, report: AliasReport): RetryPolicy | undefined {
  if (annotations === null || typeof annotations !== 'object') return undefined;
  const a = annotations as Record<string, unknown>;
  const on = readAliased(a, 'proxy-next-upstream', report);
  const tries = readAliased(a, 'proxy-next-upstream-tries', report);
  const timeout = readAliased(a, 'proxy-next-upstream-timeout', report);
  if (on === undefined && tries === undefined && timeout === undefined) return undefined;

  let conditions: Omit<RetryPolicy, 'tries' | 'timeoutMs'> = { error: true, timeout: true, invalidHeader: false, statuses: [], nonIdempotent: false };
  if (on !== undefined) {
    const parsed = typeof on[1] === 'string' ? parseNextUpstream(on[1]) : { invalid: `it is ${describe(on[1])}` };
    if ('invalid' in parsed) report('InvalidAnnotation', `Annotation "${on[0]}" has the value ${describe(on[1])}, which is not valid: ${parsed.invalid}. Using "error timeout"`);
    else conditions = parsed;
  }
  let n = DEFAULT_RETRY_TRIES;
  if (tries !== undefined) {
    const v = integer(tries[1], 100);
    if (v === undefined) report('InvalidAnnotation', `Annotation "${tries[0]}" has the value ${describe(tries[1])}, which is not valid; accepted values are a number of attempts from 0 to 100. Using ${DEFAULT_RETRY_TRIES}`);
    else n = v;
  }
  let timeoutMs = 0;
  if (timeout !== undefined) {
    const v = integer(timeout[1], 86_400);
    if (v === undefined) report('InvalidAnnotation', `Annotation "${timeout[0]}" has the value ${describe(timeout[1])}, which is not valid; accepted values are a whole number of seconds from 0 to 86400 (0: no limit). No time limit is used`);
    else timeoutMs = v * 1000;
  }
  return Object.freeze({ ...conditions, statuses: Object.freeze(conditions.statuses), tries: n, timeoutMs });
}
