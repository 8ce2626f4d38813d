// An in-process fake Kubernetes API server speaking the real JSON wire protocol (list, watch
// streams, optimistic concurrency, status subresource, patches, Status errors), with fault
// injection for resilience tests. Node built-ins only (plus client-node for `kubeConfig()`).
//
// See test/fake-apiserver/README.md for the list of known gaps against a real kube-apiserver.

import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { FakeApiError, apiError, failureStatus, reasonForCode } from './errors.ts';
import type { StatusObject } from './errors.ts';
import { RESOURCES, findByPath, resolveKind } from './resources.ts';
import type { ResourceDef } from './resources.ts';
import { matchFields, matchLabels, parseFieldSelector, parseLabelSelector } from './selectors.ts';
import type { FieldSelector, LabelSelector } from './selectors.ts';
import { Store, metaOf, objKey, expired } from './store.ts';
import type { DeletePreconditions, PatchType, StoreEvent } from './store.ts';
import { isJsonObject } from './patch.ts';
import type { JsonObject, JsonValue } from './patch.ts';

export interface FakeObjectMeta {
  name: string;
  namespace?: string;
  uid: string;
  resourceVersion: string;
  generation?: number;
  creationTimestamp: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

/** An object as stored by the fake (always with kind/apiVersion). */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: FakeObjectMeta;
  [key: string]: unknown;
}

/** TLS mode (kube-apiserver's --tls-cert-file, --tls-private-key-file, --client-ca-file). */
export interface FakeApiServerTls {
  /** Serving certificate (PEM, for 127.0.0.1) and its key. */
  cert: string;
  key: string;
  /** The CA that signed `cert`: what `kubeConfig()` / `writeKubeconfig()` trust. Default: `cert` (self-signed). */
  ca?: string;
  /**
   * Client certificates that verify against this CA (PEM bundle) authenticate as their CN, as
   * with --client-ca-file. Without it the server asks for no client certificate.
   */
  clientCA?: string;
}

export interface FakeApiServerOptions {
  /**
   * When set, a request must carry `Authorization: Bearer <token>` (else 401), unless (TLS mode)
   * its client certificate authenticates it.
   */
  token?: string;
  /**
   * Serve HTTPS instead of HTTP. Every request must then authenticate (a client certificate
   * verifying against `clientCA`, or the token): like kube-apiserver, no anonymous access
   * except to the public paths without any credentials.
   */
  tls?: FakeApiServerTls;
  /** Number of watch events kept for resumption / continue tokens (default 10 000). */
  historyWindow?: number;
  /** Interval of BOOKMARK events on watches with allowWatchBookmarks=true (default 60 000 ms). */
  bookmarkIntervalMs?: number;
}

export interface RequestRecord {
  method: string;
  path: string;
  query: Record<string, string>;
  /** HTTP status sent, 0 while pending or when the connection was dropped before a response. */
  status: number;
  /** Date.now() when the request arrived. */
  time: number;
  watch: boolean;
  /**
   * How the request authenticated: `x509` (client certificate), `token`, `anonymous` (a public
   * path without credentials) or `failed` (answered 401). Absent when the server authenticates
   * nothing (no token, no TLS) or the request was answered before authentication (paused, dropped).
   */
  auth?: 'x509' | 'token' | 'anonymous' | 'failed';
  /** The user it authenticated as: the client certificate's CN for `x509`, `system:anonymous` for `anonymous`. */
  user?: string;
  /** SHA-256 fingerprint (Node's `fingerprint256`) of the client certificate presented, valid or not. */
  clientCertFingerprint?: string;
}

export interface RequestFilter {
  method?: string;
  /** Exact path (no query). */
  path?: string;
  pathPrefix?: string;
  watch?: boolean;
  status?: number;
}

export interface FailOptions {
  /** Only these HTTP methods (upper case). Default: all. */
  methods?: string[];
  /** Only paths starting with this. Default: all. */
  pathPrefix?: string;
  /** Only watch (true) or only non-watch (false) requests. Default: both. */
  watch?: boolean;
  /** Status message; default "injected failure". */
  message?: string;
}

interface FailRule {
  remaining: number;
  status: number;
  opts: FailOptions;
}

interface Watcher {
  def: ResourceDef;
  ns: string | undefined;
  name: string | undefined;
  labels: LabelSelector;
  fields: FieldSelector;
  res: ServerResponse;
  path: string;
  timers: NodeJS.Timeout[];
  unsubscribe: () => void;
  closed: boolean;
}

interface Route {
  def: ResourceDef;
  ns: string | undefined;
  name: string | undefined;
  sub: 'status' | undefined;
  /** Deprecated `/watch/` path form. */
  watchPath: boolean;
  /** Path was the cluster-wide form for a namespaced kind. */
  allNamespaces: boolean;
}

interface ContinueToken {
  rv: number;
  start: string;
}

const MAX_BODY = 3 * 1024 * 1024;
const MAX_LOG = 20_000;
const MAX_WATCH_BUFFER = 16 * 1024 * 1024;
const JSON_HEADERS = { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' };

function toJsonObject(obj: object, what: string): JsonObject {
  const v: unknown = JSON.parse(JSON.stringify(obj));
  if (!isJsonObject(v)) throw new TypeError(`${what}: expected an object`);
  return v;
}

function asKube(obj: JsonObject): KubeObject {
  return structuredClone(obj) as unknown as KubeObject;
}

function stripTypeMeta(obj: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(obj)) if (k !== 'kind' && k !== 'apiVersion') out[k] = v;
  return out;
}

function labelsOf(obj: JsonObject): Record<string, string> | undefined {
  const l = metaOf(obj).labels;
  if (!isJsonObject(l)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(l)) if (typeof v === 'string') out[k] = v;
  return out;
}

function strField(obj: JsonObject, key: string): string | undefined {
  const v = metaOf(obj)[key];
  return typeof v === 'string' ? v : undefined;
}

function parseRv(s: string): number {
  if (!/^\d+$/.test(s)) throw apiError(400, `invalid resource version: ${JSON.stringify(s)}`);
  return Number(s);
}

function encodeContinue(t: ContinueToken): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: t.rv, start: t.start }), 'utf8').toString('base64');
}

function decodeContinue(s: string): ContinueToken {
  try {
    const v: unknown = JSON.parse(Buffer.from(s, 'base64').toString('utf8'));
    if (isJsonObject(v) && v.v === 'meta.k8s.io/v1' && typeof v.rv === 'number' && typeof v.start === 'string') {
      return { rv: v.rv, start: v.start };
    }
  } catch {
    // fall through
  }
  throw apiError(400, `continue key is not valid: ${JSON.stringify(s)}`);
}

function fieldLabels(def: ResourceDef): string[] {
  return ['metadata.name', 'metadata.namespace', ...def.extraFieldLabels];
}

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export class FakeApiServer {
  /** Every request seen (bounded to the last 20 000). */
  readonly requests: RequestRecord[] = [];
  readonly token: string | undefined;
  private readonly tls: FakeApiServerTls | undefined;
  private readonly store: Store;
  private readonly bookmarkIntervalMs: number;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly watchers = new Set<Watcher>();
  private failRules: FailRule[] = [];
  private pauseGate: { promise: Promise<void>; resolve: () => void } | undefined;
  private closed = false;
  private boundPort = 0;

  private constructor(opts: FakeApiServerOptions) {
    this.token = opts.token;
    this.tls = opts.tls;
    this.store = new Store({ historyWindow: opts.historyWindow ?? 10_000 });
    this.bookmarkIntervalMs = Math.max(1, opts.bookmarkIntervalMs ?? 60_000);
  }

  /** Start listening on 127.0.0.1 with an ephemeral port. */
  static async start(opts: FakeApiServerOptions = {}): Promise<FakeApiServer> {
    const s = new FakeApiServer(opts);
    await s.listen(0);
    return s;
  }

  /** The port (kept after stop() so restart() reuses it). */
  get port(): number {
    return this.boundPort;
  }

  get url(): string {
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.boundPort}`;
  }

  /** TLS mode: the CA (PEM) clients must trust for the serving certificate; undefined for HTTP. */
  get caPem(): string | undefined {
    return this.tls ? (this.tls.ca ?? this.tls.cert) : undefined;
  }

  /** True while listening. */
  get listening(): boolean {
    return this.server !== undefined;
  }

  /** The current global resourceVersion. */
  get resourceVersion(): string {
    return String(this.store.currentRv);
  }

  // ---------------------------------------------------------------------------------------------
  // lifecycle

  private async listen(port: number): Promise<void> {
    const handler = (req: IncomingMessage, res: ServerResponse): void => {
      void this.handle(req, res);
    };
    const tls = this.tls;
    // kube-apiserver asks for a client certificate but accepts connections without one (or with
    // one that does not verify): authentication decides per request (authenticate()).
    const server: Server = tls
      ? createHttpsServer(
          {
            keepAliveTimeout: 5_000,
            noDelay: true,
            cert: tls.cert,
            key: tls.key,
            ...(tls.clientCA ? { ca: tls.clientCA, requestCert: true, rejectUnauthorized: false } : {}),
          },
          handler,
        )
      : createServer({ keepAliveTimeout: 5_000, noDelay: true }, handler);
    server.on('tlsClientError', () => {});
    server.on('connection', (sock: Socket) => {
      this.sockets.add(sock);
      sock.on('close', () => this.sockets.delete(sock));
    });
    server.on('clientError', (_err, sock: Socket) => {
      sock.destroy();
    });
    let lastErr: unknown;
    // restart() may race a TIME_WAIT/lingering close on the same port: retry briefly (bounded).
    for (let attempt = 0; attempt < 40; attempt++) {
      try {
        await new Promise<void>((resolve, reject) => {
          const onError = (err: Error): void => {
            server.off('listening', onListening);
            reject(err);
          };
          const onListening = (): void => {
            server.off('error', onError);
            resolve();
          };
          server.once('error', onError);
          server.once('listening', onListening);
          server.listen({ port, host: '127.0.0.1', exclusive: true });
        });
        const addr = server.address();
        if (addr === null || typeof addr === 'string') throw new Error('unexpected server address');
        this.boundPort = addr.port;
        this.server = server;
        return;
      } catch (err) {
        lastErr = err;
        if (port === 0 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') break;
        await delay(50);
      }
    }
    throw lastErr instanceof Error ? lastErr : new Error(String(lastErr));
  }

  /** Stop listening and drop every connection (open watches are reset). The port stays reserved in this object. */
  async stop(): Promise<void> {
    const srv = this.server;
    if (!srv) return;
    this.server = undefined;
    for (const w of [...this.watchers]) this.endWatcher(w, true);
    const closed = new Promise<void>((resolve) => srv.close(() => resolve()));
    srv.closeAllConnections();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    await closed;
  }

  /** Listen again on the same port with the same data. */
  async restart(): Promise<void> {
    if (this.closed) throw new Error('FakeApiServer is closed');
    if (this.server) return;
    await this.listen(this.boundPort);
  }

  /** Stop for good: releases paused requests, closes every connection and the listener. */
  async close(): Promise<void> {
    this.closed = true;
    this.failRules = [];
    this.resume();
    await this.stop();
  }

  // ---------------------------------------------------------------------------------------------
  // client configuration

  /**
   * A client-node KubeConfig for this server: http → skipTLSVerify: true; TLS mode → trusts the
   * server's CA (`caData`). `token: ''` omits the token; `clientCert` adds a client certificate.
   */
  kubeConfig(opts: { token?: string; clientCert?: { certPem: string; keyPem: string } } = {}): KubeConfig {
    const token = opts.token ?? this.token;
    const b64 = (pem: string) => Buffer.from(pem).toString('base64');
    const ca = this.caPem;
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [ca ? { name: 'fake', server: this.url, caData: b64(ca), skipTLSVerify: false } : { name: 'fake', server: this.url, skipTLSVerify: true }],
      users: [
        {
          name: 'fake',
          ...(token ? { token } : {}),
          ...(opts.clientCert ? { certData: b64(opts.clientCert.certPem), keyData: b64(opts.clientCert.keyPem) } : {}),
        },
      ],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'fake', namespace: 'default' }],
      currentContext: 'fake',
    });
    return kc;
  }

  /**
   * Write a kubeconfig file for this server into `dir` and return its path. http →
   * insecure-skip-tls-verify; TLS mode → certificate-authority-data. The user is the token (if
   * any), or `user`: a kubeconfig `user` entry as an object (`{ exec: … }`,
   * `{ 'client-certificate-data': … }`), written as a YAML flow mapping.
   */
  writeKubeconfig(dir: string, opts: { user?: Record<string, unknown> } = {}): string {
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'kubeconfig');
    const user = opts.user ? `    ${JSON.stringify(opts.user)}\n` : this.token ? `    token: ${JSON.stringify(this.token)}\n` : '    {}\n';
    const ca = this.caPem;
    const trust = ca ? `    certificate-authority-data: ${Buffer.from(ca).toString('base64')}\n` : '    insecure-skip-tls-verify: true\n';
    const text =
      'apiVersion: v1\n' +
      'kind: Config\n' +
      'clusters:\n' +
      '- name: fake\n' +
      '  cluster:\n' +
      `    server: ${this.url}\n` +
      trust +
      'users:\n' +
      '- name: fake\n' +
      '  user:\n' +
      user +
      'contexts:\n' +
      '- name: fake\n' +
      '  context:\n' +
      '    cluster: fake\n' +
      '    user: fake\n' +
      '    namespace: default\n' +
      'current-context: fake\n';
    writeFileSync(file, text, { mode: 0o600 });
    return file;
  }

  // ---------------------------------------------------------------------------------------------
  // direct (non-HTTP) helpers — same storage, same watch events

  private defOf(obj: JsonObject): ResourceDef {
    const apiVersion = typeof obj.apiVersion === 'string' ? obj.apiVersion : '';
    const kind = typeof obj.kind === 'string' ? obj.kind : '';
    const def = resolveKind(apiVersion, kind);
    if (!def) throw new Error(`FakeApiServer: unsupported apiVersion/kind ${apiVersion}/${kind}`);
    return def;
  }

  private defOfRef(ref: string): ResourceDef {
    const def = resolveKind(ref);
    if (!def) throw new Error(`FakeApiServer: unknown kind ${ref}`);
    return def;
  }

  /** Create (needs apiVersion + kind; server-owned metadata in the input is ignored). Throws FakeApiError. */
  create(obj: object): KubeObject {
    const j = toJsonObject(obj, 'create');
    const def = this.defOf(j);
    const ns = def.namespaced ? (strField(j, 'namespace') ?? 'default') : undefined;
    return asKube(this.store.create(def, ns, j, false));
  }

  /**
   * Replace an object, including `.status` (a privileged writer). If `metadata.resourceVersion` is set
   * it must be current (409 otherwise); without it the update is unconditional (even for Lease).
   */
  update(obj: object): KubeObject {
    const j = toJsonObject(obj, 'update');
    const def = this.defOf(j);
    const ns = def.namespaced ? (strField(j, 'namespace') ?? 'default') : undefined;
    const name = strField(j, 'name') ?? '';
    const unconditional = !strField(j, 'resourceVersion');
    return asKube(this.store.update(def, ns, name, j, { includeStatus: true, skipRvCheck: unconditional }).object);
  }

  /** Replace only `.status` (the /status subresource semantics). */
  updateStatus(obj: object): KubeObject {
    const j = toJsonObject(obj, 'updateStatus');
    const def = this.defOf(j);
    const ns = def.namespaced ? (strField(j, 'namespace') ?? 'default') : undefined;
    const name = strField(j, 'name') ?? '';
    const unconditional = !strField(j, 'resourceVersion');
    return asKube(this.store.update(def, ns, name, j, { subresource: 'status', skipRvCheck: unconditional }).object);
  }

  /** Create, or replace (including status) if it exists. */
  apply(obj: object): KubeObject {
    const j = toJsonObject(obj, 'apply');
    const def = this.defOf(j);
    const ns = def.namespaced ? (strField(j, 'namespace') ?? 'default') : undefined;
    if (this.store.peek(def, ns, strField(j, 'name') ?? '')) {
      delete metaOf(j).resourceVersion;
      return this.update(j);
    }
    return this.create(j);
  }

  /** Patch like the HTTP PATCH (type 'merge' | 'json' | 'strategic'). */
  patch(
    kind: string,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    type: PatchType = 'merge',
    subresource?: 'status',
  ): KubeObject {
    const def = this.defOfRef(kind);
    const body = JSON.parse(JSON.stringify(patch)) as JsonValue;
    return asKube(this.store.patch(def, def.namespaced ? (namespace ?? 'default') : undefined, name, type, body, subresource));
  }

  /** Delete by kind reference (`Ingress`, `v1/Secret`, `networking.k8s.io/v1/Ingress`). Throws 404 FakeApiError. */
  delete(kind: string, namespace: string | undefined, name: string): KubeObject {
    const def = this.defOfRef(kind);
    return asKube(this.store.remove(def, def.namespaced ? (namespace ?? 'default') : undefined, name));
  }

  get(kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
    const def = this.defOfRef(kind);
    const o = this.store.peek(def, def.namespaced ? (namespace ?? 'default') : undefined, name);
    return o ? asKube(o) : undefined;
  }

  /** Current objects of a kind (optionally one namespace), sorted by namespace/name. */
  list(kind: string, namespace?: string): KubeObject[] {
    const def = this.defOfRef(kind);
    return this.store
      .current(def)
      .filter((o) => namespace === undefined || strField(o, 'namespace') === namespace)
      .map(asKube);
  }

  // ---------------------------------------------------------------------------------------------
  // fault injection

  /** End every open watch stream cleanly (chunked terminator). */
  closeWatches(): void {
    for (const w of [...this.watchers]) this.endWatcher(w, false);
  }

  /** Destroy the sockets of every open watch mid-stream. */
  resetWatches(): void {
    for (const w of [...this.watchers]) this.endWatcher(w, true);
  }

  /** The next `n` requests matching `opts` get `status` as a Status object. */
  failNext(n: number, status: number, opts: FailOptions = {}): void {
    if (n > 0) this.failRules.push({ remaining: Math.floor(n), status, opts });
  }

  clearFailures(): void {
    this.failRules = [];
  }

  /** Drop the watch history: any RV handed out so far → 410 on watch / continue. */
  compact(): void {
    this.store.compact();
  }

  /** New requests hang (before auth/routing) until resume(). Open watches keep streaming. */
  pause(): void {
    if (this.pauseGate) return;
    let resolve: () => void = () => {};
    const promise = new Promise<void>((r) => {
      resolve = r;
    });
    this.pauseGate = { promise, resolve };
  }

  resume(): void {
    const g = this.pauseGate;
    this.pauseGate = undefined;
    g?.resolve();
  }

  // ---------------------------------------------------------------------------------------------
  // observability

  requestCount(filter: RequestFilter | ((r: RequestRecord) => boolean) = {}): number {
    const pred =
      typeof filter === 'function'
        ? filter
        : (r: RequestRecord): boolean =>
            (filter.method === undefined || r.method === filter.method.toUpperCase()) &&
            (filter.path === undefined || r.path === filter.path) &&
            (filter.pathPrefix === undefined || r.path.startsWith(filter.pathPrefix)) &&
            (filter.watch === undefined || r.watch === filter.watch) &&
            (filter.status === undefined || r.status === filter.status);
    let n = 0;
    for (const r of this.requests) if (pred(r)) n++;
    return n;
  }

  /** Number of open watch streams, optionally of one kind (`Ingress`, `v1/Secret`, …). */
  openWatches(kind?: string): number {
    if (kind === undefined) return this.watchers.size;
    const def = this.defOfRef(kind);
    let n = 0;
    for (const w of this.watchers) if (w.def === def) n++;
    return n;
  }

  /** Resolve once at least `n` watches (of `kind`, if given) are open; reject after `timeoutMs`. */
  async waitForWatches(n: number, opts: { kind?: string; timeoutMs?: number } = {}): Promise<void> {
    const deadline = Date.now() + (opts.timeoutMs ?? 5_000);
    for (let i = 0; i < 100_000; i++) {
      if (this.openWatches(opts.kind) >= n) return;
      if (Date.now() > deadline) break;
      await delay(5);
    }
    throw new Error(`timed out waiting for ${n} open watches (have ${this.openWatches(opts.kind)})`);
  }

  // ---------------------------------------------------------------------------------------------
  // HTTP

  private record(r: RequestRecord): void {
    this.requests.push(r);
    if (this.requests.length > MAX_LOG) this.requests.splice(0, this.requests.length - MAX_LOG);
  }

  private send(res: ServerResponse, rec: RequestRecord, code: number, body: unknown, extra: Record<string, string> = {}): void {
    if (res.destroyed || res.writableEnded) return;
    const text = JSON.stringify(body);
    rec.status = code;
    res.writeHead(code, { ...JSON_HEADERS, ...extra, 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  }

  private sendStatus(res: ServerResponse, rec: RequestRecord, status: StatusObject, extra: Record<string, string> = {}): void {
    this.send(res, rec, status.code, status, extra);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.on('error', () => {});
    const url = new URL(req.url ?? '/', 'http://fake.invalid');
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) query[k] = v;
    const method = (req.method ?? 'GET').toUpperCase();
    let isWatch = query.watch === 'true' || query.watch === '1';
    const rec: RequestRecord = { method, path: url.pathname, query, status: 0, time: Date.now(), watch: isWatch };
    this.record(rec);
    try {
      for (let i = 0; i < 1_000 && this.pauseGate; i++) await this.pauseGate.promise;
      if (res.destroyed || req.socket.destroyed) return;

      const publicPath = ['/healthz', '/livez', '/readyz', '/version'].includes(url.pathname);
      if (!this.authenticate(req, rec, publicPath)) {
        this.sendStatus(res, rec, failureStatus(401, 'Unauthorized', 'Unauthorized'));
        req.resume();
        return;
      }

      const route = this.parseRoute(url.pathname);
      if (route?.watchPath) {
        isWatch = true;
        rec.watch = true;
      }

      const rule = this.failRules.find(
        (r) =>
          r.remaining > 0 &&
          (r.opts.methods === undefined || r.opts.methods.map((m) => m.toUpperCase()).includes(method)) &&
          (r.opts.pathPrefix === undefined || url.pathname.startsWith(r.opts.pathPrefix)) &&
          (r.opts.watch === undefined || r.opts.watch === isWatch),
      );
      if (rule) {
        rule.remaining--;
        this.failRules = this.failRules.filter((r) => r.remaining > 0);
        const st = failureStatus(rule.status, rule.opts.message ?? 'injected failure', reasonForCode(rule.status));
        const extra: Record<string, string> = {};
        if (rule.status === 429 || rule.status === 503) {
          st.details = { retryAfterSeconds: 1 };
          extra['Retry-After'] = '1';
        }
        req.resume();
        this.sendStatus(res, rec, st, extra);
        return;
      }

      if (this.handleMeta(url.pathname, method, res, rec)) {
        req.resume();
        return;
      }

      if (!route) {
        req.resume();
        this.sendStatus(res, rec, failureStatus(404, 'the server could not find the requested resource', 'NotFound'));
        return;
      }
      await this.dispatch(req, res, rec, route, method, query, isWatch);
    } catch (err) {
      if (err instanceof FakeApiError) {
        this.sendStatus(res, rec, err.status);
      } else if (!res.headersSent) {
        this.sendStatus(res, rec, failureStatus(500, `Internal error occurred: ${String(err)}`, 'InternalError'));
      } else {
        res.destroy();
      }
    }
  }

  /**
   * kube-apiserver's authentication, for the two methods the fake has: a union of the client
   * certificate (x509, tried first) and the bearer token, where the first success wins and a
   * failure of one method falls through to the next; then anonymous, only when no method
   * *failed* (credentials that do not verify are a 401 even on a public path). RBAC is not
   * modelled, so anonymous reaches only the public paths. Returns false for a 401.
   */
  private authenticate(req: IncomingMessage, rec: RequestRecord, publicPath: boolean): boolean {
    const tls = this.tls;
    if (this.token === undefined && tls === undefined) return true;
    let failed = false;
    if (tls?.clientCA) {
      const sock = req.socket as TLSSocket;
      const peer = sock.getPeerCertificate();
      if (peer && peer.raw) {
        rec.clientCertFingerprint = peer.fingerprint256;
        // Verified against clientCA (chain, client-auth usage) at the handshake; the validity
        // window is checked per request, as kube-apiserver does, since a keep-alive connection
        // outlives a short-lived certificate.
        const now = Date.now();
        const valid = sock.authorized && Date.parse(peer.valid_from) <= now && now <= Date.parse(peer.valid_to);
        const user = typeof peer.subject?.CN === 'string' ? peer.subject.CN : '';
        if (valid && user !== '') {
          rec.auth = 'x509';
          rec.user = user;
          return true;
        }
        failed = true;
      }
    }
    const header = req.headers.authorization;
    if (header !== undefined) {
      if (this.token !== undefined && header === `Bearer ${this.token}`) {
        rec.auth = 'token';
        return true;
      }
      failed = true;
    }
    if (!failed && publicPath) {
      rec.auth = 'anonymous';
      rec.user = 'system:anonymous';
      return true;
    }
    rec.auth = 'failed';
    return false;
  }

  /** Discovery, version and health endpoints. */
  private handleMeta(path: string, method: string, res: ServerResponse, rec: RequestRecord): boolean {
    if (method !== 'GET') return false;
    if (path === '/healthz' || path === '/livez' || path === '/readyz') {
      rec.status = 200;
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('ok');
      return true;
    }
    if (path === '/version') {
      this.send(res, rec, 200, {
        major: '1',
        minor: '36',
        gitVersion: 'v1.36.0-portico-fake',
        gitCommit: '0000000000000000000000000000000000000000',
        gitTreeState: 'clean',
        buildDate: '2026-01-01T00:00:00Z',
        goVersion: 'go1.25',
        compiler: 'gc',
        platform: 'linux/amd64',
      });
      return true;
    }
    if (path === '/api') {
      this.send(res, rec, 200, {
        kind: 'APIVersions',
        versions: ['v1'],
        serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `127.0.0.1:${this.boundPort}` }],
      });
      return true;
    }
    const groups = [...new Set(RESOURCES.filter((r) => r.group !== '').map((r) => r.group))];
    const groupObj = (g: string): JsonObject => {
      const versions = [...new Set(RESOURCES.filter((r) => r.group === g).map((r) => r.version))];
      const vs = versions.map((v) => ({ groupVersion: `${g}/${v}`, version: v }));
      return { name: g, versions: vs, preferredVersion: vs[0] ?? null };
    };
    if (path === '/apis') {
      this.send(res, rec, 200, { kind: 'APIGroupList', apiVersion: 'v1', groups: groups.map(groupObj) });
      return true;
    }
    const gm = /^\/apis\/([^/]+)$/.exec(path);
    if (gm && groups.includes(gm[1] ?? '')) {
      this.send(res, rec, 200, { kind: 'APIGroup', apiVersion: 'v1', ...groupObj(gm[1] ?? '') });
      return true;
    }
    const vm = /^\/api\/(v1)$/.exec(path) ?? /^\/apis\/([^/]+\/[^/]+)$/.exec(path);
    if (vm) {
      const gv = vm[1] ?? '';
      const defs = RESOURCES.filter((r) => r.apiVersion === gv);
      if (defs.length === 0) return false;
      const resources: JsonObject[] = [];
      for (const d of defs) {
        resources.push({
          name: d.plural,
          singularName: d.kind.toLowerCase(),
          namespaced: d.namespaced,
          kind: d.kind,
          verbs: VERBS,
        });
        if (d.statusSubresource) {
          resources.push({ name: `${d.plural}/status`, singularName: '', namespaced: d.namespaced, kind: d.kind, verbs: ['get', 'patch', 'update'] });
        }
      }
      this.send(res, rec, 200, { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv, resources });
      return true;
    }
    return false;
  }

  private parseRoute(pathname: string): Route | undefined {
    let segs: string[];
    try {
      segs = pathname.split('/').filter((s) => s !== '').map((s) => decodeURIComponent(s));
    } catch {
      return undefined;
    }
    let group: string;
    let version: string;
    let rest: string[];
    if (segs[0] === 'api' && segs.length >= 2) {
      group = '';
      version = segs[1] ?? '';
      rest = segs.slice(2);
    } else if (segs[0] === 'apis' && segs.length >= 3) {
      group = segs[1] ?? '';
      version = segs[2] ?? '';
      rest = segs.slice(3);
    } else {
      return undefined;
    }
    let watchPath = false;
    if (rest[0] === 'watch') {
      watchPath = true;
      rest = rest.slice(1);
    }
    let ns: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3) {
      ns = rest[1];
      rest = rest.slice(2);
    }
    const plural = rest[0];
    if (plural === undefined || rest.length > 3) return undefined;
    const def = findByPath(group, version, plural);
    if (!def) return undefined;
    if (ns !== undefined && !def.namespaced) return undefined;
    const name = rest[1];
    const subRaw = rest[2];
    if (subRaw !== undefined && (subRaw !== 'status' || !def.statusSubresource)) return undefined;
    if (def.namespaced && ns === undefined && name !== undefined) return undefined;
    if (watchPath && subRaw !== undefined) return undefined;
    return { def, ns, name, sub: subRaw === 'status' ? 'status' : undefined, watchPath, allNamespaces: def.namespaced && ns === undefined };
  }

  private async readBody(req: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
      size += b.length;
      if (size > MAX_BODY) throw apiError(413, 'Request entity too large: limit is 3145728');
      chunks.push(b);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  private async readJson(req: IncomingMessage, def: ResourceDef, allowEmpty: boolean): Promise<JsonValue | undefined> {
    const text = await this.readBody(req);
    if (text.trim() === '') {
      if (allowEmpty) return undefined;
      throw apiError(400, `${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: empty body`);
    }
    try {
      return JSON.parse(text) as JsonValue;
    } catch (err) {
      throw apiError(
        400,
        `${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: json parse error: ${String(err)}`,
      );
    }
  }

  private async readObject(req: IncomingMessage, def: ResourceDef): Promise<JsonObject> {
    const ct = (req.headers['content-type'] ?? 'application/json').split(';')[0]?.trim().toLowerCase() ?? '';
    if (ct !== 'application/json' && ct !== '*/*' && ct !== '') {
      req.resume();
      throw apiError(
        415,
        `the body of the request was in an unknown format - accepted media types include: application/json`,
        'UnsupportedMediaType',
      );
    }
    const v = await this.readJson(req, def, false);
    if (!isJsonObject(v)) {
      throw apiError(400, `${def.kind} in version "${def.version}" cannot be handled as a ${def.kind}: expected an object`);
    }
    return v;
  }

  private async dispatch(
    req: IncomingMessage,
    res: ServerResponse,
    rec: RequestRecord,
    route: Route,
    method: string,
    q: Record<string, string>,
    isWatch: boolean,
  ): Promise<void> {
    const { def, ns, name, sub } = route;
    const notAllowed = (): void => {
      req.resume();
      this.sendStatus(res, rec, failureStatus(405, 'the server does not allow this method on the requested resource', 'MethodNotAllowed'));
    };
    if (isWatch) {
      if (method !== 'GET' || sub !== undefined) return notAllowed();
      req.resume();
      this.startWatch(res, rec, route, q);
      return;
    }
    if (name === undefined) {
      if (method === 'GET') {
        req.resume();
        this.sendList(res, rec, route, q);
        return;
      }
      if (method === 'POST') {
        if (route.allNamespaces) return notAllowed();
        const body = await this.readObject(req, def);
        const created = this.store.create(def, ns, body, true);
        this.send(res, rec, 201, created);
        return;
      }
      if (method === 'DELETE') {
        if (route.allNamespaces) return notAllowed();
        await this.readBody(req);
        const labels = parseLabelSelector(q.labelSelector ?? '');
        const fields = parseFieldSelector(q.fieldSelector ?? '', fieldLabels(def));
        const victims = this.store
          .current(def)
          .filter((o) => (ns === undefined || strField(o, 'namespace') === ns) && matchLabels(labels, labelsOf(o)) && matchFields(fields, o));
        const items: JsonObject[] = [];
        for (const v of victims) {
          items.push(stripTypeMeta(this.store.remove(def, ns, strField(v, 'name') ?? '')));
        }
        this.send(res, rec, 200, {
          kind: def.listKind,
          apiVersion: def.apiVersion,
          metadata: { resourceVersion: String(this.store.currentRv) },
          items,
        });
        return;
      }
      return notAllowed();
    }
    switch (method) {
      case 'GET': {
        req.resume();
        const o = this.store.peek(def, ns, name);
        if (!o) throw notFoundFor(def, name);
        this.send(res, rec, 200, o);
        return;
      }
      case 'PUT': {
        const body = await this.readObject(req, def);
        const opts: { subresource?: 'status' } = {};
        if (sub) opts.subresource = sub;
        const r = this.store.update(def, ns, name, body, opts);
        this.send(res, rec, r.created ? 201 : 200, r.object);
        return;
      }
      case 'PATCH': {
        const ct = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
        const type: PatchType | undefined =
          ct === 'application/merge-patch+json'
            ? 'merge'
            : ct === 'application/json-patch+json'
              ? 'json'
              : ct === 'application/strategic-merge-patch+json'
                ? 'strategic'
                : undefined;
        if (!type) {
          req.resume();
          throw apiError(
            415,
            `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json`,
            'UnsupportedMediaType',
          );
        }
        const patch = await this.readJson(req, def, false);
        const out = this.store.patch(def, ns, name, type, patch ?? null, sub);
        this.send(res, rec, 200, out);
        return;
      }
      case 'DELETE': {
        if (sub) return notAllowed();
        const opts = await this.readJson(req, def, true);
        const pre: DeletePreconditions = {};
        if (isJsonObject(opts) && isJsonObject(opts.preconditions)) {
          if (typeof opts.preconditions.uid === 'string') pre.uid = opts.preconditions.uid;
          if (typeof opts.preconditions.resourceVersion === 'string') pre.resourceVersion = opts.preconditions.resourceVersion;
        }
        const gone = this.store.remove(def, ns, name, pre);
        if (def.deleteReturnsObject) {
          this.send(res, rec, 200, gone);
        } else {
          this.send(res, rec, 200, {
            kind: 'Status',
            apiVersion: 'v1',
            metadata: {},
            status: 'Success',
            details: { name, group: def.group, kind: def.plural, uid: strField(gone, 'uid') ?? '' },
          });
        }
        return;
      }
      default:
        return notAllowed();
    }
  }

  private matcher(route: Route, q: Record<string, string>): (o: JsonObject) => boolean {
    const labels = parseLabelSelector(q.labelSelector ?? '');
    const fields = parseFieldSelector(q.fieldSelector ?? '', fieldLabels(route.def));
    const { ns, name } = route;
    return (o) =>
      (ns === undefined || strField(o, 'namespace') === ns) &&
      (name === undefined || strField(o, 'name') === name) &&
      matchLabels(labels, labelsOf(o)) &&
      matchFields(fields, o);
  }

  private sendList(res: ServerResponse, rec: RequestRecord, route: Route, q: Record<string, string>): void {
    const { def } = route;
    const match = this.matcher(route, q);
    let rv = this.store.currentRv;
    let start = '';
    if (q.continue) {
      if (q.resourceVersion && q.resourceVersion !== '0') {
        throw apiError(400, 'specifying resource version is not allowed when using continue');
      }
      const tok = decodeContinue(q.continue);
      if (tok.rv < this.store.oldestRv) {
        throw expired(
          'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
        );
      }
      rv = tok.rv;
      start = tok.start;
    } else if (q.resourceVersion !== undefined && q.resourceVersion !== '') {
      const requested = parseRv(q.resourceVersion);
      // resourceVersionMatch=Exact serves the snapshot at that RV (410 if compacted); otherwise "not older than" → current.
      if (q.resourceVersionMatch === 'Exact') rv = requested;
    }
    const all = this.store.snapshotAt(def, rv).filter(match);
    const keyed = all
      .map((o) => ({ key: objKey(strField(o, 'namespace'), strField(o, 'name') ?? ''), o }))
      .filter((e) => e.key >= start);
    const limitRaw = q.limit !== undefined ? Number(q.limit) : 0;
    const limit = Number.isInteger(limitRaw) && limitRaw > 0 ? limitRaw : 0;
    const page = limit > 0 ? keyed.slice(0, limit) : keyed;
    const metadata: JsonObject = { resourceVersion: String(rv) };
    if (limit > 0 && keyed.length > limit) {
      const last = page[page.length - 1];
      metadata.continue = encodeContinue({ rv, start: `${last?.key ?? ''}\u0000` });
      metadata.remainingItemCount = keyed.length - limit;
    }
    this.send(res, rec, 200, {
      kind: def.listKind,
      apiVersion: def.apiVersion,
      metadata,
      items: page.map((e) => stripTypeMeta(e.o)),
    });
  }

  // ---------------------------------------------------------------------------------------------
  // watch

  private startWatch(res: ServerResponse, rec: RequestRecord, route: Route, q: Record<string, string>): void {
    const { def } = route;
    const labels = parseLabelSelector(q.labelSelector ?? '');
    const fields = parseFieldSelector(q.fieldSelector ?? '', fieldLabels(def));
    const rvParam = q.resourceVersion ?? '';
    let timeoutSeconds = 0;
    if (q.timeoutSeconds !== undefined && q.timeoutSeconds !== '') {
      timeoutSeconds = Number(q.timeoutSeconds);
      if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 0) {
        throw apiError(400, `invalid timeoutSeconds: ${JSON.stringify(q.timeoutSeconds)}`);
      }
    }
    const bookmarks = q.allowWatchBookmarks === 'true' || q.allowWatchBookmarks === '1';

    let initial: JsonObject[] = [];
    let replay: StoreEvent[] = [];
    let tooOld: StatusObject | undefined;
    if (rvParam === '' || rvParam === '0') {
      initial = this.store.current(def);
    } else {
      const rv = parseRv(rvParam);
      try {
        replay = this.store.eventsAfter(rv);
      } catch (err) {
        if (err instanceof FakeApiError && err.code === 410) tooOld = err.status;
        else throw err;
      }
    }

    rec.status = 200;
    res.writeHead(200, { ...JSON_HEADERS, 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    if (tooOld) {
      res.end(`${JSON.stringify({ type: 'ERROR', object: tooOld })}\n`);
      return;
    }

    const w: Watcher = {
      def,
      ns: route.ns,
      name: route.name,
      labels,
      fields,
      res,
      path: rec.path,
      timers: [],
      unsubscribe: () => {},
      closed: false,
    };
    this.watchers.add(w);
    res.on('close', () => this.endWatcher(w, false));
    w.unsubscribe = this.store.subscribe((ev) => this.deliver(w, ev));

    const matches = (o: JsonObject): boolean => this.watchMatches(w, o);
    for (const o of initial) if (matches(o)) this.writeEvent(w, 'ADDED', o);
    for (const ev of replay) this.deliver(w, ev);

    if (timeoutSeconds > 0) {
      const t = setTimeout(() => this.endWatcher(w, false), timeoutSeconds * 1000);
      t.unref();
      w.timers.push(t);
    }
    if (bookmarks) {
      const t = setInterval(() => {
        this.writeEvent(w, 'BOOKMARK', {
          kind: def.kind,
          apiVersion: def.apiVersion,
          metadata: { resourceVersion: String(this.store.currentRv) },
        });
      }, this.bookmarkIntervalMs);
      t.unref();
      w.timers.push(t);
    }
  }

  private watchMatches(w: Watcher, o: JsonObject): boolean {
    return (
      (w.ns === undefined || strField(o, 'namespace') === w.ns) &&
      (w.name === undefined || strField(o, 'name') === w.name) &&
      matchLabels(w.labels, labelsOf(o)) &&
      matchFields(w.fields, o)
    );
  }

  /** Fan out one store event to one watcher, translating selector transitions like the watch cache. */
  private deliver(w: Watcher, ev: StoreEvent): void {
    if (w.closed || ev.def !== w.def) return;
    if (ev.type === 'ADDED') {
      if (this.watchMatches(w, ev.object)) this.writeEvent(w, 'ADDED', ev.object);
      return;
    }
    if (ev.type === 'DELETED') {
      if (this.watchMatches(w, ev.object)) this.writeEvent(w, 'DELETED', ev.object);
      return;
    }
    const cur = this.watchMatches(w, ev.object);
    const prev = ev.prev !== undefined && this.watchMatches(w, ev.prev);
    if (cur && prev) this.writeEvent(w, 'MODIFIED', ev.object);
    else if (cur) this.writeEvent(w, 'ADDED', ev.object);
    else if (prev && ev.prev) {
      const last = structuredClone(ev.prev);
      metaOf(last).resourceVersion = String(ev.rv);
      this.writeEvent(w, 'DELETED', last);
    }
  }

  private writeEvent(w: Watcher, type: string, object: JsonObject): void {
    const res = w.res;
    if (w.closed || res.destroyed || res.writableEnded) return;
    res.write(`${JSON.stringify({ type, object })}\n`);
    if (res.writableLength > MAX_WATCH_BUFFER) this.endWatcher(w, true);
  }

  private endWatcher(w: Watcher, reset: boolean): void {
    if (!w.closed) {
      w.closed = true;
      w.unsubscribe();
      for (const t of w.timers) clearTimeout(t);
      w.timers = [];
      this.watchers.delete(w);
    }
    if (reset) {
      w.res.socket?.destroy();
      w.res.destroy();
    } else if (!w.res.writableEnded && !w.res.destroyed) {
      w.res.end();
    }
  }
}

function notFoundFor(def: ResourceDef, name: string): FakeApiError {
  return apiError(404, `${def.qualifiedResource} "${name}" not found`, 'NotFound', {
    name,
    group: def.group,
    kind: def.plural,
  });
}

export { FakeApiError } from './errors.ts';
export type { StatusObject } from './errors.ts';
export type { PatchType } from './store.ts';
