// deploy/portico.yaml is generated from the chart (scripts/render-deploy.sh): it must not drift.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, expect } from 'vitest';
import { NAMESPACE, ROOT, parseManifests, run, validate } from './helm.ts';

const FILE = join(ROOT, 'deploy', 'portico.yaml');
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'IngressClass']);

describe('deploy/portico.yaml', () => {
  it('is the chart rendered with default values (regenerate with scripts/render-deploy.sh)', async () => {
    const r = await run('sh', [join(ROOT, 'scripts', 'render-deploy.sh'), '--stdout']);
    expect(r.code, r.stderr).toBe(0);
    const committed = readFileSync(FILE, 'utf8');
    expect(committed === r.stdout, 'deploy/portico.yaml is out of date: run scripts/render-deploy.sh').toBe(true);
  });

  it('starts with its Namespace, puts every namespaced object in it, and validates', async () => {
    const objects = parseManifests(readFileSync(FILE, 'utf8'));
    expect(objects[0]?.kind).toBe('Namespace');
    expect(objects[0]?.metadata.name).toBe(NAMESPACE);
    expect(objects[0]?.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    for (const o of objects) {
      await validate(o);
      if (!CLUSTER_SCOPED.has(o.kind)) expect(o.metadata.namespace, `${o.kind} ${o.metadata.name}`).toBe(NAMESPACE);
    }
    expect(objects.map((o) => o.kind)).toEqual(expect.arrayContaining(['Deployment', 'Service', 'IngressClass', 'ClusterRole', 'Role', 'ServiceAccount']));
  });
});
