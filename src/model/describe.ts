// A routing configuration as plain data: hosts in name order, each with its rules (in match
// order on regex hosts; elsewhere the longest matching path wins whatever the order, and rules
// of one path with request predicates are tried in precedence order, path-table.ts) — what
// they match, where they go, and only what differs from the defaults: action, filters,
// policy — default backends, TLS bindings and problems. The golden translation
// tests compare this form, and the running program's /debug/routes serves it (with endpoints
// added), so what a test pins down is what an operator sees.

import type { RouteTable } from './route-table.ts';
import { DEFAULT_POLICY, FORWARD, NO_FILTERS, type Route, type RoutePolicy } from './types.ts';

export type RouteDescription = Record<string, unknown>;

export interface ConfigDescription {
  hosts: {
    host: string;
    regex?: true;
    rules: RouteDescription[];
    fallback?: RouteDescription;
    passthrough?: { path: string; backend: string };
    handshake?: { ciphers?: string; honorCipherOrder?: boolean; ingress: string };
  }[];
  defaultBackend?: RouteDescription;
  tls: { host: string; secret: string; ingress: string }[];
  problems: { object: string; reason: string; message: string }[];
}

function policyDiff(p: RoutePolicy): Partial<RoutePolicy> | undefined {
  const out: Partial<RoutePolicy> = {};
  for (const k of Object.keys(p) as (keyof RoutePolicy)[]) if (p[k] !== DEFAULT_POLICY[k]) (out as Record<string, unknown>)[k] = p[k];
  return Object.keys(out).length === 0 ? undefined : out;
}

export interface DescribeOptions {
  /** Show password hashes (tests); by default each is "(hash)": they never leave the process. */
  readonly showHashes?: boolean;
}

/** A route: path, type, Ingress, backend key, and what differs from an ordinary route. */
export function describeRoute(r: Route, opts: DescribeOptions = {}): RouteDescription {
  const out: RouteDescription = {
    path: r.path,
    pathType: r.pathType,
    ingress: `${r.ingress.namespace}/${r.ingress.name}`,
    backend: r.backend.endpointsKey,
  };
  if (r.regex !== null) out.regex = `^${r.regex.source}`;
  // request predicates (Gateway API method, header and query matches): only what is asked
  const p = r.predicates;
  if (p !== undefined) {
    out.predicates = {
      ...(p.method !== null ? { method: p.method } : {}),
      ...(p.headers.length > 0 ? { headers: p.headers.map((m) => ('regex' in m ? { name: m.name, regex: m.regex.source } : { name: m.name, value: m.value })) } : {}),
      ...(p.query.length > 0 ? { query: p.query.map((m) => ('regex' in m ? { name: m.name, regex: m.regex.source } : { name: m.name, value: m.value })) } : {}),
    };
  }
  if (r.alias === true) out.alias = true;
  if (r.action !== FORWARD) out.action = JSON.parse(JSON.stringify(r.action)) as unknown;
  if (r.filters !== NO_FILTERS) out.filters = JSON.parse(JSON.stringify(r.filters, opts.showHashes === true ? redactKeys : redactSecrets)) as unknown;
  const policy = policyDiff(r.policy);
  if (policy) out.policy = policy;
  return out;
}

/** Private keys (proxy-ssl-secret) are never shown, not even to tests. */
function redactKeys(_key: string, value: unknown): unknown {
  return typeof value === 'string' && value.includes('PRIVATE KEY-----') ? '(private key)' : value;
}

/** Private keys and password hashes never leave the process. */
function redactSecrets(key: string, value: unknown): unknown {
  if (key === 'hash' && typeof value === 'string') return '(hash)';
  return redactKeys(key, value);
}

export function describeTable(config: RouteTable, opts: DescribeOptions = {}): ConfigDescription {
  const route = (r: Route): RouteDescription => describeRoute(r, opts);
  const hosts = [...config.virtualHosts()]
    .sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0))
    .map((vh) => ({
      host: vh.host === '' ? '(no host)' : vh.host,
      ...(vh.regex ? { regex: true as const } : {}),
      rules: vh.routes.map(route),
      ...(vh.fallback ? { fallback: route(vh.fallback) } : {}),
      // ssl-passthrough: TLS connections for the host go, undecrypted, to this rule's backend
      ...(vh.passthrough ? { passthrough: { path: vh.passthrough.path === '' ? '(default backend)' : vh.passthrough.path, backend: vh.passthrough.backend.endpointsKey } } : {}),
      // ssl-ciphers / ssl-prefer-server-ciphers: how the host's TLS handshakes start
      ...(vh.handshake
        ? {
            handshake: {
              ...(vh.handshake.ciphers === undefined ? {} : { ciphers: vh.handshake.ciphers }),
              ...(vh.handshake.honorCipherOrder === undefined ? {} : { honorCipherOrder: vh.handshake.honorCipherOrder }),
              ingress: `${vh.handshake.ingress.namespace}/${vh.handshake.ingress.name}`,
            },
          }
        : {}),
    }));
  return {
    hosts,
    ...(config.defaultRoute ? { defaultBackend: route(config.defaultRoute) } : {}),
    tls: config.tls.map((t) => ({ host: t.host, secret: t.secret, ingress: `${t.ingress.namespace}/${t.ingress.name}` })),
    problems: config.problems.map((p) => ({ object: `${p.object.kind} ${p.object.namespace}/${p.object.name}`, reason: p.reason, message: p.message })),
  };
}
