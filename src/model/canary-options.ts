// ingress-nginx canary Ingresses: an Ingress with `canary: "true"` does not route on its own;
// each of its rules joins the primary rule with the same host, path and kind of match (from
// an Ingress without `canary`), and takes that rule's requests chosen by header, cookie or
// weight. Read under `portico.dev/<name>` or `nginx.ingress.kubernetes.io/<name>`.

import { GO_BOOL_ACCEPTED, parseGoBool } from '../values/go-bool.ts';
import { porticoNames, readAliased } from './aliased.ts';
import { describe, isDict } from './read.ts';
import { compileUserRegex } from './regex.ts';
import type { UserRegex } from './regex.ts';
import { readCanaryBehavior } from './route-options.ts';
import type { Canary } from './types.ts';


export const CANARY_OPTION_NAMES = [
  'canary',
  'canary-weight',
  'canary-weight-total',
  'canary-by-header',
  'canary-by-header-value',
  'canary-by-header-pattern',
  'canary-by-cookie',
] as const;
type Name = (typeof CANARY_OPTION_NAMES)[number];

export const CANARY_OPTION_ANNOTATIONS: readonly string[] = porticoNames(CANARY_OPTION_NAMES);

export type Report = (reason: 'InvalidAnnotation', message: string) => void;

/** The canary rules of a canary Ingress: a Canary without the backend, which each rule has. */
export type CanaryOptions = Omit<Canary, 'backend' | 'ingress'>;

function read(annotations: Record<string, unknown>, name: Name, report: Report): [string, string] | undefined {
  const r = readAliased(annotations, name, report);
  return r === undefined ? undefined : [r[0], typeof r[1] === 'string' ? r[1].trim() : String(r[1])];
}

/**
 * Whether the Ingress is a canary: `canary` read as ingress-nginx reads booleans (Go's
 * strconv.ParseBool, so "True" and "1" are canaries too). Any other value is a problem and the
 * Ingress is not a canary (the annotation's default); ingress-nginx would drop the whole
 * Ingress. `report` is called at most once per call.
 */
export function isCanary(annotations: unknown, report: Report = () => {}): boolean {
  if (!isDict(annotations)) return false;
  const r = read(annotations, 'canary', report);
  if (r === undefined) return false;
  const v = typeof r[1] === 'string' ? parseGoBool(r[1]) : undefined;
  if (v === true) return true;
  if (v === undefined) {
    report('InvalidAnnotation', `Annotation "${r[0]}" has the value ${describe(r[1])}, which is not valid; accepted values are ${GO_BOOL_ACCEPTED}. The Ingress is not a canary: its rules route on their own.`);
  }
  return false;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$/;

/** The canary rules of a canary Ingress's annotations; invalid values are problems and off. */
export function readCanaryOptions(annotations: Record<string, unknown>, report: Report): CanaryOptions {
  const bad = (key: string, raw: string, accepted: string, then: string): void =>
    report('InvalidAnnotation', `Annotation "${key}" has the value ${describe(raw)}, which is not valid; accepted values are ${accepted}. ${then}`);
  // ingress-nginx's balancer draws 1..total and sends the request to the canary when the draw is
  // at most the weight: a total below 100 counts as 100 (its docs say otherwise, its code does
  // this, and migrated Ingresses keep the split they had), a weight above the total sends every
  // request there
  let weightTotal = 100;
  const total = read(annotations, 'canary-weight-total', report);
  if (total !== undefined) {
    if (/^\d{1,9}$/.test(total[1]) && Number(total[1]) > 0) {
      if (Number(total[1]) >= 100) weightTotal = Number(total[1]);
      else report('InvalidAnnotation', `Annotation "${total[0]}" is ${total[1]}, below 100: ingress-nginx's balancer takes a total below 100 as 100, and so does Portico (canary-weight is out of 100)`);
    } else bad(total[0], total[1], 'a whole number above 0', 'Using 100.');
  }
  let weight = 0;
  const w = read(annotations, 'canary-weight', report);
  if (w !== undefined) {
    if (/^\d{1,9}$/.test(w[1])) weight = Math.min(Number(w[1]), weightTotal);
    else bad(w[0], w[1], `a whole number from 0 to ${weightTotal} (canary-weight-total; more sends every request to the canary)`, 'No request goes to the canary by weight.');
  }
  let header = '';
  const h = read(annotations, 'canary-by-header', report);
  if (h !== undefined) {
    if (TOKEN.test(h[1])) header = h[1].toLowerCase();
    else bad(h[0], h[1], 'a header name', 'No request goes to the canary by header.');
  }
  const headerValue = read(annotations, 'canary-by-header-value', report)?.[1] ?? '';
  let headerPattern: UserRegex | null = null;
  const pattern = read(annotations, 'canary-by-header-pattern', report);
  if (pattern !== undefined && headerValue === '' && header !== '') {
    const re = compileUserRegex(pattern[1], { anchor: '' });
    if ('invalid' in re) report('InvalidAnnotation', `Annotation "${pattern[0]}": ${re.invalid}. No request goes to the canary by header pattern.`);
    else headerPattern = re;
  }
  let cookie = '';
  const c = read(annotations, 'canary-by-cookie', report);
  if (c !== undefined) {
    if (TOKEN.test(c[1])) cookie = c[1];
    else bad(c[0], c[1], 'a cookie name', 'No request goes to the canary by cookie.');
  }
  // of the affinity annotations, ingress-nginx reads only affinity-canary-behavior on a canary:
  // its backend gets the primary's cookie affinity ("sticky") or none ("legacy")
  const legacy = readCanaryBehavior(annotations, report);
  const own = readAliased(annotations, 'affinity', report);
  if (own !== undefined) {
    report('InvalidAnnotation', `Annotation "${own[0]}" has no effect on a canary Ingress: the canary backend takes the cookie affinity of the rule it joins (its primary Ingress's), as in ingress-nginx; with affinity-canary-behavior "legacy" here it has none.`);
  }
  return Object.freeze({ header, headerValue, headerPattern, cookie, weight, weightTotal, ...(legacy ? { legacy: true as const } : {}) });
}
