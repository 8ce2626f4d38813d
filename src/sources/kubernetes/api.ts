// A thin JSON client for the Kubernetes API. Credentials (kubeconfig, in-cluster token with
// rotation, client certificates, exec plugins) and the TLS-configured dispatcher come from
// kubeconfig.ts (client-node's rules without client-node's generated code); requests and
// responses stay in wire form (plain JSON), which is what the store keeps. Watches go through
// list-watch.ts.

import { STATUS_CODES } from 'node:http';
import { request } from 'undici';
// By path, not the package index: the index loads every generated model and API (kubeconfig.ts).
import { RequestContext, HttpMethod } from '@kubernetes/client-node/dist/gen/http/http.js';
import { KubeConfig, type KubeCredentials } from './kubeconfig.ts';
import { ApiReachability } from './reachability.ts';

export class ApiError extends Error {
  override name = 'ApiError';
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string, message: string) {
    super(message);
    this.status = status;
    this.reason = reason;
  }
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
}

const METHODS: Record<string, HttpMethod> = {
  GET: HttpMethod.GET,
  POST: HttpMethod.POST,
  PUT: HttpMethod.PUT,
  PATCH: HttpMethod.PATCH,
  DELETE: HttpMethod.DELETE,
};

export class KubeApi {
  /** Ours from kubeconfig.ts in the program; client-node's KubeConfig in tests (same interface). */
  readonly kc: KubeCredentials;
  /**
   * client-node's KubeConfig (the tests') builds a new undici Agent on every
   * applySecurityAuthentication call, so using its dispatcher per request would open a new
   * connection each time: with it we keep the first one. Ours (kubeconfig.ts) keeps one Agent
   * per distinct TLS material itself, so its dispatcher is taken per request: a client
   * certificate an exec plugin rotates then reaches API requests too, not only watches.
   */
  private dispatcher: ReturnType<RequestContext['getDispatcher']>;
  private readonly reuseFirstDispatcher: boolean;
  /** Every request's outcome; watches wait less once any request succeeds again. */
  readonly reachability = new ApiReachability();

  constructor(kc: KubeCredentials) {
    this.kc = kc;
    this.reuseFirstDispatcher = !(kc instanceof KubeConfig);
  }

  /** From a kubeconfig file, else $KUBECONFIG / ~/.kube/config / in-cluster (the library's order). */
  static load(kubeconfigPath?: string): KubeApi {
    const kc = new KubeConfig();
    if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
    else kc.loadFromDefault();
    if (!kc.getCurrentCluster()) {
      throw new Error('no Kubernetes cluster configured: pass --kubeconfig, set KUBECONFIG, or run in a pod with a service account');
    }
    return new KubeApi(kc);
  }

  get server(): string {
    return this.kc.getCurrentCluster()?.server ?? '';
  }

  async request<T = unknown>(method: keyof typeof METHODS, path: string, opts: RequestOptions = {}): Promise<T> {
    const url = new URL(this.server.replace(/\/$/, '') + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined && v !== '') url.searchParams.set(k, String(v));
    const ctx = new RequestContext(url.toString(), METHODS[method]!);
    await this.kc.applySecurityAuthentication(ctx);
    const headers = ctx.getHeaders() as Record<string, string>;
    headers.accept = 'application/json';
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] = opts.contentType ?? 'application/json';
    }
    const signal = opts.signal ?? AbortSignal.timeout(opts.timeoutMs ?? 30_000);
    const dispatcher = this.reuseFirstDispatcher ? (this.dispatcher ??= ctx.getDispatcher()) : ctx.getDispatcher();
    // undici's request(), not fetch(): the same connection handling without WHATWG streams,
    // Request/Response objects and per-call signal plumbing; a quarter of the primary's CPU went
    // there when it writes the status of thousands of Ingresses.
    let res;
    try {
      res = await request(url, { method, headers, body, signal, ...(dispatcher ? { dispatcher } : {}) });
    } catch (err) {
      // a caller's abort says nothing about the API; our timeout and network errors do
      if (opts.signal?.aborted !== true) this.reachability.failed();
      throw err;
    }
    this.reachability.status(res.statusCode);
    const text = await res.body.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (res.statusCode >= 400) {
      const status = parsed as { message?: string; reason?: string } | undefined;
      throw new ApiError(
        res.statusCode,
        status?.reason ?? '',
        `${method} ${path}: ${res.statusCode} ${status?.message ?? STATUS_CODES[res.statusCode] ?? ''}`.trim(),
      );
    }
    return parsed as T;
  }

  /** GET a list, following `continue` tokens (pages of `limit`). */
  async listAll<T>(path: string, query: Record<string, string | undefined>, limit = 500): Promise<{ items: T[]; resourceVersion: string }> {
    const items: T[] = [];
    let cont: string | undefined;
    let resourceVersion = '';
    for (let page = 0; page < 100_000; page++) {
      const list = await this.request<{ items?: T[]; metadata?: { resourceVersion?: string; continue?: string } }>('GET', path, {
        query: { ...query, limit, continue: cont },
        timeoutMs: 60_000,
      });
      if (Array.isArray(list?.items)) items.push(...list.items);
      resourceVersion = list?.metadata?.resourceVersion ?? resourceVersion;
      cont = list?.metadata?.continue || undefined;
      if (!cont) break;
    }
    return { items, resourceVersion };
  }
}
