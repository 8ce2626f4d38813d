// W3C Trace Context (https://www.w3.org/TR/trace-context/) at the proxy, when tracing is on
// (--otlp-endpoint): each request gets a server span whose id goes upstream in `traceparent`,
// so the backend's spans hang under Portico's. Off (no tracer), the proxy never looks at these
// headers and forwards them as sent, like any other header: propagation costs nothing then.
//
// Sampling follows the parent: an incoming `traceparent` with the sampled flag is traced, one
// without it is not (and passes through untouched); a request without a valid `traceparent`
// is traced with the configured ratio. `tracestate` always passes through as sent.
//
// The span itself is made at the end of the exchange from what the proxy reports
// (RequestInfo), by the tracer the runtime gives the proxy (runtime/tracing.ts: OTLP export).

import { randomBytes } from 'node:crypto';
import type { Route } from '../model/types.ts';
import type { RequestInfo } from './request-info.ts';

/** One traced request: its ids and start time. */
export interface TraceContext {
  /** 32 lower-case hex digits. */
  readonly traceId: string;
  /** This request's span: 16 hex digits. */
  readonly spanId: string;
  /** The caller's span, '' when the request started the trace. */
  readonly parentSpanId: string;
  /** Wall-clock start, milliseconds since the epoch (with fractions). */
  readonly startMs: number;
}

/** What the proxy needs of a tracer. */
export interface RequestTracer {
  /** Whether a request without a valid parent is traced (the sampling ratio's dice roll). */
  sampleRoot(): boolean;
  /** The exchange ended: make and export its span. `info` is reused after the call. */
  end(ctx: TraceContext, info: RequestInfo): void;
}

const HEX = /^[0-9a-f]+$/;
const ZERO_TRACE = '00000000000000000000000000000000';
const ZERO_SPAN = '0000000000000000';

/** A parsed `traceparent`, or null when it is absent or not valid (then it is ignored). */
export function parseTraceparent(value: string): { traceId: string; spanId: string; sampled: boolean } | null {
  const v = value.trim();
  // version 00: exactly 55 characters; a later version may append fields after a '-'
  if (v.length < 55 || (v.length > 55 && v.charCodeAt(55) !== 45)) return null;
  const version = v.slice(0, 2);
  if (!HEX.test(version) || version === 'ff' || (version === '00' && v.length !== 55)) return null;
  if (v.charCodeAt(2) !== 45 || v.charCodeAt(35) !== 45 || v.charCodeAt(52) !== 45) return null;
  const traceId = v.slice(3, 35);
  const spanId = v.slice(36, 52);
  const flags = v.slice(53, 55);
  if (!HEX.test(traceId) || !HEX.test(spanId) || !HEX.test(flags) || traceId === ZERO_TRACE || spanId === ZERO_SPAN) return null;
  return { traceId, spanId, sampled: (parseInt(flags, 16) & 1) === 1 };
}

/**
 * Decides whether the request (its upstream header list, as scanned) is traced; if so,
 * rewrites `traceparent` to name the new span and returns its context, else null (the
 * headers are left as they are).
 */
export function beginTrace(headers: string[], tracer: RequestTracer, trustIncoming = true): TraceContext | null {
  let at = -1;
  for (let i = 0; i < headers.length; i += 2) {
    const n = headers[i]!;
    if (n.length === 11 && n.toLowerCase() === 'traceparent') {
      at = i;
      break;
    }
  }
  const parent = at < 0 || !trustIncoming ? null : parseTraceparent(headers[at + 1]!);
  if (parent !== null ? !parent.sampled : !tracer.sampleRoot()) return null;
  const ids = randomBytes(24).toString('hex');
  const traceId = parent !== null ? parent.traceId : ids.slice(0, 32);
  const spanId = ids.slice(32, 48);
  const value = `00-${traceId}-${spanId}-01`;
  if (at < 0) headers.push('traceparent', value);
  else headers[at + 1] = value;
  return { traceId, spanId, parentSpanId: parent !== null ? parent.spanId : '', startMs: performance.timeOrigin + performance.now() };
}

/**
 * The trace of a routed request: none on a route whose Ingress turned tracing off
 * (enable-opentelemetry "false"), and a new trace instead of the incoming one where it does
 * not trust incoming spans.
 */
export function traceRoute(headers: string[], tracer: RequestTracer, route: Route | null): TraceContext | null {
  const t = route === null ? undefined : route.filters.tracing;
  if (t !== undefined && !t.enabled) return null;
  return beginTrace(headers, tracer, t === undefined || t.trustIncoming);
}
