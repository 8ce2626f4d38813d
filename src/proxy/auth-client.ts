// The HTTP client of external authentication (filters/external-auth.ts): one undici Pool per
// auth service origin (keep-alive, at most AUTH_CONNECTIONS connections), a connect timeout
// and a total deadline per subrequest, and the bounded cache of auth results
// (auth-cache-key). One per proxy; routes without external authentication never create it.
//
// A subrequest that fails (refused, reset, DNS, TLS) or does not complete within the deadline
// resolves with status 0, which the stage answers as 500; it never rejects. The auth response
// body is read and dropped (bounded), so the connection returns to the pool.
//
// An origin that could not be connected to (refused, unreachable, connect timeout, unknown
// name) is not tried again for AUTH_FAIL_FAST_MS: its subrequests fail at once (500, as they
// would after connecting in vain). A failed connect costs ~160 µs of the event loop (socket,
// error objects): 2,000 requests a second to a route whose auth service was down took the
// p99 of every other route from 10 ms to 440 ms (bench/abuse.ts, scenario dead-auth). The
// first subrequest after the pause connects again, so a service that is back is found within
// that time. An auth service that accepts and never answers costs nothing while it waits.

import { Pool } from 'undici';
import { OriginFailures } from './origin-failures.ts';

/** Connect timeout to an auth service (nginx's proxy_connect_timeout default is 5 s too). */
export const AUTH_CONNECT_TIMEOUT_MS = 5_000;
/** The whole subrequest: connect, send, response head and body. */
export const AUTH_TIMEOUT_MS = 5_000;
/** Connections per auth service origin; more subrequests at once queue in undici. */
export const AUTH_CONNECTIONS = 64;
/** Cached auth results per proxy; the oldest goes first beyond it. */
export const AUTH_CACHE_MAX = 10_000;
/** After a failed connect, subrequests to that origin fail at once for this long. */
export const AUTH_FAIL_FAST_MS = 1_000;
/** Error codes of a connection that could not be made (Node's and undici's). */
const CONNECT_FAILURES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_CONNECT_TIMEOUT']);
/** Largest auth response body read (and dropped) before the connection is given up. */
const BODY_LIMIT = 64 * 1024;

/** What the stage needs from an auth response. */
export interface AuthResult {
  /** The auth service's status; 0 when it could not be reached or did not answer in time. */
  readonly status: number;
  /** The auth-response-headers it sent, flat `[name, value, ...]` (lower-case names). */
  readonly copied: readonly string[];
  readonly wwwAuthenticate: string | null;
  readonly setCookie: readonly string[];
  /** Cache-Control no-store, no-cache or private: nginx's proxy_cache would not keep it. */
  readonly uncacheable: boolean;
}

export const AUTH_FAILED: AuthResult = Object.freeze({ status: 0, copied: Object.freeze([]), wwwAuthenticate: null, setCookie: Object.freeze([]), uncacheable: true });

export interface AuthClientOptions {
  connectTimeoutMs?: number;
  timeoutMs?: number;
  connections?: number;
  cacheMax?: number;
  /** How long an origin that could not be connected to is not tried (default AUTH_FAIL_FAST_MS). */
  failFastMs?: number;
  /** The clock of the cache and of the fail-fast pause (tests inject one). */
  now?: () => number;
  /**
   * Told when subrequests to an origin fail (refused, reset, timeout), at most once per
   * origin every FAILURE_REPORT_MS; the message never carries the path or query (it may hold a token).
   */
  onFailure?: (origin: string, reason: string) => void;
}

export { FAILURE_REPORT_MS } from './origin-failures.ts';

export class ExternalAuthClient {
  private readonly pools = new Map<string, Pool>();
  private readonly cache = new Map<string, { result: AuthResult; until: number }>();
  private readonly connectTimeoutMs: number;
  private readonly timeoutMs: number;
  private readonly connections: number;
  private readonly cacheMax: number;
  private readonly now: () => number;
  private readonly failures: OriginFailures;
  private readonly failFastMs: number;
  /** Origins that could not be connected to, and until when they are not tried. */
  private readonly down = new Map<string, number>();
  /** Counters for tests and metrics (failedFast: failures answered without trying). */
  readonly stats = { requests: 0, failures: 0, cacheHits: 0, failedFast: 0 };

  constructor(opts: AuthClientOptions = {}) {
    this.connectTimeoutMs = opts.connectTimeoutMs ?? AUTH_CONNECT_TIMEOUT_MS;
    this.timeoutMs = opts.timeoutMs ?? AUTH_TIMEOUT_MS;
    this.failures = new OriginFailures(opts.onFailure ?? null, this.timeoutMs);
    this.connections = opts.connections ?? AUTH_CONNECTIONS;
    this.cacheMax = opts.cacheMax ?? AUTH_CACHE_MAX;
    this.failFastMs = opts.failFastMs ?? AUTH_FAIL_FAST_MS;
    this.now = opts.now ?? Date.now;
  }

  private pool(origin: string): Pool {
    let p = this.pools.get(origin);
    if (p === undefined) {
      p = new Pool(origin, {
        connections: this.connections,
        pipelining: 1,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
        connect: { timeout: this.connectTimeoutMs },
      });
      this.pools.set(origin, p);
    }
    return p;
  }

  /**
   * Sends the subrequest: `origin` is `http(s)://host[:port]`, `path` the origin-form target,
   * `headers` a flat list (Host included). `copy` names the response headers wanted (lower case).
   */
  async check(origin: string, path: string, method: string, headers: string[], copy: readonly string[]): Promise<AuthResult> {
    this.stats.requests++;
    if (this.down.size > 0) {
      const until = this.down.get(origin);
      if (until !== undefined) {
        if (until > this.now()) {
          this.stats.failures++;
          this.stats.failedFast++;
          return AUTH_FAILED;
        }
        this.down.delete(origin);
      }
    }
    const signal = AbortSignal.timeout(this.timeoutMs);
    try {
      const res = await this.pool(origin).request({ path, method, headers, signal });
      const h = res.headers;
      const copied: string[] = [];
      for (const name of copy) {
        const v = h[name];
        if (v === undefined) continue;
        if (Array.isArray(v)) for (const x of v) copied.push(name, x);
        else copied.push(name, v);
      }
      const www = h['www-authenticate'];
      const cookie = h['set-cookie'];
      const cc = h['cache-control'];
      const ccText = Array.isArray(cc) ? cc.join(',') : (cc ?? '');
      await res.body.dump({ limit: BODY_LIMIT, signal });
      return {
        status: res.statusCode,
        copied,
        wwwAuthenticate: www === undefined ? null : Array.isArray(www) ? www.join(', ') : www,
        setCookie: cookie === undefined ? [] : Array.isArray(cookie) ? cookie : [cookie],
        uncacheable: /(^|[\s,])(no-store|no-cache|private)\b/i.test(ccText),
      };
    } catch (err) {
      this.stats.failures++;
      if (connectFailed(err)) {
        if (this.down.size > 1000) this.down.clear();
        this.down.set(origin, this.now() + this.failFastMs);
      }
      this.report(origin, err);
      return AUTH_FAILED;
    }
  }

  private report(origin: string, err: unknown): void {
    this.failures.report(origin, err);
  }

  /** A cached result still valid, or undefined. */
  cached(key: string): AuthResult | undefined {
    const hit = this.cache.get(key);
    if (hit === undefined) return undefined;
    if (hit.until <= this.now()) {
      this.cache.delete(key);
      return undefined;
    }
    this.stats.cacheHits++;
    return hit.result;
  }

  /** Keeps `result` for `ms` (nothing when 0 or less); drops the oldest entry beyond the bound. */
  remember(key: string, result: AuthResult, ms: number): void {
    if (ms <= 0) return;
    this.cache.delete(key);
    if (this.cache.size >= this.cacheMax) {
      const first = this.cache.keys().next();
      if (first.done !== true) this.cache.delete(first.value);
    }
    this.cache.set(key, { result, until: this.now() + ms });
  }

  /** Cached entries (tests). */
  get cacheSize(): number {
    return this.cache.size;
  }

  async close(): Promise<void> {
    this.cache.clear();
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => p.destroy().catch(() => {})));
  }
}

/** Whether `err` says the connection could not be made (an AggregateError: any of its errors). */
function connectFailed(err: unknown): boolean {
  const e = err as { code?: unknown; errors?: unknown } | null;
  if (typeof e?.code === 'string' && CONNECT_FAILURES.has(e.code)) return true;
  return Array.isArray(e?.errors) && e.errors.some((x) => connectFailed(x));
}
