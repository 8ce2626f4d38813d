// ingress-nginx's response bandwidth limit, read under `portico.dev/<name>` or, in its absence,
// `nginx.ingress.kubernetes.io/<name>`:
//   limit-rate        kilobytes per second a response is sent at, per request (nginx
//                     limit_rate: two downloads at once get twice the rate); 0 or absent: none;
//   limit-rate-after  kilobytes sent at full speed before the limit applies (limit_rate_after).
// ingress-nginx documents both as needing proxy-buffering "on"; Portico streams and applies
// them either way. An invalid value is a problem and leaves responses unlimited.

import { porticoNames, readAliased, type AliasReport } from './aliased.ts';
import { describe } from './read.ts';
import type { ResponseRateLimit } from './types.ts';

export const LIMIT_RATE_OPTION_NAMES = ['limit-rate', 'limit-rate-after'] as const;
export const LIMIT_RATE_OPTION_ANNOTATIONS: readonly string[] = porticoNames(LIMIT_RATE_OPTION_NAMES);

/** Whole kilobytes, as ingress-nginx's integer annotations (at most 1 TiB). */
function kilobytes(raw: unknown): number | undefined {
  if (typeof raw !== 'string' || !/^\d{1,10}$/.test(raw.trim())) return undefined;
  return Number(raw.trim());
}

/** The Ingress's response rate limit, or undefined for none. */
export function readLimitRateOptions(annotations: Record<string, unknown>, report: AliasReport): ResponseRateLimit | undefined {
  const rate = readAliased(annotations, 'limit-rate', report);
  const after = readAliased(annotations, 'limit-rate-after', report);
  let kbps = 0;
  if (rate !== undefined) {
    const v = kilobytes(rate[1]);
    if (v === undefined) report('InvalidAnnotation', `Annotation "${rate[0]}" has the value ${describe(rate[1])}, which is not valid; accepted values are whole kilobytes per second ("100"), 0 for no limit. Responses are not limited`);
    else kbps = v;
  }
  let afterKb = 0;
  if (after !== undefined) {
    const v = kilobytes(after[1]);
    if (v === undefined) report('InvalidAnnotation', `Annotation "${after[0]}" has the value ${describe(after[1])}, which is not valid; accepted values are whole kilobytes ("512"). The limit applies from the first byte`);
    else afterKb = v;
  }
  if (kbps === 0) return undefined;
  return Object.freeze({ bytesPerSecond: kbps * 1024, afterBytes: afterKb * 1024 });
}
