import { describe, expect, it } from 'vitest';
import { Metrics, type RequestSample } from '../../src/observe/metrics.ts';

const sample = (over: Partial<RequestSample> = {}): RequestSample => ({
  method: 'GET',
  status: 200,
  bytesSent: 10,
  durationMs: 12,
  upstreamHeaderMs: 7,
  attempts: 1,
  ingress: { namespace: 'shop', name: 'web' },
  backend: 'shop/frontend:http',
  error: null,
  upgrade: false,
  ...over,
});

describe('Metrics', () => {
  it('aggregates requests by ingress, service, method and status class', async () => {
    const m = new Metrics({ defaultMetrics: false });
    m.record(sample());
    m.record(sample({ status: 204 }));
    m.record(sample({ status: 503, error: 'no_endpoints', method: 'BREW' }));
    m.record(sample({ attempts: 2 }));
    const { body } = await m.render();
    expect(body).toContain('portico_requests_total{namespace="shop",ingress="web",service="frontend",method="GET",status="2xx"} 3');
    expect(body).toContain('portico_requests_total{namespace="shop",ingress="web",service="frontend",method="OTHER",status="5xx"} 1');
    expect(body).toContain('portico_response_bytes_total{namespace="shop",ingress="web",service="frontend"} 40');
    expect(body).toContain('portico_upstream_errors_total{kind="no_endpoints"} 1');
    expect(body).toContain('portico_upstream_retries_total 1');
    expect(body).toContain('portico_request_duration_seconds_count{namespace="shop",ingress="web"} 4');
    expect(body).toContain('portico_upstream_header_duration_seconds_bucket{le="0.01",namespace="shop",ingress="web"} 4');
    // scraping twice does not double-count
    expect((await m.render()).body).toContain('status="2xx"} 3');
  });

  it('removes the series of Ingresses that are gone', async () => {
    const m = new Metrics({ defaultMetrics: false });
    m.record(sample());
    m.record(sample({ ingress: { namespace: 'shop', name: 'old' } }));
    m.retainIngresses([{ namespace: 'shop', name: 'web' }]);
    const { body } = await m.render();
    expect(body).toContain('ingress="web"');
    expect(body).not.toContain('ingress="old"');
  });

  it('reports endpoints per backend from its source', async () => {
    const m = new Metrics({ defaultMetrics: false });
    m.endpointSource(() => [['shop/frontend:http', 3]]);
    expect((await m.render()).body).toContain('portico_backend_endpoints{backend="shop/frontend:http"} 3');
  });
});
