// limit-rate / limit-rate-after through the proxy: a response is sent at full speed up to
// limit-rate-after, then no faster than limit-rate (the upstream is paused, never buffered),
// and a response held back on purpose is not idle (the idle timeout does not cut it).

import { afterEach, describe, expect, it } from 'vitest';
import { readLimitRateOptions } from '../../src/model/limit-rate-options.ts';
import { FakeEndpoints, request, startProxy, startUpstream } from './fixtures.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function setup(idleTimeoutMs = 60_000) {
  // 48 KiB in 8 KiB writes
  const u = await startUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    for (let i = 0; i < 6; i++) res.write(Buffer.alloc(8 * 1024, 'x'));
    res.end();
  });
  cleanups.push(() => u.close());
  const endpoints = new FakeEndpoints();
  endpoints.set('svc', [u.port]);
  const p = await startProxy({
    routes: [
      { host: 'slow.test', key: 'svc', filters: { limitRate: { bytesPerSecond: 32 * 1024, afterBytes: 16 * 1024 } } },
      { host: 'fast.test', key: 'svc' },
    ],
    endpoints,
    settings: { idleTimeoutMs },
  });
  cleanups.push(() => p.close());
  return p;
}

describe('limit-rate', () => {
  it('reads kilobytes per second and kilobytes after which it applies; 0 or invalid: no limit', () => {
    const problems: string[] = [];
    const N = 'nginx.ingress.kubernetes.io/';
    expect(readLimitRateOptions({ [N + 'limit-rate']: '100', [N + 'limit-rate-after']: '512' }, () => {})).toEqual({ bytesPerSecond: 102400, afterBytes: 524288 });
    expect(readLimitRateOptions({ [N + 'limit-rate']: '0' }, () => {})).toBeUndefined();
    expect(readLimitRateOptions({ [N + 'limit-rate']: '10k' }, (_r, m) => problems.push(m))).toBeUndefined();
    expect(problems).toEqual([expect.stringContaining('limit-rate')]);
  });

  it('the body past limit-rate-after takes at least its size over the rate; the whole body arrives', async () => {
    const p = await setup();
    const t0 = performance.now();
    const slow = await request(p.port, { host: 'slow.test' });
    const took = performance.now() - t0;
    expect(slow.status).toBe(200);
    expect(slow.body.length).toBe(48 * 1024);
    // (48 - 16) KiB at 32 KiB/s: one second at least (a lower bound the limit guarantees)
    expect(took).toBeGreaterThanOrEqual(900);
    const fast = await request(p.port, { host: 'fast.test' });
    expect(fast.body.length).toBe(48 * 1024);
  });

  it('a response held back by the limit is not idle: a short --idle-timeout does not cut it', async () => {
    const p = await setup(150);
    const r = await request(p.port, { host: 'slow.test' });
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(48 * 1024);
    expect(p.infos.at(-1)!.error).toBeNull();
  });
});
