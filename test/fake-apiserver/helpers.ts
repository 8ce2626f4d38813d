// Small raw-HTTP helpers for tests that need to see the wire (watch lines, headers, status codes).

import { request as httpRequest } from 'node:http';
import type { ClientRequest, IncomingHttpHeaders, IncomingMessage, RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { setTimeout as delay } from 'node:timers/promises';

/** Poll `cond` every 10 ms until it returns true; throws after `timeoutMs`. */
export async function waitFor(cond: () => boolean, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (let i = 0; i < 100_000; i++) {
    if (cond()) return;
    if (Date.now() > deadline) break;
    await delay(10);
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  json: unknown;
}

/** For https: URLs (the fake's TLS mode): the CA to trust and an optional client certificate (PEM). */
export interface RawTlsOptions {
  ca?: string;
  cert?: string;
  key?: string;
}

function request(url: URL, opts: RequestOptions, tls: RawTlsOptions | undefined, onResponse?: (res: IncomingMessage) => void): ClientRequest {
  if (url.protocol !== 'https:') return httpRequest(url, opts, onResponse);
  return httpsRequest(url, { ...opts, ...(tls?.ca ? { ca: tls.ca } : {}), ...(tls?.cert ? { cert: tls.cert } : {}), ...(tls?.key ? { key: tls.key } : {}) }, onResponse);
}

export interface RawRequestOptions {
  method?: string;
  token?: string;
  tls?: RawTlsOptions;
  body?: unknown;
  contentType?: string;
  timeoutMs?: number;
}

/** One request with node:http; resolves with the whole body (JSON-parsed when possible). */
export function rawRequest(baseUrl: string, path: string, opts: RawRequestOptions = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, baseUrl);
    const payload = opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    const headers: Record<string, string> = {};
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    if (payload !== undefined) {
      headers['content-type'] = opts.contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(payload));
    }
    const req = request(url, { method: opts.method ?? 'GET', headers, agent: false }, opts.tls, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        clearTimeout(timer);
        const body = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(body);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json });
      });
    });
    const timer = setTimeout(() => req.destroy(new Error('rawRequest timeout')), opts.timeoutMs ?? 5_000);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

export interface WatchEvent {
  type: string;
  object: { kind?: string; apiVersion?: string; metadata?: { name?: string; resourceVersion?: string }; [k: string]: unknown };
}

export interface RawWatch {
  status: number;
  headers: IncomingHttpHeaders;
  /** Events received so far (one per line). */
  events: WatchEvent[];
  /** Raw lines received so far. */
  lines: string[];
  /** Resolves when the stream ends: 'end' (clean) or 'error' (reset). */
  done: Promise<'end' | 'error'>;
  close(): void;
}

/** Open a watch with node:http and collect newline-delimited events. Resolves once headers arrive. */
export function rawWatch(baseUrl: string, path: string, opts: { token?: string; timeoutMs?: number; tls?: RawTlsOptions } = {}): Promise<RawWatch> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, baseUrl);
    const headers: Record<string, string> = {};
    if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    const req = request(url, { method: 'GET', headers, agent: false }, opts.tls);
    const hardTimeout = setTimeout(() => req.destroy(new Error('rawWatch hard timeout')), opts.timeoutMs ?? 15_000);
    hardTimeout.unref();
    req.on('response', (res) => {
      let buf = '';
      const events: WatchEvent[] = [];
      const lines: string[] = [];
      let settle: (v: 'end' | 'error') => void = () => {};
      const done = new Promise<'end' | 'error'>((r) => {
        settle = (v) => {
          clearTimeout(hardTimeout);
          r(v);
        };
      });
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        for (let i = 0; i < 10_000; i++) {
          const nl = buf.indexOf('\n');
          if (nl < 0) break;
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          lines.push(line);
          try {
            events.push(JSON.parse(line) as WatchEvent);
          } catch {
            // keep the raw line only
          }
        }
      });
      res.on('end', () => settle('end'));
      res.on('error', () => settle('error'));
      res.on('close', () => settle(res.complete ? 'end' : 'error'));
      resolve({
        status: res.statusCode ?? 0,
        headers: res.headers,
        events,
        lines,
        done,
        close: () => req.destroy(),
      });
    });
    req.on('error', (err) => {
      clearTimeout(hardTimeout);
      reject(err);
    });
    req.end();
  });
}
