import { describe, expect, it } from 'vitest';
import { AggregatorRegistry, Histogram, Registry } from 'prom-client';
import { BatchedHistogram } from '../../src/observe/batched-histogram.ts';

const BUCKETS = [0.01, 0.1, 1];

describe('BatchedHistogram', () => {
  it('renders exactly what prom-client renders for the same observations', async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const h = new BatchedHistogram({ name: 'x_seconds', help: 'h', labelNames: ['a', 'b'], buckets: BUCKETS, registers: [ours] });
    const ref = new Histogram({ name: 'x_seconds', help: 'h', labelNames: ['a', 'b'], buckets: BUCKETS, registers: [theirs] });
    const values = [0, 0.01, 0.010001, 0.1, 0.5, 1, 1.5, 1000];
    const s1 = h.series({ a: '1', b: 'x' });
    const s2 = h.series({ a: '2', b: 'y' });
    for (const v of values) {
      s1.observe(v);
      ref.observe({ a: '1', b: 'x' }, v);
    }
    s2.observe(0.05);
    ref.observe({ a: '2', b: 'y' }, 0.05);
    expect(await ours.metrics()).toBe(await theirs.metrics());
    // a value on a bucket's bound counts in that bucket (le = less or equal)
    expect(await ours.metrics()).toContain('x_seconds_bucket{le="0.01",a="1",b="x"} 2');
  });

  it('hands out one series per label set and forgets removed ones', async () => {
    const reg = new Registry();
    const h = new BatchedHistogram({ name: 'y', help: 'h', labelNames: ['a'], buckets: BUCKETS, registers: [reg] });
    expect(h.series({ a: '1' })).toBe(h.series({ a: '1' }));
    h.series({ a: '2' }).observe(1);
    h.remove({ a: '1' });
    expect(h.size).toBe(1);
    const text = await reg.metrics();
    expect(text).not.toContain('a="1"');
    expect(text).toContain('y_count{a="2"} 1');
  });

  it('merges across processes like prom-client histograms (cluster aggregation sums them)', async () => {
    const w1 = new Registry();
    const w2 = new Registry();
    new BatchedHistogram({ name: 'z', help: 'h', labelNames: ['a'], buckets: BUCKETS, registers: [w1] }).series({ a: 'k' }).observe(0.05);
    const h2 = new BatchedHistogram({ name: 'z', help: 'h', labelNames: ['a'], buckets: BUCKETS, registers: [w2] });
    h2.series({ a: 'k' }).observe(0.05);
    h2.series({ a: 'k' }).observe(5);
    const merged = AggregatorRegistry.aggregate([await w1.getMetricsAsJSON(), await w2.getMetricsAsJSON()]);
    const text = await merged.metrics();
    expect(text).toContain('z_bucket{le="0.1",a="k"} 2');
    expect(text).toContain('z_bucket{le="+Inf",a="k"} 3');
    expect(text).toContain('z_count{a="k"} 3');
  });

  it('rejects buckets that are not ascending', () => {
    expect(() => new BatchedHistogram({ name: 'w', help: 'h', labelNames: [], buckets: [1, 1], registers: [] })).toThrow(/ascending/);
  });
});
