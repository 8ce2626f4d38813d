// OpenTelemetry export of the proxy's request spans (--otlp-endpoint), over OTLP/HTTP with the
// @opentelemetry packages, loaded only when tracing is on (they weigh ~20 MB and are never
// imported otherwise). The proxy decides what is traced and carries the ids
// (proxy/trace-context.ts); here each finished exchange becomes a SERVER span — named
// "<METHOD> <route path>", with the route, backend, endpoint, status, attempts and request id
// — handed to a BatchSpanProcessor, which exports in the background with a bounded queue
// (spans beyond it are dropped, never buffered without limit).

import type { Settings } from '../config/settings.ts';
import type { Logger } from '../observe/log.ts';
import type { RequestInfo } from '../proxy/proxy.ts';
import type { RequestTracer, TraceContext } from '../proxy/trace-context.ts';

export interface Tracing {
  readonly tracer: RequestTracer;
  /** Exports what is queued, then stops. */
  shutdown(): Promise<void>;
}

/** The OTLP traces URL: a bare `http://host:4318` gets the standard `/v1/traces` path. */
export function tracesUrl(endpoint: string): string {
  const u = new URL(endpoint);
  if (u.pathname === '/' || u.pathname === '') u.pathname = '/v1/traces';
  return u.toString();
}

function hrTime(ms: number): [number, number] {
  const s = Math.floor(ms / 1000);
  return [s, Math.round((ms - s * 1000) * 1e6)];
}

export async function startTracing(settings: Pick<Settings, 'otlpEndpoint' | 'traceSampleRatio' | 'otlpServiceName'>, log: Logger, version: string): Promise<Tracing> {
  const [{ BatchSpanProcessor }, { OTLPTraceExporter }, { resourceFromAttributes }] = await Promise.all([
    import('@opentelemetry/sdk-trace'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
  ]);
  const exporter = new OTLPTraceExporter({ url: tracesUrl(settings.otlpEndpoint), timeoutMillis: 10_000 });
  const processor = new BatchSpanProcessor({ exporter, maxQueueSize: 4096, maxExportBatchSize: 512, scheduledDelayMillis: 2000 });
  const resource = resourceFromAttributes({ 'service.name': settings.otlpServiceName, 'service.version': version });
  const scope = { name: 'portico', version };
  const ratio = settings.traceSampleRatio;
  log.info('tracing on', { endpoint: tracesUrl(settings.otlpEndpoint), sampleRatio: ratio });

  const tracer: RequestTracer = {
    sampleRoot: () => ratio >= 1 || (ratio > 0 && Math.random() < ratio),
    end(ctx: TraceContext, info: RequestInfo): void {
      const endMs = ctx.startMs + info.durationMs;
      const attributes: Record<string, string | number | boolean> = {
        'http.request.method': info.method,
        'url.scheme': info.scheme,
        'url.path': info.path,
        'server.address': info.host,
        'client.address': info.clientIp,
        'portico.request_id': info.requestId,
        'portico.attempts': info.attempts,
      };
      if (info.status !== 0) attributes['http.response.status_code'] = info.status;
      if (info.routePath !== null) attributes['http.route'] = info.routePath === '' ? '(default backend)' : info.routePath;
      if (info.ingress !== null) attributes['portico.ingress'] = `${info.ingress.namespace}/${info.ingress.name}`;
      if (info.backend !== null) attributes['portico.backend'] = info.backend;
      if (info.upstream !== null) attributes['network.peer.address'] = info.upstream;
      if (info.error !== null) attributes['error.type'] = info.error;
      if (info.upgrade) attributes['portico.upgrade'] = true;
      const failed = info.status >= 500 || (info.status === 0 && info.error !== null);
      const { traceId, spanId, parentSpanId } = ctx;
      processor.onEnd({
        // opentelemetry-operation-name of the route's Ingress, else "METHOD path"
        name: info.route?.filters.tracing?.operationName || (info.routePath !== null && info.routePath !== '' ? `${info.method} ${info.routePath}` : info.method),
        kind: 1, // SpanKind.SERVER
        spanContext: () => ({ traceId, spanId, traceFlags: 1 }),
        ...(parentSpanId !== '' ? { parentSpanContext: { traceId, spanId: parentSpanId, traceFlags: 1, isRemote: true } } : {}),
        startTime: hrTime(ctx.startMs),
        endTime: hrTime(endMs),
        duration: hrTime(info.durationMs),
        status: { code: failed ? 2 : 0 }, // SpanStatusCode.ERROR : UNSET
        attributes,
        links: [],
        events: [],
        ended: true,
        resource,
        instrumentationScope: scope,
        droppedAttributesCount: 0,
        droppedEventsCount: 0,
        droppedLinksCount: 0,
      });
    },
  };
  return {
    tracer,
    shutdown: async () => {
      try {
        await processor.shutdown();
      } catch (err) {
        log.warn('tracing: could not export the last spans', { err: (err as Error).message });
      }
    },
  };
}
