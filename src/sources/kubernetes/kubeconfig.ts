// Kubernetes credentials without loading the whole of @kubernetes/client-node.
//
// The package's index, and config.js where its KubeConfig lives, statically import every
// generated model and API client (about 1,000 modules): importing KubeConfig alone costs a
// process about 55 MiB RSS beyond undici, for code Portico never calls (it speaks plain JSON,
// see api.ts). So this module is the part of client-node's KubeConfig we use — loading (a file,
// the $KUBECONFIG list, ~/.kube/config, in-cluster) and per-request credentials (TLS material,
// bearer tokens, token files, exec plugins, basic auth, impersonation, HTTP(S) proxies) — with the
// same rules as client-node 2.0.1 `dist/config.js`, built on the package's own small modules,
// imported by path (the package has no "exports" map; the version is pinned):
// `config_types.js` (the kubeconfig schema) and the authenticators (`exec_auth.js`,
// `file_auth.js`, `azure_auth.js`, `gcp_auth.js`). The two rare cases whose code lives only in
// the heavy part — the `oidc` auth-provider and SOCKS proxies — are handed to the full library,
// loaded on first use (those setups pay its memory, nobody else does).

import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type https from 'node:https';
import { load as loadYaml } from 'js-yaml';
import { Agent, ProxyAgent, type Dispatcher } from 'undici';
import { newClusters, newContexts, newUsers, type Cluster, type Context, type User } from '@kubernetes/client-node/dist/config_types.js';
import type { Authenticator } from '@kubernetes/client-node/dist/auth.js';
import { ExecAuth } from '@kubernetes/client-node/dist/exec_auth.js';
import { FileAuth } from '@kubernetes/client-node/dist/file_auth.js';
import { AzureAuth } from '@kubernetes/client-node/dist/azure_auth.js';
import { GoogleCloudPlatformAuth } from '@kubernetes/client-node/dist/gcp_auth.js';
import type { RequestContext } from '@kubernetes/client-node/dist/gen/http/http.js';

export type { Cluster, Context, User };

/**
 * What the API client and the watches need from a kubeconfig: the server, and credentials put
 * on each request (headers, and a dispatcher carrying the TLS material). Both this module's
 * KubeConfig and client-node's satisfy it (the tests use client-node's).
 */
export interface KubeCredentials {
  getCurrentCluster(): { readonly server: string } | null;
  applySecurityAuthentication(context: RequestContext): Promise<void>;
}

const SERVICEACCOUNT_ROOT = '/var/run/secrets/kubernetes.io/serviceaccount';
const SERVICEACCOUNT_CA_PATH = `${SERVICEACCOUNT_ROOT}/ca.crt`;
const SERVICEACCOUNT_TOKEN_PATH = `${SERVICEACCOUNT_ROOT}/token`;
const SERVICEACCOUNT_NAMESPACE_PATH = `${SERVICEACCOUNT_ROOT}/namespace`;

/** What the authenticators fill in (they take https.RequestOptions). */
interface AuthOptions extends https.RequestOptions {
  headers: Record<string, string>;
}

export class KubeConfig implements KubeCredentials {
  clusters: Cluster[] = [];
  users: User[] = [];
  contexts: Context[] = [];
  currentContext: string | undefined;
  // One instance each, as in client-node: ExecAuth caches credentials until they expire and
  // FileAuth re-reads its token file every 60 s (projected service-account token rotation).
  private readonly authenticators: Authenticator[] = [new AzureAuth(), new GoogleCloudPlatformAuth(), new ExecAuth(), new FileAuth()];
  /**
   * client-node builds a new undici Agent on every call (a new connection per request or watch);
   * we keep one per distinct TLS/proxy material, so a rotated client certificate (exec plugins)
   * still gets a new Agent and everything else reuses connections.
   */
  private dispatcher: { key: string; dispatcher: Dispatcher } | undefined;
  private full: Promise<KubeCredentials> | undefined;

  getCurrentContext(): string | undefined {
    return this.currentContext;
  }

  getCurrentCluster(): Cluster | null {
    const ctx = this.contexts.find((c) => c.name === this.currentContext);
    return ctx ? (this.clusters.find((c) => c.name === ctx.cluster) ?? null) : null;
  }

  getCurrentUser(): User | null {
    const ctx = this.contexts.find((c) => c.name === this.currentContext);
    return ctx ? (this.users.find((u) => u.name === ctx.user) ?? null) : null;
  }

  loadFromOptions(options: { clusters: Cluster[]; users: User[]; contexts: Context[]; currentContext: string | undefined }): void {
    this.clusters = options.clusters;
    this.users = options.users;
    this.contexts = options.contexts;
    this.currentContext = options.currentContext;
  }

  loadFromString(text: string): void {
    const obj = (loadYaml(text) ?? {}) as { clusters?: unknown; users?: unknown; contexts?: unknown; 'current-context'?: string };
    this.clusters = newClusters(obj.clusters);
    this.users = newUsers(obj.users);
    this.contexts = newContexts(obj.contexts);
    this.currentContext = obj['current-context'];
  }

  /** Relative certificate and key paths are relative to the file. */
  loadFromFile(file: string): void {
    this.loadFromString(fs.readFileSync(file, 'utf8'));
    const dir = path.dirname(file);
    const abs = (p: string) => (path.isAbsolute(p) ? p : path.join(dir, p));
    for (const c of this.clusters) if (c.caFile) c.caFile = abs(c.caFile);
    for (const u of this.users) {
      if (u.certFile) u.certFile = abs(u.certFile);
      if (u.keyFile) u.keyFile = abs(u.keyFile);
    }
  }

  /** The pod's service account: API server from the environment, CA and rotating token from files. */
  loadFromCluster(pathPrefix = ''): void {
    const host = process.env.KUBERNETES_SERVICE_HOST ?? '';
    const port = process.env.KUBERNETES_SERVICE_PORT ?? '';
    const scheme = port === '80' || port === '8080' || port === '8001' ? 'http' : 'https';
    const serverHost = net.isIPv6(host) ? `[${host}]` : host;
    const namespaceFile = `${pathPrefix}${SERVICEACCOUNT_NAMESPACE_PATH}`;
    const namespace = fileExists(namespaceFile) ? fs.readFileSync(namespaceFile, 'utf8') : undefined;
    this.loadFromOptions({
      clusters: [{ name: 'inCluster', caFile: `${pathPrefix}${SERVICEACCOUNT_CA_PATH}`, server: `${scheme}://${serverHost}:${port}`, skipTLSVerify: false }],
      users: [{ name: 'inClusterUser', authProvider: { name: 'tokenFile', config: { tokenFile: `${pathPrefix}${SERVICEACCOUNT_TOKEN_PATH}` } } }],
      contexts: [{ name: 'inClusterContext', cluster: 'inCluster', user: 'inClusterUser', ...(namespace !== undefined ? { namespace } : {}) }],
      currentContext: 'inClusterContext',
    });
  }

  /**
   * client-node's order: every file of $KUBECONFIG (merged; a name defined twice is an error),
   * else ~/.kube/config, else in-cluster; then, unlike client-node (which tries
   * http://localhost:8080, and WSL on Windows), an error saying nothing was found.
   */
  loadFromDefault(): void {
    const env = process.env.KUBECONFIG;
    if (env) {
      const files = env.split(path.delimiter).filter(Boolean);
      this.loadFromFile(files[0]!);
      for (const file of files.slice(1)) {
        const other = new KubeConfig();
        other.loadFromFile(file);
        this.merge(other);
      }
      return;
    }
    const home = process.env.HOME;
    if (home && fileExists(path.join(home, '.kube', 'config'))) return this.loadFromFile(path.join(home, '.kube', 'config'));
    if (fileExists(SERVICEACCOUNT_TOKEN_PATH)) return this.loadFromCluster();
    // client-node would fall back to http://localhost:8080 and Portico would retry it forever
    // with errors that point elsewhere: say what is missing instead
    throw new Error('no kubeconfig found and not running in a cluster: pass --kubeconfig, set KUBECONFIG, create ~/.kube/config, or run Portico in a pod with a service account (or use --manifests DIR for file mode)');
  }

  /** Sets the headers and the dispatcher of one request (client-node's applySecurityAuthentication). */
  async applySecurityAuthentication(context: RequestContext): Promise<void> {
    const cluster = this.getCurrentCluster();
    const user = this.getCurrentUser();
    if (user?.authProvider?.name === 'oidc' || cluster?.proxyUrl?.startsWith('socks')) {
      return (await this.fullLibrary()).applySecurityAuthentication(context);
    }
    const opts: AuthOptions = { headers: {} };
    if (user) {
      if (cluster?.skipTLSVerify) opts.rejectUnauthorized = false;
      if (cluster?.tlsServerName) opts.servername = cluster.tlsServerName;
      const ca = cluster ? fileOrData(cluster.caFile, cluster.caData) : null;
      if (ca) opts.ca = ca;
      const cert = fileOrData(user.certFile, user.certData);
      if (cert) opts.cert = cert;
      const key = fileOrData(user.keyFile, user.keyData);
      if (key) opts.key = key;
      if (user.impersonateUser != null) opts.headers['Impersonate-User'] = user.impersonateUser;
      await this.authenticators.find((a) => a.isAuthProvider(user))?.applyAuthentication(user, opts);
      if (user.token) opts.headers.Authorization = `Bearer ${user.token}`;
      if (user.username) context.setHeaderParam('Authorization', `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`);
    }
    for (const [k, v] of Object.entries(opts.headers)) context.setHeaderParam(k, `${v}`);
    const dispatcher = this.dispatcherFor(cluster, opts);
    if (dispatcher) context.setDispatcher(dispatcher);
  }

  private dispatcherFor(cluster: Cluster | null, opts: AuthOptions): Dispatcher | undefined {
    if (cluster?.server.startsWith('http:') && !cluster.skipTLSVerify && !cluster.proxyUrl) {
      throw new Error('HTTP protocol is not allowed when skipTLSVerify is not set or false');
    }
    const tls: Record<string, unknown> = {};
    for (const k of ['ca', 'cert', 'key', 'rejectUnauthorized', 'servername'] as const) if (opts[k] !== undefined) tls[k] = opts[k];
    if (!cluster?.proxyUrl && Object.keys(tls).length === 0) return undefined; // the global dispatcher
    const key = JSON.stringify([cluster?.proxyUrl ?? '', Object.entries(tls).map(([k, v]) => [k, Buffer.isBuffer(v) ? v.toString('base64') : v])]);
    if (this.dispatcher?.key === key) return this.dispatcher.dispatcher;
    // undici's default keepAliveInitialDelay (60 s) can race cloud load balancers' idle
    // timeouts; client-node and client-go use 30 s.
    const connect = { keepAlive: true, keepAliveInitialDelay: 30_000 };
    const dispatcher = cluster?.proxyUrl ? new ProxyAgent({ uri: cluster.proxyUrl, requestTls: tls, connect }) : new Agent({ connect: { ...tls, ...connect } });
    // The previous Agent (rotated credentials) closes its idle connections by itself.
    this.dispatcher = { key, dispatcher };
    return dispatcher;
  }

  private fullLibrary(): Promise<KubeCredentials> {
    this.full ??= import('@kubernetes/client-node').then(({ KubeConfig: Full }) => {
      const kc = new Full();
      kc.loadFromOptions({ clusters: this.clusters, users: this.users, contexts: this.contexts, currentContext: this.currentContext });
      return kc;
    });
    return this.full;
  }

  private merge(other: KubeConfig): void {
    if (other.currentContext) this.currentContext = other.currentContext;
    const add = <T extends { name: string }>(list: T[], items: T[], what: string) => {
      for (const item of items) {
        if (list.some((x) => x.name === item.name)) throw new Error(`Duplicate ${what}: ${item.name}`);
        list.push(item);
      }
    };
    add(this.clusters, other.clusters, 'cluster');
    add(this.users, other.users, 'user');
    add(this.contexts, other.contexts, 'context');
  }
}

function fileExists(file: string): boolean {
  try {
    fs.accessSync(file);
    return true;
  } catch {
    return false;
  }
}

function fileOrData(file: string | undefined, data: string | undefined): Buffer | null {
  if (file) return fs.readFileSync(file);
  if (data) return Buffer.from(data, 'base64');
  return null;
}
