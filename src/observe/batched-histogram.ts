// A Prometheus histogram for the request path. prom-client's Histogram.observe() hashes its
// label object (sorts the keys, joins a string) and searches buckets on every call, which
// was the largest share of the metrics' cost per request. Here a caller looks a series up
// once (e.g. when it first sees an Ingress) and observing is a bucket search and three
// additions on plain numbers. prom-client sees the series only when Prometheus scrapes,
// through the same `get()` shape its own metrics produce, so it renders them and merges
// them across worker processes (AggregatorRegistry, aggregator 'sum') like any other.

import type { Metric, Registry } from 'prom-client';

/** One exported sample, in the shape prom-client's own metrics return from get(). */
export interface ExportedValue {
  metricName: string;
  labels: Record<string, string | number>;
  value: number;
}

/** One label set's buckets. Counts are per bucket (not cumulative) until exported. */
export class HistogramSeries {
  readonly bounds: readonly number[];
  /** counts[i] = observations in (bounds[i-1], bounds[i]]; the last slot is (last bound, +Inf). */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(bounds: readonly number[]) {
    this.bounds = bounds;
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    this.counts[i]!++;
    this.sum += value;
    this.count++;
  }
}

export interface BatchedHistogramConfig<L extends string> {
  name: string;
  help: string;
  labelNames: readonly L[];
  /** Upper bounds in seconds (or whatever unit observations use), ascending. */
  buckets: readonly number[];
  registers: readonly Registry[];
}

type Labels<L extends string> = Record<L, string>;

export class BatchedHistogram<L extends string> {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram' as const;
  readonly aggregator = 'sum' as const;
  readonly labelNames: readonly L[];
  private readonly bounds: readonly number[];
  private readonly all = new Map<string, { labels: Labels<L>; series: HistogramSeries }>();

  constructor(cfg: BatchedHistogramConfig<L>) {
    for (let i = 1; i < cfg.buckets.length; i++) {
      if (!(cfg.buckets[i]! > cfg.buckets[i - 1]!)) throw new Error(`${cfg.name}: buckets must be ascending`);
    }
    this.name = cfg.name;
    this.help = cfg.help;
    this.labelNames = cfg.labelNames;
    this.bounds = [...cfg.buckets];
    // prom-client's registry only calls get()/reset() on what it holds (its cluster
    // aggregator registers plain objects the same way); its typings want a Metric class.
    for (const r of cfg.registers) r.registerMetric(this as unknown as Metric);
  }

  /** The series for a label set, created on first use. Keep it: observing through it is cheap. */
  series(labels: Labels<L>): HistogramSeries {
    const key = this.key(labels);
    let entry = this.all.get(key);
    if (entry === undefined) {
      entry = { labels: { ...labels }, series: new HistogramSeries(this.bounds) };
      this.all.set(key, entry);
    }
    return entry.series;
  }

  /** Forget a label set (its series stops being exported; a held reference keeps counting into nothing). */
  remove(labels: Labels<L>): void {
    this.all.delete(this.key(labels));
  }

  reset(): void {
    this.all.clear();
  }

  get size(): number {
    return this.all.size;
  }

  async get(): Promise<{ name: string; help: string; type: 'histogram'; values: ExportedValue[]; aggregator: 'sum' }> {
    const values: ExportedValue[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const { labels, series } of this.all.values()) {
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += series.counts[i]!;
        values.push({ metricName: bucketName, labels: { le: this.bounds[i]!, ...labels }, value: acc });
      }
      values.push({ metricName: bucketName, labels: { le: '+Inf', ...labels }, value: series.count });
      values.push({ metricName: `${this.name}_sum`, labels: { ...labels }, value: series.sum });
      values.push({ metricName: `${this.name}_count`, labels: { ...labels }, value: series.count });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }

  private key(labels: Labels<L>): string {
    let k = '';
    for (const n of this.labelNames) k += labels[n] + '\0';
    return k;
  }
}
