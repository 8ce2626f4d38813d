// The chart values real installs need (issue #16): controller.kind DaemonSet, hostNetwork and
// hostPort, the extra* lists, an internal load-balancer Service, loadBalancerIP and IP families,
// updateStrategy, minReadySeconds, terminationGracePeriodSeconds, the ServiceMonitor's namespace
// and relabelings, commonLabels, and controller.backendCA (--backend-ca-file). Each renders the
// chart with the value and checks the rendered object; the defaults render none of it.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, expect } from 'vitest';
import { load } from 'js-yaml';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IDaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import { parseSettings } from '../../src/config/settings.ts';
import { CHART, NAMESPACE, RELEASE, ROOT, TEST_CA_PEM, VALUE_SETS, controllerArgs, find, findAll, helm, mountedFiles, render, template, withValuesFile, workload, type K8sObject } from './helm.ts';

type Workload = IDeployment | IDaemonSet;

function podSpec(objects: K8sObject[]): IPodSpec {
  const spec = workload<Workload>(objects).spec?.template.spec;
  if (!spec) throw new Error('no pod spec');
  return spec;
}
function controller(objects: K8sObject[]) {
  const c = podSpec(objects).containers.find((x) => x.name === 'controller');
  if (!c) throw new Error('no controller container');
  return c;
}
/** The Deployment's spec.strategy or the DaemonSet's spec.updateStrategy. */
function strategyOf(objects: K8sObject[]): unknown {
  const w = workload<K8sObject & { spec: Record<string, unknown> }>(objects);
  return w.kind === 'DaemonSet' ? w.spec.updateStrategy : w.spec.strategy;
}
/** `helm template` must fail, with stderr matching `message`. */
async function rejects(values: object, message: RegExp): Promise<void> {
  const r = await template(values);
  expect(r.code, r.stdout.slice(0, 400)).not.toBe(0);
  expect(r.stderr).toMatch(message);
}

const defaults = await render();

describe('default values render none of the new fields', () => {
  it('a Deployment, no host network or ports, no extra containers, volumes, env or init containers', () => {
    expect(workload(defaults).kind).toBe('Deployment');
    const spec = podSpec(defaults);
    expect(spec.hostNetwork).toBeUndefined();
    expect(spec.dnsPolicy).toBeUndefined();
    expect(spec.initContainers).toBeUndefined();
    expect(spec.containers.map((c) => c.name)).toEqual(['controller']);
    expect(controller(defaults).ports?.some((p) => p.hostPort !== undefined)).toBe(false);
    expect(controller(defaults).env?.map((e) => e.name)).toEqual(['POD_NAME', 'POD_NAMESPACE']);
    expect(spec.volumes?.map((v) => v.name)).toEqual(['tmp']);
    expect(workload<IDeployment>(defaults).spec?.minReadySeconds).toBeUndefined();
    expect(controllerArgs(defaults).some((a) => a.startsWith('--backend-ca-file'))).toBe(false);
  });

  it('one traffic Service, without loadBalancerIP or IP families; no labels beyond the chart\'s', () => {
    const services = findAll<IService>(defaults, 'Service');
    expect(services.map((s) => s.metadata?.name).sort()).toEqual(['portico', 'portico-metrics']);
    const s = find<IService>(defaults, 'Service', 'portico');
    expect(s.spec?.loadBalancerIP).toBeUndefined();
    expect(s.spec?.ipFamilies).toBeUndefined();
    expect(s.spec?.ipFamilyPolicy).toBeUndefined();
    for (const o of defaults) {
      expect(Object.keys(o.metadata.labels ?? {}).every((k) => k.startsWith('app.kubernetes.io/') || k === 'helm.sh/chart'), `${o.kind} ${o.metadata.name}`).toBe(true);
    }
  });
});

describe.concurrent('controller.kind DaemonSet', () => {
  it('renders a DaemonSet instead of the Deployment: no replicas, rollout keeps capacity, no hostname spreading', async ({ expect }) => {
    const objects = await render({ controller: { kind: 'DaemonSet' } });
    expect(findAll(objects, 'Deployment')).toEqual([]);
    const ds = find<IDaemonSet>(objects, 'DaemonSet');
    expect(ds.metadata?.name).toBe('portico');
    // fields of a Deployment that a DaemonSet does not have
    const spec = ds.spec as unknown as Record<string, unknown>;
    expect(spec.replicas).toBeUndefined();
    expect(spec.strategy).toBeUndefined();
    // without host ports a surge pod fits beside the old one on its node
    expect(ds.spec?.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    expect(ds.spec?.selector.matchLabels).toEqual(workload<IDeployment>(defaults).spec?.selector.matchLabels);
    expect(ds.spec?.template.spec?.topologySpreadConstraints).toBeUndefined();
    // the Services still select its pods
    expect(find<IService>(objects, 'Service', 'portico').spec?.selector).toEqual(ds.spec?.selector.matchLabels);
  });

  it('renders no HorizontalPodAutoscaler even with autoscaling.enabled; the PodDisruptionBudget stays', async ({ expect }) => {
    const objects = await render(VALUE_SETS['DaemonSet on host ports, extra containers, volumes and env, commonLabels']!);
    expect(findAll(objects, 'HorizontalPodAutoscaler')).toEqual([]);
    expect(find(objects, 'PodDisruptionBudget')).toMatchObject({ spec: { minAvailable: 1 } });
    // while the Deployment with the same autoscaling value gets one
    expect(findAll(await render({ controller: { autoscaling: { enabled: true } } }), 'HorizontalPodAutoscaler')).toHaveLength(1);
  });

  it('the PodDisruptionBudget does not depend on replicaCount (a Deployment of one gets none)', async ({ expect }) => {
    expect(findAll(await render({ controller: { kind: 'DaemonSet', replicaCount: 1 } }), 'PodDisruptionBudget')).toHaveLength(1);
    expect(findAll(await render({ controller: { replicaCount: 1 } }), 'PodDisruptionBudget')).toEqual([]);
    expect(findAll(await render({ controller: { kind: 'DaemonSet', podDisruptionBudget: { enabled: false } } }), 'PodDisruptionBudget')).toEqual([]);
  });

  it('NOTES.txt watches the DaemonSet rollout', async ({ expect }) => {
    const r = await withValuesFile({ controller: { kind: 'DaemonSet', hostPort: { enabled: true } } }, (file) =>
      helm(['install', RELEASE, CHART, '--dry-run=client', '--namespace', NAMESPACE, '--values', file]),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`rollout status daemonset/portico`);
    expect(r.stdout).toContain('answers on its ports 80 (HTTP) and 443 (HTTPS)');
  });
});

describe.concurrent('hostPort, hostNetwork, dnsPolicy', () => {
  it('hostPort.enabled: the node\'s 80/443 to the http/https container ports; the health port stays private', async ({ expect }) => {
    const ports = controller(await render(VALUE_SETS['DaemonSet on host ports, extra containers, volumes and env, commonLabels']!)).ports;
    expect(ports).toEqual([
      { name: 'http', containerPort: 8080, hostPort: 80, protocol: 'TCP' },
      { name: 'https', containerPort: 8443, hostPort: 443, protocol: 'TCP' },
      { name: 'health', containerPort: 10254, protocol: 'TCP' },
    ]);
    const own = controller(await render({ controller: { hostPort: { enabled: true, ports: { http: 8000, https: 8443 } } } })).ports;
    expect(own?.slice(0, 2).map((p) => p.hostPort)).toEqual([8000, 8443]);
  });

  it('host ports make rollouts replace pods one at a time, for a Deployment and a DaemonSet', async ({ expect }) => {
    const oneAtATime = { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } };
    expect(strategyOf(await render({ controller: { hostPort: { enabled: true } } }))).toEqual(oneAtATime);
    expect(strategyOf(await render({ controller: { kind: 'DaemonSet', hostPort: { enabled: true } } }))).toEqual(oneAtATime);
    expect(strategyOf(await render({ controller: { hostNetwork: true } }))).toEqual(oneAtATime);
  });

  it('hostNetwork: on the node\'s network, with cluster DNS (ClusterFirstWithHostNet) unless dnsPolicy says otherwise', async ({ expect }) => {
    const spec = podSpec(await render(VALUE_SETS['hostNetwork DaemonSet, own update strategy, backend CA from a ConfigMap']!));
    expect(spec.hostNetwork).toBe(true);
    expect(spec.dnsPolicy).toBe('ClusterFirstWithHostNet');
    expect(podSpec(await render({ controller: { hostNetwork: true, dnsPolicy: 'Default' } })).dnsPolicy).toBe('Default');
    expect(podSpec(await render({ controller: { dnsPolicy: 'ClusterFirst' } })).dnsPolicy).toBe('ClusterFirst');
  });

  it('NOTES.txt warns when hostNetwork asks a non-root process for ports below 1024', async ({ expect }) => {
    const notes = async (values: object) => {
      const r = await withValuesFile(values, (file) => helm(['install', RELEASE, CHART, '--dry-run=client', '--namespace', NAMESPACE, '--values', file]));
      expect(r.code, r.stderr).toBe(0);
      return r.stdout.slice(r.stdout.indexOf('NOTES:'));
    };
    const low = await notes({ controller: { kind: 'DaemonSet', hostNetwork: true, containerPort: { http: 80, https: 443 } } });
    expect(low).toContain('answers on its ports 80 (HTTP) and 443 (HTTPS)');
    expect(low).toContain('WARNING: containerPort.http, containerPort.https below 1024');
    expect(await notes({ controller: { kind: 'DaemonSet', hostNetwork: true } })).not.toContain('WARNING');
    // running as root (the user's choice) binds them
    expect(await notes({ controller: { hostNetwork: true, containerPort: { http: 80, https: 443 }, containerSecurityContext: { runAsUser: 0 } } })).not.toContain('WARNING');
  });

  it('hostNetwork with hostPort: the ports must be the container ports (Kubernetes requires it)', async ({ expect }) => {
    await rejects({ controller: { hostNetwork: true, hostPort: { enabled: true } } }, /controller\.hostPort\.ports\.http \(80\) differs from controller\.containerPort\.http \(8080\)/);
    const ports = controller(await render({ controller: { hostNetwork: true, hostPort: { enabled: true, ports: { http: 8080, https: 8443 } } } })).ports;
    expect(ports?.slice(0, 2).map((p) => [p.containerPort, p.hostPort])).toEqual([[8080, 8080], [8443, 8443]]);
  });
});

describe.concurrent('updateStrategy, minReadySeconds, terminationGracePeriodSeconds', () => {
  it('updateStrategy replaces the chart\'s: spec.strategy of a Deployment, spec.updateStrategy of a DaemonSet', async ({ expect }) => {
    expect(strategyOf(await render(VALUE_SETS['internal load balancer, dual-stack, fixed IP, backend CA from a Secret']!))).toEqual({ type: 'Recreate' });
    const ds = await render(VALUE_SETS['hostNetwork DaemonSet, own update strategy, backend CA from a ConfigMap']!);
    expect(strategyOf(ds)).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%' } });
    expect(strategyOf(await render({ controller: { kind: 'DaemonSet', updateStrategy: { type: 'OnDelete' } } }))).toEqual({ type: 'OnDelete' });
  });

  it('a strategy type the kind does not have is rejected, naming the value', async ({ expect }) => {
    await rejects({ controller: { kind: 'DaemonSet', updateStrategy: { type: 'Recreate' } } }, /controller\.updateStrategy\.type Recreate is for a Deployment/);
    await rejects({ controller: { updateStrategy: { type: 'OnDelete' } } }, /controller\.updateStrategy\.type OnDelete is for a DaemonSet/);
  });

  it('minReadySeconds reaches the workload', async ({ expect }) => {
    expect(workload<IDaemonSet>(await render(VALUE_SETS['DaemonSet on host ports, extra containers, volumes and env, commonLabels']!)).spec?.minReadySeconds).toBe(10);
    expect(workload<IDeployment>(await render({ controller: { minReadySeconds: 30 } })).spec?.minReadySeconds).toBe(30);
  });

  it('terminationGracePeriodSeconds replaces the computed one, but not below the drain', async ({ expect }) => {
    expect(podSpec(await render({ controller: { terminationGracePeriodSeconds: 300 } })).terminationGracePeriodSeconds).toBe(300);
    // 5 s delay + 30 s grace: 36 is enough, 35 is not
    expect(podSpec(await render({ controller: { terminationGracePeriodSeconds: 36 } })).terminationGracePeriodSeconds).toBe(36);
    await rejects({ controller: { terminationGracePeriodSeconds: 35 } }, /controller\.terminationGracePeriodSeconds \(35\) must exceed --shutdown-delay \+ --shutdown-grace \(35 s\).*leave it empty for 45/);
    // the check follows the flags actually passed
    await rejects({ controller: { terminationGracePeriodSeconds: 100, extraArgs: { 'shutdown-grace': '2m' } } }, /\(100\) must exceed .*\(125 s\)/);
  });
});

describe.concurrent('extraEnv(s), extraVolumes, extraVolumeMounts, extraContainers, extraInitContainers', () => {
  const set = VALUE_SETS['DaemonSet on host ports, extra containers, volumes and env, commonLabels']!;

  it('extraEnv then extraEnvs (ingress-nginx\'s spelling) after the chart\'s variables', async ({ expect }) => {
    expect(controller(await render(set)).env).toEqual([
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'FIRST', value: '1' },
      { name: 'SECOND', value: '2' },
      { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'token', key: 'value' } } },
    ]);
  });

  it('volumes and mounts follow the chart\'s own', async ({ expect }) => {
    const objects = await render(set);
    expect(podSpec(objects).volumes).toEqual([
      { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
      { name: 'shared', emptyDir: {} },
      { name: 'certs', secret: { secretName: 'client-certs' } },
    ]);
    expect(controller(objects).volumeMounts).toEqual([
      { name: 'tmp', mountPath: '/tmp' },
      { name: 'certs', mountPath: '/etc/client-certs', readOnly: true },
    ]);
  });

  it('containers after the controller, init containers before it', async ({ expect }) => {
    const spec = podSpec(await render(set));
    expect(spec.containers.map((c) => c.name)).toEqual(['controller', 'log-shipper']);
    expect(spec.containers[1]).toEqual({ name: 'log-shipper', image: 'fluent/fluent-bit:3.1', volumeMounts: [{ name: 'shared', mountPath: '/shared' }] });
    expect(spec.initContainers).toEqual([{ name: 'wait-for-dns', image: 'busybox:1.36', command: ['sh', '-c', 'until nslookup kubernetes.default; do sleep 1; done'] }]);
  });

  it('a volume name or mount path the chart uses is rejected, naming it', async ({ expect }) => {
    await rejects({ controller: { extraVolumes: [{ name: 'tmp', emptyDir: {} }] } }, /controller\.extraVolumes: the volume name tmp is taken/);
    await rejects({ controller: { backendCA: { secretName: 'ca' }, extraVolumes: [{ name: 'backend-ca', emptyDir: {} }] } }, /volume name backend-ca is taken/);
    await rejects({ controller: { extraVolumes: [{ name: 'a', emptyDir: {} }, { name: 'a', emptyDir: {} }] } }, /volume name a is taken/);
    await rejects({ controller: { extraVolumes: [{ name: 'scratch', emptyDir: {} }], extraVolumeMounts: [{ name: 'scratch', mountPath: '/tmp' }] } }, /controller\.extraVolumeMounts: \/tmp is already a mount path/);
  });
});

describe.concurrent('Service: loadBalancerIP, IP families, the internal load balancer', () => {
  const set = VALUE_SETS['internal load balancer, dual-stack, fixed IP, backend CA from a Secret']!;

  it('loadBalancerIP and IP families on the public Service', async ({ expect }) => {
    const s = find<IService>(await render(set), 'Service', 'portico');
    expect(s.spec).toMatchObject({ type: 'LoadBalancer', loadBalancerIP: '203.0.113.20', ipFamilyPolicy: 'PreferDualStack', ipFamilies: ['IPv4', 'IPv6'] });
    expect(s.metadata?.labels).toMatchObject({ exposure: 'public', team: 'edge' });
    // loadBalancerIP only means something on a LoadBalancer
    const clusterIp = find<IService>(await render({ controller: { service: { type: 'ClusterIP', loadBalancerIP: '10.0.0.1', ipFamilies: ['IPv6'] } } }), 'Service', 'portico');
    expect(clusterIp.spec?.loadBalancerIP).toBeUndefined();
    expect(clusterIp.spec?.ipFamilies).toEqual(['IPv6']);
  });

  it('the internal Service: its own name, annotations, ranges, address and traffic policy; the same ports and pods', async ({ expect }) => {
    const objects = await render(set);
    const pub = find<IService>(objects, 'Service', 'portico');
    const internal = find<IService>(objects, 'Service', 'portico-internal');
    expect(internal.metadata?.annotations).toEqual({ 'service.beta.kubernetes.io/aws-load-balancer-scheme': 'internal' });
    expect(internal.metadata?.labels).toMatchObject({ exposure: 'internal', team: 'edge', 'app.kubernetes.io/component': 'controller' });
    expect(internal.spec).toMatchObject({
      type: 'LoadBalancer',
      loadBalancerSourceRanges: ['10.0.0.0/8'],
      loadBalancerIP: '10.0.0.20',
      externalTrafficPolicy: 'Local',
      ipFamilyPolicy: 'PreferDualStack',
      ipFamilies: ['IPv4', 'IPv6'],
    });
    expect(internal.spec?.ports).toEqual(pub.spec?.ports);
    expect(internal.spec?.selector).toEqual(pub.spec?.selector);
    // the public Service keeps its own policy; Ingress status still comes from it
    expect(pub.spec?.externalTrafficPolicy).toBe('Cluster');
    expect(controllerArgs(objects)).toContain(`--publish-service=${NAMESPACE}/portico`);
  });

  it('internal.type and externalTrafficPolicy default to the public Service\'s; no fixed node ports', async ({ expect }) => {
    const objects = await render({
      controller: { service: { type: 'NodePort', externalTrafficPolicy: 'Local', nodePorts: { http: 30080, https: 30443 }, internal: { enabled: true } } },
    });
    const internal = find<IService>(objects, 'Service', 'portico-internal');
    expect(internal.spec?.type).toBe('NodePort');
    expect(internal.spec?.externalTrafficPolicy).toBe('Local');
    expect(internal.spec?.ports?.map((p) => p.nodePort)).toEqual([undefined, undefined]);
    expect(find<IService>(await render({ controller: { service: { internal: { enabled: true, type: 'ClusterIP' } } } }), 'Service', 'portico-internal').spec?.type).toBe('ClusterIP');
  });

  it('the internal Service alone (service.enabled false, status from it through pathOverride)', async ({ expect }) => {
    const objects = await render({
      controller: {
        service: { enabled: false, internal: { enabled: true, annotations: { 'networking.gke.io/load-balancer-type': 'Internal' } } },
        publishService: { pathOverride: `${NAMESPACE}/portico-internal` },
      },
    });
    expect(findAll<IService>(objects, 'Service').map((s) => s.metadata?.name).sort()).toEqual(['portico-internal', 'portico-metrics']);
  });

  it('an internal LoadBalancer without annotations, and SingleStack with two families, are rejected', async ({ expect }) => {
    await rejects({ controller: { service: { internal: { enabled: true } } } }, /controller\.service\.internal\.enabled: .*set it in controller\.service\.internal\.annotations/);
    await rejects({ controller: { service: { ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv4', 'IPv6'] } } }, /controller\.service\.ipFamilies \[IPv4 IPv6\]: a SingleStack Service has one IP family/);
  });
});

describe.concurrent('ServiceMonitor namespace, relabelings, metricRelabelings', () => {
  it('in its own namespace, still selecting the metrics Service in the release namespace, with both relabelings', async ({ expect }) => {
    const objects = await render(VALUE_SETS['DaemonSet on host ports, extra containers, volumes and env, commonLabels']!);
    const sm = find<K8sObject & { spec: { namespaceSelector: unknown; endpoints: Record<string, unknown>[] } }>(objects, 'ServiceMonitor');
    expect(sm.metadata.namespace).toBe('monitoring');
    expect(sm.spec.namespaceSelector).toEqual({ matchNames: [NAMESPACE] });
    expect(find<IService>(objects, 'Service', 'portico-metrics').metadata?.namespace).toBe(NAMESPACE);
    expect(sm.spec.endpoints[0]).toMatchObject({
      relabelings: [{ sourceLabels: ['__meta_kubernetes_pod_node_name'], targetLabel: 'node' }],
      metricRelabelings: [{ action: 'drop', sourceLabels: ['__name__'], regex: 'nodejs_gc_.*' }],
    });
  });

  it('without them: the release namespace and no relabeling fields', async ({ expect }) => {
    const sm = find<K8sObject & { spec: { endpoints: Record<string, unknown>[] } }>(await render({ controller: { metrics: { serviceMonitor: { enabled: true } } } }), 'ServiceMonitor');
    expect(sm.metadata.namespace).toBe(NAMESPACE);
    expect(Object.keys(sm.spec.endpoints[0]!).sort()).toEqual(['interval', 'path', 'port', 'scheme']);
  });
});

describe.concurrent('commonLabels', () => {
  const set = VALUE_SETS['DaemonSet on host ports, extra containers, volumes and env, commonLabels']!;
  const everything = {
    ...set,
    watchNamespace: ['team-a'],
    acme: { enabled: true },
    controller: {
      ...(set as { controller: object }).controller,
      kind: 'Deployment',
      hostPort: { enabled: false },
      service: { internal: { enabled: true, annotations: { 'networking.gke.io/load-balancer-type': 'Internal' } } },
      metrics: { port: 9113, serviceMonitor: { enabled: true }, grafanaDashboard: { enabled: true } },
    },
  };

  it('on every object the chart renders, and on the pods; selectors keep only the chart\'s labels', async ({ expect }) => {
    const objects = await render(everything);
    expect(new Set(objects.map((o) => o.kind))).toEqual(
      new Set(['Deployment', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Service', 'ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding', 'IngressClass', 'NetworkPolicy', 'ServiceMonitor', 'ConfigMap']),
    );
    for (const o of objects) expect(o.metadata.labels, `${o.kind} ${o.metadata.name}`).toMatchObject({ team: 'edge', 'example.com/cost-center': '42' });
    const d = workload<IDeployment>(objects);
    expect(d.spec?.template.metadata?.labels).toMatchObject({ team: 'edge', 'example.com/cost-center': '42' });
    expect(Object.keys(d.spec?.selector.matchLabels ?? {}).sort()).toEqual(['app.kubernetes.io/component', 'app.kubernetes.io/instance', 'app.kubernetes.io/name']);
    for (const s of findAll<IService>(objects, 'Service')) expect(Object.keys(s.spec?.selector ?? {}), s.metadata?.name).not.toContain('team');
  });

  it('an object\'s own labels win over commonLabels; the chart\'s keys cannot be set', async ({ expect }) => {
    const objects = await render({ commonLabels: { team: 'edge', tier: 'common' }, controller: { podLabels: { tier: 'pod' }, service: { labels: { tier: 'service' } } } });
    expect(workload<IDeployment>(objects).spec?.template.metadata?.labels).toMatchObject({ team: 'edge', tier: 'pod' });
    expect(find<IService>(objects, 'Service', 'portico').metadata?.labels).toMatchObject({ team: 'edge', tier: 'service' });
    expect(workload<IDeployment>(objects).metadata?.labels).toMatchObject({ team: 'edge', tier: 'common' });
    await rejects({ commonLabels: { 'app.kubernetes.io/name': 'other' } }, /commonLabels\/app\.kubernetes\.io~1name': value must be 'a label the chart sets itself/);
  });
});

describe.concurrent('controller.backendCA → --backend-ca-file', () => {
  it('a Secret key: mounted read-only, passed as the flag, and the program reads the CA from there', async ({ expect }) => {
    const objects = await render(VALUE_SETS['internal load balancer, dual-stack, fixed IP, backend CA from a Secret']!);
    expect(podSpec(objects).volumes).toContainEqual({ name: 'backend-ca', secret: { secretName: 'backend-ca', items: [{ key: 'ca.crt', path: 'ca.crt' }] } });
    expect(controller(objects).volumeMounts).toContainEqual({ name: 'backend-ca', mountPath: '/etc/portico/backend-ca', readOnly: true });
    expect(controllerArgs(objects)).toContain('--backend-ca-file=/etc/portico/backend-ca/ca.crt');
    const { settings } = parseSettings(controllerArgs(objects), {}, mountedFiles(objects));
    expect(settings.backendCaFile).toBe('/etc/portico/backend-ca/ca.crt');
    expect(settings.backendCa?.trim()).toBe(TEST_CA_PEM.trim());
  });

  it('a ConfigMap key, under its own key name', async ({ expect }) => {
    const objects = await render(VALUE_SETS['hostNetwork DaemonSet, own update strategy, backend CA from a ConfigMap']!);
    expect(podSpec(objects).volumes).toContainEqual({ name: 'backend-ca', configMap: { name: 'corp-root-ca', items: [{ key: 'root.pem', path: 'root.pem' }] } });
    expect(controllerArgs(objects)).toContain('--backend-ca-file=/etc/portico/backend-ca/root.pem');
  });

  it('both a Secret and a ConfigMap, or the flag through extraArgs, are rejected', async ({ expect }) => {
    await rejects({ controller: { backendCA: { secretName: 'a', configMapName: 'b' } } }, /controller\.backendCA: set secretName \(a\) or configMapName \(b\), not both/);
    // extraArgs would pass a path nothing is mounted at
    await rejects({ controller: { extraArgs: { 'backend-ca-file': '/etc/ca.pem' } } }, /extraArgs.*backend-ca-file/s);
  });
});

describe.concurrent('values.schema.json rejects bad new values, naming the field', () => {
  const cases: [string, object, RegExp][] = [
    ['kind Both (ingress-nginx)', { controller: { kind: 'Both' } }, /controller\/kind/],
    ['hostNetwork not a boolean', { controller: { hostNetwork: 'yes' } }, /controller\/hostNetwork/],
    ['hostPort.ports.http 0', { controller: { hostPort: { enabled: true, ports: { http: 0, https: 443 } } } }, /hostPort\/ports\/http/],
    ['dnsPolicy None (needs a dnsConfig the chart does not offer)', { controller: { dnsPolicy: 'None' } }, /controller\/dnsPolicy/],
    ['updateStrategy.type', { controller: { updateStrategy: { type: 'BlueGreen' } } }, /updateStrategy\/type/],
    ['updateStrategy.rollingUpdate.maxSurge', { controller: { updateStrategy: { rollingUpdate: { maxSurge: 'one' } } } }, /updateStrategy\/rollingUpdate\/maxSurge/],
    ['minReadySeconds negative', { controller: { minReadySeconds: -1 } }, /controller\/minReadySeconds/],
    ['terminationGracePeriodSeconds text', { controller: { terminationGracePeriodSeconds: '5m' } }, /controller\/terminationGracePeriodSeconds/],
    ['extraEnvs without a name', { controller: { extraEnvs: [{ value: 'x' }] } }, /controller\/extraEnvs/],
    ['extraVolumes without a name', { controller: { extraVolumes: [{ emptyDir: {} }] } }, /controller\/extraVolumes/],
    ['extraVolumeMounts with a relative path', { controller: { extraVolumeMounts: [{ name: 'x', mountPath: 'data' }] } }, /extraVolumeMounts\/0\/mountPath/],
    ['extraContainers without an image', { controller: { extraContainers: [{ name: 'side' }] } }, /controller\/extraContainers/],
    ['extraInitContainers with a bad name', { controller: { extraInitContainers: [{ name: 'Init', image: 'busybox' }] } }, /extraInitContainers\/0\/name/],
    ['loadBalancerIP', { controller: { service: { loadBalancerIP: 'lb.example.com' } } }, /service\/loadBalancerIP/],
    ['ipFamilyPolicy', { controller: { service: { ipFamilyPolicy: 'DualStack' } } }, /service\/ipFamilyPolicy/],
    ['ipFamilies', { controller: { service: { ipFamilies: ['IPv5'] } } }, /service\/ipFamilies/],
    ['internal.type', { controller: { service: { internal: { enabled: true, type: 'Internal' } } } }, /internal\/type/],
    ['internal.loadBalancerSourceRanges', { controller: { service: { internal: { loadBalancerSourceRanges: ['office'] } } } }, /internal\/loadBalancerSourceRanges/],
    ['internal: a misspelt key', { controller: { service: { internal: { annotation: {} } } } }, /annotation/],
    ['serviceMonitor.namespace', { controller: { metrics: { serviceMonitor: { namespace: 'Monitoring' } } } }, /serviceMonitor\/namespace/],
    ['serviceMonitor.relabelings not a list', { controller: { metrics: { serviceMonitor: { relabelings: { targetLabel: 'node' } } } } }, /serviceMonitor\/relabelings/],
    ['commonLabels value with a space', { commonLabels: { team: 'edge team' } }, /commonLabels/],
    ['commonLabels value not a string', { commonLabels: { tier: 1 } }, /commonLabels/],
    ['backendCA.key with a slash', { controller: { backendCA: { secretName: 'ca', key: 'a/b' } } }, /backendCA\/key/],
    ['backendCA.configMapName', { controller: { backendCA: { configMapName: 'Corp_CA' } } }, /backendCA\/configMapName/],
  ];
  for (const [name, values, message] of cases) {
    it(name, async ({ expect }) => {
      const r = await template(values);
      expect(r.code, r.stdout.slice(0, 400)).not.toBe(0);
      expect(r.stderr).toMatch(message);
    });
  }
});

// ---- ingress-nginx keys Portico names differently ------------------------------------------------
// README "Coming from ingress-nginx's chart" lists them; values.schema.json rejects each with the
// advice as its message. Both directions are checked, so neither can drift from the other.

interface MappingRow {
  ingressNginx: string[];
  portico: string;
  message: string;
}

function readmeMapping(): MappingRow[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf("### Coming from ingress-nginx's chart");
  if (start < 0) throw new Error('README has no "Coming from ingress-nginx\'s chart" section');
  const section = readme.slice(start, readme.indexOf('\n## ', start));
  return section
    .split('\n')
    .filter((line) => /^\| `/.test(line))
    .map((line) => {
      const [keys, portico, message] = line.split(' | ').map((cell) => cell.replace(/^\| ?| ?\|$/g, ''));
      return { ingressNginx: [...keys!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!), portico: portico!.replace(/`/g, ''), message: message! };
    });
}

/** Values with `value` at the dotted path (ConfigMap keys of ingress-nginx hold no dots). */
function at(path: string, value: unknown): object {
  return path.split('.').reduceRight<unknown>((inner, key) => ({ [key]: inner }), value) as object;
}

interface SchemaNode {
  description?: string;
  properties?: Record<string, SchemaNode>;
  not?: object;
  const?: string;
}
/** Dotted paths of the schema's ingress-nginx entries: `not: {}` (rejects everything), described as such. */
function schemaRenames(node: SchemaNode, prefix = ''): { path: string; message: string }[] {
  return Object.entries(node.properties ?? {}).flatMap(([key, child]) => {
    const path = prefix ? `${prefix}.${key}` : key;
    if (child.not && Object.keys(child.not).length === 0) {
      return child.description?.startsWith('ingress-nginx chart key') ? [{ path, message: child.const ?? '' }] : [];
    }
    return schemaRenames(child, path);
  });
}

describe('ingress-nginx chart keys: README table and schema agree', () => {
  const rows = readmeMapping();
  const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as SchemaNode;

  it('the README lists the renames', () => {
    expect(rows.length).toBeGreaterThan(15);
    for (const row of rows) expect(row.message, row.ingressNginx.join()).toMatch(new RegExp(`^use ${row.portico.replace(/\./g, '\\.')}\\b`));
  });

  it('every schema entry is in the README, with the same message', () => {
    const documented = rows.flatMap((r) => r.ingressNginx.map((key) => ({ key, message: r.message })));
    for (const entry of schemaRenames(schema)) {
      const row = documented.find((d) => d.key === entry.path || d.key.startsWith(entry.path + '.'));
      expect(row, `${entry.path} is rejected by the schema but not in the README table`).toBeDefined();
      expect(entry.message, entry.path).toBe(row?.message);
    }
  });

  it('each Portico key of the table exists in values.yaml', () => {
    const values = load(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Record<string, unknown>;
    for (const row of rows) {
      const found = row.portico.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), values);
      expect(found, row.portico).not.toBeUndefined();
    }
  });

  describe.concurrent('helm rejects each ingress-nginx key with a message naming the Portico key', () => {
    const entries = schemaRenames(schema);
    for (const row of rows) {
      for (const key of row.ingressNginx) {
        it(key, async ({ expect }) => {
          const r = await template(at(key, 'x'));
          expect(r.code, r.stdout.slice(0, 200)).not.toBe(0);
          // the key itself, or the ingress-nginx parent Portico has no counterpart for (controller.scope)
          const entry = entries.find((e) => e.path === key || key.startsWith(e.path + '.'));
          expect(entry, `no schema entry for ${key}`).toBeDefined();
          expect(r.stderr).toContain(`at '/${entry?.path.replace(/\./g, '/')}':`);
          expect(r.stderr).toContain(`value must be '${row.message.replace(/'/g, "\\'")}'`);
          expect(r.stderr).toContain(row.portico);
        });
      }
    }
  });
});
