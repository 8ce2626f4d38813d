// One undici keep-alive Pool per pod endpoint (`endpoint.key`), created lazily on first use.
// Pools of endpoints that left every endpoint set are retired by the proxy's periodic sweep:
// `close()` (lets in-flight requests finish) and, after a deadline, `destroy()`.

import { Pool } from 'undici';
import type { UpstreamEndpoint } from '../endpoints/types.ts';
import type { ProxySettings } from './settings.ts';

export class Upstream {
  readonly key: string;
  readonly origin: string;
  /** In-flight requests plus open upgraded connections (least-conn input). */
  inflight = 0;
  retired = false;
  private pool: Pool | null = null;
  private readonly settings: ProxySettings;

  constructor(endpoint: UpstreamEndpoint, settings: ProxySettings) {
    this.key = endpoint.key;
    this.origin = 'http://' + endpoint.key;
    this.settings = settings;
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

  get hasPool(): boolean {
    return this.pool !== null;
  }

  /** Graceful close: in-flight requests finish; after `deadlineMs` whatever is left is destroyed. */
  retire(deadlineMs: number): Promise<void> {
    this.retired = true;
    const p = this.pool;
    if (p === null) return Promise.resolve();
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
