// One undici keep-alive Pool per pod endpoint (`endpoint.key`) and upstream mode, created
// lazily on first use. Pools of endpoints that left every endpoint set are retired by the
// proxy's periodic sweep: `close()` (lets in-flight requests finish) and, after a deadline,
// `destroy()`.
//
// Upstream modes (RoutePolicy.backendProtocol + TLS settings): plain HTTP/1.1 (the default,
// kept on its own field so the common path is one compare), HTTP/1.1 over TLS, HTTP/2
// cleartext with prior knowledge (GRPC/H2C), HTTP/2 over TLS (GRPCS). An endpoint used by
// routes with different modes gets one pool per mode; the in-flight counter (least-conn) stays
// per endpoint, since the pod carries the load whatever the protocol.

import tls from 'node:tls';
import { Pool } from 'undici';
import type { UpstreamEndpoint } from '../endpoints/types.ts';
import type { BackendProtocol, BackendTlsHandshake, BackendTlsSecret, Route } from '../model/types.ts';
import { createHash } from 'node:crypto';
import type { ProxySettings } from './settings.ts';
import { EndpointSlots } from './slots.ts';

/** How requests of a route reach its endpoints. Interned: one object per distinct mode. */
export interface UpstreamMode {
  /** '' for plain HTTP/1.1; e.g. `H2C`, `HTTPS|verify|api.default.svc` otherwise. */
  readonly key: string;
  readonly tls: boolean;
  /** HTTP/2 (h2c with prior knowledge, or h2 over TLS through ALPN). */
  readonly h2: boolean;
  /** TLS: verify the certificate chain and name. */
  readonly verify: boolean;
  /** TLS: SNI and verification name; null for cleartext modes. */
  readonly servername: string | null;
  /** Connect timeout of the route (ingress-nginx proxy-connect-timeout); null: the proxy's. */
  readonly connectTimeoutMs: number | null;
  /** TLS: the route's proxy-ssl-secret (client certificate, CA), or null. */
  readonly secret: BackendTlsSecret | null;
  /** TLS: the route's proxy-ssl-ciphers / proxy-ssl-protocols, or null for Node's defaults. */
  readonly handshake: BackendTlsHandshake | null;
  /** Largest response head (ingress-nginx proxy-buffer-size above 16 KiB); null: undici's 16 KiB. */
  readonly responseHeadMax: number | null;
}

export const PLAIN_HTTP: UpstreamMode = Object.freeze({ key: '', tls: false, h2: false, verify: false, servername: null, connectTimeoutMs: null, secret: null, handshake: null, responseHeadMax: null });

/** Route → UpstreamMode, cached per Route object (routes are immutable). */
export class UpstreamModes {
  private readonly byRoute = new WeakMap<Route, UpstreamMode>();
  private readonly byKey = new Map<string, UpstreamMode>();

  of(route: Route): UpstreamMode {
    const p = route.policy;
    // a connect timeout or a response head limit of its own needs pools of its own (undici sets
    // them per pool)
    const connectMs = route.filters.timeouts?.connectMs ?? null;
    const headMax = route.filters.responseHeadMax ?? null;
    if (p.backendProtocol === 'HTTP' && connectMs === null && headMax === null) return PLAIN_HTTP;
    let m = this.byRoute.get(route);
    if (m === undefined) {
      m = this.intern(
        p.backendProtocol,
        p.backendTlsVerify,
        p.backendTlsServerName || route.backend.externalName || `${route.backend.service}.${route.backend.namespace}.svc`,
        connectMs,
        route.filters.backendTls ?? null,
        route.filters.backendTlsHandshake ?? null,
        headMax,
      );
      this.byRoute.set(route, m);
    }
    return m;
  }

  private intern(
    protocol: BackendProtocol,
    verify: boolean,
    servername: string,
    connectMs: number | null,
    secret: BackendTlsSecret | null,
    handshake: BackendTlsHandshake | null,
    headMax: number | null,
  ): UpstreamMode {
    const tls = protocol === 'HTTPS' || protocol === 'GRPCS';
    const h2 = protocol === 'GRPC' || protocol === 'GRPCS' || protocol === 'H2C';
    const base = !tls ? (h2 ? 'H2C' : '') : `${protocol}|${verify ? 'verify' : 'noverify'}|${servername}`;
    // pools per Secret content: a rotated certificate gets new connections (the old pools are swept)
    const withSecret = tls && secret !== null ? `${base}|secret=${secret.secret}@${fingerprint(secret)}` : base;
    // pools per cipher list and versions: a pooled connection keeps what its handshake negotiated
    const withHandshake = tls && handshake !== null ? `${withSecret}|ciphers=${handshake.ciphers ?? ''}|versions=${handshake.minVersion ?? ''}-${handshake.maxVersion ?? ''}` : withSecret;
    const withConnect = connectMs === null ? withHandshake : `${withHandshake}|connect=${connectMs}`;
    const key = headMax === null ? withConnect : `${withConnect}|head=${headMax}`;
    if (key === '') return PLAIN_HTTP;
    let m = this.byKey.get(key);
    if (m === undefined) {
      m = Object.freeze({ key, tls, h2, verify: tls && verify, servername: tls ? servername : null, connectTimeoutMs: connectMs, secret: tls ? secret : null, handshake: tls ? handshake : null, responseHeadMax: headMax });
      this.byKey.set(key, m);
    }
    return m;
  }
}

/** A short digest of a Secret's material, for mode keys (the material itself stays out of keys and logs). */
function fingerprint(secret: BackendTlsSecret): string {
  return createHash('sha256').update(secret.cert ?? '').update('\0').update(secret.key ?? '').update('\0').update(secret.ca ?? '').digest('hex').slice(0, 16);
}

/** TLS options for connections to a TLS mode's endpoints (undici pools and WebSocket agents). */
export function backendTlsOptions(mode: UpstreamMode, backendCa: string | null): tls.ConnectionOptions {
  const o: tls.ConnectionOptions = { rejectUnauthorized: mode.verify };
  if (mode.servername !== null) o.servername = mode.servername;
  const secret = mode.secret;
  if (secret !== null && secret.cert !== undefined && secret.key !== undefined) {
    o.cert = secret.cert;
    o.key = secret.key;
  }
  // proxy-ssl-secret's ca.crt is the only trust (nginx proxy_ssl_trusted_certificate);
  // otherwise extra CAs are added to Node's default trust store, not instead of it
  if (mode.verify && secret !== null && secret.ca !== undefined) o.ca = secret.ca;
  else if (mode.verify && backendCa !== null) o.ca = [...tls.getCACertificates('default'), backendCa];
  const hs = mode.handshake;
  if (hs !== null) {
    if (hs.ciphers !== undefined) o.ciphers = hs.ciphers;
    if (hs.minVersion !== undefined) o.minVersion = hs.minVersion;
    if (hs.maxVersion !== undefined) o.maxVersion = hs.maxVersion;
  }
  return o;
}

export class Upstream {
  readonly key: string;
  /** The endpoint's address and port (ssl-passthrough connects to them directly). */
  readonly endpoint: UpstreamEndpoint;
  readonly origin: string;
  /**
   * The origin's host as undici's connector sees it (IPv6 in brackets): the `servername` of
   * cleartext requests. undici derives a TLS server name from every request's Host header
   * unless one is given (two IP-literal regexes per request, ~1 % of a small request) and
   * uses it on cleartext connections only to override the connect host, which this value
   * leaves as it is.
   */
  readonly hostname: string;
  /** In-flight requests plus open upgraded connections (least-conn input). */
  inflight = 0;
  /** Connection slots of the HTTP/1.1 pools, and the requests waiting for one. */
  readonly slots: EndpointSlots;
  retired = false;
  private pool: Pool | null = null;
  /** Pools of other modes than PLAIN_HTTP, by mode key. */
  private others: Map<string, Pool> | null = null;
  private readonly settings: ProxySettings;

  constructor(endpoint: UpstreamEndpoint, settings: ProxySettings) {
    this.key = endpoint.key;
    this.endpoint = endpoint;
    this.origin = 'http://' + endpoint.key;
    this.hostname = endpoint.address.indexOf(':') === -1 ? endpoint.address : '[' + endpoint.address + ']';
    this.settings = settings;
    this.slots = new EndpointSlots(settings.maxConnectionsPerEndpoint);
  }

  /** The pool, created on first use. */
  getPool(): Pool {
    let p = this.pool;
    if (p === null) {
      const s = this.settings;
      p = new Pool(this.origin, {
        connections: s.maxConnectionsPerEndpoint,
        pipelining: 1,
        allowH2: false,
        keepAliveTimeout: s.upstreamKeepAliveMs,
        // an upstream's `Keep-Alive: timeout=N` hint may shorten the idle time (N - 2 s), never
        // lengthen it past ours
        keepAliveMaxTimeout: s.upstreamKeepAliveMs,
        headersTimeout: s.responseHeaderTimeoutMs,
        bodyTimeout: s.idleTimeoutMs,
        connect: { timeout: s.connectTimeoutMs },
      });
      this.pool = p;
    }
    return p;
  }

  /** The pool for `mode`, created on first use. */
  poolFor(mode: UpstreamMode): Pool {
    if (mode === PLAIN_HTTP) return this.getPool();
    let others = this.others;
    if (others === null) others = this.others = new Map();
    let p = others.get(mode.key);
    if (p === undefined) {
      const s = this.settings;
      // HTTP/2: prior knowledge in cleartext (h2c), ALPN over TLS with h2 preferred; HTTPS
      // stays HTTP/1.1. A Pool builds its connector from its own top-level `useH2c` (untyped
      // in undici 8's Pool options; `h2Options.useH2c` only reaches a lone Client's connector).
      const options: Pool.Options & { useH2c?: boolean } = {
        connections: s.maxConnectionsPerEndpoint,
        pipelining: 1,
        allowH2: mode.h2,
        keepAliveTimeout: s.upstreamKeepAliveMs,
        keepAliveMaxTimeout: s.upstreamKeepAliveMs,
        headersTimeout: s.responseHeaderTimeoutMs,
        bodyTimeout: s.idleTimeoutMs,
        connect: mode.tls
          ? { timeout: mode.connectTimeoutMs ?? s.connectTimeoutMs, preferH2: mode.h2, ...backendTlsOptions(mode, s.backendCa ?? null) }
          : { timeout: mode.connectTimeoutMs ?? s.connectTimeoutMs },
      };
      if (mode.responseHeadMax !== null) options.maxHeaderSize = mode.responseHeadMax;
      if (mode.h2 && !mode.tls) {
        options.useH2c = true;
        options.h2Options = { useH2c: true };
      }
      p = new Pool((mode.tls ? 'https://' : 'http://') + this.key, options);
      others.set(mode.key, p);
    }
    return p;
  }

  get hasPool(): boolean {
    return this.pool !== null || (this.others !== null && this.others.size > 0);
  }

  /** Number of pools (one per mode in use). */
  get poolCount(): number {
    return (this.pool === null ? 0 : 1) + (this.others === null ? 0 : this.others.size);
  }

  /** Graceful close: in-flight requests finish; after `deadlineMs` whatever is left is destroyed. */
  retire(deadlineMs: number): Promise<void> {
    this.retired = true;
    const others = this.others;
    if (others === null || others.size === 0) return this.pool === null ? Promise.resolve() : retirePool(this.pool, deadlineMs);
    const all: Promise<void>[] = [];
    if (this.pool !== null) all.push(retirePool(this.pool, deadlineMs));
    for (const p of others.values()) all.push(retirePool(p, deadlineMs));
    return Promise.all(all).then(() => undefined);
  }
}

/** Graceful close: in-flight requests finish; after `deadlineMs` whatever is left is destroyed. */
function retirePool(p: Pool, deadlineMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    let settled = false;
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      p.destroy().then(resolve, resolve);
    }, deadlineMs);
    timer.unref?.();
    p.close().then(
      () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve();
      },
      () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        p.destroy().then(resolve, resolve);
      },
    );
  });
}

export class UpstreamRegistry {
  private readonly byKey = new Map<string, Upstream>();
  private readonly settings: ProxySettings;

  constructor(settings: ProxySettings) {
    this.settings = settings;
  }

  get(endpoint: UpstreamEndpoint): Upstream {
    let u = this.byKey.get(endpoint.key);
    if (u === undefined) {
      u = new Upstream(endpoint, this.settings);
      this.byKey.set(endpoint.key, u);
    }
    return u;
  }

  get size(): number {
    return this.byKey.size;
  }

  /** Pools over all upstreams (one per endpoint and mode in use). */
  get poolCount(): number {
    let n = 0;
    for (const u of this.byKey.values()) n += u.poolCount;
    return n;
  }

  keys(): IterableIterator<string> {
    return this.byKey.keys();
  }

  /** Retire every upstream whose key is not in `live`; returns the number retired. */
  retireExcept(live: ReadonlySet<string>, deadlineMs: number): number {
    let n = 0;
    for (const [key, u] of this.byKey) {
      if (live.has(key)) continue;
      this.byKey.delete(key);
      n++;
      void u.retire(deadlineMs);
    }
    return n;
  }

  /** Retire everything (shutdown). */
  retireAll(deadlineMs: number): Promise<void> {
    const all: Promise<void>[] = [];
    for (const u of this.byKey.values()) all.push(u.retire(deadlineMs));
    this.byKey.clear();
    return Promise.all(all).then(() => undefined);
  }
}
