// The built program in file mode with --metrics-compat ingress-nginx: after some HTTP and HTTPS
// traffic, every series ingress-nginx's Grafana dashboards query (test/observe/testdata, read
// from those dashboards) is on /metrics with the labels they use; Portico's own series carry the
// exact status and the bounded host; the access log has the new fields. Without the flag no
// nginx_* series appear.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import https from 'node:https';
import http2 from 'node:http2';
import { generateSelfSigned } from '../src/tls/default-certificate.ts';
import { get, startNamedBackend, startPorticoProcess, waitFor, type PorticoProcess } from './harness.ts';
import { tlsAppYaml, tlsSecretYaml } from './manifests.ts';
import { DASHBOARD_SERIES } from '../test/observe/testdata/ingress-nginx-dashboards.ts';

type Backend = Awaited<ReturnType<typeof startNamedBackend>>;

/** One HTTPS request to secure.test (self-signed: not verified), on a new connection. */
function httpsGet(port: number, pathName: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      { host: '127.0.0.1', port, path: pathName, servername: 'secure.test', rejectUnauthorized: false, agent: false, headers: { host: 'secure.test', ...headers }, timeout: 5000 },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Prometheus text → series name → label sets seen. */
function parseMetrics(text: string): Map<string, Record<string, string>[]> {
  const out = new Map<string, Record<string, string>[]>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? \S+$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    const list = out.get(m[1]!) ?? [];
    list.push(labels);
    out.set(m[1]!, list);
  }
  return out;
}

const metricsText = async (p: PorticoProcess) => (await get(p.healthPort, '/metrics')).body;

describe('--metrics-compat ingress-nginx (file mode)', () => {
  let dir: string;
  let backend: Backend;
  let portico: PorticoProcess;
  let plain: PorticoProcess;

  beforeAll(async () => {
    backend = await startNamedBackend('app');
    dir = mkdtempSync(path.join(tmpdir(), 'portico-e2e-compat-'));
    writeFileSync(path.join(dir, 'app.yaml'), tlsAppYaml(backend.port) + '---\n' + tlsSecretYaml('app-tls', await generateSelfSigned({ commonName: 'secure.test', dnsNames: ['secure.test'] })));
    portico = await startPorticoProcess(['--manifests', dir, '--metrics-compat', 'ingress-nginx', '--access-log', 'true'], { POD_NAME: 'portico-e2e-0', POD_NAMESPACE: 'ingress' });
    plain = await startPorticoProcess(['--manifests', dir, '--access-log', 'false']);
    for (const p of [portico, plain]) await waitFor('the route is served', async () => (await httpsGet(p.httpsPort, '/')) === 200, 10_000);
  }, 30_000);

  afterAll(async () => {
    await portico?.stop();
    await plain?.stop();
    await backend?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves every series the dashboards query, with their labels, after traffic', async () => {
    for (let i = 0; i < 5; i++) expect(await httpsGet(portico.httpsPort, `/items/${i}?q=${i}`, { 'user-agent': 'e2e-agent/1', referer: 'https://ref.test/' })).toBe(200);
    // plain HTTP to the TLS host: ingress-nginx's ssl-redirect answers it locally
    expect((await get(portico.httpPort, '/', { host: 'secure.test' })).status).toBe(308);
    // a host nobody configured
    expect((await get(portico.httpPort, '/', { host: 'stranger.test' })).status).toBe(404);

    let series = new Map<string, Record<string, string>[]>();
    await waitFor('request series on /metrics', async () => {
      series = parseMetrics(await metricsText(portico));
      return (series.get('nginx_ingress_controller_requests') ?? []).some((l) => l.status === '200');
    });
    const missing: string[] = [];
    for (const s of DASHBOARD_SERIES) {
      const samples = series.get(s.metric) ?? [];
      if (samples.length === 0) {
        missing.push(`${s.metric}: not exported`);
        continue;
      }
      const withAll = samples.filter((l) => s.labels.every((n) => n in l) && Object.entries(s.values ?? {}).every(([k, v]) => l[k] === v));
      if (withAll.length === 0) missing.push(`${s.metric}: no sample with ${s.labels.join(', ')} (seen: ${JSON.stringify(samples[0])})`);
    }
    expect(missing).toEqual([]);

    // the values the dashboards filter and group on are the right ones
    const requests = series.get('nginx_ingress_controller_requests')!;
    expect(requests).toContainEqual({
      controller_namespace: 'ingress',
      controller_class: 'portico.dev/ingress-controller',
      controller_pod: 'portico-e2e-0',
      namespace: 'web',
      ingress: 'app',
      service: 'app',
      canary: '',
      path: '/',
      host: 'secure.test',
      method: 'GET',
      status: '200',
    });
    expect(series.get('nginx_ingress_controller_ssl_expire_time_seconds')).toContainEqual({ namespace: 'web', class: 'portico.dev/ingress-controller', host: 'secure.test', secret_name: 'app-tls' });
    expect(series.get('nginx_ingress_controller_leader_election_status')?.[0]).toMatchObject({ name: 'portico-leader' });
    expect(series.get('nginx_ingress_controller_config_last_reload_successful')).toContainEqual({ controller_namespace: 'ingress', controller_class: 'portico.dev/ingress-controller', controller_pod: 'portico-e2e-0' });
  });

  it("Portico's own series: the exact status and a bounded host", async () => {
    const text = await metricsText(portico);
    expect(text).toMatch(/^portico_requests_total\{namespace="web",ingress="app",service="app",host="secure\.test",method="GET",status="200"\} [1-9]/m);
    expect(text).toMatch(/^portico_requests_total\{[^}]*host="secure\.test"[^}]*status="308"\} 1$/m);
    expect(text).toMatch(/^portico_requests_total\{namespace="",ingress="",service="",host="_other",method="GET",status="404"\} 1$/m);
    expect(text).not.toContain('stranger.test');
    expect(text).toMatch(/^portico_request_size_bytes_count\{namespace="web",ingress="app",service="app"\} [1-9]/m);
    expect(text).toMatch(/^portico_upstream_response_duration_seconds_count\{namespace="web",ingress="app",service="app"\} [1-9]/m);
  });

  it('the access log has the protocol, TLS, user agent, referer, sizes and upstream fields, and no query string', async () => {
    const lines = await waitFor('access log lines of the /items requests', () => {
      const found = portico.stdout.filter((l) => l.includes('"/items/')).map((l) => JSON.parse(l) as Record<string, unknown>);
      return found.length >= 5 ? found : null;
    });
    const line = lines![0]!;
    expect(line).toMatchObject({
      method: 'GET',
      status: 200,
      protocol: 'HTTP/1.1',
      scheme: 'https',
      userAgent: 'e2e-agent/1',
      referer: 'https://ref.test/',
      upstreamStatus: 200,
      ingress: { namespace: 'web', name: 'app' },
    });
    expect(line.tlsVersion).toMatch(/^TLSv1\.[23]$/);
    expect(typeof line.tlsCipher).toBe('string');
    expect(line.requestBytes).toBeGreaterThan(40);
    expect(line.upstreamResponseMs).toBeGreaterThanOrEqual(0);
    expect(Object.keys(line)).not.toContain('query');
    expect(JSON.stringify(lines!)).not.toContain('q=');
  });

  it('HTTP/2: protocol HTTP/2 with its TLS version and cipher', async () => {
    const session = http2.connect(`https://127.0.0.1:${portico.httpsPort}`, { servername: 'secure.test', rejectUnauthorized: false });
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const req = session.request({ ':path': '/h2-check', ':authority': 'secure.test' });
        let code = 0;
        req.on('response', (h) => (code = Number(h[':status'])));
        req.on('end', () => resolve(code));
        req.on('error', reject);
        req.resume();
        req.end();
      });
      expect(status).toBe(200);
    } finally {
      session.close();
    }
    const line = await waitFor('the HTTP/2 request\'s access log line', () => {
      const l = portico.stdout.find((x) => x.includes('"/h2-check"'));
      return l === undefined ? null : (JSON.parse(l) as Record<string, unknown>);
    });
    expect(line!.protocol).toBe('HTTP/2');
    expect(line!.tlsVersion).toMatch(/^TLSv1\.[23]$/);
    expect(typeof line!.tlsCipher).toBe('string');
  });

  it('without the flag, no nginx_* series at all', async () => {
    expect(await httpsGet(plain.httpsPort, '/')).toBe(200);
    const text = await metricsText(plain);
    expect(text).toContain('portico_requests_total{');
    expect(text).not.toMatch(/^nginx_/m);
    expect(text).not.toContain('nginx_ingress_controller');
  });
});
