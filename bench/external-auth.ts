// What external authentication (auth-url) adds to a request: the proxy runs in this process
// with three routes on one backend — plain, with auth-url, and with auth-url and a cache hit
// (auth-cache-key) — and the backend and a loopback auth service (answers 200 with one user
// header) run in a child process, so the proxy's event loop is its own. Each route gets the same
// sequential keep-alive GETs after a warm-up; the script prints median and p99 latency per
// route and the differences to the plain route, in µs.
// Run: node bench/external-auth.ts [--requests 3000]. Loopback only; every wait is bounded;
// the child started here is stopped here.

import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { parseArgs } from 'node:util';
import { readExternalAuthOptions } from '../src/model/external-auth-options.ts';
import { FORWARD, NO_FILTERS, type ExternalAuth, type Route, type RouteFilters, type RoutingConfig } from '../src/model/types.ts';
import { createLogger } from '../src/observe/log.ts';
import { createHttpListener, DEFAULT_PROXY_SETTINGS, Proxy } from '../src/proxy/proxy.ts';
import type { EndpointLookup } from '../src/endpoints/types.ts';
import { stop } from './loopback.ts';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '3000' } } });
const REQUESTS = Math.max(100, Number(values.requests));

// the child: the backend ("ok") and the auth service (200 + X-Auth-Request-User)
const CHILD = `
const http = require('node:http');
const backend = http.createServer((q, s) => s.end('ok')).listen(0, '127.0.0.1', () => {
  const auth = http.createServer((q, s) => { s.writeHead(200, { 'x-auth-request-user': 'alice' }); s.end(); }).listen(0, '127.0.0.1', () => {
    process.stdout.write(JSON.stringify({ backend: backend.address().port, auth: auth.address().port }) + '\\n');
  });
  auth.keepAliveTimeout = 60000;
});
backend.keepAliveTimeout = 60000;
`;

function auth(annotations: Record<string, string>): ExternalAuth {
  const a = readExternalAuthOptions(annotations, (_r, m) => {
    throw new Error(m);
  }).filters.externalAuth;
  if (a === undefined) throw new Error('no external auth');
  return a;
}

function route(host: string, filters: RouteFilters): Route {
  return {
    host,
    path: '/',
    pathType: 'Prefix',
    backend: { namespace: 'bench', service: 'app', servicePort: 80, endpointsKey: 'bench/app:http' },
    policy: { loadBalance: 'round-robin', sslRedirect: false, forceSslRedirect: false, backendProtocol: 'HTTP', backendTlsVerify: false, backendTlsServerName: '' },
    action: FORWARD,
    filters,
    regex: null,
    ingress: { kind: 'Ingress', namespace: 'bench', name: host },
  };
}

async function main(): Promise<void> {
  const child = spawn(process.execPath, ['-e', CHILD], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const [line] = (await Promise.race([
      once(child.stdout!.setEncoding('utf8'), 'data'),
      new Promise((_, reject) => setTimeout(() => reject(new Error('child did not start in 10 s')), 10_000)),
    ])) as [string];
    const ports = JSON.parse(line) as { backend: number; auth: number };
    const url = `http://127.0.0.1:${ports.auth}/check`;
    const N = 'nginx.ingress.kubernetes.io/';
    const routes = new Map<string, Route>([
      ['plain.bench', route('plain.bench', NO_FILTERS)],
      ['auth.bench', route('auth.bench', { externalAuth: auth({ [N + 'auth-url']: url, [N + 'auth-response-headers']: 'X-Auth-Request-User' }) })],
      ['cached.bench', route('cached.bench', { externalAuth: auth({ [N + 'auth-url']: url, [N + 'auth-response-headers']: 'X-Auth-Request-User', [N + 'auth-cache-key']: 'fixed' }) })],
    ]);
    const config: RoutingConfig = {
      version: 1,
      match: (host) => routes.get(host.replace(/:\d+$/, '')) ?? null,
      routes: () => routes.values(),
      problems: [],
      ingresses: [],
      tls: [],
    };
    const set = Object.freeze({ endpoints: Object.freeze([{ key: `127.0.0.1:${ports.backend}`, address: '127.0.0.1', port: ports.backend, terminating: false }]) });
    const endpoints: EndpointLookup = { get: () => set };
    const proxy = new Proxy({ config: () => config, endpoints, settings: { ...DEFAULT_PROXY_SETTINGS }, log: createLogger('error', { write() {} }) });
    const server = createHttpListener(proxy, {});
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as AddressInfo).port;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

    const once1 = (host: string): Promise<number> =>
      new Promise((resolve, reject) => {
        const t0 = process.hrtime.bigint();
        const req = http.get({ host: '127.0.0.1', port, path: '/', headers: { host }, agent, timeout: 5000 }, (res) => {
          res.resume().on('end', () => {
            if (res.statusCode !== 200) reject(new Error(`${host}: status ${res.statusCode}`));
            else resolve(Number(process.hrtime.bigint() - t0) / 1000);
          });
        });
        req.on('timeout', () => req.destroy(new Error('timeout')));
        req.on('error', reject);
      });

    const result: Record<string, { median: number; p99: number }> = {};
    for (const host of ['plain.bench', 'auth.bench', 'cached.bench']) for (let i = 0; i < 300; i++) await once1(host); // warm-up
    // interleaved rounds, so drift on a shared machine hits every route alike
    const samples: Record<string, number[]> = { 'plain.bench': [], 'auth.bench': [], 'cached.bench': [] };
    for (let i = 0; i < REQUESTS; i++) for (const host of Object.keys(samples)) samples[host]!.push(await once1(host));
    for (const [host, xs] of Object.entries(samples)) {
      xs.sort((a, b) => a - b);
      result[host] = { median: xs[Math.floor(xs.length / 2)]!, p99: xs[Math.floor(xs.length * 0.99)]! };
    }
    const plain = result['plain.bench']!;
    console.log(`requests per route: ${REQUESTS} (sequential, keep-alive, after 300 warm-up)`);
    for (const [host, r] of Object.entries(result)) {
      console.log(`${host.padEnd(13)} median ${r.median.toFixed(0).padStart(5)} µs  p99 ${r.p99.toFixed(0).padStart(5)} µs  (+${(r.median - plain.median).toFixed(0)} µs median over plain)`);
    }
    agent.destroy();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await proxy.close(1000);
  } finally {
    await stop(child);
  }
}

await main();
