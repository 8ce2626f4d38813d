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
import { describeTable } from '../../src/model/describe.ts';
import { normalizeObject } from '../../src/sources/files/normalize.ts';
import { parseManifest } from '../../src/sources/files/parse.ts';
import { Store } from '../../src/store/store.ts';
import { OPTIONS } from './helpers.ts';
import type { TranslateOptions } from '../../src/model/translate.ts';

const DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'testdata');
const UPDATE = process.env.UPDATE_GOLDEN === '1';
/** Cases translated with proxy flags other than the defaults. */
const CASE_OPTIONS: Readonly<Record<string, Partial<TranslateOptions>>> = {
  'ssl-passthrough': { sslPassthrough: true },
  'default-backend-service': { globalErrors: { service: { namespace: 'ingress-nginx', name: 'error-pages' }, codes: [404, 503] } },
  'default-backend-service-missing': { globalErrors: { service: { namespace: 'ingress-nginx', name: 'error-pages' }, codes: [404] } },
};

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

function render(config: RouteTable): string {
  return dump(describeTable(config, { showHashes: true }), { lineWidth: 120, noRefs: true, sortKeys: false });
}

const cases = readdirSync(DIR)
  .filter((f) => f.endsWith('.in.yaml'))
  .map((f) => f.slice(0, -'.in.yaml'.length))
  .sort();

describe('golden translation files (testdata/*.in.yaml → *.out.yaml)', () => {
  it('there are cases', () => expect(cases.length).toBeGreaterThan(0));

  it.each(cases)('%s', (name) => {
    const config = translate(load(path.join(DIR, `${name}.in.yaml`)), { ...OPTIONS, ...CASE_OPTIONS[name] }) as RouteTable;
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
