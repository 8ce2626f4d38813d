// Command-line flags and environment variables → one validated, typed Settings object.
// Every flag has an environment variable (PORTICO_ + the flag name in upper snake case);
// a flag given on the command line wins over the environment. Bad values fail fast with a
// message naming the flag, the value and what is accepted.

import { parseArgs } from 'node:util';
import { parseDuration } from '../values/duration.ts';
import { parseCidr } from '../values/cidr.ts';
import { isDnsLabel, isDottedName } from '../values/dns-name.ts';
import { autoWorkers, availableCpus } from './cpus.ts';
import { parseSize } from '../values/size.ts';
import { loadCaBundle, readTextFile, type ReadTextFile } from './backend-ca.ts';
import { ACCESS_LOG_FIELDS, DEFAULT_ACCESS_LOG_FIELDS } from './access-log-fields.ts';
import { parseConfigMapRef } from './nginx-configmap.ts';

export type LogLevelSetting = 'debug' | 'info' | 'warn' | 'error';

export interface Settings {
  /** File mode: the manifests directory. Unset = Kubernetes mode. */
  manifests: string | undefined;
  kubeconfig: string | undefined;
  watchNamespaces: string[];
  bindAddress: string;
  httpPort: number;
  httpsPort: number;
  healthPort: number;
  /** undefined: /metrics is served on the health port. */
  metricsPort: number | undefined;
  ingressClass: string;
  controllerName: string;
  /** Ingresses with neither spec.ingressClassName nor the legacy annotation are ours too. */
  watchIngressWithoutClass: boolean;
  /** false: never write Ingress status (another controller keeps publishing it). */
  updateStatus: boolean;
  logLevel: LogLevelSetting;
  accessLog: boolean;
  requestMetrics: boolean;
  trustedProxies: string[];
  /** --whitelist-source-range: clients outside get 403 on routes without their own allow-list. */
  allowSourceRange: string[];
  /** --denylist-source-range: listed clients get 403 on routes without their own deny-list. */
  denySourceRange: string[];
  /** --use-proxy-protocol: every connection to the HTTP and HTTPS listeners starts with a PROXY header (v1 or v2). */
  useProxyProtocol: boolean;
  /** --proxy-protocol-trusted-cidrs: peers whose PROXY source is believed; empty: every peer. */
  proxyProtocolTrustedCidrs: string[];
  /** --enable-ssl-passthrough: the HTTPS listener reads each ClientHello and pipes passthrough hosts' connections undecrypted. */
  sslPassthrough: boolean;
  /** X-Request-Id on proxied responses too (local answers always carry it). */
  responseRequestId: boolean;
  connectTimeoutMs: number;
  responseHeaderTimeoutMs: number;
  /** The upstream not accepting request body bytes for this long: 504 (nginx proxy_send_timeout). */
  sendTimeoutMs: number;
  idleTimeoutMs: number;
  /** --proxy-body-size in bytes; 0: no limit. */
  bodyLimit: number;
  /** --http-redirect-code: 301, 302, 307 or 308. */
  httpRedirectCode: number;
  /** --ssl-redirect: redirect plain HTTP to HTTPS on hosts with TLS, for routes without the annotation. */
  sslRedirect: boolean;
  /** --force-ssl-redirect: redirect plain HTTP to HTTPS on every host, for routes without the annotation. */
  forceSslRedirect: boolean;
  /** --allow-trace: proxy TRACE instead of answering 405. */
  allowTrace: boolean;
  /** --debug-endpoints: /debug/routes and /debug/explain on the health port. */
  debugEndpoints: boolean;
  /** --otlp-endpoint: '' (tracing off) or the collector URL. */
  otlpEndpoint: string;
  /** --trace-sample-ratio, 0..1. */
  traceSampleRatio: number;
  /** --otlp-service-name. */
  otlpServiceName: string;
  /** --client-body-timeout: longest pause between reads of a request body (408). */
  clientBodyTimeoutMs: number;
  /** --client-body-deadline: longest whole upload (408); 0: none. */
  clientBodyDeadlineMs: number;
  /** --client-body-buffer-size: bodies up to this size are read before an upstream connection is taken; 0: never. */
  clientBodyBufferSize: number;
  /** --upstream-queue-timeout: longest wait for an upstream connection (503); 0: no limit. */
  upstreamQueueTimeoutMs: number;
  /** --max-connections-per-endpoint. */
  maxConnectionsPerEndpoint: number;
  maxHeaderSize: number;
  shutdownDelayMs: number;
  shutdownGraceMs: number;
  electionId: string;
  defaultSslCertificate: string | undefined;
  http2: boolean;
  hsts: boolean;
  hstsMaxAge: number;
  hstsIncludeSubdomains: boolean;
  acme: boolean;
  acmeDirectory: string;
  acmeEmail: string | undefined;
  acmeCaBundle: string | undefined;
  /** --backend-ca-file: the path, and the PEM certificates read from it at startup. */
  backendCaFile: string | undefined;
  backendCa: string | undefined;
  publishService: { namespace: string; name: string } | undefined;
  publishStatusAddresses: string[];
  /** Proxy worker processes; 0 = one process does everything. `auto` is resolved here. */
  workers: number;
  /** With workers: each listens on its own SO_REUSEPORT socket (the kernel spreads connections). */
  reusePort: boolean;
  /** --metrics-compat: also export ingress-nginx's metric names and labels. */
  metricsCompat: 'none' | 'ingress-nginx';
  /** --access-log-query: the query string in the access log's `query` field. */
  accessLogQuery: boolean;
  /** --access-log-fields: the access log's fields, in order (validated names). */
  accessLogFields: string[];
  /** --limit-req-status-code: answer to a request over limit-rps/limit-rpm (400-599). */
  limitReqStatusCode: number;
  /** --limit-conn-status-code: answer to a request over limit-connections (400-599). */
  limitConnStatusCode: number;
  /**
   * --global-auth-url and companions (ingress-nginx ConfigMap global-auth-*), as given; the
   * model's external-auth parser validates them when the proxy starts ('' = none).
   */
  globalAuth: { url: string; method: string; signin: string; responseHeaders: string };
  /** --nginx-configmap: ingress-nginx's controller ConfigMap, applied at start (config/nginx-configmap.ts). */
  nginxConfigMap: { namespace: string; name: string } | undefined;
  /** --default-backend-service NAMESPACE/NAME: requests that match no host, and error pages (ingress-nginx's flag). */
  defaultBackendService: { namespace: string; name: string } | undefined;
  /** --custom-http-errors: upstream statuses the default backend's answer replaces (needs --default-backend-service). */
  customHttpErrors: number[];
  /**
   * The --nginx-configmap ConfigMap's data as applied at start (set by main after reading it):
   * later edits are compared with it (runtime/nginx-configmap-watch.ts).
   */
  nginxConfigMapApplied?: Readonly<Record<string, string>>;
}

type FlagType = 'string' | 'boolean';

export interface FlagSpec {
  name: string;
  type: FlagType;
  help: string;
  default?: string;
  /** Accepted values, shown in --help and checked. */
  choices?: readonly string[];
  /**
   * The value of the flag given alone (`--update-status` = `--update-status=true`), as Go's
   * boolean flags allow: ingress-nginx's command lines carry over unchanged. `--flag true` and
   * `--flag=false` keep working.
   */
  bare?: string;
}

/** Every flag the program accepts. Helm renders only these (a test keeps them in sync). */
export const FLAGS: readonly FlagSpec[] = [
  { name: 'manifests', type: 'string', help: 'File mode: read Kubernetes objects from this directory (watched for changes) instead of the API server' },
  { name: 'kubeconfig', type: 'string', help: 'Kubernetes mode: kubeconfig file (default: $KUBECONFIG, else in-cluster credentials)' },
  { name: 'watch-namespace', type: 'string', default: '', help: 'Comma-separated namespaces to watch (empty: all)' },
  { name: 'bind-address', type: 'string', default: '0.0.0.0', help: 'Address the HTTP, HTTPS and health listeners bind to' },
  { name: 'http-port', type: 'string', default: '8080', help: 'Plain HTTP listener port (0: any free port, for tests)' },
  { name: 'https-port', type: 'string', default: '8443', help: 'HTTPS listener port (certificate chosen by SNI from the Ingresses\' spec.tls Secrets)' },
  { name: 'health-port', type: 'string', default: '10254', help: 'Port for /healthz, /readyz and /metrics' },
  { name: 'metrics-port', type: 'string', default: '', help: 'Port for Prometheus /metrics (default: served on the health port)' },
  { name: 'ingress-class', type: 'string', default: 'portico', help: 'Ingress class name honoured in the legacy kubernetes.io/ingress.class annotation' },
  { name: 'controller-name', type: 'string', default: 'portico.dev/ingress-controller', help: 'IngressClass spec.controller value that marks a class as ours' },
  { name: 'watch-ingress-without-class', type: 'string', default: 'false', choices: ['true', 'false'], bare: 'true', help: 'Also serve Ingresses with neither spec.ingressClassName nor the kubernetes.io/ingress.class annotation, even when no IngressClass of ours is the default (as ingress-nginx\'s flag)' },
  { name: 'update-status', type: 'string', default: 'true', choices: ['true', 'false'], bare: 'true', help: 'Write the load-balancer addresses into the status of the Ingresses we serve; false while another controller (ingress-nginx) still publishes them, e.g. for external-dns' },
  { name: 'log-level', type: 'string', default: 'info', choices: ['debug', 'info', 'warn', 'error'], help: 'Minimum level of log lines' },
  { name: 'access-log', type: 'string', default: 'true', choices: ['true', 'false'], help: 'One JSON line per request on stdout' },
  { name: 'request-metrics', type: 'string', default: 'true', choices: ['true', 'false'], help: 'Per-request Prometheus metrics (process and control-plane metrics are always on)' },
  { name: 'response-request-id', type: 'string', default: 'false', choices: ['true', 'false'], help: 'Also put the X-Request-Id sent upstream on proxied responses, replacing the upstream\'s (local answers such as 404 and 502 always carry it)' },
  { name: 'trusted-proxies', type: 'string', default: '', help: 'Comma-separated CIDRs whose X-Forwarded-* headers are trusted (e.g. the load balancer)' },
  { name: 'whitelist-source-range', type: 'string', default: '', help: 'Comma-separated CIDRs/IPs allowed to reach every route without its own allowlist-source-range annotation; others get 403 (ingress-nginx ConfigMap key of the same name)' },
  { name: 'limit-req-status-code', type: 'string', default: '503', help: 'Status of requests refused by limit-rps / limit-rpm (400-599; ingress-nginx ConfigMap key of the same name)' },
  { name: 'limit-conn-status-code', type: 'string', default: '503', help: 'Status of requests refused by limit-connections (400-599; ingress-nginx ConfigMap key of the same name)' },
  { name: 'denylist-source-range', type: 'string', default: '', help: 'Comma-separated CIDRs/IPs that get 403 on every route without its own denylist-source-range annotation (ingress-nginx ConfigMap key of the same name)' },
  { name: 'use-proxy-protocol', type: 'string', default: 'false', choices: ['true', 'false'], help: 'Require a PROXY protocol header (v1 or v2) on every HTTP and HTTPS connection, as nginx\'s listen ... proxy_protocol: connections without one are closed; its source address becomes the client address' },
  { name: 'enable-ssl-passthrough', type: 'string', default: 'false', choices: ['true', 'false'], bare: 'true', help: 'Serve the ssl-passthrough annotation, as ingress-nginx\'s flag: the HTTPS listener reads each connection\'s ClientHello, and one whose SNI names a passthrough host is piped undecrypted to an endpoint of the host\'s "/" backend (the backend\'s own certificate is served); other connections are terminated as usual' },
  { name: 'proxy-protocol-trusted-cidrs', type: 'string', default: '', help: 'Comma-separated CIDRs of the load balancers whose PROXY source address is believed (default: every peer, as ingress-nginx\'s proxy-real-ip-cidr 0.0.0.0/0); from other peers the header is still required but the peer stays the client address' },
  { name: 'connect-timeout', type: 'string', default: '5s', help: 'Upstream connect timeout (e.g. 500ms, 5s, 1m)' },
  { name: 'response-header-timeout', type: 'string', default: '60s', help: 'Time allowed for the upstream to start its response; then 504' },
  { name: 'send-timeout', type: 'string', default: '60s', help: 'Time the upstream may take to accept more of a streamed request body before it answers (nginx proxy_send_timeout, ingress-nginx proxy-send-timeout); then 504, or the connection is cut once an answer has started' },
  { name: 'idle-timeout', type: 'string', default: '60s', help: 'Longest pause between body chunks, either way' },
  { name: 'http-redirect-code', type: 'string', default: '308', choices: ['301', '302', '307', '308'], help: 'Status of redirects to HTTPS and of from-to-www-redirect (ingress-nginx http-redirect-code)' },
  { name: 'default-backend-service', type: 'string', default: '', help: 'NAMESPACE/NAME of a Service that answers requests matching no host (when no Ingress has a spec.defaultBackend) and serves the error pages of Ingresses without their own default-backend annotation, on its first port (ingress-nginx\'s flag of the same name)' },
  { name: 'custom-http-errors', type: 'string', default: '', help: 'Comma-separated statuses (400-599): an upstream answer with one of them is replaced by the --default-backend-service\'s answer (X-Code etc.), on Ingresses without their own custom-http-errors (ingress-nginx ConfigMap key of the same name); needs --default-backend-service' },
  { name: 'ssl-redirect', type: 'string', default: 'true', choices: ['true', 'false'], help: 'Redirect plain-HTTP requests to HTTPS on hosts that have TLS, for Ingresses without their own ssl-redirect annotation (ingress-nginx ConfigMap key of the same name)' },
  { name: 'force-ssl-redirect', type: 'string', default: 'false', choices: ['true', 'false'], help: 'Redirect plain-HTTP requests to HTTPS on every host, TLS or not (TLS ended by a load balancer in front), for Ingresses without their own force-ssl-redirect annotation (ingress-nginx ConfigMap key of the same name)' },
  { name: 'proxy-body-size', type: 'string', default: '1m', help: 'Largest request body for routes without their own proxy-body-size annotation (nginx size: 1048576, 512k, 8m, 1g; 0 for no limit); larger gets 413' },
  { name: 'client-body-timeout', type: 'string', default: '60s', help: 'Longest pause between two reads of a request body (nginx client_body_timeout); then 408' },
  { name: 'client-body-deadline', type: 'string', default: '5m', help: 'Longest time a request body may take to arrive in full, however steadily it trickles; then 408 (0: no limit)' },
  { name: 'client-body-buffer-size', type: 'string', default: '64k', help: 'Request bodies with a Content-Length up to this size are read in full before an upstream connection is taken, so slow clients hold none (nginx size; 0: always stream)' },
  { name: 'upstream-queue-timeout', type: 'string', default: '5s', help: 'Longest wait for a free upstream connection when an endpoint has --max-connections-per-endpoint in use; then 503 (0: wait without limit)' },
  { name: 'max-connections-per-endpoint', type: 'string', default: '256', help: 'Most HTTP/1.1 connections to one backend pod endpoint; further requests wait up to --upstream-queue-timeout' },
  { name: 'otlp-endpoint', type: 'string', default: '', help: 'Export a span per request over OTLP/HTTP to this collector URL (e.g. http://otel-collector:4318; /v1/traces is added to a bare host:port); empty: tracing off' },
  { name: 'trace-sample-ratio', type: 'string', default: '0.01', help: 'Share of requests without a sampled traceparent that are traced (0 to 1); requests whose traceparent is sampled are always traced' },
  { name: 'otlp-service-name', type: 'string', default: 'portico', help: 'service.name of the exported spans' },
  { name: 'debug-endpoints', type: 'string', default: 'false', choices: ['true', 'false'], help: 'Serve /debug/routes and /debug/explain on the health port (the routing table as JSON; what `portico explain --from` asks)' },
  { name: 'allow-trace', type: 'string', default: 'false', choices: ['true', 'false'], help: 'Proxy TRACE requests (by default they get 405: TRACE echoes cookies and credentials back)' },
  { name: 'max-header-size', type: 'string', default: '16384', help: 'Largest request head (request line + headers) in bytes; larger gets 431' },
  { name: 'shutdown-delay', type: 'string', default: '5s', help: 'On SIGTERM, keep accepting connections this long after /readyz turns false (load balancers catch up)' },
  { name: 'shutdown-grace', type: 'string', default: '30s', help: 'On SIGTERM, how long in-flight requests may take to finish' },
  { name: 'election-id', type: 'string', default: 'portico-leader', help: 'Name of the coordination.k8s.io Lease used for leader election (in the pod namespace, $POD_NAMESPACE)' },
  { name: 'publish-service', type: 'string', help: 'NAMESPACE/NAME of the LoadBalancer Service whose addresses are copied into Ingress status' },
  { name: 'publish-status-address', type: 'string', default: '', help: 'Comma-separated fixed IPs or hostnames written into Ingress status instead of --publish-service' },
  { name: 'default-ssl-certificate', type: 'string', help: 'NAMESPACE/NAME of a kubernetes.io/tls Secret served for unknown SNI names (default: a self-signed certificate generated at start)' },
  { name: 'http2', type: 'string', default: 'true', choices: ['true', 'false'], help: 'Offer HTTP/2 to clients on the HTTPS listener (ALPN)' },
  { name: 'hsts', type: 'string', default: 'true', choices: ['true', 'false'], help: 'Add Strict-Transport-Security to HTTPS responses' },
  { name: 'hsts-max-age', type: 'string', default: '31536000', help: 'HSTS max-age in seconds' },
  { name: 'hsts-include-subdomains', type: 'string', default: 'true', choices: ['true', 'false'], help: 'HSTS includeSubDomains' },
  { name: 'acme', type: 'string', default: 'false', choices: ['true', 'false'], help: 'Issue certificates over ACME for Ingresses annotated kubernetes.io/tls-acme or portico.dev/acme "true" (Kubernetes mode)' },
  { name: 'acme-directory', type: 'string', default: 'https://acme-v02.api.letsencrypt.org/directory', help: 'ACME directory URL' },
  { name: 'acme-email', type: 'string', help: 'Contact e-mail for the ACME account' },
  { name: 'acme-ca-bundle', type: 'string', help: 'PEM file of CAs to trust for the ACME directory (private or test CA)' },
  { name: 'backend-ca-file', type: 'string', help: 'PEM file of CAs trusted, besides the system ones, for backends with portico.dev/backend-tls-verify "true" (a private CA); read at startup' },
  { name: 'workers', type: 'string', default: 'auto', help: 'Proxy worker processes: auto = one per CPU available to the container (cgroup quota), or a single process when that is 1 (one worker with --nginx-configmap, so its edits apply live); 0 = a single process (proxy and control plane together); N = that many workers fed by one control-plane process' },
  { name: 'reuse-port', type: 'string', default: 'false', choices: ['true', 'false'], help: 'With workers: true = each worker listens on its own socket (SO_REUSEPORT, Linux) and the kernel spreads new connections evenly over them, busy or not; false = the workers share one socket and whichever is free first takes the next connection' },
  { name: 'metrics-compat', type: 'string', default: 'none', choices: ['none', 'ingress-nginx'], help: 'ingress-nginx: also export the request and controller metrics under ingress-nginx\'s names and labels (nginx_ingress_controller_*), so its dashboards and alert rules keep working' },
  { name: 'access-log-query', type: 'string', default: 'false', choices: ['true', 'false'], help: 'Log the query string (field `query`); off by default: query strings often carry tokens' },
  { name: 'access-log-fields', type: 'string', default: '', help: `Comma-separated access log fields, in order (default: all but query). Known: ${ACCESS_LOG_FIELDS.join(', ')}` },
  { name: 'global-auth-url', type: 'string', default: '', help: 'External authentication of every route without its own auth-url or enable-global-auth "false" (ingress-nginx ConfigMap global-auth-url): an http(s) URL asked before each request; 2xx lets it through, 401/403 are answered, anything else is 500' },
  { name: 'global-auth-method', type: 'string', default: '', help: 'Method of the --global-auth-url subrequest (default GET)' },
  { name: 'global-auth-signin', type: 'string', default: '', help: 'With --global-auth-url: a 401 becomes a 302 to this URL with the original URL in rd' },
  { name: 'global-auth-response-headers', type: 'string', default: '', help: 'With --global-auth-url: comma-separated headers copied from the auth response into the upstream request' },
  { name: 'nginx-configmap', type: 'string', default: '', help: 'NAMESPACE/NAME of ingress-nginx\'s controller ConfigMap (its --configmap): its keys with a Portico equivalent (proxy-body-size, hsts*, timeouts, source ranges, global-auth-*, ...) are applied over these flags, at start and live when it is edited (by replacing the workers one at a time; with --workers 0 an edit is reported, not applied); every other key is reported' },
  { name: 'help', type: 'boolean', help: 'Show this help and exit' },
  { name: 'version', type: 'boolean', help: 'Print the version and exit' },
];

export class SettingsError extends Error {
  override name = 'SettingsError';
}

export function envName(flag: string): string {
  return 'PORTICO_' + flag.toUpperCase().replaceAll('-', '_');
}

export interface ParsedCommandLine {
  settings: Settings;
  help: boolean;
  version: boolean;
}

/**
 * Parses argv (without node and script) and env. Throws SettingsError on bad input. `readFile`
 * reads the --backend-ca-file (tests pass their own).
 */
export function parseSettings(argv: readonly string[], env: NodeJS.ProcessEnv = process.env, readFile: ReadTextFile = readTextFile): ParsedCommandLine {
  const options: Record<string, { type: FlagType }> = {};
  for (const f of FLAGS) options[f.name] = { type: f.type };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: expandBareFlags(argv), options, strict: true, allowPositionals: false }));
  } catch (err) {
    throw new SettingsError(`${(err as Error).message}. Run with --help to list the flags.`);
  }
  const raw = (name: string): string | undefined => {
    const v = values[name];
    if (typeof v === 'string') return v;
    const e = env[envName(name)];
    if (e !== undefined && e !== '') return e;
    return FLAGS.find((f) => f.name === name)?.default;
  };
  const str = (name: string): string => raw(name) ?? '';
  const choice = <T extends string>(name: string): T => {
    const v = str(name);
    const spec = FLAGS.find((f) => f.name === name);
    if (spec?.choices && !spec.choices.includes(v)) {
      throw new SettingsError(`--${name}: "${v}" is not one of ${spec.choices.join(', ')}`);
    }
    return v as T;
  };
  const port = (name: string, allowZero = false): number => {
    const v = str(name);
    const n = /^\d+$/.test(v) ? Number(v) : NaN;
    if (!(n >= (allowZero ? 0 : 1) && n <= 65535)) {
      throw new SettingsError(`--${name}: "${v}" is not a port number (${allowZero ? '0 for any free port, or 1' : 1}-65535)`);
    }
    return n;
  };
  const duration = (name: string): number => {
    const v = str(name);
    const ms = parseDuration(v);
    if (ms === undefined) throw new SettingsError(`--${name}: "${v}" is not a duration (examples: 500ms, 5s, 2m)`);
    return ms;
  };
  const list = (name: string): string[] =>
    str(name)
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');

  const otlpEndpoint = str('otlp-endpoint');
  if (otlpEndpoint !== '') {
    let ok = false;
    try {
      const u = new URL(otlpEndpoint);
      ok = (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
    } catch {
      ok = false;
    }
    if (!ok) throw new SettingsError(`--otlp-endpoint: "${otlpEndpoint}" is not an http:// or https:// URL such as http://otel-collector:4318`);
  }
  const ratioText = str('trace-sample-ratio');
  const traceSampleRatio = Number(ratioText);
  if (ratioText.trim() === '' || !Number.isFinite(traceSampleRatio) || traceSampleRatio < 0 || traceSampleRatio > 1) {
    throw new SettingsError(`--trace-sample-ratio: "${ratioText}" is not a number from 0 to 1 (0.01 traces one request in a hundred)`);
  }
  if (str('otlp-service-name').trim() === '') throw new SettingsError('--otlp-service-name: must not be empty');

  const watchNamespaces = list('watch-namespace');
  for (const ns of watchNamespaces) {
    if (!isDnsLabel(ns) || ns.length > 63) {
      throw new SettingsError(`--watch-namespace: "${ns}" is not a namespace name (lower-case letters, digits and "-", at most 63 characters); give a comma-separated list such as "shop,payments"`);
    }
  }

  const trustedProxies = list('trusted-proxies');
  for (const c of trustedProxies) {
    if (parseCidr(c) === undefined) {
      throw new SettingsError(`--trusted-proxies: "${c}" is not an IP address or CIDR (examples: 10.0.0.0/8, 2001:db8::/32, 192.0.2.7)`);
    }
  }
  const cidrList = (name: string): string[] => {
    const out = list(name);
    for (const c of out) {
      if (parseCidr(c) === undefined) throw new SettingsError(`--${name}: "${c}" is not an IP address or CIDR (examples: 10.0.0.0/8, 2001:db8::/32, 192.0.2.7)`);
    }
    return out;
  };
  const allowSourceRange = cidrList('whitelist-source-range');
  const denySourceRange = cidrList('denylist-source-range');
  const limitStatus = (name: string): number => {
    const v = str(name);
    if (!/^\d{3}$/.test(v) || Number(v) < 400 || Number(v) > 599) throw new SettingsError(`--${name}: "${v}" must be a status code from 400 to 599 (as nginx's limit_req_status / limit_conn_status)`);
    return Number(v);
  };
  const limitReqStatusCode = limitStatus('limit-req-status-code');
  const limitConnStatusCode = limitStatus('limit-conn-status-code');
  const nginxConfigMapText = str('nginx-configmap').trim();
  let nginxConfigMap: Settings['nginxConfigMap'];
  if (nginxConfigMapText !== '') {
    const ref = parseConfigMapRef(nginxConfigMapText);
    if (typeof ref === 'string') throw new SettingsError(`--nginx-configmap: ${ref}`);
    nginxConfigMap = ref;
  }
  const defaultBackendText = str('default-backend-service').trim();
  let defaultBackendService: Settings['defaultBackendService'];
  if (defaultBackendText !== '') {
    const m = /^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)\/([a-z]([-a-z0-9]{0,61}[a-z0-9])?)$/.exec(defaultBackendText);
    if (m === null) throw new SettingsError(`--default-backend-service: "${defaultBackendText}" is not NAMESPACE/NAME of a Service (e.g. ingress-nginx/error-pages)`);
    defaultBackendService = { namespace: m[1]!, name: m[3]! };
  }
  const customHttpErrors: number[] = [];
  for (const part of list('custom-http-errors')) {
    if (!/^\d{3}$/.test(part) || Number(part) < 400 || Number(part) > 599) throw new SettingsError(`--custom-http-errors: "${part}" is not a status from 400 to 599`);
    if (!customHttpErrors.includes(Number(part))) customHttpErrors.push(Number(part));
  }
  customHttpErrors.sort((a, b) => a - b);
  if (customHttpErrors.length > 0 && defaultBackendService === undefined) {
    throw new SettingsError('--custom-http-errors needs --default-backend-service: the error pages come from that Service');
  }
  const proxyProtocolTrustedCidrs = cidrList('proxy-protocol-trusted-cidrs');
  const maxHeader = str('max-header-size');
  const maxHeaderSize = /^\d+$/.test(maxHeader) ? Number(maxHeader) : NaN;
  if (!(maxHeaderSize >= 1024 && maxHeaderSize <= 1024 * 1024)) {
    throw new SettingsError(`--max-header-size: "${maxHeader}" must be a byte count between 1024 and 1048576`);
  }
  const controllerName = str('controller-name');
  const [domain, path] = splitOnce(controllerName);
  if (!isDottedName(domain) || !/^\S+$/.test(path ?? '') || controllerName.length > 250) {
    throw new SettingsError(`--controller-name: "${controllerName}" must be a domain-prefixed path such as portico.dev/ingress-controller`);
  }
  const ingressClass = str('ingress-class');
  if (!isDottedName(ingressClass)) {
    throw new SettingsError(`--ingress-class: "${ingressClass}" is not a valid IngressClass name (lower-case letters, digits, '-' and '.')`);
  }

  const publish = raw('publish-service');
  let publishService: Settings['publishService'];
  if (publish !== undefined && publish !== '') {
    const [namespace, name] = splitOnce(publish);
    if (!isDnsLabel(namespace) || name === undefined || !isDnsLabel(name)) throw new SettingsError(`--publish-service: "${publish}" must be NAMESPACE/NAME of a Service`);
    publishService = { namespace, name };
  }
  const electionId = str('election-id');
  if (!isDottedName(electionId)) {
    throw new SettingsError(`--election-id: "${electionId}" is not a valid Lease name (lower-case letters, digits, '-' and '.')`);
  }

  const secretRef = (name: string): string | undefined => {
    const v = raw(name);
    if (v === undefined || v === '') return undefined;
    const [namespace, secret] = splitOnce(v);
    if (!isDnsLabel(namespace) || secret === undefined || !isDottedName(secret)) {
      throw new SettingsError(`--${name}: "${v}" must be NAMESPACE/NAME of a Secret`);
    }
    return v;
  };
  const bodySizeText = str('proxy-body-size');
  const bodyLimit = parseSize(bodySizeText);
  if (bodyLimit === undefined) throw new SettingsError(`--proxy-body-size: "${bodySizeText}" is not a size (bytes, or a number with k, m or g: 512k, 8m; 0 for no limit)`);
  const bufferSizeText = str('client-body-buffer-size');
  const clientBodyBufferSize = parseSize(bufferSizeText);
  if (clientBodyBufferSize === undefined || clientBodyBufferSize > 64 * 1024 * 1024) {
    throw new SettingsError(`--client-body-buffer-size: "${bufferSizeText}" is not a size up to 64m (bytes, or a number with k or m: 16k, 1m; 0 to always stream)`);
  }
  const maxConnText = str('max-connections-per-endpoint');
  const maxConnectionsPerEndpoint = /^\d{1,6}$/.test(maxConnText) ? Number(maxConnText) : NaN;
  if (!(maxConnectionsPerEndpoint >= 1 && maxConnectionsPerEndpoint <= 65535)) {
    throw new SettingsError(`--max-connections-per-endpoint: "${maxConnText}" must be a number of connections between 1 and 65535`);
  }
  const hstsMaxAgeText = str('hsts-max-age');
  if (!/^\d{1,10}$/.test(hstsMaxAgeText)) throw new SettingsError(`--hsts-max-age: "${hstsMaxAgeText}" is not a number of seconds`);
  const acmeDirectory = str('acme-directory');
  if (!/^https?:\/\/\S+$/.test(acmeDirectory)) throw new SettingsError(`--acme-directory: "${acmeDirectory}" is not an http(s) URL`);

  const workersText = str('workers');
  let workers: number;
  if (workersText === 'auto') workers = autoWorkers(availableCpus(), { liveSettings: nginxConfigMap !== undefined });
  else if (/^\d{1,3}$/.test(workersText) && Number(workersText) <= 256) workers = Number(workersText);
  else throw new SettingsError(`--workers: "${workersText}" must be 0 (single process), auto (one per available CPU) or a number of worker processes up to 256`);

  const backendCaFile = raw('backend-ca-file') || undefined;
  let backendCa: string | undefined;
  if (backendCaFile !== undefined) {
    try {
      backendCa = loadCaBundle(backendCaFile, readFile);
    } catch (err) {
      throw new SettingsError(`--backend-ca-file: ${(err as Error).message}`);
    }
  }

  const settings: Settings = {
    manifests: raw('manifests'),
    kubeconfig: raw('kubeconfig') ?? (env.KUBECONFIG || undefined),
    watchNamespaces,
    bindAddress: str('bind-address'),
    httpPort: port('http-port', true),
    httpsPort: port('https-port', true),
    healthPort: port('health-port', true),
    metricsPort: str('metrics-port') === '' ? undefined : port('metrics-port', true),
    ingressClass,
    controllerName,
    watchIngressWithoutClass: choice('watch-ingress-without-class') === 'true',
    updateStatus: choice('update-status') === 'true',
    logLevel: choice<LogLevelSetting>('log-level'),
    accessLog: choice('access-log') === 'true',
    requestMetrics: choice('request-metrics') === 'true',
    trustedProxies,
    allowSourceRange,
    denySourceRange,
    useProxyProtocol: choice('use-proxy-protocol') === 'true',
    proxyProtocolTrustedCidrs,
    sslPassthrough: choice('enable-ssl-passthrough') === 'true',
    responseRequestId: choice('response-request-id') === 'true',
    connectTimeoutMs: duration('connect-timeout'),
    responseHeaderTimeoutMs: duration('response-header-timeout'),
    sendTimeoutMs: duration('send-timeout'),
    idleTimeoutMs: duration('idle-timeout'),
    maxHeaderSize,
    bodyLimit,
    httpRedirectCode: Number(choice('http-redirect-code')),
    sslRedirect: choice('ssl-redirect') === 'true',
    forceSslRedirect: choice('force-ssl-redirect') === 'true',
    allowTrace: choice('allow-trace') === 'true',
    debugEndpoints: choice('debug-endpoints') === 'true',
    otlpEndpoint,
    traceSampleRatio,
    otlpServiceName: str('otlp-service-name'),
    clientBodyTimeoutMs: duration('client-body-timeout'),
    clientBodyDeadlineMs: duration('client-body-deadline'),
    clientBodyBufferSize,
    upstreamQueueTimeoutMs: duration('upstream-queue-timeout'),
    maxConnectionsPerEndpoint,
    shutdownDelayMs: duration('shutdown-delay'),
    shutdownGraceMs: duration('shutdown-grace'),
    electionId,
    defaultSslCertificate: secretRef('default-ssl-certificate'),
    http2: choice('http2') === 'true',
    hsts: choice('hsts') === 'true',
    hstsMaxAge: Number(hstsMaxAgeText),
    hstsIncludeSubdomains: choice('hsts-include-subdomains') === 'true',
    acme: choice('acme') === 'true',
    acmeDirectory,
    acmeEmail: raw('acme-email') || undefined,
    acmeCaBundle: raw('acme-ca-bundle') || undefined,
    backendCaFile,
    backendCa,
    publishService,
    publishStatusAddresses: list('publish-status-address'),
    workers,
    // SO_REUSEPORT spreads connections over the sockets only on Linux (the container's OS).
    reusePort: choice('reuse-port') === 'true' && process.platform === 'linux',
    metricsCompat: choice<'none' | 'ingress-nginx'>('metrics-compat'),
    accessLogQuery: choice('access-log-query') === 'true',
    accessLogFields: accessLogFields(list('access-log-fields'), choice('access-log-query') === 'true'),
    limitReqStatusCode,
    limitConnStatusCode,
    globalAuth: { url: str('global-auth-url').trim(), method: str('global-auth-method').trim(), signin: str('global-auth-signin').trim(), responseHeaders: str('global-auth-response-headers').trim() },
    nginxConfigMap,
    defaultBackendService,
    customHttpErrors,
  };
  return { settings, help: values.help === true, version: values.version === true };
}

/**
 * `--flag` alone → `--flag=<bare>` for the flags that have a bare value, unless the next
 * argument is one of the flag's choices (`--update-status false`, the form every other flag
 * takes). parseArgs would otherwise take the next flag as the value, or miss one at the end.
 */
export function expandBareFlags(argv: readonly string[], flags: readonly FlagSpec[] = FLAGS): string[] {
  return argv.map((arg, i) => {
    const spec = arg.startsWith('--') ? flags.find((f) => f.bare !== undefined && `--${f.name}` === arg) : undefined;
    if (spec === undefined) return arg;
    const next = argv[i + 1];
    return next !== undefined && spec.choices?.includes(next) ? arg : `${arg}=${spec.bare}`;
  });
}

/**
 * --access-log-fields: known names only, each once; empty: the default set, with `query` after
 * `path` when --access-log-query is on. `query` is only ever logged with --access-log-query.
 */
function accessLogFields(names: string[], query: boolean): string[] {
  if (names.length === 0) return query ? ACCESS_LOG_FIELDS.filter((f) => DEFAULT_ACCESS_LOG_FIELDS.includes(f) || f === 'query') : [...DEFAULT_ACCESS_LOG_FIELDS];
  if (names.includes('query') && !query) throw new SettingsError('--access-log-fields: "query" needs --access-log-query=true (query strings often carry tokens, so logging them is opt-in)');
  const known = new Set<string>(ACCESS_LOG_FIELDS);
  const unknown = names.filter((n) => !known.has(n));
  if (unknown.length > 0) throw new SettingsError(`--access-log-fields: unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `"${n}"`).join(', ')}; known: ${ACCESS_LOG_FIELDS.join(', ')}`);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup !== undefined) throw new SettingsError(`--access-log-fields: "${dup}" is listed twice`);
  return names;
}

/** 'a/b/c' → ['a', 'b/c']; without a '/': [text, undefined]. */
function splitOnce(text: string): [string, string | undefined] {
  const slash = text.indexOf('/');
  return slash < 0 ? [text, undefined] : [text.slice(0, slash), text.slice(slash + 1)];
}

export function usage(): string {
  const lines = [
    'Usage: portico [flags]',
    '       portico migrate-check [flags]   check Ingresses before taking over from ingress-nginx (see its --help)',
    '',
    'Kubernetes Ingress controller with a built-in reverse proxy.',
    '',
    'Flags (each also an environment variable):',
  ];
  for (const f of FLAGS) {
    const value = f.choices ? f.choices.join('|') : 'VALUE';
    const arg = f.type === 'string' ? (f.bare !== undefined ? `[=${value}]` : ` ${value}`) : '';
    const def = f.default !== undefined && f.default !== '' ? ` (default ${f.default})` : '';
    const envVar = f.type === 'string' ? `  [${envName(f.name)}]` : '';
    lines.push(`  --${f.name}${arg}`);
    lines.push(`      ${f.help}${def}${envVar}`);
  }
  return lines.join('\n') + '\n';
}

// ---- subcommands (migrate-check, explain) ---------------------------------------------------

/**
 * The flags a subcommand shares with the main program and reads as the program does: where
 * to read objects from, and which Ingresses are ours.
 */
export const SOURCE_FLAGS = ['manifests', 'kubeconfig', 'watch-namespace', 'controller-name', 'ingress-class', 'watch-ingress-without-class'] as const;

/** The main program's specs of SOURCE_FLAGS (names, help, defaults, validation). */
export function sourceFlagSpecs(): FlagSpec[] {
  return SOURCE_FLAGS.map((name) => {
    const spec = FLAGS.find((f) => f.name === name);
    if (spec === undefined) throw new Error(`--${name} is no longer a flag of portico`);
    return spec;
  });
}

/**
 * The settings a subcommand's SOURCE_FLAGS give, through the main program's parser, with only
 * their own environment variables and KUBECONFIG (a deployment's other settings are not the
 * subcommand's business). Throws SettingsError on bad values.
 */
export function sourceSettings(values: Readonly<Record<string, unknown>>, env: NodeJS.ProcessEnv): Settings {
  const forwarded: string[] = [];
  for (const name of SOURCE_FLAGS) {
    const v = values[name];
    if (typeof v === 'string') forwarded.push(`--${name}=${v}`);
  }
  const sourceEnv: NodeJS.ProcessEnv = {};
  for (const name of [...SOURCE_FLAGS.map(envName), 'KUBECONFIG']) if (env[name] !== undefined) sourceEnv[name] = env[name];
  return parseSettings(forwarded, sourceEnv).settings;
}
