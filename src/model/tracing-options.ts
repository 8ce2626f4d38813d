// ingress-nginx's per-Ingress tracing annotations, read under `portico.dev/<name>` or, in its
// absence, `nginx.ingress.kubernetes.io/<name>` (tracing itself is on when Portico runs with
// --otlp-endpoint):
//   enable-opentelemetry               "false": the Ingress's requests are never traced (and
//                                      their traceparent passes through untouched); "true":
//                                      traced as every route is (the flag's sampling ratio);
//   opentelemetry-trust-incoming-span  "false": an incoming traceparent is not continued: the
//                                      request starts its own trace (default "true");
//   opentelemetry-operation-name       the span name (literal text; default "METHOD path").

import { GO_BOOL_ACCEPTED, parseGoBool } from '../values/go-bool.ts';
import { porticoNames, readAliased, type AliasReport } from './aliased.ts';
import { describe } from './read.ts';
import type { RouteTracing } from './types.ts';

export const TRACING_OPTION_NAMES = ['enable-opentelemetry', 'opentelemetry-trust-incoming-span', 'opentelemetry-operation-name'] as const;
export const TRACING_OPTION_ANNOTATIONS: readonly string[] = porticoNames(TRACING_OPTION_NAMES);

function bool(found: [string, unknown] | undefined, report: AliasReport, fallback: boolean, meaning: string): boolean {
  if (found === undefined) return fallback;
  // Go's ParseBool, as ingress-nginx reads it
  const v = typeof found[1] === 'string' ? parseGoBool(found[1].trim()) : undefined;
  if (v !== undefined) return v;
  report('InvalidAnnotation', `Annotation "${found[0]}" has the value ${describe(found[1])}, which is not valid; accepted values are ${GO_BOOL_ACCEPTED}; ${meaning}`);
  return fallback;
}

/** The Ingress's tracing settings, or undefined when it sets none. */
export function readTracingOptions(annotations: Record<string, unknown>, report: AliasReport): RouteTracing | undefined {
  const enable = readAliased(annotations, 'enable-opentelemetry', report);
  const trust = readAliased(annotations, 'opentelemetry-trust-incoming-span', report);
  const name = readAliased(annotations, 'opentelemetry-operation-name', report);
  if (enable === undefined && trust === undefined && name === undefined) return undefined;
  const enabled = bool(enable, report, true, 'its requests are traced as every route');
  const trustIncoming = bool(trust, report, true, 'incoming spans are continued');
  let operationName = '';
  if (name !== undefined) {
    const v = typeof name[1] === 'string' ? name[1].trim() : '';
    if (v !== '' && v.length <= 256 && /^[\x20-\x7e]+$/.test(v) && !v.includes('$')) operationName = v;
    else report('InvalidAnnotation', `Annotation "${name[0]}" has the value ${describe(name[1])}, which is not valid; accepted values are printable text without nginx variables. Spans are named "METHOD path"`);
  }
  // the defaults: nothing to carry (the route stays without filters)
  if (enabled && trustIncoming && operationName === '') return undefined;
  return Object.freeze({ enabled, trustIncoming, operationName });
}
