// Opening and closing a listening socket, for the proxy listeners and the health/metrics
// servers alike.

import type net from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * Listens and resolves with the bound port (useful with port 0). `reusePort`: SO_REUSEPORT,
 * so several worker processes each hold their own socket on one port.
 */
export function listen(server: net.Server, port: number, host: string, reusePort = false): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(new Error(`cannot listen on ${host}:${port}: ${err.code === 'EADDRINUSE' ? 'the port is in use' : err.message}`));
    };
    server.once('error', onError);
    server.listen({ port, host, backlog: 4096, reusePort }, () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Stops accepting connections; resolves when the server has closed. */
export function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}
