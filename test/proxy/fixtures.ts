// Test doubles and helpers for the proxy tests: a tiny RoutingConfig, a mutable
// EndpointLookup, upstream servers that count their sockets, and raw-socket clients.

import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { EndpointLookup, EndpointSet, UpstreamEndpoint } from '../../src/endpoints/types.ts';
import { FORWARD, NO_FILTERS } from '../../src/model/types.ts';
import type { BackendProtocol, LoadBalanceAlgorithm, Route, RouteAction, RouteFilters, RoutingConfig, TlsBinding } from '../../src/model/types.ts';
import { silentLogger } from '../../src/observe/log.ts';
import type { Logger } from '../../src/observe/log.ts';
import { Proxy, createHttpListener, DEFAULT_PROXY_SETTINGS } from '../../src/proxy/proxy.ts';
import type { ProxyInternals, ProxySettings, RequestInfo } from '../../src/proxy/proxy.ts';
import type { RequestTracer } from '../../src/proxy/trace-context.ts';
import type { ListenerOptions } from '../../src/proxy/listener.ts';

export interface RouteSpec {
  host: string;
  path?: string;
  key: string;
  lb?: LoadBalanceAlgorithm;
  /** Default null: the Ingress does not say (the proxy's --ssl-redirect decides). */
  sslRedirect?: boolean | null;
  forceSslRedirect?: boolean | null;
  name?: string;
  backendProtocol?: BackendProtocol;
  backendTlsVerify?: boolean;
  backendTlsServerName?: string;
  /** Service name in the backend (default: `key`); the default TLS server name derives from it. */
  service?: string;
  /** Default FORWARD. */
  action?: RouteAction;
  /** Default NO_FILTERS. */
  filters?: RouteFilters;
}

export function makeRoute(spec: RouteSpec): Route {
  return {
    host: spec.host.toLowerCase(),
    path: spec.path ?? '/',
    pathType: 'Prefix',
    backend: { namespace: 'default', service: spec.service ?? spec.key, servicePort: 80, endpointsKey: spec.key },
    policy: {
      loadBalance: spec.lb ?? 'round-robin',
      sslRedirect: spec.sslRedirect ?? null,
      forceSslRedirect: spec.forceSslRedirect ?? null,
      backendProtocol: spec.backendProtocol ?? 'HTTP',
      backendTlsVerify: spec.backendTlsVerify ?? false,
      backendTlsServerName: spec.backendTlsServerName ?? '',
    },
    action: spec.action ?? FORWARD,
    filters: spec.filters ?? NO_FILTERS,
    regex: null,
    ingress: { kind: 'Ingress', namespace: 'default', name: spec.name ?? spec.key },
  };
}

/** Exact-host (port ignored, case-insensitive) + prefix-path matching; enough for proxy tests. */
export class FakeConfig implements RoutingConfig {
  readonly version: number;
  readonly problems = [];
  readonly ingresses = [];
  readonly tls: readonly TlsBinding[];
  private readonly list: Route[];

  /** `tlsHosts`: hosts (or `*.parent`) that have a TLS binding. */
  constructor(routes: RouteSpec[], version = 1, tlsHosts: readonly string[] = []) {
    this.list = routes.map(makeRoute);
    this.version = version;
    this.tls = tlsHosts.map((host) => ({ host, secret: 'default/tls', ingress: { kind: 'Ingress', namespace: 'default', name: 'tls' } }));
  }

  match(host: string, path: string): Route | null {
    let h = host;
    const colon = h.lastIndexOf(':');
    if (colon > 0 && h.indexOf(']') < colon) h = h.slice(0, colon);
    h = h.toLowerCase();
    let best: Route | null = null;
    for (const r of this.list) {
      if (r.host !== h && r.host !== '') continue;
      if (!(path === r.path || path.startsWith(r.path.endsWith('/') ? r.path : r.path + '/') || r.path === '/')) continue;
      if (best === null || r.path.length > best.path.length || (best.host === '' && r.host !== '')) best = r;
    }
    return best;
  }

  routes(): Iterable<Route> {
    return this.list;
  }
}

const EMPTY: EndpointSet = Object.freeze({ endpoints: Object.freeze([]) as readonly UpstreamEndpoint[] });

export function endpoint(address: string, port: number): UpstreamEndpoint {
  return { address, port, key: address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`, terminating: false };
}

/** Mutable lookup: every `set` produces a new immutable EndpointSet object. */
export class FakeEndpoints implements EndpointLookup {
  private readonly sets = new Map<string, EndpointSet>();

  set(key: string, ports: readonly number[], address = '127.0.0.1'): EndpointSet {
    const s: EndpointSet = Object.freeze({ endpoints: Object.freeze(ports.map((p) => endpoint(address, p))) });
    this.sets.set(key, s);
    return s;
  }

  setEndpoints(key: string, eps: readonly UpstreamEndpoint[]): EndpointSet {
    const s: EndpointSet = Object.freeze({ endpoints: Object.freeze([...eps]) });
    this.sets.set(key, s);
    return s;
  }

  get(key: string): EndpointSet {
    return this.sets.get(key) ?? EMPTY;
  }
}

export interface Upstream {
  server: http.Server;
  port: number;
  /** Sockets currently open on the upstream side. */
  sockets: Set<net.Socket>;
  /** Requests received so far. */
  requests: number;
  /** Connections accepted so far. */
  connections: number;
  close(): Promise<void>;
}

export async function startUpstream(handler: http.RequestListener, host = '127.0.0.1'): Promise<Upstream> {
  const sockets = new Set<net.Socket>();
  const state = { requests: 0, connections: 0 };
  const server = http.createServer((req, res) => {
    state.requests++;
    handler(req, res);
  });
  server.keepAliveTimeout = 5000;
  server.on('connection', (s) => {
    state.connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, host, () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    sockets,
    get requests() {
      return state.requests;
    },
    get connections() {
      return state.connections;
    },
    close: () => {
      for (const s of sockets) s.destroy(); // upgraded sockets are not closed by closeAllConnections
      return closeServer(server);
    },
  } as Upstream;
}

export function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    const s = server as http.Server;
    if (typeof s.closeAllConnections === 'function') s.closeAllConnections();
    server.close(() => resolve());
  });
}

export interface RunningProxy {
  proxy: Proxy;
  server: http.Server;
  port: number;
  config: { current: RoutingConfig };
  infos: RequestInfo[];
  close(): Promise<void>;
}

export async function startProxy(opts: {
  routes?: RouteSpec[];
  config?: RoutingConfig;
  endpoints: EndpointLookup;
  settings?: Partial<ProxySettings>;
  listener?: ListenerOptions;
  internals?: Partial<ProxyInternals>;
  log?: Logger;
  tracer?: RequestTracer;
}): Promise<RunningProxy> {
  const config = { current: opts.config ?? new FakeConfig(opts.routes ?? []) };
  const infos: RequestInfo[] = [];
  const proxy = new Proxy({
    config: () => config.current,
    endpoints: opts.endpoints,
    settings: { ...DEFAULT_PROXY_SETTINGS, ...opts.settings },
    log: opts.log ?? silentLogger,
    onRequestDone: (i) => infos.push({ ...i }),
    ...(opts.internals ? { internals: opts.internals } : {}),
    ...(opts.tracer ? { tracer: opts.tracer } : {}),
  });
  const server = createHttpListener(proxy, opts.listener ?? {});
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  return {
    proxy,
    server,
    port,
    config,
    infos,
    async close() {
      for (const s of sockets) s.destroy();
      await closeServer(server);
      await proxy.close(500);
    },
  };
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

/** One request on a fresh connection (agent: false). */
export function request(
  port: number,
  opts: { method?: string; path?: string; headers?: http.OutgoingHttpHeaders | string[]; body?: string | Buffer; host?: string; timeoutMs?: number },
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers = opts.headers ?? {};
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: opts.method ?? 'GET',
        path: opts.path ?? '/',
        headers: Array.isArray(headers) ? headers : { host: opts.host ?? 'app.test', ...headers },
        agent: false,
        setHost: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.setTimeout(opts.timeoutMs ?? 10_000, () => req.destroy(new Error('test request timed out')));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Write raw bytes, collect everything until the server closes (or `waitMs` passes). */
export function rawExchange(port: number, data: string | Buffer, waitMs = 1000): Promise<string> {
  return new Promise((resolve) => {
    const c = net.connect(port, '127.0.0.1');
    let buf = '';
    const done = () => {
      clearTimeout(t);
      c.destroy();
      resolve(buf);
    };
    const t = setTimeout(done, waitMs);
    c.on('data', (d) => (buf += d.toString('latin1')));
    c.on('close', done);
    c.on('error', done);
    c.write(data);
  });
}

export function statusOf(raw: string): number {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(raw);
  return m ? Number(m[1]) : 0;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Poll `cond()` every 10 ms until it holds; throws (naming `what`) when it still does not after
 * `timeoutMs`, so a wait that never ends fails here, not later as an unrelated assertion.
 */
export async function until(cond: () => boolean, timeoutMs = 3000, what = 'the condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (let i = 0; i < 1_000_000 && Date.now() < end; i++) {
    if (cond()) return;
    await sleep(10);
  }
  if (cond()) return;
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** A local port that refuses connections (bound then closed). */
export async function refusedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
