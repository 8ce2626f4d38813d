// RBAC: the chart grants what Portico calls (derived from the kinds it watches in
// src/sources/kubernetes/resources.ts, plus its writes, plus ACME's Secrets in src/acme when
// --acme is on), in the right scope, and nothing more.

import { describe, it } from 'vitest';
import type { IClusterRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole';
import type { IRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import type { IRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import type { IClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { RESOURCES } from '../../src/sources/kubernetes/resources.ts';
import { parseSettings, type Settings } from '../../src/config/settings.ts';
import { DEFAULT_ACCOUNT_SECRET } from '../../src/acme/account.ts';
import { DEFAULT_CHALLENGE_SECRET } from '../../src/acme/challenges.ts';
import { NAMESPACE, VALUE_SETS, controllerArgs, find, findAll, mountedFiles, render, template, workload, type K8sObject } from './helm.ts';

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
}

interface Request {
  namespace: string | undefined; // undefined: cluster-scoped or all namespaces
  group: string;
  resource: string;
  verb: string;
  name?: string;
}

/** The rules bound to the controller's ServiceAccount: cluster-wide, and per namespace. */
function grantsOf(objects: K8sObject[]): { cluster: Rule[]; namespaced: Map<string, Rule[]> } {
  const pod = workload<IDeployment>(objects).spec?.template.spec;
  const sa = pod?.serviceAccountName ?? 'default';
  const bindsUs = (subjects: { kind: string; name: string; namespace?: string }[] | undefined) =>
    (subjects ?? []).some((s) => s.kind === 'ServiceAccount' && s.name === sa && s.namespace === NAMESPACE);

  const clusterRoles = new Map(findAll<IClusterRole>(objects, 'ClusterRole').map((r) => [r.metadata?.name, (r.rules ?? []) as Rule[]]));
  const roles = new Map(findAll<IRole>(objects, 'Role').map((r) => [`${r.metadata?.namespace}/${r.metadata?.name}`, (r.rules ?? []) as Rule[]]));

  const cluster: Rule[] = [];
  for (const b of findAll<IClusterRoleBinding>(objects, 'ClusterRoleBinding')) {
    if (!bindsUs(b.subjects)) continue;
    const rules = b.roleRef.kind === 'ClusterRole' ? clusterRoles.get(b.roleRef.name) : undefined;
    if (!rules) throw new Error(`ClusterRoleBinding ${b.metadata?.name} → no ClusterRole ${b.roleRef.name} rendered`);
    cluster.push(...rules);
  }
  const namespaced = new Map<string, Rule[]>();
  for (const b of findAll<IRoleBinding>(objects, 'RoleBinding')) {
    if (!bindsUs(b.subjects)) continue;
    const ns = b.metadata?.namespace ?? '';
    const rules = b.roleRef.kind === 'ClusterRole' ? clusterRoles.get(b.roleRef.name) : roles.get(`${ns}/${b.roleRef.name}`);
    if (!rules) throw new Error(`RoleBinding ${ns}/${b.metadata?.name} → no ${b.roleRef.kind} ${b.roleRef.name} rendered`);
    namespaced.set(ns, [...(namespaced.get(ns) ?? []), ...rules]);
  }
  return { cluster, namespaced };
}

function ruleAllows(rule: Rule, req: Request): boolean {
  const has = (list: string[] | undefined, v: string) => (list ?? []).includes(v) || (list ?? []).includes('*');
  if (!has(rule.apiGroups, req.group) || !has(rule.resources, req.resource) || !has(rule.verbs, req.verb)) return false;
  if (rule.resourceNames && rule.resourceNames.length > 0) return req.name !== undefined && rule.resourceNames.includes(req.name);
  return true;
}

function allowed(grants: ReturnType<typeof grantsOf>, req: Request): boolean {
  if (grants.cluster.some((r) => ruleAllows(r, req))) return true;
  if (req.namespace === undefined) return false;
  return (grants.namespaced.get(req.namespace) ?? []).some((r) => ruleAllows(r, req));
}

function groupOf(prefix: string): string {
  return prefix === '/api/v1' ? '' : prefix.split('/')[2]!;
}

/** Everything Portico does against the API for a rendered configuration. */
function requiredRequests(objects: K8sObject[]): Request[] {
  const { settings } = parseSettings(controllerArgs(objects), {}, mountedFiles(objects));
  // Namespaced kinds are watched per namespace, or across all (namespace undefined).
  const scopes: (string | undefined)[] = settings.watchNamespaces.length > 0 ? settings.watchNamespaces : [undefined];
  const out: Request[] = [];
  for (const spec of Object.values(RESOURCES)) {
    for (const ns of spec.namespaced ? scopes : [undefined]) {
      for (const verb of ['list', 'watch']) out.push({ namespace: ns, group: groupOf(spec.prefix), resource: spec.plural, verb });
    }
  }
  for (const ns of scopes) {
    out.push({ namespace: ns, group: 'networking.k8s.io', resource: 'ingresses/status', verb: 'patch' });
    out.push({ namespace: ns, group: '', resource: 'events', verb: 'create' });
  }
  // Leader election, in the pod's namespace (the release namespace).
  out.push({ namespace: NAMESPACE, group: 'coordination.k8s.io', resource: 'leases', verb: 'create' });
  for (const verb of ['get', 'update']) out.push({ namespace: NAMESPACE, group: 'coordination.k8s.io', resource: 'leases', verb, name: settings.electionId });
  if (settings.publishService) {
    out.push({ namespace: settings.publishService.namespace, group: '', resource: 'services', verb: 'get', name: settings.publishService.name });
  }
  if (settings.acme) {
    // Issued certificates: read, created or replaced in the Secret named by an Ingress's
    // spec.tls, in the Ingress's (watched) namespace (src/acme/manager.ts, secrets.ts).
    for (const ns of scopes) {
      for (const verb of ['get', 'create', 'update']) out.push({ namespace: ns, group: '', resource: 'secrets', verb });
    }
    // The account and challenge Secrets in the pod's namespace (account.ts, challenges.ts):
    // GET / POST / PUT by name, and every replica lists and watches the challenge Secret with
    // fieldSelector metadata.name=<name> (which RBAC resourceNames match).
    for (const name of [DEFAULT_ACCOUNT_SECRET, DEFAULT_CHALLENGE_SECRET]) {
      for (const verb of ['get', 'update']) out.push({ namespace: NAMESPACE, group: '', resource: 'secrets', verb, name });
    }
    out.push({ namespace: NAMESPACE, group: '', resource: 'secrets', verb: 'create' });
    for (const verb of ['list', 'watch']) out.push({ namespace: NAMESPACE, group: '', resource: 'secrets', verb, name: DEFAULT_CHALLENGE_SECRET });
  }
  return out;
}

/** Every (group, resource, verb) the chart may grant at all, for these settings. */
function allowedGrants(settings: Settings): Set<string> {
  return new Set([...BASE_GRANTS, ...(settings.acme ? ACME_GRANTS : [])]);
}

/** Writes on Secrets: only with --acme. */
const ACME_GRANTS = ['/secrets:create', '/secrets:update'];

const BASE_GRANTS = new Set([
  ...['get', 'list', 'watch'].flatMap((v) => ['networking.k8s.io/ingresses', 'networking.k8s.io/ingressclasses', '/services', 'discovery.k8s.io/endpointslices', '/secrets', '/configmaps'].map((r) => `${r}:${v}`)),
  'networking.k8s.io/ingresses/status:update',
  'networking.k8s.io/ingresses/status:patch',
  '/events:create',
  '/events:patch',
  'coordination.k8s.io/leases:create',
  'coordination.k8s.io/leases:get',
  'coordination.k8s.io/leases:update',
]);

const SECRET_WRITES = ['create', 'update', 'patch', 'delete', 'deletecollection'];

describe.concurrent('RBAC', () => {
  for (const [name, values] of Object.entries(VALUE_SETS)) {
    it(`${name}: grants every request Portico makes, and nothing outside the allow-list`, async ({ expect }) => {
      const objects = await render(values);
      const grants = grantsOf(objects);
      const allowList = allowedGrants(parseSettings(controllerArgs(objects), {}, mountedFiles(objects)).settings);
      for (const req of requiredRequests(objects)) {
        expect(allowed(grants, req), `not allowed: ${req.verb} ${req.group || 'core'}/${req.resource}${req.name ? ` ${req.name}` : ''} in ${req.namespace ?? 'all namespaces'}`).toBe(true);
      }
      const all = [...grants.cluster, ...[...grants.namespaced.values()].flat()];
      for (const rule of all) {
        for (const group of rule.apiGroups ?? []) {
          for (const resource of rule.resources ?? []) {
            for (const verb of rule.verbs) expect(allowList.has(`${group}/${resource}:${verb}`), `unexpected grant ${verb} ${group}/${resource}`).toBe(true);
          }
        }
      }
    });
  }

  it('secrets: read only, and the rendered rule carries the note that RBAC cannot filter by type', async ({ expect }) => {
    const objects = await render();
    const grants = grantsOf(objects);
    for (const verb of ['create', 'update', 'patch', 'delete']) expect(allowed(grants, { namespace: 'x', group: '', resource: 'secrets', verb })).toBe(false);
    expect((await template()).stdout).toMatch(/RBAC cannot restrict by type/);
  });

  it('watchNamespace: namespaced kinds only in those namespaces; IngressClasses stay cluster-wide', async ({ expect }) => {
    const objects = await render(VALUE_SETS['watchNamespace (string)']!);
    const grants = grantsOf(objects);
    const clusterRole = find<IClusterRole>(objects, 'ClusterRole');
    expect(clusterRole.rules).toEqual([{ apiGroups: ['networking.k8s.io'], resources: ['ingressclasses'], verbs: ['get', 'list', 'watch'] }]);
    expect(allowed(grants, { namespace: undefined, group: 'networking.k8s.io', resource: 'ingressclasses', verb: 'watch' })).toBe(true);
    for (const ns of ['team-a', 'team-b']) expect(allowed(grants, { namespace: ns, group: '', resource: 'secrets', verb: 'list' }), ns).toBe(true);
    expect(allowed(grants, { namespace: 'elsewhere', group: '', resource: 'secrets', verb: 'list' })).toBe(false);
    expect(allowed(grants, { namespace: undefined, group: 'networking.k8s.io', resource: 'ingresses', verb: 'list' })).toBe(false);
    expect(findAll(objects, 'Role').map((r) => `${r.metadata.namespace}/${r.metadata.name}`).sort()).toEqual([
      `${NAMESPACE}/portico-leader-election`,
      // The publish Service lives in the unwatched release namespace: read by name only.
      `${NAMESPACE}/portico-publish-service`,
      'team-a/portico',
      'team-b/portico',
    ]);
    expect(allowed(grants, { namespace: NAMESPACE, group: '', resource: 'services', verb: 'get', name: 'other' })).toBe(false);
    expect(allowed(grants, { namespace: NAMESPACE, group: '', resource: 'services', verb: 'list' })).toBe(false);
  });

  it('without acme.enabled no rule anywhere writes Secrets; with it, --acme is passed', async ({ expect }) => {
    for (const [name, values] of Object.entries(VALUE_SETS)) {
      const objects = await render(values);
      const acme = parseSettings(controllerArgs(objects), {}, mountedFiles(objects)).settings.acme;
      expect(acme, name).toBe((values as { acme?: { enabled?: boolean } }).acme?.enabled === true);
      if (acme) continue;
      const grants = grantsOf(objects);
      const rules = [...grants.cluster, ...[...grants.namespaced.values()].flat()];
      const writes = rules.filter((r) => (r.resources ?? []).includes('secrets') && r.verbs.some((v) => SECRET_WRITES.includes(v)));
      expect(writes, name).toEqual([]);
      expect(findAll(objects, 'Role').map((r) => r.metadata.name), name).not.toContain('portico-acme');
    }
    // The same value set with ACME switched on gains exactly the ACME verbs.
    const on = grantsOf(await render({ acme: { enabled: true } }));
    expect(allowed(on, { namespace: 'x', group: '', resource: 'secrets', verb: 'create' })).toBe(true);
    expect(allowed(on, { namespace: 'x', group: '', resource: 'secrets', verb: 'update' })).toBe(true);
    for (const verb of ['patch', 'delete', 'deletecollection']) expect(allowed(on, { namespace: 'x', group: '', resource: 'secrets', verb }), verb).toBe(false);
  });

  it('acme.enabled, all namespaces: Secret create/update in the ClusterRole; the release-namespace Role names the two ACME Secrets', async ({ expect }) => {
    const objects = await render(VALUE_SETS['ACME, default certificate, TLS and drain settings']!);
    const clusterRole = find<IClusterRole>(objects, 'ClusterRole');
    expect(clusterRole.rules).toContainEqual({ apiGroups: [''], resources: ['secrets'], verbs: ['create', 'update'] });
    const role = find<IRole>(objects, 'Role', 'portico-acme');
    expect(role.metadata?.namespace).toBe(NAMESPACE);
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['secrets'], verbs: ['create'] },
      { apiGroups: [''], resources: ['secrets'], resourceNames: [DEFAULT_ACCOUNT_SECRET, DEFAULT_CHALLENGE_SECRET], verbs: ['get', 'update'] },
      { apiGroups: [''], resources: ['secrets'], resourceNames: [DEFAULT_CHALLENGE_SECRET], verbs: ['list', 'watch'] },
    ]);
    find(objects, 'RoleBinding', 'portico-acme');
  });

  it('acme.enabled with watchNamespace: Secret writes only in the watched namespaces, and by name in the release namespace', async ({ expect }) => {
    const objects = await render(VALUE_SETS['ACME with watchNamespace (release namespace not watched)']!);
    const grants = grantsOf(objects);
    for (const ns of ['team-a', 'team-b']) {
      for (const verb of ['create', 'update']) expect(allowed(grants, { namespace: ns, group: '', resource: 'secrets', verb }), `${verb} in ${ns}`).toBe(true);
    }
    for (const verb of ['create', 'update']) {
      expect(allowed(grants, { namespace: 'elsewhere', group: '', resource: 'secrets', verb })).toBe(false);
      expect(allowed(grants, { namespace: undefined, group: '', resource: 'secrets', verb })).toBe(false);
    }
    expect(find<IClusterRole>(objects, 'ClusterRole').rules?.some((r) => r.resources?.includes('secrets'))).toBe(false);
    // The release namespace is not watched: only the ACME Secrets there, by name (create cannot be named).
    expect(allowed(grants, { namespace: NAMESPACE, group: '', resource: 'secrets', verb: 'update', name: 'someone-elses-secret' })).toBe(false);
    expect(allowed(grants, { namespace: NAMESPACE, group: '', resource: 'secrets', verb: 'get', name: 'someone-elses-secret' })).toBe(false);
    expect(allowed(grants, { namespace: NAMESPACE, group: '', resource: 'secrets', verb: 'list' })).toBe(false);
    expect(allowed(grants, { namespace: NAMESPACE, group: '', resource: 'secrets', verb: 'watch', name: DEFAULT_ACCOUNT_SECRET })).toBe(false);
    expect(allowed(grants, { namespace: NAMESPACE, group: '', resource: 'secrets', verb: 'watch', name: DEFAULT_CHALLENGE_SECRET })).toBe(true);
  });

  it('leases: create anywhere in the release namespace, get/update only the election Lease', async ({ expect }) => {
    const grants = grantsOf(await render());
    expect(allowed(grants, { namespace: NAMESPACE, group: 'coordination.k8s.io', resource: 'leases', verb: 'update', name: 'someone-else' })).toBe(false);
    expect(allowed(grants, { namespace: 'kube-system', group: 'coordination.k8s.io', resource: 'leases', verb: 'create' })).toBe(false);
  });
});
