// /healthz (the process is alive and its event loop turns) and /readyz (synced and serving).
// /readyz says why it is not ready: its body names the checks that fail, and `/readyz?verbose`
// answers every check as JSON (kube-apiserver's readyz lists its checks alike), so an
// operator sees "not synced: ingresses" or "workers not ready: 2" instead of a bare 503.

import http from 'node:http';

/** One readiness condition and, when it fails, why. */
export interface ReadinessCheck {
  readonly name: string;
  readonly ok: boolean;
  /** What is missing when not ok (e.g. "not synced yet: ingresses, services"); '' when ok. */
  readonly message: string;
}

export interface Readiness {
  readonly ready: boolean;
  readonly checks: readonly ReadinessCheck[];
}

/** A readiness made of checks: ready when all pass. */
export function readinessOf(checks: readonly ReadinessCheck[]): Readiness {
  return { ready: checks.every((c) => c.ok), checks };
}

export interface HealthOptions {
  readiness: () => Readiness;
  /** Extra handler for other paths on the same port (metrics); return false to 404. */
  extra?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
}

export function createHealthServer(opts: HealthOptions): http.Server {
  return http.createServer((req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (path === '/healthz' || path === '/livez') {
      send(res, 200, 'ok\n');
    } else if (path === '/readyz') {
      const r = opts.readiness();
      if (q !== -1 && new URLSearchParams(url.slice(q + 1)).has('verbose')) {
        send(res, r.ready ? 200 : 503, JSON.stringify(r, null, 2) + '\n', 'application/json');
      } else {
        const failing = r.checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.message}`);
        send(res, r.ready ? 200 : 503, r.ready ? 'ready\n' : `not ready: ${failing.join('; ')}\n`);
      }
    } else if (!opts.extra?.(req, res)) {
      send(res, 404, 'not found\n');
    }
  });
}

function send(res: http.ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}
