// ingress-nginx annotations Portico accepts without effect (nginx buffers it has no
// counterpart for, and proxy-ssl-server-name: SNI is always sent). Their values
// are still checked against what ingress-nginx accepts, so a value that is wrong is reported
// (a problem naming the annotation, the value and what is accepted) instead of passing
// unnoticed: ingress-nginx's annotation validation refuses it (it then uses its default, or
// for client-body-buffer-size drops the whole Ingress), and the value would bite on the way
// back. Nothing is read into the model: with or without a valid value, the route is
// the same. (proxy-send-timeout, proxy-buffer-size, proxy-request-buffering and
// client-body-buffer-size have an effect: route-options.ts reads them.)

import { parseSize } from '../values/size.ts';
import { describe, isDict } from './read.ts';
import { NGINX_PREFIX } from './nginx-annotations.ts';

type Report = (reason: 'InvalidAnnotation', message: string) => void;

interface Check {
  readonly accepted: string;
  ok(raw: string): boolean;
}

const SIZE: Check = { accepted: 'a size in bytes with an optional k, m or g suffix, such as "8k"', ok: (raw) => parseSize(raw) !== undefined };
const COUNT: Check = { accepted: 'a whole number, such as "4"', ok: (raw) => /^\d{1,9}$/.test(raw) };
const ON_OFF: Check = { accepted: '"on" or "off"', ok: (raw) => raw === 'on' || raw === 'off' };

/** name (without prefix) → what ingress-nginx's validator accepts, and why Portico ignores it. */
const NO_EFFECT: ReadonlyMap<string, readonly [Check, string]> = new Map([
  ['proxy-buffers-number', [COUNT, 'Portico has no nginx buffers']],
  ['proxy-busy-buffers-size', [SIZE, 'Portico has no nginx buffers']],
  ['proxy-max-temp-file-size', [SIZE, 'Portico never buffers responses to disk']],
  ['proxy-buffering', [ON_OFF, 'responses are always streamed']],
  ['proxy-ssl-server-name', [ON_OFF, 'SNI is always sent to TLS backends']],
]);

/** Reports each annotation of the table whose value ingress-nginx would refuse. */
export function checkNoEffectValues(annotations: unknown, report: Report): void {
  if (!isDict(annotations)) return;
  for (const [name, [check, why]] of NO_EFFECT) {
    const key = NGINX_PREFIX + name;
    const raw = annotations[key];
    if (raw === undefined) continue;
    if (typeof raw === 'string' && check.ok(raw.trim())) continue;
    report('InvalidAnnotation', `Annotation "${key}" has the value ${describe(raw)}, which is not valid; accepted values are ${check.accepted}. It has no effect in Portico either way (${why}); ingress-nginx's validation refuses this value too`);
  }
}
