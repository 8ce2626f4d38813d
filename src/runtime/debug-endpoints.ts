// The health port's debug endpoints (--debug-endpoints; never on the traffic listeners):
//   /debug/routes   the routing configuration being served, as JSON (model/describe.ts): hosts
//                   with their rules in match order, filters, default backends, TLS bindings,
//                   problems, and the endpoints of every backend named (ready or terminating);
//   /debug/explain  ?url=https://host/path[&header=Name: value ...]: explain/explain.ts for
//                   that request against the same configuration (`portico explain --from`).
// Password hashes are never shown. With --workers, the primary answers from its own copy of
// the configuration, which the workers apply as they get it.

import type http from 'node:http';
import type { EndpointLookup } from '../endpoints/types.ts';
import { explain } from '../explain/explain.ts';
import { describeTable } from '../model/describe.ts';
import { RouteTable } from '../model/route-table.ts';
import type { RoutingConfig } from '../model/types.ts';

export interface DebugSource {
  config: () => RoutingConfig;
  endpoints: EndpointLookup;
  /** --ssl-redirect / --force-ssl-redirect now (an edited --nginx-configmap changes them), for /debug/explain. */
  redirects?: () => { sslRedirect: boolean; forceSslRedirect: boolean };
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2) + '\n';
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

/** A health-server `extra` handler for /debug/*; false for other paths. */
export function debugHandler(source: DebugSource): (req: http.IncomingMessage, res: http.ServerResponse) => boolean {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://debug');
    if (url.pathname !== '/debug/routes' && url.pathname !== '/debug/explain') return false;
    const config = source.config();
    if (!(config instanceof RouteTable)) {
      send(res, 503, { error: 'no routing configuration yet' });
      return true;
    }
    if (url.pathname === '/debug/routes') {
      const doc = describeTable(config);
      const keys = new Set<string>();
      for (const r of config.routes()) {
        keys.add(r.backend.endpointsKey);
        if (r.action.kind === 'forward' && r.action.canary !== undefined) keys.add(r.action.canary.backend.endpointsKey);
        if (r.filters.errors !== undefined) keys.add(r.filters.errors.backend.endpointsKey);
      }
      const backends: Record<string, { address: string; port: number; terminating: boolean }[]> = {};
      for (const k of [...keys].sort()) backends[k] = source.endpoints.get(k).endpoints.map((e) => ({ address: e.address, port: e.port, terminating: e.terminating }));
      send(res, 200, { version: config.version, ...doc, backends });
      return true;
    }
    const target = url.searchParams.get('url');
    if (target === null) {
      send(res, 400, { error: 'give ?url=https://host/path (and &header=Name: value for request headers, &method=POST for the method)' });
      return true;
    }
    const headers: [string, string][] = [];
    for (const h of url.searchParams.getAll('header')) {
      const colon = h.indexOf(':');
      if (colon > 0) headers.push([h.slice(0, colon).trim(), h.slice(colon + 1).trim()]);
    }
    try {
      const method = url.searchParams.get('method') ?? 'GET';
      send(res, 200, explain(config, source.endpoints, { url: target, headers, method, ...(source.redirects !== undefined ? { redirects: source.redirects() } : {}) }));
    } catch (err) {
      send(res, 400, { error: (err as Error).message });
    }
    return true;
  };
}

/** One handler from several: the first that takes the request answers it. */
export function firstOf(...handlers: ((req: http.IncomingMessage, res: http.ServerResponse) => boolean)[]): (req: http.IncomingMessage, res: http.ServerResponse) => boolean {
  return (req, res) => handlers.some((h) => h(req, res));
}
