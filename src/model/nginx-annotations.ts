// Every `nginx.ingress.kubernetes.io/*` annotation ingress-nginx knows (its final release,
// v1.15: docs/user-guide/nginx-configuration/annotations.md plus the names its parsers read),
// and what Portico does with each. One table serves three readers: the Ingress processor
// (problems, fail-closed access controls), `portico migrate-check`, and the README's table.
//
// Support levels:
//   supported    Portico implements it with ingress-nginx's meaning and defaults;
//   differs      Portico implements it, with a difference the note states;
//   unsupported  ignored, with a problem on the Ingress that says what to do instead.
// `guards`: the annotation restricts who may reach the backend. When Portico does not honour
// such an annotation (or its value is invalid), serving the rule would open what the user
// closed, so the Ingress's rules answer 503 instead (ingress-nginx answers 503 too for a
// location whose authentication is misconfigured). Nothing here ever executes nginx syntax.

export const NGINX_PREFIX = 'nginx.ingress.kubernetes.io/';

export type Support = 'supported' | 'differs' | 'unsupported';

export interface NginxAnnotation {
  /** Name without the prefix, e.g. `rewrite-target`. */
  readonly name: string;
  readonly support: Support;
  /** Restricts access: when not honoured, the Ingress fails closed (503). */
  readonly guards: boolean;
  /** unsupported: what to do instead; differs: how Portico differs; supported: what it does. */
  readonly note: string;
}

function entry(name: string, support: Support, note: string, guards = false): NginxAnnotation {
  return Object.freeze({ name, support, guards, note });
}
const unsupported = (name: string, note: string): NginxAnnotation => entry(name, 'unsupported', note);
/** An access control Portico does not enforce yet: the Ingress answers 503 while it is set. */
const guard = (name: string, note: string): NginxAnnotation => entry(name, 'unsupported', note, true);

const SNIPPET =
  'nginx configuration snippets are never executed by Portico (they were the root of most ingress-nginx CVEs); express the intent with typed annotations (headers, redirects, rewrites) instead';
const BUFFERING = 'no effect: Portico streams bodies and has no nginx buffers to tune; a value ingress-nginx would refuse is a problem';

const TABLE: readonly NginxAnnotation[] = [
  // ---- access control (fail closed until supported) ---------------------------------------
  entry('whitelist-source-range', 'supported', 'older name of allowlist-source-range (allowlist-source-range wins when both are set)', true),
  entry('allowlist-source-range', 'supported', 'comma-separated IPs/CIDRs (IPv4, IPv6, IPv4-mapped) allowed; others get 403; replaces --whitelist-source-range; client address is the peer, the PROXY protocol source, or X-Forwarded-For behind --trusted-proxies; an invalid entry makes the rules answer 503', true),
  entry('denylist-source-range', 'supported', 'comma-separated IPs/CIDRs that get 403; checked before the allow-list; replaces --denylist-source-range; an invalid entry makes the rules answer 503', true),
  entry('auth-type', 'differs', '"basic" only: digest (and any other value) makes the rules answer 503 instead of serving them unprotected', true),
  entry('auth-secret', 'differs', 'Secret "name" or "namespace/name" with the users; bcrypt ($2a$/$2b$/$2y$), apr1 and {SHA} hashes are verified, crypt(3) and plain-text entries are skipped with a problem; a missing Secret or one without usable users makes the rules answer 503', true),
  entry('auth-secret-type', 'supported', '"auth-file" (key auth holds an htpasswd file, default) or "auth-map" (one key per user, the value its hash)', true),
  entry('auth-realm', 'supported', 'the realm of the 401 answer\'s WWW-Authenticate header', true),
  entry('auth-url', 'differs', 'external authentication: a subrequest without body (original headers, X-Original-URL, X-Original-Method, X-Sent-From, X-Real-IP, X-Forwarded-*, X-Auth-Request-Redirect; Host of the auth URL) decides: 2xx forwards, 401/403 are answered (401 with the auth service\'s WWW-Authenticate), anything else, a connection failure or 5 s without an answer gives 500 (after a failed connect the auth origin is not tried for 1 s: 500 at once); only $host, $scheme, $request_uri and $escaped_request_uri are filled in, and $host in the host part only on rules with an exact host; an invalid URL makes the rules answer 503', true),
  entry('auth-method', 'supported', 'method of the auth subrequest (default GET); when set, X-Original-URI and X-Scheme are sent too; an invalid method makes the rules answer 503', true),
  entry('auth-signin', 'supported', 'a 401 from the auth service becomes a 302 to this URL with the original URL (escaped) in auth-signin-redirect-param, with the auth service\'s Set-Cookie; $host, $scheme, $request_uri, $escaped_request_uri are filled in, an invalid URL makes the rules answer 503', true),
  entry('auth-signin-redirect-param', 'supported', 'name of the sign-in URL\'s parameter that carries the original URL, default rd; not added when the sign-in URL already sets it', true),
  entry('auth-response-headers', 'supported', 'comma-separated headers copied from the auth response into the upstream request; client-sent headers of those names are always removed', true),
  entry('auth-request-redirect', 'supported', 'the X-Auth-Request-Redirect value sent to the auth service (default: the request URI)', true),
  entry('auth-cache-key', 'differs', 'caches auth results per rendered key, rule and auth URL for auth-cache-duration, in memory (at most 10000 entries per proxy process); the key takes the same request values as upstream-hash-by ($remote_user is refused: no caching, with a problem); auth responses with Set-Cookie or Cache-Control no-store/no-cache/private are not cached', true),
  entry('auth-cache-duration', 'differs', 'statuses then a time, comma-separated ("200 202 10m, 401 5m"; any; default "200 202 401 5m"); Cache-Control max-age and Expires of the auth response are not read; an invalid value makes the rules answer 503', true),
  entry('auth-always-set-cookie', 'differs', '"true": the auth service\'s Set-Cookie also goes out with a 401/403 answer; Portico passes it on every response of an authorised request whatever the upstream status (ingress-nginx only with 2xx/3xx unless this is set)', true),
  entry('auth-proxy-set-headers', 'differs', 'ConfigMap "name" or "namespace/name" (the Ingress\'s namespace only) whose data are headers sent with the auth subrequest, replacing the client\'s of those names (an empty value: not sent); values are literal, so a value naming an nginx variable ("$") is refused; a missing ConfigMap or an invalid entry makes the rules answer 503', true),
  entry('auth-keepalive', 'differs', 'no effect: Portico always keeps up to 64 connections per auth service alive'),
  entry('auth-keepalive-requests', 'differs', 'no effect: connections to the auth service are reused without a request limit'),
  entry('auth-keepalive-share-vars', 'differs', 'no effect: the auth request always carries the request\'s X-Request-Id'),
  entry('auth-keepalive-timeout', 'differs', 'no effect: idle connections to the auth service close after 4 s (undici\'s default)'),
  guard('auth-snippet', `${SNIPPET}; the headers it would set on the auth request are not sent`),
  // client certificates (client-cert-options.ts, proxy/filters/client-cert.ts)
  entry('auth-tls-secret', 'differs', 'Secret "name" or "namespace/name" whose ca.crt holds the CA bundle (ca.crl: optional CRLs); applies to the whole host, from its oldest Ingress that sets it; only that host\'s TLS handshakes request a certificate (SNI); a missing Secret, a missing or unparsable ca.crt or ca.crl makes the host\'s rules answer 503 (ingress-nginx: 403, or no client authentication at all without ca.crt)', true),
  entry('auth-tls-verify-client', 'differs', '"on" (default), "off", "optional", "optional_no_ca" with nginx\'s semantics (400 without or with a bad certificate; ssl-client-verify, ssl-client-subject-dn, ssl-client-issuer-dn headers upstream); the 400 body is Portico\'s text; a request for the host on a connection whose handshake was not verified for it (no SNI, HTTP/2 coalescing from another host) gets 421; over plain HTTP "on" answers 400 where nginx would not check', true),
  entry('auth-tls-verify-depth', 'differs', 'OpenSSL\'s verify depth (default 1: the client certificate, one intermediate CA, the trust anchor), counted through ca.crt: intermediates must be in ca.crt (Node does not give the server the ones the client sends), else the certificate is refused', true),
  entry('auth-tls-error-page', 'differs', 'an absolute http(s) URL: a 302 to it instead of the 400 (nginx\'s error_page 495 496); a path or @location (nginx internal redirects) is refused and the host answers 503', true),
  entry('auth-tls-pass-certificate-to-upstream', 'differs', '"true": the client certificate goes upstream in ssl-client-cert as URL-encoded PEM; client-sent ssl-client-* headers are always removed on such hosts (nginx passes a client\'s ssl-client-cert through when this is false)', true),
  entry('auth-tls-match-cn', 'differs', 'a regex ("CN=..." prefix required) searched in the subject DN (RFC 2253, as nginx\'s $ssl_client_s_dn); no match answers 403; RE2 syntax (linear time: no backreferences or lookahead)', true),
  entry('satisfy', 'supported', '"any": the source address lists, basic auth and external auth let a request through when any one of them does (checked in that order; a 401 wins over a 403 when none does; an auth service failure still answers 500); "all" (default): every one must; an invalid value means "all"', true),
  entry('enable-global-auth', 'supported', '"false": the rules skip the proxy\'s --global-auth-url (default "true")'),

  // ---- snippets: never executed ------------------------------------------------------------
  unsupported('configuration-snippet', SNIPPET),
  unsupported('server-snippet', SNIPPET),
  unsupported('stream-snippet', SNIPPET),
  unsupported('modsecurity-snippet', `${SNIPPET}; Portico has no web application firewall: put one in front of it or in the application`),

  // ---- routing, rewriting, redirects -------------------------------------------------------
  entry('use-regex', 'differs', 'every path of the host becomes a case-insensitive regex anchored at the start, longest first, as in ingress-nginx; regexes run on RE2 (linear time): no backreferences or lookaround, such paths are refused with a problem'),
  entry('rewrite-target', 'differs', 'the upstream path becomes the target with $1..$9 / ${n} from the path regex, query kept, as nginx rewrite; nginx variables ($host, $scheme ...) are refused (the rule answers 503 with a problem)'),
  entry('app-root', 'supported', 'a request for exactly / gets a 302 to this path on the same host and scheme'),
  entry('x-forwarded-prefix', 'supported', 'sent upstream as X-Forwarded-Prefix on rewritten rules'),
  entry('upstream-vhost', 'supported', 'the Host header sent upstream'),
  entry('ssl-redirect', 'supported', 'alias of portico.dev/ssl-redirect: a TLS host redirects plain HTTP to HTTPS (308), "false" turns it off; X-Forwarded-Proto from a trusted proxy (--trusted-proxies) counts as the scheme'),
  entry('force-ssl-redirect', 'supported', 'alias of portico.dev/force-ssl-redirect: plain-HTTP requests are redirected to HTTPS (308, --http-redirect-code) even without spec.tls; a request a trusted proxy (--trusted-proxies) marks X-Forwarded-Proto: https is not redirected'),
  entry('permanent-redirect', 'differs', 'every request of the rules is redirected to this http(s) URL; only $scheme, $host, $request_uri, $uri, $args and $is_args are filled in (other nginx variables are refused)'),
  entry('permanent-redirect-code', 'supported', 'status of permanent-redirect, 300-308, default 301'),
  entry('temporal-redirect', 'differs', 'as permanent-redirect (and wins over it), default status 302; the same request values only'),
  entry('temporal-redirect-code', 'supported', 'status of temporal-redirect, 300-307, default 302'),
  entry('from-to-www-redirect', 'differs', '"true" (a Go boolean, as ingress-nginx: "True", "1" too): the www / non-www twin of each rule host answers --http-redirect-code (308) to the same URL on the rule host, unless another rule defines the twin; its HTTPS certificate is whatever SNI finds for the twin (list the twin in spec.tls)'),
  unsupported('preserve-trailing-slash', 'Portico never strips trailing slashes from redirects; remove the annotation'),
  unsupported('use-port-in-redirects', 'Portico redirects never carry the listener port; remove the annotation'),
  unsupported('relative-redirects', 'Portico leaves Location headers as the backend sent them; remove the annotation'),
  entry('server-alias', 'supported', 'comma-separated host names that serve every rule of the Ingress\'s host, whichever Ingress added it (with its canaries and default backend), as more server_names of the host; only the oldest Ingress\'s aliases of a host count; an alias that is another Ingress\'s host, or that an older Ingress names, yields to it with a problem (ingress-nginx skips it with a log line)'),
  entry('default-backend', 'supported', 'a Service of the Ingress\'s namespace (its first port) that serves the rules\' requests when their Service has no ready endpoint (with X-Code: 503 and ingress-nginx\'s other X-* headers), and the error pages of custom-http-errors'),
  entry('custom-http-errors', 'differs', 'comma-separated statuses whose upstream answers are replaced by default-backend\'s answer for "/" with X-Code, X-Format, X-Original-URI, X-Namespace, X-Ingress-Name, X-Service-Name, X-Service-Port; without default-backend the pages come from --default-backend-service (without that flag it is a problem and answers are relayed); requests whose body was streamed are not replayed'),
  entry('disable-proxy-intercept-errors', 'supported', '"true": upstream answers are relayed as they are, whatever custom-http-errors lists; the default-backend still takes requests of a Service without endpoints'),
  entry('ssl-passthrough', 'differs', '"true" with the flag --enable-ssl-passthrough: TLS connections whose SNI names a host of the Ingress are not decrypted but piped to an endpoint of the host\'s "/" rule (or of its default backend), so the backend\'s own certificate is served; other paths, the TLS Secret and the other annotations apply only to requests that reach Portico (plain HTTP, TLS without SNI), which go to that backend over HTTPS; the pod endpoints are used (ingress-nginx: the Service\'s ClusterIP); one-label wildcard hosts match as for Host headers (ingress-nginx: exact names only); a "/" rule with access controls (source ranges, auth, client certificates) or answering 503 keeps the host terminated; without the flag: a problem, and the host is terminated and proxied over HTTPS (as ingress-nginx)'),

  // ---- traffic: canary, affinity, balancing --------------------------------------------------
  entry('canary', 'supported', '"true" (a Go boolean, as ingress-nginx: "True", "1" too; another value is a problem and the Ingress is not a canary): the Ingress is a canary: each rule joins the rule with the same host and path of an Ingress without canary, and takes some of its requests'),
  entry('canary-weight', 'supported', 'share of requests (out of canary-weight-total) sent to the canary, after header and cookie rules; above the total: every request'),
  entry('canary-weight-total', 'supported', 'total of canary-weight, default 100; below 100 it counts as 100, as in ingress-nginx\'s balancer (a problem says so)'),
  entry('canary-by-header', 'supported', 'header: "always" sends to the canary, "never" to the primary; with canary-by-header-value, that value sends to the canary'),
  entry('canary-by-header-value', 'supported', 'the value of canary-by-header that sends a request to the canary'),
  entry('canary-by-header-pattern', 'differs', 'a regular expression on the canary-by-header value (RE2 syntax, linear time; ignored when canary-by-header-value is set)'),
  entry('canary-by-cookie', 'supported', 'cookie: "always" sends to the canary, "never" to the primary'),
  entry('affinity', 'differs', '"cookie": a client keeps its endpoint through a cookie (Set-Cookie on the first response); WebSocket upgrades are balanced without it; each rule uses its own Ingress\'s cookie settings (ingress-nginx: one cookie per Service, with the settings of the last Ingress it reads)'),
  entry('affinity-mode', 'supported', '"balanced" (default): the cookie holds a random session key hashed onto the endpoints (rendezvous hashing), so scaling up moves about 1/n of the sessions to each new endpoint; "persistent": the cookie names its endpoint and a session moves only when that endpoint leaves'),
  entry('affinity-canary-behavior', 'differs', 'read on the canary Ingress: "sticky" (default): the canary backend uses the primary rule\'s cookie affinity, so a client whose cookie was set on the canary (or on the primary) stays there, before the canary rules are asked; "legacy": the canary backend has no affinity (no cookie from it, its own load-balance / upstream-hash-by) while a client pinned to the primary stays there; Portico also honours "legacy" on the primary Ingress (ingress-nginx does not); a canary Ingress\'s own affinity has no effect (a problem), as in ingress-nginx'),
  entry('session-cookie-name', 'supported', 'cookie name, default INGRESSCOOKIE'),
  entry('session-cookie-path', 'supported', 'cookie Path, default /'),
  entry('session-cookie-domain', 'supported', 'cookie Domain attribute'),
  entry('session-cookie-expires', 'supported', 'cookie Expires, seconds from the response'),
  entry('session-cookie-max-age', 'supported', 'cookie Max-Age in seconds'),
  entry('session-cookie-samesite', 'supported', 'cookie SameSite: None, Lax or Strict in any case (None implies Secure)'),
  entry('session-cookie-secure', 'supported', 'cookie Secure attribute'),
  entry('session-cookie-conditional-samesite-none', 'differs', '"true" with session-cookie-samesite None: browsers known to mishandle SameSite=None get the cookie without it (Secure kept): every User-Agent ingress-nginx omits it for (Chrome/4x to 6x, iOS 12, Safari on macOS 10.14), and also UC Browser before 12.13.2 and browsers embedded in macOS 10.14 applications (Chromium\'s list of incompatible clients); the User-Agent is read only when a cookie is set'),
  entry('session-cookie-change-on-failure', 'supported', '"true": a request retried on another endpoint (proxy-next-upstream, or Portico\'s own retry of connect failures) gets a cookie pinning the client to that endpoint; "false" (default): the cookie keeps its endpoint'),
  entry('upstream-hash-by', 'differs', 'consistent hashing of the key over the endpoints (rendezvous hashing, not nginx\'s ketama ring: the same key keeps its endpoint, the spread differs); $request_uri, $uri, $args, $host, $remote_addr, $binary_remote_addr, $http_*, $cookie_*, $arg_* only'),
  entry('upstream-hash-by-subset', 'differs', '"true" (with upstream-hash-by): the key hashes onto a subset of upstream-hash-by-subset-size endpoints and its requests take them in turn (ingress-nginx: at random); a key\'s subset is its best endpoints by rendezvous hashing, so subsets overlap and a leaving endpoint is replaced only in the subsets that had it (ingress-nginx cuts the endpoint list into fixed groups); with fewer endpoints than the size, all of them (ingress-nginx repeats some); a problem without upstream-hash-by (ingress-nginx ignores it)'),
  entry('upstream-hash-by-subset-size', 'differs', 'endpoints per subset, default 3 (0 also means 3); at most 64 (ingress-nginx has no limit); an invalid value uses 3 with a problem'),
  entry('load-balance', 'differs', 'round_robin as portico.dev/load-balance: round-robin; ewma is served by least-conn (fewest requests in flight), not a peak-EWMA of latencies; on a canary Ingress it balances the canary backend (as upstream-hash-by there), as in ingress-nginx'),

  // ---- upstream ----------------------------------------------------------------------------
  entry('backend-protocol', 'differs', 'alias of portico.dev/backend-protocol for HTTP, HTTPS, GRPC and GRPCS; AUTO_HTTP and FCGI are refused (HTTP is used, with a problem)'),
  entry('proxy-ssl-verify', 'differs', '"on" verifies TLS backends against proxy-ssl-secret\'s ca.crt, or without one against the system roots and --backend-ca-file (ingress-nginx verifies only with proxy-ssl-secret)'),
  entry('proxy-ssl-name', 'differs', 'alias of portico.dev/backend-tls-server-name: the name sent as SNI and verified; must be a DNS name'),
  entry('proxy-ssl-server-name', 'differs', 'Portico always sends SNI to TLS backends, "off" included; a value other than "on" or "off" is a problem'),
  entry('proxy-ssl-secret', 'supported', 'Secret ("name" or "namespace/name") for HTTPS/GRPCS backends: tls.crt + tls.key are presented as the client certificate, ca.crt is the only CA backends are verified against (with proxy-ssl-verify on); a missing or unusable Secret makes the rules answer 503'),
  unsupported('proxy-ssl-verify-depth', 'Portico verifies the whole chain; remove the annotation'),
  entry('proxy-ssl-ciphers', 'differs', 'OpenSSL cipher list for TLS to HTTPS/GRPCS backends (TLS 1.2 and below; names starting TLS_ also restrict TLS 1.3, which nginx cannot); applied with or without proxy-ssl-secret (ingress-nginx reads it only with one); a list with other characters or that OpenSSL matches to no cipher is a problem and Node\'s defaults are used'),
  entry('proxy-ssl-protocols', 'differs', '"TLSv1.2", "TLSv1.3" or both (space-separated) for TLS to HTTPS/GRPCS backends, with or without proxy-ssl-secret; default TLSv1.2 and TLSv1.3 (ingress-nginx: TLSv1.2 only, when proxy-ssl-secret is set); SSLv2, SSLv3, TLSv1, TLSv1.1 or any other word is a problem and the default is used'),
  entry('service-upstream', 'supported', '"true": traffic goes to each Service\'s ClusterIP (kube-proxy balances) instead of the pod endpoints; a headless Service keeps its endpoints'),
  unsupported('proxy-http-version', 'Portico speaks HTTP/1.1 to HTTP backends (portico.dev/backend-protocol for HTTP/2); remove the annotation'),
  unsupported('connection-proxy-header', 'Portico manages upstream connections itself; remove the annotation'),
  unsupported('fastcgi-index', 'FastCGI backends are not supported'),
  unsupported('fastcgi-params-configmap', 'FastCGI backends are not supported'),
  entry('mirror-target', 'differs', 'a copy of each request goes to this http(s) URL and its answer is ignored; $request_uri, $uri, $args, $is_args, $scheme, $host are filled in the path and query only (the origin is literal); a URL without path gets the request URI; bodies are copied when read in full before dispatch (up to --client-body-buffer-size), larger or streamed bodies are not mirrored; at most 1024 copies in flight per process'),
  entry('mirror-host', 'supported', 'the Host header of the copies (default: the target\'s host name)'),
  entry('mirror-request-body', 'supported', '"off": copies carry no body (default "on")'),

  // ---- limits and timeouts -------------------------------------------------------------------
  entry('proxy-body-size', 'supported', 'largest request body (nginx size, 0 = no limit); larger gets 413; default --proxy-body-size (1m)'),
  entry('proxy-connect-timeout', 'supported', 'seconds to connect to an endpoint; default --connect-timeout (5s)'),
  entry('proxy-read-timeout', 'differs', 'seconds to wait for the response head and between two response body reads (504 / cut); defaults --response-header-timeout and --idle-timeout (60s); WebSocket connections have no idle timeout in Portico'),
  entry('proxy-send-timeout', 'supported', 'seconds the upstream may take to accept more of a streamed request body; then 504 (or the connection is cut once an answer has started); default --send-timeout (60s)'),
  entry('proxy-next-upstream', 'differs', 'space-separated error, timeout, invalid_header, http_500/502/503/504/403/404/429, non_idempotent or off: when a request goes to the next endpoint; a request body is sent again only when Portico read it in full first (Content-Length up to --client-body-buffer-size, 64k), larger bodies are not retried'),
  entry('proxy-next-upstream-tries', 'differs', 'attempts in all, default 3; 0 means as many as the Service has endpoints (at least 2) instead of unlimited'),
  entry('proxy-next-upstream-timeout', 'supported', 'seconds after the first attempt past which no other attempt starts; 0 (default): no limit'),
  entry('proxy-buffer-size', 'differs', 'the largest upstream response head: above 16 KiB (up to 1m) the route accepts heads up to the size, larger ones are a 502 (nginx\'s "upstream sent too big header"); up to 16 KiB no effect: Portico accepts 16 KiB heads anyway (ingress-nginx\'s 4k default would refuse some)'),
  entry('proxy-buffering', 'differs', 'no effect: Portico streams responses (ingress-nginx\'s default "off"); "on" does not buffer; a value other than "on" or "off" is a problem'),
  entry('proxy-buffers-number', 'differs', BUFFERING),
  entry('proxy-busy-buffers-size', 'differs', BUFFERING),
  entry('proxy-max-temp-file-size', 'differs', BUFFERING),
  entry('proxy-request-buffering', 'differs', '"off": bodies stream to the upstream as they arrive (so they are never sent again to another endpoint, nor copied to a mirror); "on" (default): bodies with a Content-Length up to client-body-buffer-size are read in full, in memory, before an upstream connection is taken, larger ones stream (nginx spools them to a file first)'),
  entry('client-body-buffer-size', 'differs', 'bodies with a Content-Length up to this size (at most 64m) are read in full, in memory, before an upstream connection is taken; larger ones stream (nginx writes them to a temporary file); "0" streams every body; default --client-body-buffer-size (64k)'),
  entry('limit-rps', 'differs', 'requests per second per client address, per replica and per Ingress; burst = rate x limit-burst-multiplier, excess refused at once with --limit-req-status-code (503); with --workers N the primary keeps the pod\'s one request table (exact, as nginx\'s shared zone; each worker\'s share rate/N only if the primary does not answer); an invalid value is ignored with a problem (ingress-nginx rejects the Ingress)'),
  entry('limit-rpm', 'differs', 'requests per minute, as limit-rps (both apply when both are set); same --workers table and invalid-value differences'),
  entry('limit-connections', 'differs', 'requests in progress at once per client address (a WebSocket counts until it closes), per replica and per Ingress; more get --limit-conn-status-code (503); with --workers N the primary counts for the pod (each worker\'s share, limit/N rounded up, only if the primary does not answer); an invalid value is ignored with a problem'),
  entry('limit-burst-multiplier', 'supported', 'burst of limit-rps/limit-rpm as a multiple of the rate (default 5); an invalid value uses 5 with a problem'),
  entry('limit-whitelist', 'supported', 'older name of limit-allowlist (limit-allowlist wins when both are set)'),
  entry('limit-allowlist', 'differs', 'comma-separated IPs/CIDRs exempt from the limits (client address as for allowlist-source-range); an invalid list is ignored with a problem, so the limits apply to everyone (ingress-nginx rejects the Ingress)'),
  entry('limit-rate', 'differs', 'kilobytes per second each response is sent at (per request, as nginx limit_rate); applied whatever proxy-buffering says (ingress-nginx needs it "on"); 0: no limit'),
  entry('limit-rate-after', 'supported', 'kilobytes of each response sent at full speed before limit-rate applies'),

  // ---- headers, CORS -------------------------------------------------------------------------
  entry('enable-cors', 'differs', '"true" adds CORS headers to the Ingress\'s responses and answers allowed OPTIONS requests with 204 (before authentication, as nginx does); Allow-Methods, Allow-Headers and Max-Age go on preflight answers only (browsers read them nowhere else)'),
  entry('cors-allow-origin', 'differs', 'comma-separated origins (scheme://host[:port], scheme://*.domain for one label, null) or * (default); entries that do not parse are skipped with a problem, and when none parses no origin is allowed (ingress-nginx would allow every origin)'),
  entry('cors-allow-methods', 'supported', 'Access-Control-Allow-Methods; default "GET, PUT, POST, DELETE, PATCH, OPTIONS"'),
  entry('cors-allow-headers', 'supported', 'Access-Control-Allow-Headers; default DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range,Authorization'),
  entry('cors-allow-credentials', 'supported', 'Access-Control-Allow-Credentials: true unless "false" (default true)'),
  entry('cors-expose-headers', 'supported', 'Access-Control-Expose-Headers; default none'),
  entry('cors-max-age', 'supported', 'Access-Control-Max-Age in seconds; default 1728000'),
  entry('custom-headers', 'differs', 'ConfigMap "namespace/name" (the Ingress\'s namespace only) whose data are response headers set on every response of the rules, Portico\'s own answers included, replacing the upstream\'s of those names (as more_set_headers), not on a WebSocket 101; values are literal ("$" included); no global-allowed-response-headers list: any header name is allowed except those that frame the message (Connection, Content-Length, Transfer-Encoding, ...); a missing ConfigMap or an invalid entry makes the rules answer 503, as in ingress-nginx'),
  entry('proxy-cookie-domain', 'differs', '"FROM TO": a Set-Cookie Domain equal to FROM (case-insensitive, a leading dot kept) becomes TO, in upstream responses; "off" (default); nginx variables and regexes are refused with a problem'),
  entry('proxy-cookie-path', 'differs', '"FROM TO": a Set-Cookie Path starting with FROM gets TO instead of that start, in upstream responses; "off" (default); nginx variables and regexes are refused with a problem'),
  entry('proxy-redirect-from', 'differs', 'with proxy-redirect-to: a Location (or Refresh URL) of an upstream response starting with this text gets proxy-redirect-to instead of it; "off" (default) and "default" leave Location as sent; nginx variables and regexes are refused with a problem'),
  entry('proxy-redirect-to', 'differs', 'the replacement for proxy-redirect-from; "off" leaves Location as sent'),
  unsupported('http2-push-preload', 'HTTP/2 server push is obsolete (browsers removed it); remove the annotation'),

  // ---- TLS on the listener -------------------------------------------------------------------
  entry('ssl-ciphers', 'differs', 'OpenSSL cipher list of the TLS handshakes (TLS 1.2) of every host of the Ingress\'s rules, with or without spec.tls (a host without one is served with the default certificate under it, as in ingress-nginx), from the oldest Ingress with rules for the host that sets it (a younger one with another list gets a TLSConflict problem; canaries and from-to-www-redirect twins do not count; rules without host keep the listener\'s); the server\'s order is preferred unless ssl-prefer-server-ciphers is "false"; TLS 1.3 suites are untouched unless TLS_ names are listed (nginx cannot restrict them); characters outside a cipher list, commands other than @STRENGTH and @SECLEVEL=0..5, or a list OpenSSL matches to no cipher are a problem and the host keeps the listener\'s ciphers'),
  entry('ssl-prefer-server-ciphers', 'differs', '"true": the server\'s cipher order wins in the handshakes of every host of the Ingress\'s rules (spec.tls or not), "false": the client\'s (Go booleans); from the oldest Ingress with rules for the host that sets it (a younger one with another value gets a TLSConflict problem); without it, hosts with ssl-ciphers prefer the server\'s order (ingress-nginx\'s default) and others keep the listener\'s (the client\'s order)'),

  // ---- observability and WAF -----------------------------------------------------------------
  entry('enable-access-log', 'supported', '"false": the Ingress\'s requests are not written to the access log (metrics still count them)'),
  unsupported('enable-rewrite-log', 'Portico has no rewrite log; remove the annotation'),
  entry('enable-opentelemetry', 'differs', '"false": the Ingress\'s requests are never traced; "true": traced as every route, which needs --otlp-endpoint (Portico\'s switch for tracing, instead of the ConfigMap\'s enable-opentelemetry)'),
  entry('opentelemetry-trust-incoming-span', 'supported', '"false": an incoming traceparent is not continued, the request starts its own trace'),
  entry('opentelemetry-operation-name', 'differs', 'the span name, literal text only (nginx variables are refused with a problem)'),
  unsupported('enable-modsecurity', 'Portico has no web application firewall: put one in front of it or in the application'),
  unsupported('enable-owasp-core-rules', 'Portico has no web application firewall: put one in front of it or in the application'),
  unsupported('modsecurity-transaction-id', 'Portico has no web application firewall; remove the annotation'),

  // ---- names ingress-nginx itself dropped -------------------------------------------------
  unsupported('secure-backends', 'removed from ingress-nginx long ago; use portico.dev/backend-protocol: HTTPS'),
  unsupported('session-cookie-hash', 'removed from ingress-nginx; remove the annotation'),
  unsupported('add-base-url', 'removed from ingress-nginx; remove the annotation'),
  unsupported('base-url-scheme', 'removed from ingress-nginx; remove the annotation'),
  unsupported('grpc-backend', 'removed from ingress-nginx; use portico.dev/backend-protocol: GRPC'),
];

const BY_NAME: ReadonlyMap<string, NginxAnnotation> = new Map(TABLE.map((a) => [a.name, a]));

/** Every annotation in the catalogue, in table order. */
export function nginxAnnotations(): readonly NginxAnnotation[] {
  return TABLE;
}

/** The catalogue entry for a full annotation key (`nginx.ingress.kubernetes.io/<name>`), if any. */
export function nginxAnnotation(key: string): NginxAnnotation | undefined {
  return key.startsWith(NGINX_PREFIX) ? BY_NAME.get(key.slice(NGINX_PREFIX.length)) : undefined;
}

// Snippets are never executed, but one that restricts access must not be dropped silently:
// these nginx directives (matched as words, never interpreted) mean the snippet is an access
// control, and the Ingress then fails closed like any unsupported access annotation.
const ACCESS_DIRECTIVE = /(^|[\s;{}])(allow|deny|auth_basic|auth_request|satisfy|return\s+40[13])\b/;
const SNIPPET_NAMES = new Set(['configuration-snippet', 'server-snippet', 'auth-snippet', 'modsecurity-snippet']);

/** Whether a snippet annotation's text carries an nginx access-control directive. */
export function snippetRestrictsAccess(name: string, value: string): boolean {
  return SNIPPET_NAMES.has(name) && ACCESS_DIRECTIVE.test(value);
}
