// charts/portico/templates/prometheusrule.yaml through the real helm binary: off by default; when
// on, the five alerts, each querying only series Portico exports (Metrics' registry, with and
// without workers) with labels those series carry, scoped to the ServiceMonitor's job.

import { describe, it } from 'vitest';
import { Metrics } from '../../src/observe/metrics.ts';
import { labelNames, metricNames } from './promql.ts';
import { RELEASE, controllerArgs, find, findAll, render, template, type K8sObject } from './helm.ts';
import { parseSettings } from '../../src/config/settings.ts';

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
type PrometheusRule = K8sObject & { spec: { groups: { name: string; rules: Rule[] }[] } };

/** Series name → label names, as scraped from a Metrics registry (histograms: _bucket/_sum/_count). */
async function exported(): Promise<Map<string, Set<string>>> {
  const metrics = new Metrics({ defaultMetrics: false });
  const out = new Map<string, Set<string>>();
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    const labels = new Set((metrics.registry.getSingleMetric(m.name) as unknown as { labelNames?: string[] }).labelNames ?? []);
    if (String(m.type) === 'histogram') {
      for (const suffix of ['_bucket', '_sum', '_count']) out.set(m.name + suffix, suffix === '_bucket' ? new Set([...labels, 'le']) : labels);
    } else out.set(m.name, labels);
  }
  // the primary's worker gauges (workers/pool.ts), without labels
  out.set('portico_workers', new Set());
  out.set('portico_workers_ready', new Set());
  return out;
}

/** Labels Prometheus adds (job, instance) and the one an Ingress's `namespace` becomes on collision. */
const TARGET_LABELS = new Set(['job', 'instance', 'exported_namespace']);

const ON = { controller: { metrics: { prometheusRule: { enabled: true } } } };

describe.concurrent('PrometheusRule', () => {
  it('is off by default', async ({ expect }) => {
    expect(findAll(await render(), 'PrometheusRule')).toEqual([]);
  });

  it('has the five alerts, each on exported series and labels, scoped to the scraped job', async ({ expect }) => {
    const rule = find<PrometheusRule>(await render(ON), 'PrometheusRule');
    expect(rule.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(rule.metadata.namespace).toBe('portico');
    const rules = rule.spec.groups.flatMap((g) => g.rules);
    expect(rules.map((r) => r.alert)).toEqual(['PorticoIngressErrorRatio', 'PorticoCertificateExpiring', 'PorticoConfigApplyFailed', 'PorticoNoLeader', 'PorticoWorkersNotReady']);
    const series = await exported();
    for (const r of rules) {
      const names = metricNames(r.expr);
      expect(names.length, `${r.alert}: no metric`).toBeGreaterThan(0);
      const allowed = new Set(TARGET_LABELS);
      for (const n of names) {
        expect(series.has(n), `${r.alert}: ${n} is not exported by Portico`).toBe(true);
        for (const l of series.get(n) ?? []) allowed.add(l);
      }
      for (const l of labelNames(r.expr)) expect(allowed.has(l), `${r.alert}: label ${l}`).toBe(true);
      // every selector is scoped to this release's metrics Service
      for (const sel of r.expr.matchAll(/[a-z_]+\{([^}]*)\}/g)) expect(sel[1], `${r.alert}: ${sel[0]}`).toContain(`job="${RELEASE}-metrics"`);
      expect(r.labels?.severity, r.alert).toMatch(/^(warning|critical)$/);
      expect(r.annotations?.summary, r.alert).toBeTruthy();
      expect(r.for, r.alert).toMatch(/^\d+[mh]$/);
    }
    const byName = new Map(rules.map((r) => [r.alert, r]));
    expect(byName.get('PorticoIngressErrorRatio')?.expr).toMatch(/status=~"5\.\."/);
    expect(byName.get('PorticoIngressErrorRatio')?.expr).toMatch(/> 0\.05$/);
    expect(byName.get('PorticoCertificateExpiring')?.expr).toMatch(/- time\(\) < 1209600$/); // 14 days
    expect(byName.get('PorticoConfigApplyFailed')?.expr).toMatch(/portico_config_last_reload_successful\{[^}]*\} == 0/);
    // Prometheus templating reaches the rule unrendered by Helm
    expect(byName.get('PorticoCertificateExpiring')?.annotations?.description).toContain('{{ $labels.host }}');
  });

  it('thresholds, labels, namespace and extra rules from values', async ({ expect }) => {
    const rule = find<PrometheusRule>(
      await render({
        controller: {
          metrics: {
            prometheusRule: {
              enabled: true,
              errorRatio: 0.2,
              certificateExpiryDays: 30,
              namespace: 'monitoring',
              additionalLabels: { release: 'kube-prometheus-stack' },
              rules: [{ alert: 'Mine', expr: 'vector(1)', for: '1m' }],
            },
          },
        },
      }),
      'PrometheusRule',
    );
    expect(rule.metadata.namespace).toBe('monitoring');
    expect(rule.metadata.labels?.release).toBe('kube-prometheus-stack');
    const rules = rule.spec.groups.flatMap((g) => g.rules);
    expect(rules.find((r) => r.alert === 'PorticoIngressErrorRatio')?.expr).toMatch(/> 0\.2$/);
    expect(rules.find((r) => r.alert === 'PorticoIngressErrorRatio')?.annotations?.summary).toContain('20%');
    expect(rules.find((r) => r.alert === 'PorticoCertificateExpiring')?.expr).toMatch(/< 2592000$/);
    expect(rules.at(-1)).toEqual({ alert: 'Mine', expr: 'vector(1)', for: '1m' });
  });

  it('refuses bad values and metrics.enabled=false, naming the field', async ({ expect }) => {
    const fails = async (values: object, message: RegExp) => {
      const r = await template(values);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(message);
    };
    await fails({ controller: { metrics: { prometheusRule: { enabled: true, errorRatio: 2 } } } }, /errorRatio/);
    await fails({ controller: { metrics: { prometheusRule: { enabled: true, certificateExpiryDays: 0 } } } }, /certificateExpiryDays/);
    await fails({ controller: { metrics: { prometheusRule: { rules: 'x' } } } }, /rules/);
    await fails({ controller: { metrics: { enabled: false, prometheusRule: { enabled: true } } } }, /prometheusRule.enabled needs controller.metrics.enabled/);
  });
});


describe.concurrent('metrics.compat, config.accessLogQuery, config.accessLogFields', () => {
  const settingsOf = async (values: object) => parseSettings(controllerArgs(await render(values)), {}).settings;

  it('defaults: the program\'s defaults (no compat series, every field but the query)', async ({ expect }) => {
    const s = await settingsOf({});
    const program = parseSettings([], {}).settings;
    expect(s.metricsCompat).toBe('none');
    expect(s.accessLogQuery).toBe(false);
    expect(s.accessLogFields).toEqual(program.accessLogFields);
  });

  it('reach the flags, the fields as a list or a comma-separated string', async ({ expect }) => {
    const a = await settingsOf({ controller: { metrics: { compat: 'ingress-nginx' }, config: { accessLogQuery: true, accessLogFields: 'method, path,query' } } });
    expect(a).toMatchObject({ metricsCompat: 'ingress-nginx', accessLogQuery: true, accessLogFields: ['method', 'path', 'query'] });
    const b = await settingsOf({ controller: { config: { accessLogFields: ['status', 'userAgent'] } } });
    expect(b.accessLogFields).toEqual(['status', 'userAgent']);
  });

  it('the schema refuses other compat modes and field lists that are not names', async ({ expect }) => {
    for (const values of [{ controller: { metrics: { compat: 'traefik' } } }, { controller: { config: { accessLogFields: 'a;b' } } }, { controller: { config: { accessLogQuery: 'yes' } } }]) {
      const r = await template(values);
      expect(r.code, JSON.stringify(values)).not.toBe(0);
    }
  });
});
