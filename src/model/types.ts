// The routing configuration: what the proxy reads for every request. Immutable once built;
// a new configuration replaces the old one atomically (one reference swap).

import type { TemplatePart, UserRegex } from './regex.ts';
import type { MatchRequest, RoutePredicates } from './predicates.ts';
import type { VirtualHost } from './virtual-host.ts';
export type { MatchRequest, RoutePredicates, TemplatePart, UserRegex };

export type PathType = 'Exact' | 'Prefix' | 'ImplementationSpecific';

export type LoadBalanceAlgorithm = 'round-robin' | 'least-conn' | 'ip-hash';

/**
 * How the proxy talks to the pods: `HTTP` HTTP/1.1 cleartext (default); `HTTPS` HTTP/1.1 over
 * TLS; `GRPC` and `H2C` HTTP/2 cleartext (prior knowledge; same wire, GRPC names the intent);
 * `GRPCS` HTTP/2 over TLS (ALPN).
 */
export type BackendProtocol = 'HTTP' | 'HTTPS' | 'GRPC' | 'GRPCS' | 'H2C';

/** Per-route policy, from the owning Ingress's `portico.dev/*` annotations (typed parsers). */
export interface RoutePolicy {
  loadBalance: LoadBalanceAlgorithm;
  /**
   * Plain-HTTP requests to a host with TLS are redirected to HTTPS (--http-redirect-code).
   * null: the annotation is absent and the proxy's global --ssl-redirect decides (default
   * true; ingress-nginx's ConfigMap key ssl-redirect), as an annotation overrides the
   * ConfigMap in ingress-nginx.
   */
  sslRedirect: boolean | null;
  /**
   * Plain-HTTP requests are redirected to HTTPS whether or not the host has TLS in the config
   * (ingress-nginx force-ssl-redirect: TLS terminated by a load balancer in front). null: the
   * global --force-ssl-redirect decides (default false).
   */
  forceSslRedirect: boolean | null;
  /** Protocol spoken to the pods. */
  backendProtocol: BackendProtocol;
  /**
   * TLS backends (HTTPS, GRPCS): verify the pod's certificate chain (Node's default trust
   * store, plus the proxy's extra backend CA bundle when configured) and name. Default off.
   */
  backendTlsVerify: boolean;
  /**
   * TLS backends: SNI and the name the certificate is verified against; '' means the
   * Service's DNS name `<service>.<namespace>.svc`.
   */
  backendTlsServerName: string;
}

export const DEFAULT_POLICY: RoutePolicy = Object.freeze({
  loadBalance: 'round-robin',
  sslRedirect: null,
  forceSslRedirect: null,
  backendProtocol: 'HTTP',
  backendTlsVerify: false,
  backendTlsServerName: '',
});

/** One host that wants TLS, from an Ingress's spec.tls (oldest Ingress wins per host). */
export interface TlsBinding {
  /** Lower-case host or `*.parent`. */
  host: string;
  /** `namespace/name` of the kubernetes.io/tls Secret (always the Ingress's namespace). */
  secret: string;
  ingress: ObjectRef;
  // ssl-ciphers / ssl-prefer-server-ciphers are not here: they belong to every host of an
  // Ingress's rules, spec.tls or not (VirtualHost.handshake)
}

/** Which Ingress a route or problem came from. */
export interface ObjectRef {
  kind: string;
  namespace: string;
  name: string;
}

/**
 * Where traffic goes: a Service port, resolved to the key the endpoint index uses.
 * `endpointsKey` is `namespace/service:portName` where portName is the *Service port's* name
 * ('' for a single unnamed port): EndpointSlice ports carry the same name, so the key joins
 * routes to endpoints without knowing pod ports (which may differ per pod).
 */
export interface Backend {
  namespace: string;
  service: string;
  /** The Service port as the Ingress named it (number or name). */
  servicePort: number | string;
  endpointsKey: string;
  /**
   * An ExternalName Service's DNS name: the backend is that name (endpointsKey `@addr/...`),
   * and TLS backends are verified against it by default.
   */
  externalName?: string;
}

/**
 * What a rule does with a request it matched. `forward`: proxy to the route's backend.
 * `direct`: answer locally with this status and a short plain-text body, never reaching
 * the backend (an Ingress whose access controls Portico cannot enforce answers 503 so).
 */
export type RouteAction = ForwardAction | DirectResponseAction | RedirectAction;

export interface ForwardAction {
  readonly kind: 'forward';
  /** A canary Ingress's backend that takes some of this rule's requests (ingress-nginx canary). */
  readonly canary?: Canary;
}

/**
 * ingress-nginx canary rules, in its order: the header, then the cookie, then the weight.
 * Header: with `headerValue` (or `headerPattern`) a match goes to the canary; without, the
 * value "always" goes to the canary and "never" to the primary. Cookie: "always" / "never".
 * Anything else falls through to the next rule; the weight is `weight` in `weightTotal`.
 */
export interface Canary {
  readonly backend: Backend;
  readonly ingress: ObjectRef;
  /** Lower-case header name, or ''. */
  readonly header: string;
  readonly headerValue: string;
  readonly headerPattern: UserRegex | null;
  readonly cookie: string;
  readonly weight: number;
  readonly weightTotal: number;
  /**
   * How the canary backend's endpoints are chosen when no cookie affinity decides: the canary
   * Ingress's own load-balance (absent: round-robin, the default), upstream-hash-by and
   * upstream-hash-by-subset, as ingress-nginx gives a canary backend its own balancer.
   */
  readonly loadBalance?: LoadBalanceAlgorithm;
  readonly hashBy?: readonly HashKeyPart[];
  readonly hashSubset?: number;
  /**
   * The canary Ingress says affinity-canary-behavior "legacy": the canary backend has no cookie
   * affinity (ingress-nginx's canary backend then has none); absent ("sticky"): the rule's
   * cookie affinity applies to the canary backend too.
   */
  readonly legacy?: true;
}

export interface DirectResponseAction {
  readonly kind: 'direct';
  readonly status: number;
  /** Plain text, one line (a newline is added when sent). */
  readonly body: string;
}

/** Request values a redirect Location may name (nginx's variables of the same names). */
export type LocationVariable = 'scheme' | 'host' | 'request_uri' | 'uri' | 'args' | 'is_args';

/** Literal text, or a request value. */
export type LocationPart = string | { readonly variable: LocationVariable };

/**
 * `redirect`: answer with this status and a Location made of literal text and request values
 * (ingress-nginx permanent-redirect, temporal-redirect, from-to-www-redirect).
 */
export interface RedirectAction {
  readonly kind: 'redirect';
  readonly status: number;
  readonly location: readonly LocationPart[];
  /** The alternate www / non-www host of from-to-www-redirect: yields to real rules of that host. */
  readonly wwwAlias?: true;
}

/** The action of every ordinary route: one shared value, so comparing it costs nothing. */
export const FORWARD: ForwardAction = Object.freeze({ kind: 'forward' });

/**
 * The path sent upstream, rewritten as nginx's `rewrite "(?i)<rule path>" <target> break`:
 * the whole path is replaced by the target, with `$n` taken from the route's regex match.
 * The query string follows (after the target's own arguments when it has some, unless the
 * target ends with `?`).
 */
export interface PathRewrite {
  readonly template: readonly TemplatePart[];
}

/**
 * What a route does to a request besides choosing its action: one optional slot per concern.
 * Absent means off; routes without any share NO_FILTERS, so the proxy tests one reference.
 */
export interface RouteFilters {
  readonly rewrite?: PathRewrite;
  /** Replaces the Host header sent upstream (ingress-nginx upstream-vhost). */
  readonly upstreamHost?: string;
  /** Sent upstream as X-Forwarded-Prefix (ingress-nginx x-forwarded-prefix, with a rewrite). */
  readonly forwardedPrefix?: string;
  /** Largest request body in bytes, 0 for no limit; absent: the proxy's global limit. */
  readonly bodyLimit?: number;
  /**
   * Request bodies with a declared length up to this many bytes are read in full before an
   * upstream connection is taken; 0: streamed at once (ingress-nginx proxy-request-buffering
   * "off", client-body-buffer-size); absent: --client-body-buffer-size.
   */
  readonly bodyBufferSize?: number;
  /**
   * Largest upstream response head accepted, in bytes, when above undici's 16 KiB (ingress-nginx
   * proxy-buffer-size); larger heads are a 502. Routes with it get pools of their own.
   */
  readonly responseHeadMax?: number;
  /** Upstream timeouts of this route; absent fields: the proxy's global ones. */
  readonly timeouts?: RouteTimeouts;
  /** ingress-nginx app-root: a request for exactly `/` gets a 302 to this path. */
  readonly appRoot?: string;
  /** Cookie session affinity (ingress-nginx affinity: cookie). */
  readonly affinity?: CookieAffinity;
  /** Consistent hashing of this key over the endpoints (ingress-nginx upstream-hash-by). */
  readonly hashBy?: readonly HashKeyPart[];
  /**
   * ingress-nginx upstream-hash-by-subset (only with hashBy): the key picks a subset of this
   * many endpoints, and its requests go round-robin within it (proxy/balancer.ts).
   */
  readonly hashSubset?: number;
  /** Source address allow/deny lists (ingress-nginx allowlist/denylist-source-range). */
  readonly sourceRange?: SourceRange;
  /** HTTP basic authentication (ingress-nginx auth-type: basic). */
  readonly basicAuth?: BasicAuth;
  /** Cross-origin resource sharing (ingress-nginx enable-cors and cors-*). */
  readonly cors?: CorsPolicy;
  /** When a request goes to another endpoint (ingress-nginx proxy-next-upstream*). */
  readonly retry?: RetryPolicy;
  /** Where requests without endpoints and upstream error answers go (ingress-nginx default-backend, custom-http-errors). */
  readonly errors?: ErrorBackend;
  /** Client certificate and CA for TLS to the backends (ingress-nginx proxy-ssl-secret). */
  readonly backendTls?: BackendTlsSecret;
  /** Ciphers and protocol versions of TLS to the backends (ingress-nginx proxy-ssl-ciphers, proxy-ssl-protocols). */
  readonly backendTlsHandshake?: BackendTlsHandshake;
  /** Client certificates of the route's host (ingress-nginx auth-tls-*); see client-cert-options.ts. */
  readonly clientCert?: ClientCertPolicy;
  /** Per-client request rate and concurrency limits (ingress-nginx limit-rps and co.). */
  readonly rateLimit?: RateLimit;
  /** External authentication by a subrequest (ingress-nginx auth-url and its companions). */
  readonly externalAuth?: ExternalAuth;
  /** The Ingress opted out of the proxy's --global-auth-url (ingress-nginx enable-global-auth: "false"). */
  readonly noGlobalAuth?: true;
  /**
   * ingress-nginx satisfy: "any": the source lists, basic auth and external auth let a request
   * through when any one of them does (absent: every one must, nginx's `satisfy all`).
   */
  readonly satisfy?: 'any';
  /** false: this route's requests are not written to the access log (ingress-nginx enable-access-log). */
  readonly accessLog?: false;
  /** Tracing of this route's requests (ingress-nginx enable-opentelemetry and opentelemetry-*). */
  readonly tracing?: RouteTracing;
  /** Bandwidth of each response (ingress-nginx limit-rate, limit-rate-after). */
  readonly limitRate?: ResponseRateLimit;
  /** A copy of each request sent elsewhere, its answer ignored (ingress-nginx mirror-*). */
  readonly mirror?: Mirror;
  /** Edits of the upstream's Location and Set-Cookie headers (ingress-nginx proxy-redirect-*, proxy-cookie-*). */
  readonly responseRewrite?: ResponseRewrite;
  /** Response headers from a ConfigMap set on every response (ingress-nginx custom-headers). */
  readonly customHeaders?: ConfigMapHeaders;
}

/** Headers listed in a ConfigMap (custom-headers, auth-proxy-set-headers); see model/configmap-headers.ts. */
export interface ConfigMapHeaders {
  /** `namespace/name` of the ConfigMap. */
  readonly configMap: string;
  /** Flat `[name, value, ...]`: lower-case names, sorted by name; values literal. */
  readonly headers: readonly string[];
}

/** See model/tracing-options.ts. */
export interface RouteTracing {
  /** false: never traced. */
  readonly enabled: boolean;
  /** false: an incoming traceparent is not continued. */
  readonly trustIncoming: boolean;
  /** The span name; '' for "METHOD path". */
  readonly operationName: string;
}

/** See model/limit-rate-options.ts. */
export interface ResponseRateLimit {
  readonly bytesPerSecond: number;
  /** Bytes of each response sent at full speed first. */
  readonly afterBytes: number;
}

/** See model/mirror-options.ts. */
export interface Mirror {
  /** `https://host[:port]`, literal. */
  readonly origin: string;
  /** The path and query, literal text and request values. */
  readonly path: readonly LocationPart[];
  /** Host header of the copies. */
  readonly host: string;
  /** Whether copies carry the request body (mirror-request-body). */
  readonly body: boolean;
}

/** Literal text and what replaces it. */
export interface TextReplacement {
  readonly from: string;
  readonly to: string;
}

/** See model/response-rewrite-options.ts. */
export interface ResponseRewrite {
  /** Location (and Refresh URL) starting with `from`: that start becomes `to` (nginx proxy_redirect). */
  readonly redirect?: TextReplacement;
  /** Set-Cookie Path starting with `from`: that start becomes `to` (nginx proxy_cookie_path). */
  readonly cookiePath?: TextReplacement;
  /** Set-Cookie Domain equal to `from`, case-insensitively, leading dot kept: becomes `to` (nginx proxy_cookie_domain). */
  readonly cookieDomain?: TextReplacement;
}

/** PEM material of a proxy-ssl-secret; see model/backend-tls-options.ts. */
export interface BackendTlsSecret {
  /** `namespace/name` of the Secret (names the upstream pools; never the material). */
  readonly secret: string;
  /** Client certificate chain and its key, presented to backends; both or neither. */
  readonly cert?: string;
  readonly key?: string;
  /** The only CAs backends are verified against (with verification on). */
  readonly ca?: string;
}

/** What TLS connections to the backends may negotiate; see model/backend-tls-options.ts. Absent fields: Node's defaults. */
export interface BackendTlsHandshake {
  /** OpenSSL cipher list (checked), as nginx proxy_ssl_ciphers. */
  readonly ciphers?: string;
  /** Lowest and highest TLS version (proxy_ssl_protocols); both or neither. */
  readonly minVersion?: 'TLSv1.2' | 'TLSv1.3';
  readonly maxVersion?: 'TLSv1.2' | 'TLSv1.3';
}

/** ingress-nginx's per-Ingress default backend; see model/error-backend-options.ts. */
export interface ErrorBackend {
  readonly backend: Backend;
  /** Upstream statuses replaced by this backend's answer (custom-http-errors); may be empty. */
  readonly codes: readonly number[];
}

/** ingress-nginx's proxy-next-upstream, -tries and -timeout; see model/retry-options.ts. */
export interface RetryPolicy {
  /** Connection refused or reset, or the upstream closed before answering. */
  readonly error: boolean;
  /** Connect timeout, or no response head within the read timeout. */
  readonly timeout: boolean;
  /** An upstream response Portico cannot parse or relay. */
  readonly invalidHeader: boolean;
  /** Upstream statuses answered by trying another endpoint (the last answer is relayed). */
  readonly statuses: readonly number[];
  /** POST, PATCH and LOCK (non-idempotent methods) are retried too. */
  readonly nonIdempotent: boolean;
  /** Attempts in all, the first included; 0: as many as there are endpoints (at least 2). */
  readonly tries: number;
  /** No attempt starts later than this after the first one; 0: no limit. */
  readonly timeoutMs: number;
}

/**
 * ingress-nginx auth-tls-verify-client: `on` a verified certificate is required (400 without);
 * `optional` a certificate is requested, none is fine, a bad one gets 400; `optional_no_ca`
 * requested, verification errors about the issuer are passed upstream instead; `off` none is
 * requested (the ssl-client-verify header says NONE).
 */
export type ClientCertVerify = 'on' | 'off' | 'optional' | 'optional_no_ca';

/** Client certificate authentication of a host (mutual TLS), from the oldest Ingress that sets it. */
export interface ClientCertPolicy {
  /** `namespace/name` of the Secret with the CA bundle. */
  readonly secret: string;
  /** The CA certificates (PEM blocks of the Secret's ca.crt). */
  readonly caPem: string;
  /** CRLs (PEM blocks of ca.crl), '' for none. */
  readonly crlPem: string;
  readonly verify: ClientCertVerify;
  /** ingress-nginx auth-tls-verify-depth (OpenSSL's: intermediate CAs allowed above the client's). */
  readonly depth: number;
  /** Absolute URL answered with a 302 instead of the 400 (ingress-nginx auth-tls-error-page), or ''. */
  readonly errorPage: string;
  /** Send the client certificate upstream as URL-encoded PEM in `ssl-client-cert`. */
  readonly passCertificate: boolean;
  /** Searched in the subject DN (RFC 2253, `CN=...`); 403 when it does not match. */
  readonly matchCn: UserRegex | null;
  /**
   * Identity of what the handshake verifies (CA, CRL, mode, depth): a connection verified for
   * one key serves requests only for hosts with the same key.
   */
  readonly key: string;
}

/** ingress-nginx's CORS settings; see model/cors-options.ts for the defaults. */
export interface CorsPolicy {
  /** `*` (any origin, answered as `*`), or origin patterns (`scheme://host[:port]`, `scheme://*.domain`, `null`). */
  readonly origins: '*' | readonly string[];
  /** Access-Control-Allow-Methods value. */
  readonly methods: string;
  /** Access-Control-Allow-Headers value. */
  readonly headers: string;
  /** Access-Control-Expose-Headers value, '' for none. */
  readonly expose: string;
  /** Send Access-Control-Allow-Credentials: true. */
  readonly credentials: boolean;
  /** Access-Control-Max-Age in seconds. */
  readonly maxAge: number;
}

/** Request values an auth-url or auth-signin may name (nginx's variables of the same names). */
export type AuthUrlVariable = 'host' | 'scheme' | 'request_uri' | 'escaped_request_uri';

/** Literal text, or a request value. */
export type AuthUrlPart = string | { readonly variable: AuthUrlVariable };

/**
 * External authentication (ingress-nginx auth-url, nginx's auth_request): a subrequest without
 * body to the auth service decides; 2xx lets the request through, 401/403 are answered (401 may
 * become a 302 to the sign-in page), anything else is 500.
 */
export interface ExternalAuth {
  /** auth-url as written (for problems and status). */
  readonly url: string;
  /**
   * `http(s)://host[:port]` of the auth service, literal; `$host` stands for the rule's host
   * when `originUsesHost` (only rules with an exact host get such a filter).
   */
  readonly origin: string;
  readonly originUsesHost: boolean;
  /** Path and query of the auth request. */
  readonly target: readonly AuthUrlPart[];
  /** Request method of the subrequest (auth-method), GET by default. */
  readonly method: string;
  /** auth-method was set: the subrequest also carries X-Original-URI and X-Scheme. */
  readonly methodSet: boolean;
  /** auth-signin as a template, or null: a 401 from the auth service is answered as it is. */
  readonly signin: readonly AuthUrlPart[] | null;
  /**
   * How the original URL joins the sign-in URL: `?rd=` / `&rd=` (the name from
   * auth-signin-redirect-param), or '' when the sign-in URL carries that parameter itself.
   */
  readonly signinJoin: string;
  /** auth-response-headers, lower case: copied from the auth response into the upstream request. */
  readonly responseHeaders: readonly string[];
  /** X-Auth-Request-Redirect sent to the auth service; '' means the request URI. */
  readonly requestRedirect: string;
  /** Cached auth results (auth-cache-key with auth-cache-duration), or null. */
  readonly cache: ExternalAuthCache | null;
  /** auth-always-set-cookie: the auth service's Set-Cookie also goes out with a 401/403. */
  readonly alwaysSetCookie: boolean;
  /**
   * auth-proxy-set-headers: headers sent with the subrequest, replacing the client's of those
   * names (an empty value: the header is not sent at all); absent when not set.
   */
  readonly proxySetHeaders?: ConfigMapHeaders;
}

/** ingress-nginx auth-cache-key and auth-cache-duration (nginx's proxy_cache_valid). */
export interface ExternalAuthCache {
  readonly key: readonly HashKeyPart[];
  /** How long a result is kept, by auth response status (status 0 stands for `any`; first entry wins). */
  readonly valid: readonly { readonly status: number; readonly ms: number }[];
}

/** Literal text or a request value (nginx's `$request_uri`, `$http_<name>`, `$cookie_<name>` ...). */
export type HashKeyPart =
  | string
  | { readonly variable: 'request_uri' | 'uri' | 'args' | 'host' | 'remote_addr' }
  | { readonly header: string }
  | { readonly cookie: string }
  | { readonly arg: string };

/**
 * A client keeps its endpoint through a cookie naming it (an opaque token per endpoint). Set
 * on the first response, and again when its endpoint left the Service.
 */
export interface CookieAffinity {
  /**
   * ingress-nginx affinity-mode. `balanced` (its default): the cookie carries a random session
   * key hashed onto the endpoints, so when the Service scales up some sessions move to the new
   * endpoints. `persistent`: the cookie names its endpoint, and a session moves only when that
   * endpoint leaves. Absent: balanced.
   */
  readonly mode?: 'persistent';
  /**
   * affinity-canary-behavior "legacy" on this (primary) Ingress: as Canary.legacy (ingress-nginx
   * reads it on the canary Ingress only). Absent ("sticky", its default): a client the cookie
   * ties to the canary (or to the primary) stays there.
   */
  readonly canaryBehavior?: 'legacy';
  /** ingress-nginx session-cookie-change-on-failure: a request retried on another endpoint re-pins the client there. */
  readonly changeOnFailure?: true;
  /**
   * ingress-nginx session-cookie-conditional-samesite-none (only with sameSite None): browsers
   * known to mishandle SameSite=None get the cookie without it (proxy/filters/same-site.ts).
   */
  readonly conditionalSameSiteNone?: true;
  readonly name: string;
  readonly path: string;
  /** Max-Age in seconds, or null for a session cookie. */
  readonly maxAge: number | null;
  /** Expires, seconds from the response (ingress-nginx session-cookie-expires), or null. */
  readonly expires: number | null;
  readonly sameSite: 'None' | 'Lax' | 'Strict' | null;
  readonly secure: boolean;
  readonly domain: string | null;
}

/** ingress-nginx proxy-connect-timeout, proxy-read-timeout and proxy-send-timeout, in milliseconds. */
export interface RouteTimeouts {
  /** TCP (and TLS) connect to an endpoint. */
  readonly connectMs?: number;
  /** Waiting for the response head, and the longest pause between two response body reads. */
  readonly readMs?: number;
  /** The longest the upstream may take to accept more of the request body (nginx proxy_send_timeout). */
  readonly sendMs?: number;
}

/**
 * Who may reach a route by client address (the socket peer, the PROXY protocol source, or the
 * X-Forwarded-For client behind a trusted proxy). A listed address in `deny` gets 403; with
 * `allow`, every address outside it gets 403. A list that is absent falls back to the proxy's
 * global list (--denylist-source-range / --whitelist-source-range); a list that is present
 * replaces it, as an annotation overrides the ConfigMap value in ingress-nginx.
 */
export interface SourceRange {
  /** CIDRs or addresses as written (validated), or absent. */
  readonly allow?: readonly string[];
  readonly deny?: readonly string[];
}

/** One user of an htpasswd file: the name and the hash as written (bcrypt, apr1 or {SHA}). */
export interface BasicAuthUser {
  readonly user: string;
  readonly hash: string;
}

/** HTTP basic authentication against the users of a Secret; others get 401. */
export interface BasicAuth {
  /** The realm sent in WWW-Authenticate (quotes and backslashes removed). */
  readonly realm: string;
  /** Users in file order; the first entry of a name wins (as Apache's htpasswd lookup). */
  readonly users: readonly BasicAuthUser[];
}

/**
 * Limits per client address (ingress-nginx limit-rps, limit-rpm, limit-burst-multiplier,
 * limit-connections, limit-allowlist). At least one of rps, rpm, connections is above 0.
 */
export interface RateLimit {
  /** Whose counters these are: `namespace/name` of the Ingress (one zone per Ingress, as ingress-nginx). */
  readonly zone: string;
  /** Requests per second (0: no such limit). */
  readonly rps: number;
  /** Requests per minute (0: no such limit). */
  readonly rpm: number;
  /** Each rate's burst is the rate times this (ingress-nginx default 5). */
  readonly burstMultiplier: number;
  /** Requests in progress at once (0: no such limit). */
  readonly connections: number;
  /** Client addresses or CIDRs the limits do not apply to (validated); absent: none. */
  readonly exempt?: readonly string[];
}

export const NO_FILTERS: RouteFilters = Object.freeze({});

export interface Route {
  /** Lower-case host this route serves; '' for rules without host; `*.example.com` for wildcards. */
  host: string;
  path: string;
  pathType: PathType;
  backend: Backend;
  policy: RoutePolicy;
  /** FORWARD for ordinary routes. */
  action: RouteAction;
  /** NO_FILTERS for ordinary routes. */
  filters: RouteFilters;
  /**
   * On a host whose paths are regular expressions (ingress-nginx use-regex or rewrite-target
   * on any Ingress of the host): `^<path>`, case-insensitive, on a linear-time engine. null
   * on every other host.
   */
  regex: UserRegex | null;
  ingress: ObjectRef;
  /** A copy under another host name (ingress-nginx server-alias): yields to real rules there. */
  alias?: true;
  /**
   * Method, header and query matches the request must also satisfy (Gateway API
   * HTTPRouteMatch; predicates.ts); absent: none. Rules of the same path are tried in
   * precedence order (path-table.ts).
   */
  predicates?: RoutePredicates;
}

/** A per-object error found while translating; the object (or only its rule) is skipped. */
export interface Problem {
  object: ObjectRef;
  /** Short machine-friendly category, e.g. 'ServiceNotFound', 'PortNotFound', 'InvalidPath'. */
  reason: string;
  /** A sentence a user can act on. */
  message: string;
}

export interface RoutingConfig {
  /** Monotonic, assigned by whoever swaps configs in; 0 for the empty config. */
  readonly version: number;
  /**
   * The route for a request. `host` is the Host header as received (any case, may carry a
   * port); `path` is the request path without the query string. Returns the default backend
   * route (the one with `path` '' and no rule) when nothing matches and one is configured,
   * else null. `request` is what rules with predicates (method, headers, query) are checked
   * against; absent: a request with none of them (predicates.ts NO_REQUEST).
   */
  match(host: string, path: string, request?: MatchRequest): Route | null;
  /** Every route, for status, metrics and debugging; order is unspecified. */
  routes(): Iterable<Route>;
  readonly problems: readonly Problem[];
  /** Ingresses that belong to us (by class) — status is written for these. */
  readonly ingresses: readonly ObjectRef[];
  /** Hosts served over TLS and their certificates' Secrets, one entry per host. */
  readonly tls: readonly TlsBinding[];
  /**
   * ingress-nginx ssl-passthrough: the route whose backend takes TLS connections for this SNI
   * server name undecrypted (the host's `/` rule), or null: terminate as usual. Found as a Host
   * header is (exact, then one-label wildcard). Absent: no passthrough hosts.
   */
  passthrough?(serverName: string): Route | null;
  /** Every virtual host (RouteTable), for what is decided per host: the handshake settings (VirtualHost.handshake). */
  virtualHosts?(): readonly VirtualHost[];
}
