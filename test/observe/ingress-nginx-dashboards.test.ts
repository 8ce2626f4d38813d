// The fixture testdata/ingress-nginx-dashboards.ts against ingress-nginx's dashboards themselves,
// read from the mirror at test time (not copied into this repository): every series and label
// their PromQL uses is in the fixture, and the fixture lists nothing they do not query. Skipped
// where the mirror is absent; e2e/metrics-compat.test.ts checks the fixture against Portico.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { labelNames, metricNames } from '../chart/promql.ts';
import { DASHBOARD_SERIES } from './testdata/ingress-nginx-dashboards.ts';

const MIRROR = '/work/.mirror/kubernetes+ingress-nginx/repo';
const DASHBOARDS = ['deploy/grafana/dashboards/nginx.json', 'deploy/grafana/dashboards/request-handling-performance.json'];
/** Labels every scraped series gets from its target. */
const TARGET = new Set(['instance', 'job']);

function show(path: string): string | null {
  try {
    return execFileSync('git', ['-C', MIRROR, 'show', `HEAD:${path}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return null;
  }
}

/** Every PromQL text in a dashboard: targets' expr (with their legend) and query variables (label_values unwrapped). */
function expressions(dashboard: unknown): { expr: string; legend: string; extraLabel?: string }[] {
  const out: { expr: string; legend: string; extraLabel?: string }[] = [];
  const walk = (o: unknown): void => {
    if (Array.isArray(o)) return o.forEach(walk);
    if (o === null || typeof o !== 'object') return;
    const rec = o as Record<string, unknown>;
    if (typeof rec.expr === 'string') out.push({ expr: rec.expr, legend: typeof rec.legendFormat === 'string' ? rec.legendFormat : '' });
    if (rec.type === 'query' && typeof rec.query === 'string') {
      const m = /^\s*label_values\(([\s\S]*),\s*([A-Za-z_]\w*)\s*\)\s*$/.exec(rec.query);
      if (m) out.push({ expr: m[1]!, legend: '', extraLabel: m[2]! });
    }
    Object.values(rec).forEach(walk);
  };
  walk(dashboard);
  return out;
}

const sources = DASHBOARDS.map(show);

describe.skipIf(!existsSync(MIRROR) || sources.some((s) => s === null))("ingress-nginx's dashboards (from the mirror) and the fixture", () => {
  const used = new Map<string, Set<string>>();
  for (const text of sources) {
    for (const { expr, legend, extraLabel } of expressions(JSON.parse(text!))) {
      const names = metricNames(expr);
      // a legend's or label_values' label belongs to the expression's (single) metric
      const labels = [...labelNames(expr, legend), ...(extraLabel ? [extraLabel] : [])].map((l) => (l === 'exported_namespace' ? 'namespace' : l));
      for (const n of names) {
        const set = used.get(n) ?? new Set<string>();
        for (const l of labels) if (!TARGET.has(l)) set.add(l);
        used.set(n, set);
      }
    }
  }

  it('the reader found the dashboards\' queries', () => {
    expect(used.size).toBeGreaterThanOrEqual(15);
    expect(used.get('nginx_ingress_controller_requests')?.has('ingress')).toBe(true);
  });

  it('every series and label they use is in the fixture', () => {
    const fixture = new Map(DASHBOARD_SERIES.map((s) => [s.metric, new Set([...s.labels, ...(s.notOnSeries ?? [])])]));
    for (const [metric, labels] of used) {
      expect(fixture.has(metric), `${metric} is queried but not in the fixture`).toBe(true);
      for (const l of labels) expect(fixture.get(metric)!.has(l), `${metric}: label ${l} is used but not in the fixture`).toBe(true);
    }
  });

  it('the fixture lists only series they query', () => {
    for (const s of DASHBOARD_SERIES) expect(used.has(s.metric), `${s.metric} is in the fixture but no dashboard queries it`).toBe(true);
  });
});
