import { describe, expect, it } from 'vitest';
import { Metrics, OTHER_HOST, type RequestSample } from '../../src/observe/metrics.ts';

const WEB_ROUTE = { host: 'shop.example', path: '/' };
const HOSTLESS_ROUTE = { host: '', path: '/api' };

const sample = (over: Partial<RequestSample> = {}): RequestSample => ({
  method: 'GET',
  host: 'shop.example',
  status: 200,
  bytesSent: 10,
  requestBytes: 120,
  durationMs: 12,
  upstreamHeaderMs: 7,
  upstreamResponseMs: 9,
  attempts: 1,
  route: WEB_ROUTE,
  ingress: { namespace: 'shop', name: 'web' },
  backend: 'shop/frontend:http',
  error: null,
  upgrade: false,
  ...over,
});

const IDENTITY = { controllerNamespace: 'ingress', controllerClass: 'portico.dev/ingress-controller', controllerPod: 'portico-0', electionId: 'portico-leader' };

describe('Metrics', () => {
  it('counts requests by ingress, service, host, method and exact status code', async () => {
    const m = new Metrics({ defaultMetrics: false });
    m.record(sample());
    m.record(sample({ status: 204 }));
    m.record(sample({ status: 503, error: 'no_endpoints', method: 'BREW' }));
    m.record(sample({ status: 429 }));
    m.record(sample({ attempts: 2 }));
    const { body } = await m.render();
    const base = 'namespace="shop",ingress="web",service="frontend",host="shop.example"';
    expect(body).toContain(`portico_requests_total{${base},method="GET",status="200"} 2`);
    expect(body).toContain(`portico_requests_total{${base},method="GET",status="204"} 1`);
    expect(body).toContain(`portico_requests_total{${base},method="GET",status="429"} 1`);
    expect(body).toContain(`portico_requests_total{${base},method="OTHER",status="503"} 1`);
    expect(body).toContain('portico_response_bytes_total{namespace="shop",ingress="web",service="frontend"} 50');
    expect(body).toContain('portico_upstream_errors_total{kind="no_endpoints"} 1');
    expect(body).toContain('portico_upstream_retries_total 1');
    expect(body).toContain('portico_request_duration_seconds_count{namespace="shop",ingress="web",service="frontend",method="GET",status="200"} 2');
    expect(body).toContain('portico_request_duration_seconds_count{namespace="shop",ingress="web",service="frontend",method="OTHER",status="503"} 1');
    expect(body).toContain('portico_upstream_header_duration_seconds_bucket{le="0.01",namespace="shop",ingress="web",service="frontend"} 5');
    expect(body).toContain('portico_upstream_response_duration_seconds_bucket{le="0.005",namespace="shop",ingress="web",service="frontend"} 0');
    expect(body).toContain('portico_upstream_response_duration_seconds_bucket{le="0.01",namespace="shop",ingress="web",service="frontend"} 5');
    expect(body).toContain('portico_request_size_bytes_bucket{le="100",namespace="shop",ingress="web",service="frontend"} 0');
    expect(body).toContain('portico_request_size_bytes_bucket{le="1000",namespace="shop",ingress="web",service="frontend"} 5');
    expect(body).toContain('portico_request_size_bytes_sum{namespace="shop",ingress="web",service="frontend"} 600');
    expect(body).toContain('portico_response_size_bytes_sum{namespace="shop",ingress="web",service="frontend"} 50');
    // scraping twice does not double-count
    expect((await m.render()).body).toContain(`{${base},method="GET",status="200"} 2`);
  });

  it('bounds the host label by the configured hosts: the route\'s host, else a configured Host, else _other', async () => {
    const m = new Metrics({ defaultMetrics: false });
    m.setHosts([{ host: 'shop.example' }, { host: 'api.example' }, { host: '*.wild.example' }, { host: '' }]);
    // a wildcard route is labelled with its pattern, never the name asked for
    m.record(sample({ route: { host: '*.wild.example', path: '/' }, host: 'x.wild.example' }));
    // a rule without host: the Host header when it is a configured host (any case, with a port) …
    m.record(sample({ route: HOSTLESS_ROUTE, host: 'API.example:8080' }));
    // … else one value, however many names clients send
    for (const h of ['evil.example', 'a.b', '[::1]:80', '']) m.record(sample({ route: HOSTLESS_ROUTE, host: h }));
    m.record(sample({ route: null, ingress: null, backend: null, status: 404, host: 'random.example' }));
    const { body } = await m.render();
    const hosts = [...body.matchAll(/^portico_requests_total\{[^}]*host="([^"]*)"[^}]*\} (\d+)$/gm)].map((x) => `${x[1]}=${x[2]}`);
    expect(hosts.sort()).toEqual(['*.wild.example=1', `${OTHER_HOST}=1`, `${OTHER_HOST}=4`, 'api.example=1'].sort());
    expect(body).toContain(`portico_requests_total{namespace="",ingress="",service="",host="${OTHER_HOST}",method="GET",status="404"} 1`);
  });

  it('labels a request without a response status 0 and counts upgrades without timing them', async () => {
    const m = new Metrics({ defaultMetrics: false });
    m.record(sample({ status: 0, error: 'client_abort', upstreamHeaderMs: null, upstreamResponseMs: null }));
    m.record(sample({ status: 101, upgrade: true }));
    const { body } = await m.render();
    expect(body).toMatch(/^portico_requests_total\{[^}]*status="0"\} 1$/m);
    expect(body).toMatch(/^portico_requests_total\{[^}]*status="101"\} 1$/m);
    expect(body).toMatch(/^portico_request_duration_seconds_count\{[^}]*status="0"\} 1$/m);
    expect(body).not.toMatch(/^portico_request_duration_seconds_count\{[^}]*status="101"\} [1-9]/m);
    expect(body).not.toContain('portico_upstream_errors_total{kind="client_abort"}');
  });

  it('removes the series of Ingresses that are gone', async () => {
    const m = new Metrics({ defaultMetrics: false, nginxCompat: IDENTITY });
    m.record(sample());
    m.record(sample({ ingress: { namespace: 'shop', name: 'old' }, route: { host: 'old.example', path: '/' } }));
    m.retainIngresses([{ namespace: 'shop', name: 'web' }]);
    const { body } = await m.render();
    expect(body).toContain('ingress="web"');
    expect(body).not.toContain('ingress="old"');
    // a request on the old route after the swap is counted again (the cache was dropped)
    m.record(sample({ ingress: { namespace: 'shop', name: 'old' }, route: { host: 'old.example', path: '/' } }));
    expect((await m.render()).body).toMatch(/^portico_requests_total\{[^}]*ingress="old"[^}]*\} 1$/m);
  });

  it('config_last_reload_successful: 0 after a failed build, 1 again after the next swap', async () => {
    const m = new Metrics({ defaultMetrics: false, nginxCompat: IDENTITY });
    m.configSwapped({ version: 1, problems: [], ingresses: [] }, 1);
    m.configFailed();
    let body = (await m.render()).body;
    expect(body).toMatch(/^portico_config_last_reload_successful 0$/m);
    expect(body).toMatch(/^nginx_ingress_controller_config_last_reload_successful\{[^}]*\} 0$/m);
    m.configSwapped({ version: 2, problems: [], ingresses: [] }, 1);
    body = (await m.render()).body;
    expect(body).toMatch(/^portico_config_last_reload_successful 1$/m);
  });

  it('reports endpoints per backend from its source', async () => {
    const m = new Metrics({ defaultMetrics: false });
    m.endpointSource(() => [['shop/frontend:http', 3]]);
    expect((await m.render()).body).toContain('portico_backend_endpoints{backend="shop/frontend:http"} 3');
  });
});

describe('Metrics with --metrics-compat ingress-nginx', () => {
  it('exports no nginx_* series without it', async () => {
    const m = new Metrics({ defaultMetrics: false });
    m.record(sample());
    m.configSwapped({ version: 3, problems: [], ingresses: [] }, 1);
    const body = (await m.render()).body;
    expect(body).toContain('portico_requests_total'); // rendered at all
    // no series named like ingress-nginx's (Portico's own may say nginx: portico_nginx_configmap_changed)
    expect(body).not.toMatch(/^(# (HELP|TYPE) )?nginx_/m);
  });

  it('exports the requests and histograms under ingress-nginx names and labels', async () => {
    const m = new Metrics({ defaultMetrics: false, nginxCompat: IDENTITY });
    m.record(sample());
    m.record(sample({ status: 0, error: 'client_abort', upstreamResponseMs: null }));
    m.record(sample({ method: 'POST', status: 502, upstreamHeaderMs: null, upstreamResponseMs: null, bytesSent: 0 }));
    const { body } = await m.render();
    const ctl = 'controller_namespace="ingress",controller_class="portico.dev/ingress-controller",controller_pod="portico-0"';
    const req = `${ctl},namespace="shop",ingress="web",service="frontend",canary="",path="/",host="shop.example"`;
    expect(body).toContain(`nginx_ingress_controller_requests{${req},method="GET",status="200"} 1`);
    expect(body).toContain(`nginx_ingress_controller_requests{${req},method="GET",status="499"} 1`);
    expect(body).toContain(`nginx_ingress_controller_requests{${req},method="POST",status="502"} 1`);
    expect(body).toContain(`nginx_ingress_controller_request_duration_seconds_count{${req},method="GET",status="200"} 1`);
    expect(body).toContain(`nginx_ingress_controller_response_duration_seconds_count{${req},method="GET",status="200"} 1`);
    // no upstream response: no upstream timing
    expect(body).toContain(`nginx_ingress_controller_response_duration_seconds_count{${req},method="POST",status="502"} 0`);
    expect(body).toContain(`nginx_ingress_controller_header_duration_seconds_count{${req},method="GET",status="499"} 1`);
    expect(body).toContain(`nginx_ingress_controller_request_size_sum{${req},method="GET",status="200"} 120`);
    expect(body).toContain(`nginx_ingress_controller_response_size_bucket{le="10",${req},method="GET",status="200"} 1`);
    expect(body).toContain(`nginx_ingress_controller_bytes_sent_sum{${req},method="GET",status="200"} 10`);
    // Portico's own series are still there
    expect(body).toContain('portico_requests_total{');
  });

  it('exports the controller series: reloads, config hash, leader, certificates, connections', async () => {
    const m = new Metrics({ defaultMetrics: false, nginxCompat: IDENTITY });
    const ctl = 'controller_namespace="ingress",controller_class="portico.dev/ingress-controller",controller_pod="portico-0"';
    m.configSwapped({ version: 7, problems: [], ingresses: [] }, 2);
    m.configSwapped({ version: 8, problems: [], ingresses: [] }, 2);
    m.leader.set(1);
    m.certificateSource(() => [{ host: 'shop.example', secret: 'shop/shop-tls', notAfter: new Date(2_000_000_000_000) }]);
    const { body } = await m.render();
    expect(body).toContain(`nginx_ingress_controller_config_hash{${ctl}} 8`);
    expect(body).toContain(`nginx_ingress_controller_config_last_reload_successful{${ctl}} 1`);
    expect(body).toMatch(new RegExp(`^nginx_ingress_controller_config_last_reload_successful_timestamp_seconds\\{${ctl.replaceAll('.', '\\.')}\\} \\d+`, 'm'));
    expect(body).toContain(`nginx_ingress_controller_success{${ctl}} 2`);
    expect(body).toContain(`nginx_ingress_controller_leader_election_status{${ctl},name="portico-leader"} 1`);
    expect(body).toContain('nginx_ingress_controller_ssl_expire_time_seconds{namespace="shop",class="portico.dev/ingress-controller",host="shop.example",secret_name="shop-tls"} 2000000000');
    expect(body).toContain(`nginx_ingress_controller_nginx_process_connections{${ctl},state="active"} 0`);
    expect(body).toMatch(new RegExp(`^nginx_ingress_controller_nginx_process_resident_memory_bytes\\{[^}]*\\} [1-9]`, 'm'));
  });
});
