// Graceful drain through the built program: on SIGTERM /readyz fails at once, connections are
// still accepted during --shutdown-delay, in-flight requests finish, the process exits 0. A
// client that behaves like a load balancer (stops sending once it has seen /readyz fail,
// within the delay) sees zero failed requests.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { get, sleep, startPorticoProcess, waitFor, type PorticoProcess } from './harness.ts';

describe('graceful drain (built program)', () => {
  let dir: string;
  let backend: http.Server;
  let portico: PorticoProcess;
  /** Requests the backend has received, by path. */
  const received = new Map<string, number>();

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'portico-drain-e2e-'));
    // /slow answers after 1.5 s: it is in flight when the listeners close
    backend = http.createServer((req, res) => {
      received.set(req.url ?? '', (received.get(req.url ?? '') ?? 0) + 1);
      const delay = req.url === '/slow' ? 1500 : 5;
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 3 });
        res.end('ok\n');
      }, delay);
    });
    backend.listen(0, '127.0.0.1');
    await once(backend, 'listening');
    const port = (backend.address() as AddressInfo).port;
    writeFileSync(
      path.join(dir, 'app.yaml'),
      `apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: { name: portico, annotations: { ingressclass.kubernetes.io/is-default-class: "true" } }
spec: { controller: portico.dev/ingress-controller }
---
apiVersion: v1
kind: Service
metadata: { name: app, namespace: d }
spec: { ports: [{ port: 80 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: app-1, namespace: d, labels: { kubernetes.io/service-name: app } }
addressType: IPv4
ports: [{ port: ${port} }]
endpoints: [{ addresses: ["127.0.0.1"] }]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: app, namespace: d }
spec:
  rules: [{ host: drain.test, http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: app, port: { number: 80 } } } }] } }]
`,
    );
    portico = await startPorticoProcess(['--manifests', dir, '--access-log', 'false', '--shutdown-delay', '1s', '--shutdown-grace', '5s']);
    await waitFor('readyz', async () => (await get(portico.healthPort, '/readyz')).status === 200);
  });

  afterAll(async () => {
    await portico?.stop('SIGKILL');
    backend?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('zero failed requests through SIGTERM; in-flight requests finish; exit 0', async () => {
    const failures: string[] = [];
    let ok = 0;
    let notReadyAt = 0;
    let stopSending = false;
    const deadline = Date.now() + 10_000;
    const one = async (p: string) => {
      try {
        const r = await get(portico.httpPort, p, { host: 'drain.test' }, 8000);
        if (r.status === 200) ok++;
        else failures.push(`${p}: ${r.status}`);
      } catch (err) {
        failures.push(`${p}: ${String(err)}`);
      }
    };
    const loops = Array.from({ length: 4 }, async () => {
      while (!stopSending && Date.now() < deadline) await one('/');
    });
    // a load balancer: checks readiness every 100 ms and stops sending 300 ms after it fails
    const lb = (async () => {
      while (!stopSending && Date.now() < deadline) {
        const ready = await get(portico.healthPort, '/readyz').then((r) => r.status === 200, () => false);
        if (!ready && notReadyAt === 0) notReadyAt = Date.now();
        if (notReadyAt !== 0 && Date.now() - notReadyAt > 300) stopSending = true;
        await sleep(100);
      }
    })();

    // traffic flows before the signal (the assertion below wants more than 20 answers)
    await waitFor('traffic through Portico', () => ok >= 10, 5000);
    const slow = one('/slow'); // in flight across the listener close
    await waitFor('/slow to reach the backend', () => received.get('/slow') === 1, 5000);
    const t0 = Date.now();
    const code = await portico.stop('SIGTERM');
    const exitMs = Date.now() - t0;
    await Promise.all([...loops, lb, slow]);

    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(20);
    expect(notReadyAt).toBeGreaterThan(0);
    expect(code).toBe(0);
    expect(exitMs).toBeGreaterThanOrEqual(1000); // the delay was honoured
    expect(exitMs).toBeLessThan(5000); // and the grace was not used up: nothing was left hanging
  });
});
