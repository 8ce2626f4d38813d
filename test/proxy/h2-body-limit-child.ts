// Child process for h2-body-limit.test.ts: only the proxy, so that a proxy whose event loop
// spins (Node's HTTP/2 code, bench/h2-abort-spin.ts) fails the test's bounded waits instead of
// freezing the test runner. argv[2] = h2c upstream port, argv[3] = the route's body limit
// (host app.test); argv[4] = a second h2c upstream, for host small.test with a 1 KiB limit.
// IPC: sends {port, tlsPort, cert} once listening, then {status, error} per finished request;
// 'exit' quits.

import type { AddressInfo } from 'node:net';
import { silentLogger } from '../../src/observe/log.ts';
import { createHttpsListener } from '../../src/proxy/https-listener.ts';
import { DEFAULT_PROXY_SETTINGS, Proxy, createHttpListener } from '../../src/proxy/proxy.ts';
import { generateSelfSigned } from '../../src/tls/default-certificate.ts';
import { FakeConfig, FakeEndpoints } from './fixtures.ts';

const upstreamPort = Number(process.argv[2]);
const limit = Number(process.argv[3]);
const endpoints = new FakeEndpoints();
endpoints.set('svc', [upstreamPort]);
endpoints.set('small', [Number(process.argv[4])]);
const config = new FakeConfig([
  { host: 'app.test', key: 'svc', backendProtocol: 'H2C', filters: { bodyLimit: limit } },
  { host: 'small.test', key: 'small', backendProtocol: 'H2C', filters: { bodyLimit: 1024 } },
  { host: 'open.test', key: 'svc', backendProtocol: 'H2C', filters: { bodyLimit: 0 } },
  // proxy-read-timeout: undici's own header timer aborts while the body may still be streaming
  { host: 'slow.test', key: 'svc', backendProtocol: 'H2C', filters: { bodyLimit: 0, timeouts: { readMs: 300 } } },
]);
const proxy = new Proxy({
  config: () => config,
  endpoints,
  settings: DEFAULT_PROXY_SETTINGS,
  log: silentLogger,
  onRequestDone: (i) => process.send!({ status: i.status, error: i.error }),
});
const cert = await generateSelfSigned({ commonName: 'app.test', dnsNames: ['app.test'] });
const http1 = createHttpListener(proxy, {});
const tls = createHttpsListener(proxy, { tls: { cert: cert.certPem, key: cert.keyPem } });
await new Promise<void>((r) => http1.listen(0, '127.0.0.1', () => r()));
await new Promise<void>((r) => tls.server.listen(0, '127.0.0.1', () => r()));

process.on('message', (m: unknown) => {
  if (m !== 'exit') return;
  http1.closeAllConnections();
  tls.closeAllConnections();
  http1.close();
  tls.server.close();
  void proxy.close(100).then(() => process.exit(0));
});
process.on('disconnect', () => process.exit(0));
process.send!({ port: (http1.address() as AddressInfo).port, tlsPort: (tls.server.address() as AddressInfo).port, cert: cert.certPem });
