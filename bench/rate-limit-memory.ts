// Rate-limit memory benchmark: the heap a rate-limited route's zone holds while 1,000,000
// distinct client addresses (IPv4, then IPv6) send a request each, with limit-rps and
// limit-connections, each request's done hook run (the exchange ended). The request table is
// bounded (ZONE_CAPACITY clients, least recently seen evicted) and connection counters exist
// only while requests are in progress, so the heap must level off at the table's size, not
// grow with the number of addresses.
//
//   node_modules/.bin/node --expose-gc bench/rate-limit-memory.ts      (Node 24 strips the types)
//
// Reported: heap used (after a full GC) at each checkpoint, minus the heap before the zone
// existed; the table's clients and evictions; the time per request of the stage.

import type { RateLimit } from '../src/model/types.ts';
import { RateLimits, ZONE_CAPACITY } from '../src/proxy/filters/rate-limit.ts';
import type { PlanHead } from '../src/proxy/plan.ts';

const ADDRESSES = Number(process.env.ADDRESSES ?? 1_000_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (gc === undefined) throw new Error('run with node --expose-gc');

function heapMb(): number {
  gc!();
  gc!();
  return process.memoryUsage().heapUsed / 1024 / 1024;
}

const head: PlanHead = { host: 'app.test', url: '/', path: '/', hasBody: false, bodyLength: -1, reject: 0, requestId: 'r', clientIp: '', headers: [], upgrade: '', te: false, accessScheme: 'http', method: 'GET', answerHeaders: null, responseHeaders: null, onDone: null };

function run(label: string, address: (i: number) => string): void {
  let now = 0;
  const limits = new RateLimits({ clock: () => now });
  const limit: RateLimit = Object.freeze({ zone: 'bench/app', rps: 10, rpm: 0, burstMultiplier: 5, connections: 10 });
  const base = heapMb();
  const stage = limits.stage(limit);
  const zone = limits.zoneFor(limit);
  const marks = [10_000, 65_536, 100_000, 250_000, 500_000, 1_000_000].filter((m) => m <= ADDRESSES);
  let refused = 0;
  let elapsed = 0;
  console.log(`\n${label}: ${ADDRESSES.toLocaleString('en')} distinct addresses, capacity ${ZONE_CAPACITY.toLocaleString('en')} clients per zone`);
  console.log('addresses   heap MB over baseline   clients held   evicted   ns/request');
  let i = 0;
  for (const mark of marks) {
    const t0 = process.hrtime.bigint();
    for (; i < mark; i++) {
      head.clientIp = address(i);
      head.onDone = null;
      if (stage(head) !== 0) refused++;
      (head.onDone as (() => void) | null)?.(); // the stage set it: the exchange ends
      now += 0.01;
    }
    elapsed += Number(process.hrtime.bigint() - t0);
    const mb = heapMb() - base;
    console.log(
      `${mark.toLocaleString('en').padStart(9)}   ${mb.toFixed(1).padStart(20)}   ${String(zone.buckets!.size).padStart(12)}   ${String(zone.buckets!.evictions).padStart(7)}   ${(elapsed / i).toFixed(0).padStart(10)}`,
    );
  }
  console.log(`refused: ${refused}; connection counters left: ${zone.connections!.size}`);
}

run('IPv4', (i) => `${10 + (i >>> 24)}.${(i >>> 16) & 255}.${(i >>> 8) & 255}.${i & 255}`);
run('IPv6', (i) => `2001:db8:${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}::${(i * 7919 & 0xffff).toString(16)}`);

// The stage's own cost for a known client (the common case): one bucket lookup and update, a
// connection slot taken and given back (the done hook is a closure per request).
{
  let now = 0;
  const limits = new RateLimits({ clock: () => now });
  const both = limits.stage(Object.freeze({ zone: 'bench/hot', rps: 1_000_000, rpm: 0, burstMultiplier: 5, connections: 100_000 }));
  const rateOnly = limits.stage(Object.freeze({ zone: 'bench/hot-rate', rps: 1_000_000, rpm: 0, burstMultiplier: 5, connections: 0 }));
  for (const [label, stage] of [['limit-rps + limit-connections', both], ['limit-rps only', rateOnly]] as const) {
    head.clientIp = '198.51.100.7';
    const runs = 2_000_000;
    let t0 = 0n;
    for (let i = 0; i < runs * 2; i++) {
      if (i === runs) t0 = process.hrtime.bigint(); // the first half warms up
      head.onDone = null;
      if (stage(head) !== 0) throw new Error('refused');
      (head.onDone as (() => void) | null)?.();
      now += 0.001;
    }
    console.log(`\none known client, ${label}: ${(Number(process.hrtime.bigint() - t0) / runs).toFixed(0)} ns/request`);
  }
}
