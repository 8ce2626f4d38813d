// Invalid EndpointSlice addresses: dropped at load time with a warning naming the slice, and a
// metric; FQDN slices are reported as not routable.

import { describe, expect, it } from 'vitest';
import { EndpointIndex } from '../../src/endpoints/index.ts';
import { validAddress } from '../../src/endpoints/address.ts';
import { createLogger } from '../../src/observe/log.ts';
import { Metrics } from '../../src/observe/metrics.ts';
import { Store } from '../../src/store/store.ts';
import type { EndpointSlice } from '../../src/store/types.ts';

let rv = 0;
function slice(name: string, addressType: string, addresses: string[]): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: 'ns', resourceVersion: String(++rv), labels: { 'kubernetes.io/service-name': 'web' } },
    addressType,
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: addresses.map((a) => ({ addresses: [a] })),
  };
}

function setup() {
  const lines: string[] = [];
  const store = new Store();
  const idx = new EndpointIndex(store, { log: createLogger('info', { write: (l) => void lines.push(l) }) });
  const warnings = () => lines.map((l) => JSON.parse(l) as { level: string; msg: string; slice: string; reason: string }).filter((l) => l.level === 'warn');
  return { store, idx, warnings };
}

describe('EndpointSlice address validation', () => {
  it('accepts IP literals of the slice family only', () => {
    for (const a of ['10.0.0.1', '127.0.0.1', '255.255.255.255']) expect(validAddress(a, 'IPv4')).toBe(true);
    for (const a of ['999.1.1.1', '10.0.0', '01.2.3.4', 'example.com', '', 'fd00::1', ' 10.0.0.1']) expect(validAddress(a, 'IPv4')).toBe(false);
    for (const a of ['::1', 'fd00::2', '::ffff:10.0.0.1']) expect(validAddress(a, 'IPv6')).toBe(true);
    for (const a of ['::g', 'fe80::1%eth0', '10.0.0.1', 'example.com', '', ':::']) expect(validAddress(a, 'IPv6')).toBe(false);
  });

  it('drops invalid addresses, keeps the valid ones, and warns once naming the slice', () => {
    const { store, idx, warnings } = setup();
    store.upsert('EndpointSlice', slice('web-v4', 'IPv4', ['10.0.0.1', '999.1.1.1', 'example.com', '']));
    store.upsert('EndpointSlice', slice('web-v6', 'IPv6', ['fd00::1', '::g']));
    expect(idx.get('ns/web:http').endpoints.map((e) => e.key)).toEqual(['10.0.0.1:8080', '[fd00::1]:8080']);
    expect(idx.problems().map((p) => [p.slice, p.reason])).toEqual([
      ['ns/web-v4', 'InvalidAddress'],
      ['ns/web-v6', 'InvalidAddress'],
    ]);
    const w = warnings();
    expect(w.map((l) => l.slice)).toEqual(['ns/web-v4', 'ns/web-v6']);
    expect(w[0]!.msg).toContain('EndpointSlice ns/web-v4: 3 endpoints dropped');
    expect(w[0]!.msg).toContain('"999.1.1.1", "example.com", ""');
    expect(w[1]!.msg).toContain('"::g"');

    // the same slice again (a relist, a resourceVersion bump): no new warning
    store.upsert('EndpointSlice', slice('web-v4', 'IPv4', ['10.0.0.1', '999.1.1.1', 'example.com', '']));
    idx.flush();
    expect(warnings()).toHaveLength(2);

    // fixed: the problem goes away; deleted: too
    store.upsert('EndpointSlice', slice('web-v4', 'IPv4', ['10.0.0.1', '10.0.0.2']));
    store.remove('EndpointSlice', 'ns/web-v6');
    expect(idx.problems()).toEqual([]);
    expect(idx.get('ns/web:http').endpoints.map((e) => e.key)).toEqual(['10.0.0.1:8080', '10.0.0.2:8080']);
  });

  it('reports FQDN and unknown address types as not routable', () => {
    const { store, idx, warnings } = setup();
    store.upsert('EndpointSlice', slice('ext', 'FQDN', ['example.com']));
    store.upsert('EndpointSlice', slice('odd', 'IPv5', ['10.0.0.1']));
    expect(idx.get('ns/web:http').endpoints).toEqual([]);
    expect(idx.problems().map((p) => p.reason)).toEqual(['FQDNNotRoutable', 'UnknownAddressType']);
    expect(warnings()[0]!.msg).toContain('EndpointSlice ns/ext has addressType FQDN');
  });

  it('counts current problems in portico_endpoint_problems', async () => {
    const { store, idx } = setup();
    const metrics = new Metrics({ defaultMetrics: false });
    metrics.endpointProblemSource(() => idx.problems());
    store.upsert('EndpointSlice', slice('a', 'IPv4', ['999.1.1.1']));
    store.upsert('EndpointSlice', slice('b', 'IPv4', ['10.0.0.1', '']));
    store.upsert('EndpointSlice', slice('c', 'FQDN', ['example.com']));
    const body = (await metrics.render()).body;
    expect(body).toContain('portico_endpoint_problems{reason="InvalidAddress"} 2');
    expect(body).toContain('portico_endpoint_problems{reason="FQDNNotRoutable"} 1');
  });
});
