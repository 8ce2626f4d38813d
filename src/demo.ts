// `npm run demo`: Portico in file mode on examples/ with three small demo backends, so the
// whole product can be tried without a cluster.

import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { parseSettings } from './config/settings.ts';
import { startPortico } from './main.ts';
import { createLogger } from './observe/log.ts';

const BACKENDS = [
  { name: 'blue-1', port: 9101 },
  { name: 'blue-2', port: 9102 },
  { name: 'green', port: 9103 },
];

function startBackend(name: string, port: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const body = JSON.stringify(
      {
        backend: name,
        method: req.method,
        url: req.url,
        host: req.headers.host,
        'x-forwarded-for': req.headers['x-forwarded-for'],
        'x-request-id': req.headers['x-request-id'],
      },
      null,
      2,
    ) + '\n';
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  return new Promise((resolve, reject) => {
    server.once('error', (err) => reject(new Error(`demo backend ${name} cannot listen on 127.0.0.1:${port}: ${err.message}`)));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

const examples = fileURLToPath(new URL('../examples', import.meta.url));
const { settings } = parseSettings(['--manifests', examples, '--bind-address', '127.0.0.1', ...process.argv.slice(2)]);
const log = createLogger(settings.logLevel);
const backends = await Promise.all(BACKENDS.map((b) => startBackend(b.name, b.port)));
const portico = await startPortico(settings, log);
const base = `http://127.0.0.1:${portico.httpPort}`;
process.stderr.write(`
Portico demo is running (file mode on ${examples}).
Try:
  curl -H 'Host: demo.localhost' ${base}/          # round-robin over blue-1 and blue-2
  curl -H 'Host: demo.localhost' ${base}/green     # the green service
  curl -H 'Host: other.localhost' ${base}/         # no route: 404
  curl http://127.0.0.1:${portico.healthPort}/readyz
Edit examples/demo.yaml and the routes change without a restart. Ctrl-C stops.

`);
const stop = async () => {
  await portico.close({ delayMs: 0, graceMs: 2000 });
  for (const b of backends) b.close();
  process.exit(0);
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
