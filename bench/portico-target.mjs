#!/usr/bin/env node
// The benchmark target for ../shared/bench/anchors.sh: Portico in file mode, routing
// Host $ROUTE_HOST (every path) to $UPSTREAM, listening on 127.0.0.1:$TARGET_PORT.
// Run through anchors.sh --target 'node bench/portico-target.mjs'.
// PORTICO_BENCH_FILTERS=1 gives the route a regex path with rewrite-target (an identity
// rewrite, /(.*) -> /$1), an X-Forwarded-Prefix request header and a canary Ingress taking 10 %
// of the requests (to a second Service with the same endpoint): the "filtered route".
// PORTICO_BENCH_LIMITS=1 gives the (plain) route limit-rps and limit-connections high enough
// never to refuse a benchmark request: the cost of the rate-limit stage (a bucket lookup and
// update per request, a connection slot taken and given back).
// PORTICO_BENCH_ACCESS=1 gives it an allow-list, CORS and basic auth instead (instructions.sh
// then sends the credentials with every request).
// PORTICO_WORKERS=N runs N proxy worker processes behind one control-plane primary (0, the
// default: one process); PORTICO_REUSE_PORT=true gives each its own SO_REUSEPORT socket. The 2-worker variant, next to nginx with 2 workers and node-ceiling x2,
// on two pinned cores:
//   PIN_PROXY=0-1 ONLY=nginx-2w,node24-x2,target \
//   TARGET_CMD='PORTICO_WORKERS=2 node bench/portico-target.mjs' bash shared/bench/anchors.sh
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const env = process.env;
const [host, port] = (env.UPSTREAM ?? '127.0.0.1:18080').split(':');
const routeHost = env.ROUTE_HOST ?? 'bench.local';
const listenPort = env.TARGET_PORT ?? env.PORT ?? '18090';
const dir = mkdtempSync(path.join(tmpdir(), 'portico-bench-'));
const yaml = (`apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: { name: portico }
spec: { controller: portico.dev/ingress-controller }
---
apiVersion: v1
kind: Service
metadata: { name: upstream, namespace: bench }
spec: { ports: [{ name: http, port: 80 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: upstream-1, namespace: bench, labels: { kubernetes.io/service-name: upstream } }
addressType: IPv4
ports: [{ name: http, port: ${Number(port)} }]
endpoints: [{ addresses: ["${host}"] }]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: bench, namespace: bench }
spec:
  ingressClassName: portico
  rules:
    - host: ${routeHost}
      http:
        paths: [{ path: /, pathType: Prefix, backend: { service: { name: upstream, port: { number: 80 } } } }]
`.replace(env.PORTICO_BENCH_FILTERS === '1' ? 'metadata: { name: bench, namespace: bench }' : '\u0000', `metadata:
  name: bench
  namespace: bench
  annotations:
    nginx.ingress.kubernetes.io/rewrite-target: /$1
    nginx.ingress.kubernetes.io/x-forwarded-prefix: /`).replace(env.PORTICO_BENCH_FILTERS === '1' ? 'paths: [{ path: /, pathType: Prefix,' : '\u0000', 'paths: [{ path: "/(.*)", pathType: ImplementationSpecific,') +
  (env.PORTICO_BENCH_FILTERS === '1' ? `---
apiVersion: v1
kind: Service
metadata: { name: upstream-canary, namespace: bench }
spec: { ports: [{ name: http, port: 80 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: upstream-canary-1, namespace: bench, labels: { kubernetes.io/service-name: upstream-canary } }
addressType: IPv4
ports: [{ name: http, port: ${Number(port)} }]
endpoints: [{ addresses: ["${host}"] }]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: bench-canary
  namespace: bench
  annotations:
    nginx.ingress.kubernetes.io/canary: "true"
    nginx.ingress.kubernetes.io/canary-weight: "10"
spec:
  ingressClassName: portico
  rules:
    - host: ${routeHost}
      http:
        paths: [{ path: "/(.*)", pathType: ImplementationSpecific, backend: { service: { name: upstream-canary, port: { number: 80 } } } }]
` : ''));
const limited = env.PORTICO_BENCH_LIMITS === '1' && env.PORTICO_BENCH_FILTERS !== '1';
// PORTICO_BENCH_ACCESS=1: an allow-list that admits loopback, CORS for every origin, and basic
// auth whose user the load generator sends ({SHA} of "secret": the check is cached after the first)
// (allow, cors or basic: that filter alone)
const accessMode = env.PORTICO_BENCH_ACCESS ?? '';
const access = ['1', 'allow', 'cors', 'basic'].includes(accessMode) && !limited && env.PORTICO_BENCH_FILTERS !== '1';
const want = (f) => accessMode === '1' || accessMode === f;
const accessAnnotations = [
  want('allow') ? '    nginx.ingress.kubernetes.io/whitelist-source-range: "127.0.0.0/8"' : '',
  want('cors') ? '    nginx.ingress.kubernetes.io/enable-cors: "true"' : '',
  want('basic') ? '    nginx.ingress.kubernetes.io/auth-type: basic\n    nginx.ingress.kubernetes.io/auth-secret: users' : '',
].filter((l) => l !== '').join('\n');
const manifests = limited
  ? yaml.replace('metadata: { name: bench, namespace: bench }', `metadata:
  name: bench
  namespace: bench
  annotations:
    nginx.ingress.kubernetes.io/limit-rps: "1000000"
    nginx.ingress.kubernetes.io/limit-connections: "100000"`)
  : access
    ? yaml.replace('metadata: { name: bench, namespace: bench }', `metadata:
  name: bench
  namespace: bench
  annotations:
${accessAnnotations}`) + `---
apiVersion: v1
kind: Secret
metadata: { name: users, namespace: bench }
type: Opaque
stringData: { auth: "alice:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=" }
`
    : yaml;
writeFileSync(path.join(dir, 'bench.yaml'), manifests);
process.argv.splice(2, 0, '--manifests', dir, '--bind-address', '127.0.0.1', '--http-port', listenPort,
  '--health-port', '0', '--https-port', '0', '--access-log', env.PORTICO_ACCESS_LOG ?? 'false',
  '--request-metrics', env.PORTICO_REQUEST_METRICS ?? 'true', '--log-level', 'warn',
  '--workers', env.PORTICO_WORKERS ?? '0', '--reuse-port', env.PORTICO_REUSE_PORT ?? 'false');
await import('../dist/cli.js');
