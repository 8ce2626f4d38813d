// Golden-file translation tests, as Envoy Gateway and Traefik keep them: each
// `testdata/<case>.in.yaml` (Kubernetes objects, read through the files source's parser and
// normaliser, as `--manifests` reads them) is translated, and the routing config — hosts,
// rules in match order with their action, filters and policy, default backends, TLS bindings
// and problems — must equal `testdata/<case>.out.yaml`.
//
// Regenerate after an intended change: `UPDATE_GOLDEN=1 npx vitest run test/model/golden.test.ts`,
// then read the diff: it is the behaviour change.

import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { dump } from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { RouteTable } from '../../src/model/route-table.ts';
import { translate } from '../../src/model/translate.ts';
import { DEFAULT_POLICY, FORWARD, NO_FILTERS, type Route, type RoutePolicy } from '../../src/model/types.ts';
import { normalizeObject } from '../../src/sources/files/normalize.ts';
import { parseManifest } from '../../src/sources/files/parse.ts';
import { Store } from '../../src/store/store.ts';
import { OPTIONS } from './helpers.ts';

const DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'testdata');
const UPDATE = process.env.UPDATE_GOLDEN === '1';

function load(file: string): Store {
  const parsed = parseManifest(file, readFileSync(file, 'utf8'));
  if (!parsed.ok) throw new Error(`${file}: ${parsed.message}`);
  const store = new Store();
  for (const doc of parsed.documents) {
    const n = normalizeObject(doc.value);
    if (n.type === 'invalid') throw new Error(`${file} ${doc.where}: ${n.errors.join('; ')}`);
    if (n.type === 'object') store.upsert(n.kind, n.object as never);
  }
  return store;
}

function policyDiff(p: RoutePolicy): Partial<RoutePolicy> | undefined {
  const out: Partial<RoutePolicy> = {};
  for (const k of Object.keys(p) as (keyof RoutePolicy)[]) if (p[k] !== DEFAULT_POLICY[k]) (out as Record<string, unknown>)[k] = p[k];
  return Object.keys(out).length === 0 ? undefined : out;
}

/** A route as plain data: what it matches, where it goes, and only what differs from defaults. */
function view(r: Route): Record<string, unknown> {
  const out: Record<string, unknown> = {
    path: r.path,
    pathType: r.pathType,
    ingress: `${r.ingress.namespace}/${r.ingress.name}`,
    backend: r.backend.endpointsKey,
  };
  if (r.regex !== null) out.regex = `^${r.regex.source}`;
  if (r.alias === true) out.alias = true;
  if (r.action !== FORWARD) out.action = JSON.parse(JSON.stringify(r.action)) as unknown;
  if (r.filters !== NO_FILTERS) out.filters = JSON.parse(JSON.stringify(r.filters));
  const policy = policyDiff(r.policy);
  if (policy) out.policy = policy;
  return out;
}

function render(config: RouteTable): string {
  const hosts = [...config.virtualHosts()]
    .sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0))
    .map((vh) => ({
      host: vh.host === '' ? '(no host)' : vh.host,
      ...(vh.regex ? { regex: true } : {}),
      rules: vh.routes.map(view),
      ...(vh.fallback ? { fallback: view(vh.fallback) } : {}),
    }));
  const doc = {
    hosts,
    ...(config.defaultRoute ? { defaultBackend: view(config.defaultRoute) } : {}),
    tls: config.tls.map((t) => ({ host: t.host, secret: t.secret, ingress: `${t.ingress.namespace}/${t.ingress.name}` })),
    problems: config.problems.map((p) => ({ object: `${p.object.kind} ${p.object.namespace}/${p.object.name}`, reason: p.reason, message: p.message })),
  };
  return dump(doc, { lineWidth: 120, noRefs: true, sortKeys: false });
}

const cases = readdirSync(DIR)
  .filter((f) => f.endsWith('.in.yaml'))
  .map((f) => f.slice(0, -'.in.yaml'.length))
  .sort();

describe('golden translation files (testdata/*.in.yaml → *.out.yaml)', () => {
  it('there are cases', () => expect(cases.length).toBeGreaterThan(0));

  it.each(cases)('%s', (name) => {
    const config = translate(load(path.join(DIR, `${name}.in.yaml`)), OPTIONS) as RouteTable;
    const got = render(config);
    const outFile = path.join(DIR, `${name}.out.yaml`);
    if (UPDATE || !existsSync(outFile)) {
      writeFileSync(outFile, got);
      if (!UPDATE) throw new Error(`${name}.out.yaml did not exist; written — review it and run again`);
      return;
    }
    expect(got).toBe(readFileSync(outFile, 'utf8'));
  });
});
