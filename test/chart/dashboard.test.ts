// charts/portico/dashboards/portico.json: every metric a panel or variable queries is one Portico
// exports (taken from a live `new Metrics()` registry, prom-client defaults included), with label
// names those metrics carry; the panels cover what operators need; the JSON is a well-formed
// Grafana dashboard that works with any Prometheus data source.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, expect } from 'vitest';
import { Metrics } from '../../src/observe/metrics.ts';
import { CHART } from './helm.ts';
import { labelNames, metricNames } from './promql.ts';

interface Target {
  expr?: string;
  legendFormat?: string;
  refId?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
}
interface Variable {
  type: string;
  name: string;
  query?: string | { query: string };
  datasource?: { type?: string; uid?: string };
}
interface Dashboard {
  title: string;
  uid: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: Variable[] };
}

const dashboard = JSON.parse(readFileSync(join(CHART, 'dashboards', 'portico.json'), 'utf8')) as Dashboard;

/** Every panel, rows' nested panels included. */
function allPanels(panels: readonly Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}
const panels = allPanels(dashboard.panels);
const queryPanels = panels.filter((p) => p.type !== 'row');

/** What Portico exports: series name → label names (histograms: _bucket/_sum/_count; _bucket adds le). */
async function exported(): Promise<Map<string, Set<string>>> {
  const metrics = new Metrics();
  const out = new Map<string, Set<string>>();
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    const labels = new Set((metrics.registry.getSingleMetric(m.name) as unknown as { labelNames?: string[] }).labelNames ?? []);
    const type = String(m.type);
    if (type === 'histogram') {
      out.set(`${m.name}_bucket`, new Set([...labels, 'le']));
      out.set(`${m.name}_sum`, labels);
      out.set(`${m.name}_count`, labels);
    } else if (type === 'summary') {
      out.set(m.name, new Set([...labels, 'quantile']));
      out.set(`${m.name}_sum`, labels);
      out.set(`${m.name}_count`, labels);
    } else {
      out.set(m.name, labels);
    }
  }
  return out;
}
const EXPORTED = await exported();

/**
 * Labels Prometheus adds to every scraped series: job and instance always; namespace, pod,
 * service, endpoint, container with a ServiceMonitor; and exported_<label> when a series' own
 * label collides with a target label (Portico's `namespace` does, with honorLabels off).
 */
const TARGET_LABELS = new Set(['job', 'instance', 'namespace', 'pod', 'service', 'endpoint', 'container', 'exported_namespace']);

function variableQuery(v: Variable): string | undefined {
  return typeof v.query === 'string' ? v.query : v.query?.query;
}

/** Every PromQL text in the dashboard, with where it is. */
const expressions: { where: string; expr: string; legend: string }[] = [
  ...queryPanels.flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr ?? '', legend: t.legendFormat ?? '' }))),
  ...dashboard.templating.list
    .filter((v) => v.type === 'query')
    .map((v) => ({ where: `variable $${v.name}`, expr: (variableQuery(v) ?? '').replace(/^label_values\((.*)\)$/, '$1').replace(/,\s*([A-Za-z_]\w*)\s*$/, ''), legend: '' })),
];

describe('Grafana dashboard: metric names', () => {
  it('the metric-name reader finds what it should (and no functions or keywords)', () => {
    expect(metricNames('sum by (le) (rate(a_bucket{job=~"$job"}[$__rate_interval]))')).toEqual(['a_bucket']);
    expect(metricNames('time() - max(b_seconds{x="y"})')).toEqual(['b_seconds']);
    expect(metricNames('sum(c) / sum(d{status="5xx"}) and e')).toEqual(['c', 'd', 'e']);
    expect(metricNames('label_replace(rate(f_total{a="b"}[5m]), "namespace", "$1", "exported_namespace", "(.+)")')).toEqual(['f_total']);
    expect(metricNames('histogram_quantile(0.99, sum by (le, ingress) (rate(g_bucket[1m])))')).toEqual(['g_bucket']);
  });

  it('every metric a panel or variable queries is one Portico exports', () => {
    expect(EXPORTED.has('portico_requests_total')).toBe(true);
    expect(EXPORTED.has('process_resident_memory_bytes')).toBe(true);
    expect(expressions.length).toBeGreaterThan(20);
    for (const { where, expr } of expressions) {
      const names = metricNames(expr);
      expect(names.length, `${where}: no metric in ${expr}`).toBeGreaterThan(0);
      for (const name of names) expect(EXPORTED.has(name), `${where}: ${name} is not exported by Portico`).toBe(true);
    }
  });

  it('every label an expression or legend uses is one of its metrics’ labels or a scrape target label', () => {
    for (const { where, expr, legend } of expressions) {
      const allowed = new Set(TARGET_LABELS);
      for (const name of metricNames(expr)) for (const l of EXPORTED.get(name) ?? []) allowed.add(l);
      for (const label of labelNames(expr, legend)) expect(allowed.has(label), `${where}: label ${label} is on none of ${metricNames(expr).join(', ')}`).toBe(true);
    }
  });

  it('covers what an operator needs', () => {
    const used = new Set(expressions.flatMap((e) => metricNames(e.expr)));
    for (const name of [
      'portico_requests_total',
      'portico_request_duration_seconds_bucket',
      'portico_upstream_errors_total',
      'portico_upstream_retries_total',
      'portico_open_connections',
      'portico_backend_endpoints',
      'portico_config_reloads_total',
      'portico_config_last_reload_successful_timestamp_seconds',
      'portico_config_problems',
      'portico_watch_restarts_total',
      'portico_leader_election_status',
      'portico_ssl_expire_time_seconds',
      'portico_acme_orders_total',
      'process_resident_memory_bytes',
      'process_cpu_seconds_total',
      'nodejs_eventloop_lag_seconds',
    ]) {
      expect(used.has(name), `no panel queries ${name}`).toBe(true);
    }
    const exprOf = (title: string) => queryPanels.find((p) => p.title === title)?.targets?.map((t) => t.expr ?? '') ?? [];
    // Request rate by Ingress and status code; latency p50/p95/p99; errors by kind; connections by listener.
    expect(exprOf('Requests by Ingress and status code').join()).toMatch(/by \(namespace, ingress, status\)/);
    expect(exprOf('Request latency').map((e) => /histogram_quantile\((0\.\d+)/.exec(e)?.[1])).toEqual(['0.5', '0.95', '0.99']);
    expect(exprOf('Upstream errors by kind').join()).toMatch(/by \(kind\)/);
    expect(exprOf('Open connections by listener').join()).toMatch(/by \(listener\)/);
    expect(exprOf('Configuration problems by reason').join()).toMatch(/by \(reason\)/);
    expect(exprOf('Endpoints per backend').join()).toMatch(/by \(backend\)/);
  });

  it('counters are only read through rate()/increase(), gauges never are', () => {
    for (const { where, expr } of expressions.filter((e) => e.where.startsWith('panel'))) {
      for (const name of metricNames(expr)) {
        const inRate = new RegExp(`(rate|increase)\\(${name}\\b`).test(expr);
        if (name.endsWith('_total') || name.endsWith('_bucket')) expect(inRate, `${where}: counter ${name} outside rate()/increase()`).toBe(true);
        else expect(inRate, `${where}: gauge ${name} inside rate()/increase()`).toBe(false);
      }
    }
  });
});

describe('Grafana dashboard: structure', () => {
  it('has a title, a stable uid, and a Prometheus data-source variable every query uses', () => {
    expect(dashboard.title).toBe('Portico');
    expect(dashboard.uid).toMatch(/^[A-Za-z0-9_-]{1,40}$/);
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    const ds = dashboard.templating.list.find((v) => v.type === 'datasource');
    expect(ds?.name).toBe('datasource');
    expect(ds?.query).toBe('prometheus');
    for (const p of queryPanels) {
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      for (const t of p.targets ?? []) expect(t.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
    }
    for (const v of dashboard.templating.list.filter((x) => x.type === 'query')) expect(v.datasource, v.name).toEqual({ type: 'prometheus', uid: '${datasource}' });
  });

  it('every query filters on the $job and $instance variables, which exist', () => {
    const names = new Set(dashboard.templating.list.map((v) => v.name));
    for (const { where, expr } of expressions) {
      for (const v of expr.matchAll(/\$(?!__)([A-Za-z_]\w*)/g)) expect(names.has(v[1]!), `${where}: $${v[1]} is not a variable`).toBe(true);
      if (!where.startsWith('panel')) continue;
      for (const sel of expr.matchAll(/[A-Za-z_:][\w:]*\{([^}]*)\}/g)) {
        expect(sel[1], `${where}: ${sel[0]}`).toMatch(/job=~"\$job"/);
        expect(sel[1], `${where}: ${sel[0]}`).toMatch(/instance=~"\$instance"/);
      }
    }
  });

  it('panels: unique ids, a title, at least one query with unique refIds, inside the 24-column grid without overlaps', () => {
    const ids = panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Set<string>();
    for (const p of panels) {
      expect(p.title, `panel ${p.id}`).toBeTruthy();
      const { x, y, w, h } = p.gridPos;
      expect(x >= 0 && w > 0 && x + w <= 24 && h > 0 && y >= 0, `${p.title}: gridPos ${JSON.stringify(p.gridPos)}`).toBe(true);
      for (let cx = x; cx < x + w; cx++) {
        for (let cy = y; cy < y + h; cy++) {
          expect(cells.has(`${cx},${cy}`), `${p.title} overlaps another panel at ${cx},${cy}`).toBe(false);
          cells.add(`${cx},${cy}`);
        }
      }
      if (p.type === 'row') continue;
      const refIds = (p.targets ?? []).map((t) => t.refId);
      expect(refIds.length, p.title).toBeGreaterThan(0);
      expect(new Set(refIds).size, p.title).toBe(refIds.length);
    }
  });

  it('expressions are balanced: parentheses, braces, brackets and quotes', () => {
    for (const { where, expr } of expressions) {
      const unquoted = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
      expect(unquoted.includes('"') && (unquoted.match(/"/g)?.length ?? 0) % 2 !== 0, `${where}: unbalanced quotes`).toBe(false);
      const stack: string[] = [];
      const pairs: Record<string, string> = { ')': '(', '}': '{', ']': '[' };
      for (const ch of unquoted) {
        if ('({['.includes(ch)) stack.push(ch);
        else if (ch in pairs) expect(stack.pop(), `${where}: unbalanced ${ch} in ${expr}`).toBe(pairs[ch]);
      }
      expect(stack, `${where}: unclosed ${stack.join('')} in ${expr}`).toEqual([]);
    }
  });
});
