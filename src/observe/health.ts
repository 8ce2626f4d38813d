// /healthz (the process is alive and its event loop turns) and /readyz (synced and serving).

import http from 'node:http';

export interface HealthOptions {
  ready: () => boolean;
  /** Extra handler for other paths on the same port (metrics later); return false to 404. */
  extra?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
}

export function createHealthServer(opts: HealthOptions): http.Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz' || path === '/livez') {
      send(res, 200, 'ok\n');
    } else if (path === '/readyz') {
      const ok = opts.ready();
      send(res, ok ? 200 : 503, ok ? 'ready\n' : 'not ready\n');
    } else if (!opts.extra?.(req, res)) {
      send(res, 404, 'not found\n');
    }
  });
}

function send(res: http.ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}
