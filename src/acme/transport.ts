// How acme-client talks HTTP, adjusted for a long-running controller. acme-client 5.4.0 uses
// one process-global axios instance (`acme.axios`), so everything here is process-global:
// Portico is its only user in the process, and `configureAcmeHttp` is called once at start.
//
// What we change, and why (LIBRARIES.md §6.1):
// * A private CA for the directory (`--acme-ca-bundle`): an https.Agent trusting the bundle in
//   addition to the default roots, set as `acme.axios.defaults.httpsAgent`.
// * A request timeout (acme-client sets none; a hung CA would hang the order forever).
// * Fewer inline retries: acme-client retries network errors, 429 and 5xx itself, sleeping
//   for the server's Retry-After. A rate-limit Retry-After can be hours; our own per-
//   certificate backoff is the right place to wait. The axios adapter is wrapped so that a
//   429/503 whose Retry-After exceeds `maxInlineRetryAfterMs` fails the order at once with an
//   `AcmeHttpError` carrying `retryAfterMs` (an error without axios `config` is passed through
//   untouched by acme-client's retry interceptor), and every Retry-After seen is recorded in
//   the order's context (AsyncLocalStorage, so concurrent orders do not mix).
// * TLS verification failures: acme-client treats them as retryable and finally throws
//   "Cannot read properties of undefined (reading 'config')". The wrapper turns them into an
//   immediate, explicit error, and remembers other network errors so the manager can report
//   the real cause instead of that TypeError.

import { AsyncLocalStorage } from 'node:async_hooks';
import https from 'node:https';
import { createRequire } from 'node:module';
import tls from 'node:tls';
import * as acme from 'acme-client';
import { parseRetryAfter } from './certificates.ts';

export class AcmeHttpError extends Error {
  override name = 'AcmeHttpError';
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  constructor(message: string, status?: number, retryAfterMs?: number) {
    super(message);
    this.status = status;
    this.retryAfterMs = retryAfterMs;
  }
}

/** Per-order state shared with the adapter wrapper through AsyncLocalStorage. */
export interface OrderContext {
  /** The largest Retry-After (ms) the CA sent during this order. */
  retryAfterMs?: number;
  /** The last network-level error (no HTTP response), for a readable failure message. */
  lastNetworkError?: string;
  /** A 429/503 asking to wait longer than this fails the order instead of sleeping inline. */
  maxInlineRetryAfterMs: number;
  now: () => number;
}

const orderContext = new AsyncLocalStorage<OrderContext>();

export function runInOrderContext<T>(ctx: OrderContext, fn: () => Promise<T>): Promise<T> {
  return orderContext.run(ctx, fn);
}

/**
 * acme-client ends exhausted network retries with "Cannot read properties of undefined
 * (reading 'config')"; this gives the recorded network error instead (else `err` unchanged).
 */
export function explainError(err: unknown, ctx: OrderContext | undefined = orderContext.getStore()): unknown {
  if (err instanceof TypeError && ctx?.lastNetworkError) return new Error(`cannot reach the ACME server: ${ctx.lastNetworkError}`);
  return err;
}

export interface AcmeHttpSettings {
  /** PEM bundle of extra trusted CAs for the ACME directory (private or test CA). */
  caBundle?: string;
  /** acme-client's inline retries of network errors/429/5xx (its default is 5). */
  retryMaxAttempts?: number;
  /** acme-client's delay unit between those retries, seconds (its default is 5). */
  retryDefaultDelaySeconds?: number;
  /** Per HTTP request to the CA. */
  requestTimeoutMs?: number;
}

export const DEFAULT_ACME_HTTP: Required<Omit<AcmeHttpSettings, 'caBundle'>> = {
  retryMaxAttempts: 3,
  retryDefaultDelaySeconds: 5,
  requestTimeoutMs: 30_000,
};

const TLS_ERROR_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'HOSTNAME_MISMATCH',
]);

type Adapter = (config: unknown) => Promise<unknown>;

interface AxiosErrorLike {
  code?: string;
  message?: string;
  config?: { url?: string; method?: string };
  response?: { status?: number; headers?: unknown; data?: unknown };
}

interface AcmeAxiosDefaults {
  adapter?: unknown;
  httpsAgent?: unknown;
  timeout?: number;
  acmeSettings?: { retryMaxAttempts: number; retryDefaultDelay: number };
}

let installed = false;
let agent: https.Agent | undefined;

/** Applies `settings` to acme-client's process-global HTTP client. Safe to call again. */
export function configureAcmeHttp(settings: AcmeHttpSettings = {}): void {
  const defaults = acme.axios.defaults as unknown as AcmeAxiosDefaults;
  const s = { ...DEFAULT_ACME_HTTP, ...stripUndefined(settings) };
  if (defaults.acmeSettings) {
    defaults.acmeSettings.retryMaxAttempts = s.retryMaxAttempts;
    defaults.acmeSettings.retryDefaultDelay = s.retryDefaultDelaySeconds;
  }
  defaults.timeout = s.requestTimeoutMs;
  const previous = agent;
  if (settings.caBundle !== undefined && settings.caBundle.trim() !== '') {
    agent = new https.Agent({ keepAlive: true, ca: [...defaultRoots(), settings.caBundle] });
    defaults.httpsAgent = agent;
  } else {
    agent = undefined;
    delete defaults.httpsAgent;
  }
  previous?.destroy();
  if (!installed) {
    const inner = httpAdapter();
    defaults.adapter = (config: unknown) => wrapped(inner, config);
    installed = true;
  }
}

function defaultRoots(): string[] {
  const t = tls as typeof tls & { getCACertificates?: (type?: 'default') => string[] };
  return typeof t.getCACertificates === 'function' ? t.getCACertificates('default') : [...tls.rootCertificates];
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The http adapter of the very axios copy acme-client loads. */
function httpAdapter(): Adapter {
  const require = createRequire(import.meta.url);
  const fromAcme = createRequire(require.resolve('acme-client'));
  const axios = fromAcme('axios') as { getAdapter?: (name: string | string[]) => Adapter; default?: { getAdapter?: (name: string | string[]) => Adapter } };
  const getAdapter = axios.getAdapter ?? axios.default?.getAdapter;
  if (!getAdapter) throw new Error('acme-client: cannot find the axios http adapter');
  return getAdapter('http');
}

async function wrapped(inner: Adapter, config: unknown): Promise<unknown> {
  try {
    return await inner(config);
  } catch (err) {
    throw translate(err as AxiosErrorLike);
  }
}

function translate(err: AxiosErrorLike): unknown {
  const ctx = orderContext.getStore();
  const url = err.config?.url ?? 'the ACME server';
  const res = err.response;
  if (res === undefined) {
    if (err.code !== undefined && TLS_ERROR_CODES.has(err.code)) {
      return new AcmeHttpError(`TLS verification of ${originOf(url)} failed (${err.code}): for a private CA, pass its certificate with --acme-ca-bundle`);
    }
    if (ctx) ctx.lastNetworkError = `${err.code ?? 'network error'} from ${originOf(url)}: ${err.message ?? ''}`.trim();
    return err;
  }
  const status = res.status ?? 0;
  if (ctx && (status === 429 || status === 503)) {
    const retryAfterMs = parseRetryAfter(headerValue(res.headers, 'retry-after'), ctx.now());
    if (retryAfterMs !== undefined) {
      ctx.retryAfterMs = Math.max(ctx.retryAfterMs ?? 0, retryAfterMs);
      if (retryAfterMs > ctx.maxInlineRetryAfterMs) {
        return new AcmeHttpError(
          `${status} from ${originOf(url)}: ${problemDetail(res.data) ?? 'rate limited'} (Retry-After ${Math.round(retryAfterMs / 1000)} s)`,
          status,
          retryAfterMs,
        );
      }
    }
  }
  return err;
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}

function headerValue(headers: unknown, name: string): string | undefined {
  if (headers === null || typeof headers !== 'object') return undefined;
  const h = headers as { get?: (n: string) => unknown } & Record<string, unknown>;
  const v = typeof h.get === 'function' ? h.get(name) : h[name];
  if (Array.isArray(v)) return typeof v[0] === 'string' ? v[0] : undefined;
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
}

/** The `detail` of an RFC 7807 problem document, if the body is one. */
function problemDetail(data: unknown): string | undefined {
  let d = data;
  if (Buffer.isBuffer(d)) d = d.toString('utf8');
  if (typeof d === 'string') {
    try {
      d = JSON.parse(d);
    } catch {
      return undefined;
    }
  }
  if (d !== null && typeof d === 'object' && typeof (d as { detail?: unknown }).detail === 'string') return (d as { detail: string }).detail;
  return undefined;
}
