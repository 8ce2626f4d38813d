// charts/portico: lint, render with several value sets, validate every object against the
// Kubernetes schemas, check what the templates render, and that values.schema.json rejects
// bad values with a message naming the field.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, expect } from 'vitest';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IIngressClass } from 'kubernetes-models/networking.k8s.io/v1/IngressClass';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { IServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import {
  CHART,
  NAMESPACE,
  RELEASE,
  ROOT,
  VALUE_SETS,
  controllerArgs,
  find,
  findAll,
  helm,
  parseManifests,
  render,
  template,
  validate,
  withValuesFile,
  type K8sObject,
} from './helm.ts';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
const chartYaml = parseManifests(readFileSync(join(CHART, 'Chart.yaml'), 'utf8'))[0] as unknown as { apiVersion: string; name: string; version: string; appVersion: string };

const CLUSTER_SCOPED = new Set(['ClusterRole', 'ClusterRoleBinding', 'IngressClass', 'Namespace']);

function deploymentOf(objects: K8sObject[]): IDeployment {
  return find<IDeployment>(objects, 'Deployment');
}
function podSpec(objects: K8sObject[]) {
  const spec = deploymentOf(objects).spec?.template.spec;
  if (!spec) throw new Error('no pod spec');
  return spec;
}
function container(objects: K8sObject[]) {
  const c = podSpec(objects).containers.find((x) => x.name === 'controller');
  if (!c) throw new Error('no controller container');
  return c;
}

describe('helm lint', () => {
  it('Chart.yaml is a Helm 3 (apiVersion v2) chart whose appVersion is the package version', () => {
    expect(chartYaml.apiVersion).toBe('v2');
    expect(chartYaml.name).toBe('portico');
    expect(chartYaml.appVersion).toBe(pkg.version);
  });

  it('passes with default values', async () => {
    const r = await helm(['lint', CHART]);
    expect(r.stderr + r.stdout).toContain('0 chart(s) failed');
    expect(r.code).toBe(0);
  });

  it('passes with --strict, for every value set', async () => {
    const results = await Promise.all(
      Object.entries(VALUE_SETS).map(async ([name, values]) => ({
        name,
        r: await withValuesFile(values, (file) => helm(['lint', '--strict', CHART, '--namespace', NAMESPACE, '--values', file])),
      })),
    );
    for (const { name, r } of results) {
      expect(r.code, `${name}: ${r.stdout}${r.stderr}`).toBe(0);
      expect(r.stdout, name).not.toMatch(/\[(WARNING|ERROR)\]/);
    }
  });
});

describe.concurrent('helm template: every object validates against the Kubernetes schemas', () => {
  for (const [name, values] of Object.entries(VALUE_SETS)) {
    it(name, async ({ expect }) => {
      const objects = await render(values);
      expect(objects.length).toBeGreaterThan(5);
      const seen = new Set<string>();
      for (const o of objects) {
        await validate(o);
        const key = `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
        expect(seen.has(key), `duplicate ${key}`).toBe(false);
        seen.add(key);
        if (CLUSTER_SCOPED.has(o.kind)) expect(o.metadata.namespace, key).toBeUndefined();
        else expect(o.metadata.namespace, key).toMatch(/^[a-z0-9-]+$/);
        expect(o.metadata.labels?.['app.kubernetes.io/name'], key).toBe('portico');
      }
    });
  }

  it('the validator does reject a broken object', async ({ expect }) => {
    const bad = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: { replicas: 'two' } } as unknown as K8sObject;
    await expect(validate(bad)).rejects.toThrow(/replicas/);
  });

  it('the hand-written ServiceMonitor check rejects broken ones', async ({ expect }) => {
    const good = {
      apiVersion: 'monitoring.coreos.com/v1',
      kind: 'ServiceMonitor',
      metadata: { name: 'x', namespace: 'y', labels: { release: 'kps' } },
      spec: { selector: { matchLabels: { a: 'b' } }, endpoints: [{ port: 'metrics', interval: '30s', scrapeTimeout: '10s' }] },
    };
    await validate(good as unknown as K8sObject);
    const broken: [string, (sm: typeof good) => unknown, RegExp][] = [
      ['interval', (sm) => ((sm.spec.endpoints[0]! as Record<string, unknown>).interval = '30 seconds'), /interval.*Prometheus duration/],
      ['timeout above interval', (sm) => ((sm.spec.endpoints[0]! as Record<string, unknown>).scrapeTimeout = '1m'), /scrapeTimeout 1m exceeds interval 30s/],
      ['unknown endpoint field', (sm) => ((sm.spec.endpoints[0]! as Record<string, unknown>).portName = 'metrics'), /endpoints\[0\]\.portName: unknown field/],
      ['no selector', (sm) => delete (sm.spec as Record<string, unknown>).selector, /spec\.selector: required/],
      ['selector shape', (sm) => ((sm.spec as Record<string, unknown>).selector = { matchLabels: { a: 1 } }), /matchLabels\.a: number, want string/],
      ['no endpoints', (sm) => (sm.spec.endpoints = []), /at least 1/],
      ['label value', (sm) => (sm.metadata.labels = { release: 'not a value' }), /not a label value/],
      ['scheme', (sm) => ((sm.spec.endpoints[0]! as Record<string, unknown>).scheme = 'tcp'), /scheme.*not one of/],
    ];
    for (const [name, breakIt, message] of broken) {
      const sm = structuredClone(good);
      breakIt(sm);
      await expect(validate(sm as unknown as K8sObject), name).rejects.toThrow(message);
    }
  });
});

// Rendered once, while the file loads; the memo shares it with the other tests.
const objects = await render();

describe('default values', () => {
  it('render the controller objects (with the metrics Service) and no optional ones', () => {
    const kinds = objects.map((o) => o.kind).sort();
    expect(kinds).toEqual(
      ['ClusterRole', 'ClusterRoleBinding', 'Deployment', 'IngressClass', 'PodDisruptionBudget', 'Role', 'RoleBinding', 'Service', 'Service', 'ServiceAccount'].sort(),
    );
    expect(findAll(objects, 'Service').map((s) => s.metadata.name).sort()).toEqual(['portico', 'portico-metrics']);
  });

  it('Deployment: two replicas, zero-downtime rollout, spread over nodes, image from appVersion', () => {
    const d = deploymentOf(objects);
    expect(d.metadata?.name).toBe('portico');
    expect(d.spec?.replicas).toBe(2);
    expect(d.spec?.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    const spec = podSpec(objects);
    expect(spec.topologySpreadConstraints).toEqual([
      { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: d.spec?.selector.matchLabels } },
    ]);
    expect(d.spec?.template.metadata?.labels).toMatchObject(d.spec?.selector.matchLabels ?? { missing: true });
    expect(spec.serviceAccountName).toBe('portico');
    expect(spec.enableServiceLinks).toBe(false);
    expect(spec.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux' });
    const c = container(objects);
    expect(c.image).toBe(`ghcr.io/portico-dev/portico:${chartYaml.appVersion}`);
    expect(c.imagePullPolicy).toBe('IfNotPresent');
  });

  it('Deployment: pod name and namespace from the downward API', () => {
    const env = container(objects).env ?? [];
    expect(env).toContainEqual({ name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } });
    expect(env).toContainEqual({ name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } });
  });

  it('Deployment: ports http 8080, https 8443, health 10254 and probes on the health port', () => {
    const c = container(objects);
    expect(c.ports).toEqual([
      { name: 'http', containerPort: 8080, protocol: 'TCP' },
      { name: 'https', containerPort: 8443, protocol: 'TCP' },
      { name: 'health', containerPort: 10254, protocol: 'TCP' },
    ]);
    expect(c.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'health' });
    expect(c.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'health' });
    expect(c.resources?.requests).toEqual({ cpu: '100m', memory: '128Mi' });
  });

  it('Deployment: restricted security context, read-only root with a writable /tmp', () => {
    const spec = podSpec(objects);
    expect(spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } });
    const c = container(objects);
    expect(c.securityContext).toMatchObject({
      runAsNonRoot: true,
      runAsUser: 10001,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(c.volumeMounts).toEqual([{ name: 'tmp', mountPath: '/tmp' }]);
    expect(spec.volumes).toEqual([{ name: 'tmp', emptyDir: { sizeLimit: '64Mi' } }]);
  });

  it('Deployment: terminationGracePeriodSeconds is the shutdown delay (5s) plus grace (30s) plus 10', () => {
    expect(podSpec(objects).terminationGracePeriodSeconds).toBe(45);
    expect(controllerArgs(objects)).toContain('--shutdown-delay=5s');
    expect(controllerArgs(objects)).toContain('--shutdown-grace=30s');
  });

  it('TLS defaults: HTTP/2 and HSTS on (a year, includeSubDomains), no default certificate, no ACME, /metrics on the health port', () => {
    const args = controllerArgs(objects);
    for (const a of ['--http2=true', '--hsts=true', '--hsts-max-age=31536000', '--hsts-include-subdomains=true', '--request-metrics=true']) expect(args).toContain(a);
    expect(args.filter((a) => /^--(default-ssl-certificate|acme|metrics-port)/.test(a))).toEqual([]);
    expect(findAll(objects, 'Role').map((r) => r.metadata.name)).toEqual(['portico-leader-election']);
  });

  it('metrics Service: ClusterIP, port 10254 named metrics to the health port, its own component label', () => {
    const s = find<IService>(objects, 'Service', 'portico-metrics');
    expect(s.spec?.type).toBe('ClusterIP');
    expect(s.spec?.ports).toEqual([{ name: 'metrics', port: 10254, targetPort: 'health', protocol: 'TCP', appProtocol: 'http' }]);
    expect(s.spec?.selector).toEqual(deploymentOf(objects).spec?.selector.matchLabels);
    expect(s.metadata?.labels?.['app.kubernetes.io/component']).toBe('metrics');
    expect(findAll(objects, 'ServiceMonitor')).toEqual([]);
    expect(findAll(objects, 'ConfigMap')).toEqual([]);
  });

  it('Service: LoadBalancer, 80 → http and 443 → https, externalTrafficPolicy Cluster', () => {
    const s = find<IService>(objects, 'Service', 'portico');
    expect(s.spec?.type).toBe('LoadBalancer');
    expect(s.spec?.externalTrafficPolicy).toBe('Cluster');
    expect(s.spec?.ports).toEqual([
      { name: 'http', port: 80, targetPort: 'http', protocol: 'TCP', appProtocol: 'http' },
      { name: 'https', port: 443, targetPort: 'https', protocol: 'TCP', appProtocol: 'https' },
    ]);
    expect(s.spec?.selector).toEqual(deploymentOf(objects).spec?.selector.matchLabels);
  });

  it('IngressClass portico with controller portico.dev/ingress-controller, not the default', () => {
    const c = find<IIngressClass>(objects, 'IngressClass');
    expect(c.metadata?.name).toBe('portico');
    expect(c.spec?.controller).toBe('portico.dev/ingress-controller');
    expect(c.metadata?.annotations?.['ingressclass.kubernetes.io/is-default-class']).toBeUndefined();
  });

  it('PodDisruptionBudget keeps one replica', () => {
    const pdb = find<IPodDisruptionBudget>(objects, 'PodDisruptionBudget');
    expect(pdb.spec?.minAvailable).toBe(1);
    expect(pdb.spec?.selector?.matchLabels).toEqual(deploymentOf(objects).spec?.selector.matchLabels);
  });
});

describe.concurrent('value sets', () => {
  it('externalTrafficPolicy Local, annotations and source ranges reach the Service', async ({ expect }) => {
    const s = find<IService>(await render(VALUE_SETS['externalTrafficPolicy Local']!), 'Service', 'portico');
    expect(s.spec?.externalTrafficPolicy).toBe('Local');
    expect(s.metadata?.annotations).toEqual({ 'service.beta.kubernetes.io/aws-load-balancer-type': 'nlb' });
    expect(s.spec?.loadBalancerSourceRanges).toEqual(['203.0.113.0/24']);
  });

  it('ClusterIP: no externalTrafficPolicy, no node ports', async ({ expect }) => {
    const objects = await render(VALUE_SETS['ClusterIP, other release names']!);
    const s = find<IService>(objects, 'Service', 'edge-proxy');
    expect(s.spec?.type).toBe('ClusterIP');
    expect(s.spec?.externalTrafficPolicy).toBeUndefined();
    expect(controllerArgs(objects)).toContain(`--publish-service=${NAMESPACE}/edge-proxy`);
    expect(controllerArgs(objects)).toContain('--election-id=edge-proxy-leader');
  });

  it('NodePort with fixed node ports; one replica gets no PodDisruptionBudget', async ({ expect }) => {
    const objects = await render(VALUE_SETS['NodePort, single replica, tuned config']!);
    const s = find<IService>(objects, 'Service', 'portico');
    expect(s.spec?.ports?.map((p) => p.nodePort)).toEqual([30080, 30443]);
    expect(findAll(objects, 'PodDisruptionBudget')).toEqual([]);
    expect(deploymentOf(objects).spec?.replicas).toBe(1);
    // 5 s delay + 1500ms grace, rounded up to 2 s, + 10.
    expect(podSpec(objects).terminationGracePeriodSeconds).toBe(17);
    expect(container(objects).image).toBe('ghcr.io/portico-dev/portico:dev');
    expect(podSpec(objects).imagePullSecrets).toEqual([{ name: 'regcred' }]);
    expect(deploymentOf(objects).spec?.template.metadata?.labels).toMatchObject({ tier: 'edge' });
    expect(deploymentOf(objects).spec?.template.metadata?.annotations).toEqual({ 'example.com/team': 'edge' });
    expect(find<IServiceAccount>(objects, 'ServiceAccount').metadata?.annotations).toEqual({
      'eks.amazonaws.com/role-arn': 'arn:aws:iam::123456789012:role/portico',
    });
  });

  it('HPA (autoscaling/v2 on CPU) replaces the replica count; NetworkPolicy opens http/https to all and health to the given peers', async ({ expect }) => {
    const objects = await render(VALUE_SETS['HPA + NetworkPolicy']!);
    const hpa = find<IHorizontalPodAutoscaler>(objects, 'HorizontalPodAutoscaler');
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec?.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'portico' });
    expect([hpa.spec?.minReplicas, hpa.spec?.maxReplicas]).toEqual([3, 12]);
    expect(hpa.spec?.metrics).toEqual([{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 60 } } }]);
    expect(deploymentOf(objects).spec?.replicas).toBeUndefined();
    expect(find<IPodDisruptionBudget>(objects, 'PodDisruptionBudget').spec?.minAvailable).toBe(1);

    const np = find<INetworkPolicy>(objects, 'NetworkPolicy');
    expect(np.spec?.podSelector.matchLabels).toEqual(deploymentOf(objects).spec?.selector.matchLabels);
    expect(np.spec?.policyTypes).toEqual(['Ingress']); // egress open
    expect(np.spec?.ingress).toEqual([
      { ports: [{ port: 'http', protocol: 'TCP' }, { port: 'https', protocol: 'TCP' }] },
      { from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }], ports: [{ port: 'health', protocol: 'TCP' }] },
    ]);
  });

  it('NetworkPolicy without healthFrom: only http/https rules (node traffic, hence probes, is always allowed)', async ({ expect }) => {
    const np = find<INetworkPolicy>(await render({ controller: { networkPolicy: { enabled: true } } }), 'NetworkPolicy');
    expect(np.spec?.ingress).toEqual([{ ports: [{ port: 'http', protocol: 'TCP' }, { port: 'https', protocol: 'TCP' }] }]);
  });

  it('ingressClassResource.default marks the class default; its name and controller value reach the flags', async ({ expect }) => {
    const objects = await render(VALUE_SETS['default IngressClass, own class and controller']!);
    const c = find<IIngressClass>(objects, 'IngressClass');
    expect(c.metadata?.name).toBe('edge');
    expect(c.metadata?.annotations).toEqual({ 'ingressclass.kubernetes.io/is-default-class': 'true' });
    expect(c.spec?.controller).toBe('example.com/edge');
    const args = controllerArgs(objects);
    expect(args).toContain('--controller-name=example.com/edge');
    expect(args).toContain('--ingress-class=edge');
    expect(args).toContain('--election-id=edge-leader');
  });

  it('controller.ingressClass overrides the legacy annotation class; ingressClassResource.enabled=false renders no IngressClass', async ({ expect }) => {
    const objects = await render({ controller: { ingressClass: 'legacy', ingressClassResource: { enabled: false } } });
    expect(findAll(objects, 'IngressClass')).toEqual([]);
    expect(controllerArgs(objects)).toContain('--ingress-class=legacy');
  });

  it('extraArgs add flags and replace the ones the chart renders', async ({ expect }) => {
    const objects = await render(VALUE_SETS.extraArgs!);
    const args = controllerArgs(objects);
    expect(args).toContain('--publish-status-address=203.0.113.10,lb.example.com');
    expect(args).toContain('--bind-address=::');
    expect(args.filter((a) => a.startsWith('--log-level='))).toEqual(['--log-level=debug']);
    expect(args.filter((a) => a.startsWith('--shutdown-grace='))).toEqual(['--shutdown-grace=2m']);
    // The grace period follows the flag that is actually passed.
    expect(podSpec(objects).terminationGracePeriodSeconds).toBe(135);
  });

  it("controller.workers: empty is the program's auto with a CPU limit, one process without; a number or auto renders as given; extraArgs wins", async ({ expect }) => {
    const workersArgs = async (values: object) => controllerArgs(await render(values)).filter((a) => a.startsWith('--workers'));
    // no CPU limit: auto would mean every CPU of the node, so the chart asks for one process
    expect(await workersArgs({})).toEqual(['--workers=0']);
    expect(await workersArgs({ controller: { workers: '' } })).toEqual(['--workers=0']);
    // a CPU limit: no flag, the program's default (auto) follows the quota
    expect(await workersArgs({ controller: { resources: { limits: { cpu: '4', memory: '1Gi' } } } })).toEqual([]);
    expect(await workersArgs(VALUE_SETS['workers: a number, CPU limit to match']!)).toEqual(['--workers=3']);
    expect(await workersArgs({ controller: { workers: 0 } })).toEqual(['--workers=0']);
    // with nginxConfigMap: one worker without a CPU limit, so the ConfigMap's edits are applied live
    expect(await workersArgs({ controller: { config: { nginxConfigMap: 'ingress-nginx/ingress-nginx-controller' } } })).toEqual(['--workers=1']);
    expect(await workersArgs({ controller: { workers: 0, config: { nginxConfigMap: 'ingress-nginx/ingress-nginx-controller' } } })).toEqual(['--workers=0']);
    expect(await workersArgs({ controller: { workers: '4' } })).toEqual(['--workers=4']);
    expect(await workersArgs({ controller: { workers: 'auto', resources: { limits: { cpu: '2', memory: '1Gi' } } } })).toEqual(['--workers=auto']);
    expect(await workersArgs({ controller: { workers: 2, extraArgs: { workers: 'auto' } } })).toEqual(['--workers=auto']);
    const c = container(await render(VALUE_SETS['workers: a number, CPU limit to match']!));
    expect(c.resources?.limits).toEqual({ cpu: '3', memory: '1Gi' });
  });

  it('extraArgs enable-ssl-passthrough: "" (ingress-nginx\'s chart spelling of the bare flag) turns it on', async ({ expect }) => {
    expect(controllerArgs(await render({ controller: { extraArgs: { 'enable-ssl-passthrough': '' } } }))).toContain('--enable-ssl-passthrough=true');
    expect(controllerArgs(await render({ controller: { extraArgs: { 'enable-ssl-passthrough': false } } }))).toContain('--enable-ssl-passthrough=false');
  });

  it('publishService: own Service by default, pathOverride, or nothing', async ({ expect }) => {
    expect(controllerArgs(await render())).toContain(`--publish-service=${NAMESPACE}/portico`);
    expect(controllerArgs(await render(VALUE_SETS['publishService pathOverride']!))).toContain('--publish-service=edge/public-lb');
    expect(controllerArgs(await render(VALUE_SETS['publishService disabled']!)).some((a) => a.startsWith('--publish-service'))).toBe(false);
  });

  it('a digest pins the image', async ({ expect }) => {
    const digest = 'sha256:' + 'ab'.repeat(32);
    expect(container(await render({ controller: { image: { digest } } })).image).toBe(`ghcr.io/portico-dev/portico@${digest}`);
  });

  it('rbac.create=false and serviceAccount.create=false render no RBAC and no ServiceAccount', async ({ expect }) => {
    const objects = await render({ rbac: { create: false }, serviceAccount: { create: false, name: 'existing' } });
    expect(objects.map((o) => o.kind).filter((k) => /Role|ServiceAccount/.test(k))).toEqual([]);
    expect(podSpec(objects).serviceAccountName).toBe('existing');
  });
});

describe.concurrent('metrics, ServiceMonitor, Grafana dashboard', () => {
  const set = VALUE_SETS['metrics: own port, ServiceMonitor, dashboard, NetworkPolicy']!;

  it('controller.metrics.port: a "metrics" container port, --metrics-port, the metrics Service targets it', async ({ expect }) => {
    const objects = await render(set);
    expect(container(objects).ports).toContainEqual({ name: 'metrics', containerPort: 9113, protocol: 'TCP' });
    expect(controllerArgs(objects)).toContain('--metrics-port=9113');
    const s = find<IService>(objects, 'Service', 'portico-metrics');
    expect(s.spec?.ports).toEqual([{ name: 'metrics', port: 9913, targetPort: 'metrics', protocol: 'TCP', appProtocol: 'http' }]);
    expect(s.metadata?.annotations).toEqual({ 'example.com/scrape': 'yes' });
    expect(s.metadata?.labels).toMatchObject({ team: 'edge', 'app.kubernetes.io/component': 'metrics' });
    // Probes stay on the health port.
    expect(container(objects).readinessProbe?.httpGet?.port).toBe('health');
  });

  it('the ServiceMonitor selects exactly the metrics Service, in its namespace, on its "metrics" port', async ({ expect }) => {
    const objects = await render(set);
    const sm = find<{ metadata: { name: string; namespace: string; labels: Record<string, string> }; spec: { selector: { matchLabels: Record<string, string> }; namespaceSelector: { matchNames: string[] }; endpoints: Record<string, unknown>[] } }>(objects, 'ServiceMonitor');
    expect(sm.metadata.namespace).toBe(NAMESPACE);
    expect(sm.metadata.labels.release).toBe('kube-prometheus-stack');
    const selects = (s: IService) => Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => s.metadata?.labels?.[k] === v);
    const selected = findAll<IService>(objects, 'Service').filter((s) => selects(s) && sm.spec.namespaceSelector.matchNames.includes(s.metadata?.namespace ?? ''));
    expect(selected.map((s) => s.metadata?.name)).toEqual(['portico-metrics']);
    expect(sm.spec.endpoints).toEqual([{ port: 'metrics', path: '/metrics', scheme: 'http', interval: '15s', scrapeTimeout: '10s' }]);
    expect(selected[0]?.spec?.ports?.map((p) => p.name)).toContain(sm.spec.endpoints[0]!.port);
    // The Service's targetPort is a named port of the pods it selects.
    const target = selected[0]?.spec?.ports?.[0]?.targetPort;
    expect(container(objects).ports?.map((p) => p.name)).toContain(target);
  });

  it('NetworkPolicy: healthFrom peers reach the health and metrics ports', async ({ expect }) => {
    const np = find<INetworkPolicy>(await render(set), 'NetworkPolicy');
    expect(np.spec?.ingress?.[1]?.ports).toEqual([
      { port: 'health', protocol: 'TCP' },
      { port: 'metrics', protocol: 'TCP' },
    ]);
  });

  it('grafanaDashboard: a ConfigMap labelled grafana_dashboard "1" holding dashboards/portico.json unchanged', async ({ expect }) => {
    const cm = find<IConfigMap>(await render(set), 'ConfigMap');
    expect(cm.metadata?.name).toBe('portico-dashboard');
    expect(cm.metadata?.namespace).toBe('monitoring');
    expect(cm.metadata?.labels?.grafana_dashboard).toBe('1');
    expect(cm.metadata?.annotations).toEqual({ grafana_folder: 'Ingress' });
    expect(Object.keys(cm.data ?? {})).toEqual(['portico.json']);
    const file = readFileSync(join(CHART, 'dashboards', 'portico.json'), 'utf8');
    expect(JSON.parse(cm.data!['portico.json']!)).toEqual(JSON.parse(file));
    expect(cm.data!['portico.json']).toBe(file.trimEnd());
    // A ConfigMap holds at most 1 MiB.
    expect(Buffer.byteLength(file)).toBeLessThan(1 << 20);
  });

  it('metrics.enabled=false: no metrics Service, no ServiceMonitor; /metrics stays on the health port; the dashboard can still ship', async ({ expect }) => {
    const objects = await render(VALUE_SETS['metrics disabled, dashboard on']!);
    expect(findAll(objects, 'Service').map((s) => s.metadata.name)).toEqual(['portico']);
    expect(findAll(objects, 'ServiceMonitor')).toEqual([]);
    expect(controllerArgs(objects).some((a) => a.startsWith('--metrics-port'))).toBe(false);
    const cm = find<IConfigMap>(objects, 'ConfigMap');
    expect(cm.metadata?.namespace).toBe(NAMESPACE);
    // grafanaDashboard.labels may change the label's value for a sidecar that matches on it.
    expect(cm.metadata?.labels?.grafana_dashboard).toBe('portico');
  });
});

describe.concurrent('ACME and the default certificate', () => {
  it('acme.caBundle: the Secret key mounted read-only and passed as --acme-ca-bundle', async ({ expect }) => {
    const objects = await render(VALUE_SETS['ACME, default certificate, TLS and drain settings']!);
    expect(container(objects).volumeMounts).toContainEqual({ name: 'acme-ca', mountPath: '/etc/portico/acme-ca', readOnly: true });
    expect(podSpec(objects).volumes).toContainEqual({ name: 'acme-ca', secret: { secretName: 'pebble-ca', items: [{ key: 'root.pem', path: 'root.pem' }] } });
    const args = controllerArgs(objects);
    for (const a of ['--acme=true', '--acme-email=ops@example.com', '--acme-directory=https://pebble.pebble.svc:14000/dir', '--acme-ca-bundle=/etc/portico/acme-ca/root.pem', '--default-ssl-certificate=portico/wildcard-tls']) {
      expect(args).toContain(a);
    }
    // 15 s delay + 45 s grace + 10.
    expect(podSpec(objects).terminationGracePeriodSeconds).toBe(70);
  });

  it('acme on without caBundle or email: no volume, no --acme-email, the default directory', async ({ expect }) => {
    const objects = await render(VALUE_SETS['ACME with watchNamespace (release namespace not watched)']!);
    expect(podSpec(objects).volumes?.map((v) => v.name)).toEqual(['tmp']);
    const args = controllerArgs(objects);
    expect(args).toContain('--acme-directory=https://acme-v02.api.letsencrypt.org/directory');
    expect(args.filter((a) => a.startsWith('--acme-email') || a.startsWith('--acme-ca-bundle'))).toEqual([]);
  });

  it('acme.caBundle is ignored while acme is off', async ({ expect }) => {
    const objects = await render({ acme: { caBundle: { secretName: 'pebble-ca', key: 'root.pem' } } });
    expect(podSpec(objects).volumes?.map((v) => v.name)).toEqual(['tmp']);
    expect(controllerArgs(objects).some((a) => a.startsWith('--acme'))).toBe(false);
  });

  it('defaultCertificate in a watched namespace is accepted', async ({ expect }) => {
    expect(controllerArgs(await render(VALUE_SETS['ACME with watchNamespace (release namespace not watched)']!))).toContain('--default-ssl-certificate=team-b/fallback-tls');
  });
});

describe.concurrent('NOTES.txt', () => {
  it('tells how to get the external address and shows a first Ingress of our class', async ({ expect }) => {
    const r = await helm(['install', RELEASE, CHART, '--dry-run=client', '--namespace', NAMESPACE]);
    expect(r.code, r.stderr).toBe(0);
    const notes = r.stdout.slice(r.stdout.indexOf('NOTES:'));
    expect(notes).toContain(`kubectl --namespace ${NAMESPACE} get service portico --watch`);
    expect(notes).toContain('.status.loadBalancer.ingress[0].ip');
    expect(notes).toContain('ingressClassName: portico');
    expect(notes).toContain("HTTPS: Portico terminates TLS with the certificates of the Ingresses' spec.tls Secrets");
    expect(notes).toContain('self-signed certificate generated at start');
    expect(notes).toContain('Metrics: GET /metrics on the pods\' health port (10254), and through Service portico-metrics (port 10254, "metrics").');
    expect(notes).not.toContain('ACME');
  });

  it('tells about the default certificate, ACME, the ServiceMonitor and the dashboard when they are on', async ({ expect }) => {
    const values = { ...VALUE_SETS['ACME, default certificate, TLS and drain settings']!, controller: (VALUE_SETS['metrics: own port, ServiceMonitor, dashboard, NetworkPolicy'] as { controller: object }).controller };
    const r = await withValuesFile(values, (file) => helm(['install', RELEASE, CHART, '--dry-run=client', '--namespace', NAMESPACE, '--values', file]));
    expect(r.code, r.stderr).toBe(0);
    const notes = r.stdout.slice(r.stdout.indexOf('NOTES:'));
    expect(notes).toContain('certificate of Secret portico/wildcard-tls');
    expect(notes).toContain('ACME is on (https://pebble.pebble.svc:14000/dir)');
    expect(notes).toContain('"metrics" port (9113), and through Service portico-metrics (port 9913, "metrics")');
    expect(notes).toContain('must select its labels (release=kube-prometheus-stack)');
    expect(notes).toContain('ConfigMap monitoring/portico-dashboard');
  });

  it('adapts to ClusterIP and watched namespaces', async ({ expect }) => {
    const r = await withValuesFile({ controller: { service: { type: 'ClusterIP' } }, watchNamespace: ['team-a'] }, (file) =>
      helm(['install', RELEASE, CHART, '--dry-run=client', '--namespace', NAMESPACE, '--values', file]),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('port-forward service/portico');
    expect(r.stdout).toContain('Only Ingresses in these namespaces are watched: team-a.');
  });
});

describe.concurrent('values.schema.json and template checks reject bad values, naming the field', () => {
  const cases: [string, object, RegExp][] = [
    ['replicaCount 0', { controller: { replicaCount: 0 } }, /replicaCount/],
    ['replicaCount 1.5', { controller: { replicaCount: 1.5 } }, /replicaCount/],
    ['service.type', { controller: { service: { type: 'External' } } }, /service\/type|service\.type/],
    ['externalTrafficPolicy', { controller: { service: { externalTrafficPolicy: 'local' } } }, /externalTrafficPolicy/],
    ['unknown extraArgs flag', { controller: { extraArgs: { 'no-such-flag': 'x' } } }, /extraArgs.*no-such-flag/s],
    ['help in extraArgs', { controller: { extraArgs: { help: true } } }, /extraArgs.*help/s],
    ['logLevel', { controller: { config: { logLevel: 'trace' } } }, /logLevel/],
    ['shutdownGrace', { controller: { config: { shutdownGrace: 'soon' } } }, /shutdownGrace/],
    ['maxHeaderSize', { controller: { config: { maxHeaderSize: 100 } } }, /maxHeaderSize/],
    ['trustedProxies', { controller: { config: { trustedProxies: ['not a cidr'] } } }, /trustedProxies/],
    ['controllerValue', { controller: { ingressClassResource: { controllerValue: 'no-slash' } } }, /controllerValue/],
    ['IngressClass name', { controller: { ingressClassResource: { name: 'Edge' } } }, /ingressClassResource\/name|ingressClassResource\.name/],
    ['watchNamespace', { watchNamespace: 'Team_A' }, /watchNamespace/],
    ['watchNamespace item', { watchNamespace: ['ok', 'NOT OK'] }, /watchNamespace/],
    ['publishService.pathOverride', { controller: { publishService: { pathOverride: 'just-a-name' } } }, /pathOverride/],
    ['a misspelt value', { controller: { replicas: 3 } }, /replicas/],
    ['pullPolicy', { controller: { image: { pullPolicy: 'Sometimes' } } }, /pullPolicy/],
    ['annotation values must be strings', { controller: { service: { annotations: { 'example.com/x': true } } } }, /annotations/],
    ['HPA without CPU request', { controller: { autoscaling: { enabled: true }, resources: { requests: { cpu: null } } } }, /resources\.requests\.cpu/],
    ['HPA min above max', { controller: { autoscaling: { enabled: true, minReplicas: 5, maxReplicas: 3 } } }, /minReplicas/],
    ['publishService without a Service', { controller: { service: { enabled: false } } }, /publishService/],
    ['defaultCertificate without a namespace', { defaultCertificate: 'wildcard-tls' }, /defaultCertificate/],
    ['defaultCertificate upper case', { defaultCertificate: 'Portico/tls' }, /defaultCertificate/],
    ['defaultCertificate outside watchNamespace', { watchNamespace: 'team-a', defaultCertificate: 'portico/tls' }, /defaultCertificate portico\/tls: namespace portico is not watched/],
    ['acme.email', { acme: { enabled: true, email: 'ops-at-example.com' } }, /acme\/email/],
    ['acme.directory over http', { acme: { enabled: true, directory: 'http://ca.example/dir' } }, /acme\/directory/],
    ['acme.directory not a URL', { acme: { directory: 'letsencrypt' } }, /acme\/directory/],
    ['acme.enabled not a boolean', { acme: { enabled: 'yes' } }, /acme\/enabled/],
    ['acme.caBundle.key', { acme: { enabled: true, caBundle: { secretName: 'ca', key: 'a/b' } } }, /caBundle\/key/],
    ['acme in extraArgs', { controller: { extraArgs: { acme: true } } }, /extraArgs.*acme/s],
    ['metrics-port in extraArgs', { controller: { extraArgs: { 'metrics-port': 9113 } } }, /extraArgs.*metrics-port/s],
    ['shutdownDelay', { controller: { config: { shutdownDelay: 'a while' } } }, /shutdownDelay/],
    ['http2 not a boolean', { controller: { config: { http2: 'on' } } }, /http2/],
    ['hstsMaxAge negative', { controller: { config: { hstsMaxAge: -1 } } }, /hstsMaxAge/],
    ['hstsMaxAge fraction', { controller: { config: { hstsMaxAge: 1.5 } } }, /hstsMaxAge/],
    ['workers above 256', { controller: { workers: 257 } }, /controller\/workers/],
    ['workers negative', { controller: { workers: -1 } }, /controller\/workers/],
    ['workers fraction', { controller: { workers: 1.5 } }, /controller\/workers/],
    ['workers text', { controller: { workers: 'all' } }, /controller\/workers/],
    ['metrics.port text', { controller: { metrics: { port: 'metrics' } } }, /metrics\/port/],
    ['metrics.port out of range', { controller: { metrics: { port: 70000 } } }, /metrics\/port/],
    ['metrics.port taken', { controller: { metrics: { port: 8443 } } }, /controller\.metrics\.port 8443 is already controller\.containerPort\.https/],
    ['metrics.requestMetrics not a boolean', { controller: { metrics: { requestMetrics: 'off' } } }, /requestMetrics/],
    ['metrics.service.port', { controller: { metrics: { service: { port: 0 } } } }, /metrics\/service\/port/],
    ['serviceMonitor without metrics', { controller: { metrics: { enabled: false, serviceMonitor: { enabled: true } } } }, /serviceMonitor\.enabled needs controller\.metrics\.enabled/],
    ['serviceMonitor.interval', { controller: { metrics: { serviceMonitor: { enabled: true, interval: '30 s' } } } }, /serviceMonitor\/interval/],
    ['serviceMonitor timeout above interval', { controller: { metrics: { serviceMonitor: { enabled: true, interval: '30s', scrapeTimeout: '1m' } } } }, /scrapeTimeout \(1m\) is longer than the interval \(30s\)/],
    ['serviceMonitor label values must be strings', { controller: { metrics: { serviceMonitor: { additionalLabels: { release: 1 } } } } }, /additionalLabels/],
    ['grafanaDashboard.namespace', { controller: { metrics: { grafanaDashboard: { enabled: true, namespace: 'Monitoring' } } } }, /grafanaDashboard\/namespace/],
    ['a misspelt metrics value', { controller: { metrics: { serviceMonitors: { enabled: true } } } }, /serviceMonitors/],
  ];
  for (const [name, values, message] of cases) {
    it(name, async ({ expect }) => {
      const r = await template(values);
      expect(r.code, r.stdout).not.toBe(0);
      expect(r.stderr).toMatch(message);
    });
  }
});
