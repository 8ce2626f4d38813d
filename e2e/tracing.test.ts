// Tracing through the built program: with --otlp-endpoint, a request carrying a sampled
// traceparent is exported as a SERVER span to an OTLP/HTTP collector (one written here, on
// loopback), and the backend sees Portico's span as its parent.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { get, startPorticoProcess, waitFor, type PorticoProcess } from './harness.ts';
import { annotatedIngressYaml, ingressYaml, serviceYaml } from './manifests.ts';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes: { key: string; value: Record<string, unknown> }[];
}

describe('tracing (built program)', () => {
  let dir: string;
  let backend: http.Server;
  let collector: http.Server;
  let portico: PorticoProcess;
  const parents: string[] = [];
  const spans: OtlpSpan[] = [];
  const contentTypes: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'portico-tracing-e2e-'));
    backend = http.createServer((req, res) => {
      parents.push(String(req.headers.traceparent ?? ''));
      res.end('traced\n');
    });
    collector = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        contentTypes.push(String(req.headers['content-type']));
        if (req.url === '/v1/traces' && String(req.headers['content-type']).startsWith('application/json')) {
          const doc = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] };
          for (const rs of doc.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await Promise.all([backend, collector].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))));
    writeFileSync(path.join(dir, 'app.yaml'), ingressYaml([{ path: '/', service: 'app' }]) + '---\n' + serviceYaml('app', [(backend.address() as AddressInfo).port]));
    // per-Ingress tracing: one turned off, one naming its spans
    writeFileSync(
      path.join(dir, 'tracing.yaml'),
      annotatedIngressYaml({ name: 'quiet', host: 'quiet.test', annotations: { 'nginx.ingress.kubernetes.io/enable-opentelemetry': 'false' }, paths: [{ path: '/', service: 'app' }] }) +
        '---\n' +
        annotatedIngressYaml({ name: 'named', host: 'named.test', annotations: { 'nginx.ingress.kubernetes.io/opentelemetry-operation-name': 'checkout' }, paths: [{ path: '/', service: 'app' }] }),
    );
    portico = await startPorticoProcess([
      '--manifests', dir, '--access-log', 'false',
      '--otlp-endpoint', `http://127.0.0.1:${(collector.address() as AddressInfo).port}`,
      '--trace-sample-ratio', '0',
    ]);
    await waitFor('readyz', async () => (await get(portico.healthPort, '/readyz')).status === 200, 10_000);
  });

  afterAll(async () => {
    await portico?.stop('SIGKILL');
    for (const s of [backend, collector]) {
      s?.closeAllConnections();
      await new Promise<void>((r) => (s ? s.close(() => r()) : r()));
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('a sampled traceparent: the backend sees Portico\'s span; the span reaches the collector with the route', async () => {
    const parent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const r = await get(portico.httpPort, '/orders/1', { host: 'e2e.test', traceparent: parent });
    expect(r.status).toBe(200);
    // ratio 0: a request without traceparent is not traced, and gets none
    await get(portico.httpPort, '/plain', { host: 'e2e.test' });
    expect(parents[1]).toBe('');
    const m = /^00-4bf92f3577b34da6a3ce929d0e0e4736-([0-9a-f]{16})-01$/.exec(parents[0]!);
    expect(m).not.toBeNull();
    const span = (await waitFor('the span at the collector', () => spans.find((s) => s.spanId === m![1]), 15_000, 100))!;
    expect(span.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(span.parentSpanId).toBe('00f067aa0ba902b7');
    expect(span.name).toBe('GET /');
    expect(span.kind).toBe(2); // OTLP SPAN_KIND_SERVER
    const attr = (key: string) => span.attributes.find((a) => a.key === key)?.value;
    expect(attr('http.response.status_code')).toEqual({ intValue: 200 });
    expect(attr('url.path')).toEqual({ stringValue: '/orders/1' });
    expect(attr('portico.ingress')).toEqual({ stringValue: 'e2e/web' });
    expect(spans).toHaveLength(1);
    expect(contentTypes[0]).toMatch(/^application\/json/);
  });

  it('enable-opentelemetry "false": not traced, the traceparent passes as sent; opentelemetry-operation-name names the span', async () => {
    const parent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const before = parents.length;
    expect((await get(portico.httpPort, '/q', { host: 'quiet.test', traceparent: parent })).status).toBe(200);
    expect(parents[before]).toBe(parent);
    expect((await get(portico.httpPort, '/n', { host: 'named.test', traceparent: parent })).status).toBe(200);
    const m = /^00-0af7651916cd43dd8448eb211c80319c-([0-9a-f]{16})-01$/.exec(parents[before + 1]!);
    expect(m).not.toBeNull();
    const span = (await waitFor('the named span', () => spans.find((s) => s.spanId === m![1]), 15_000, 100))!;
    expect(span.name).toBe('checkout');
    expect(spans.filter((s) => s.traceId === '0af7651916cd43dd8448eb211c80319c')).toHaveLength(1);
  });
});
