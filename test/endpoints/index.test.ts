import { describe, expect, it } from 'vitest';
import { EMPTY_ENDPOINT_SET, EndpointIndex, endpointKey, endpointsKey } from '../../src/endpoints/index.ts';
import { Store } from '../../src/store/store.ts';
import type { Endpoint, EndpointConditions, EndpointPort, EndpointSlice } from '../../src/store/types.ts';

let rv = 0;
function slice(
  name: string,
  opts: {
    service?: string | null;
    ns?: string;
    addressType?: string;
    ports?: EndpointPort[];
    endpoints?: Endpoint[];
  } = {},
): EndpointSlice {
  const service = opts.service === undefined ? 'web' : opts.service;
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name,
      namespace: opts.ns ?? 'ns',
      resourceVersion: String(++rv),
      ...(service === null ? {} : { labels: { 'kubernetes.io/service-name': service } }),
    },
    addressType: opts.addressType ?? 'IPv4',
    ports: opts.ports ?? [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: opts.endpoints ?? [],
  };
}
const ep = (address: string, conditions?: EndpointConditions): Endpoint => ({
  addresses: [address],
  ...(conditions ? { conditions } : {}),
});
const keysOf = (idx: EndpointIndex, key: string) => idx.get(key).endpoints.map((e) => e.key);

function setup() {
  const store = new Store();
  const idx = new EndpointIndex();
  idx.attach(store);
  return { store, idx };
}

describe('EndpointIndex', () => {
  it('builds keys from namespace, service-name label and port name', () => {
    expect(endpointsKey('ns', 'web', 'http')).toBe('ns/web:http');
    expect(endpointKey('10.0.0.1', 80)).toBe('10.0.0.1:80');
    expect(endpointKey('fd00::1', 80)).toBe('[fd00::1]:80');
  });

  it('merges many slices of one service and IPv4 + IPv6 slices', () => {
    const { store, idx } = setup();
    store.upsert('EndpointSlice', slice('web-a', { endpoints: [ep('10.0.0.1'), ep('10.0.0.2')] }));
    store.upsert('EndpointSlice', slice('web-b', { endpoints: [ep('10.0.0.3')] }));
    store.upsert('EndpointSlice', slice('web-v6', { addressType: 'IPv6', endpoints: [ep('::1'), ep('fd00::2')] }));
    expect(keysOf(idx, 'ns/web:http')).toEqual([
      '10.0.0.1:8080',
      '10.0.0.2:8080',
      '10.0.0.3:8080',
      '[::1]:8080',
      '[fd00::2]:8080',
    ]);
    const v6 = idx.get('ns/web:http').endpoints.find((e) => e.key === '[::1]:8080');
    expect(v6).toEqual({ address: '::1', port: 8080, key: '[::1]:8080', terminating: false });
  });

  it('dedupes the same endpoint across slices (by address+port)', () => {
    const { store, idx } = setup();
    store.upsert('EndpointSlice', slice('a', { endpoints: [ep('10.0.0.1'), ep('10.0.0.2', { ready: false })] }));
    store.upsert('EndpointSlice', slice('b', { endpoints: [ep('10.0.0.1'), ep('10.0.0.2')] }));
    expect(keysOf(idx, 'ns/web:http')).toEqual(['10.0.0.1:8080', '10.0.0.2:8080']);
  });

  it('uses the slice port number per slice (pods may resolve a named targetPort differently)', () => {
    const { store, idx } = setup();
    store.upsert('EndpointSlice', slice('a', { endpoints: [ep('10.0.0.1')] }));
    store.upsert(
      'EndpointSlice',
      slice('b', { ports: [{ name: 'http', port: 9090 }], endpoints: [ep('10.0.0.1'), ep('10.0.0.2')] }),
    );
    expect(keysOf(idx, 'ns/web:http')).toEqual(['10.0.0.1:8080', '10.0.0.1:9090', '10.0.0.2:9090']);
  });

  it('keys named and unnamed ports separately; absent or null name is ""', () => {
    const { store, idx } = setup();
    store.upsert(
      'EndpointSlice',
      slice('multi', {
        ports: [
          { name: 'http', port: 8080 },
          { name: 'metrics', port: 9100 },
        ],
        endpoints: [ep('10.0.0.1')],
      }),
    );
    store.upsert('EndpointSlice', slice('single', { service: 'api', ports: [{ port: 3000 }], endpoints: [ep('10.0.0.9')] }));
    store.upsert(
      'EndpointSlice',
      // wire JSON may carry explicit nulls
      slice('nulls', { service: 'nul', ports: [{ name: null, port: 81 } as unknown as EndpointPort], endpoints: [ep('10.0.0.8')] }),
    );
    expect(keysOf(idx, 'ns/web:http')).toEqual(['10.0.0.1:8080']);
    expect(keysOf(idx, 'ns/web:metrics')).toEqual(['10.0.0.1:9100']);
    expect(keysOf(idx, 'ns/api:')).toEqual(['10.0.0.9:3000']);
    expect(keysOf(idx, 'ns/nul:')).toEqual(['10.0.0.8:81']);
    expect(idx.keys()).toEqual(['ns/api:', 'ns/nul:', 'ns/web:http', 'ns/web:metrics']);
    expect(idx.size()).toBe(4);
  });

  it('applies the ready / serving / terminating matrix', () => {
    const { store, idx } = setup();
    store.upsert(
      'EndpointSlice',
      slice('m', {
        endpoints: [
          ep('10.0.0.1'), // no conditions ⇒ ready
          ep('10.0.0.2', {}), // ready nil ⇒ ready
          ep('10.0.0.3', { ready: null } as unknown as EndpointConditions),
          ep('10.0.0.4', { ready: true }),
          ep('10.0.0.5', { ready: false }),
          ep('10.0.0.6', { ready: false, serving: true, terminating: true }), // fallback only
          ep('10.0.0.7', { ready: true, serving: true, terminating: true }), // ready is authoritative
          ep('10.0.0.8', { ready: false, serving: false, terminating: true }),
        ],
      }),
    );
    const set = idx.get('ns/web:http');
    expect(set.endpoints.map((e) => [e.address, e.terminating])).toEqual([
      ['10.0.0.1', false],
      ['10.0.0.2', false],
      ['10.0.0.3', false],
      ['10.0.0.4', false],
      ['10.0.0.7', false],
    ]);
  });

  it('falls back to serving terminating endpoints when none is ready', () => {
    const { store, idx } = setup();
    store.upsert(
      'EndpointSlice',
      slice('m', {
        endpoints: [
          ep('10.0.0.5', { ready: false }),
          ep('10.0.0.6', { ready: false, serving: true, terminating: true }),
          ep('10.0.0.7', { ready: false, terminating: true }), // serving nil ⇒ ready (false)
          ep('10.0.0.8', { ready: false, serving: false, terminating: true }),
          ep('10.0.0.9', { ready: false, serving: true }), // not terminating: no fallback
        ],
      }),
    );
    expect(idx.get('ns/web:http').endpoints).toEqual([
      { address: '10.0.0.6', port: 8080, key: '10.0.0.6:8080', terminating: true },
    ]);
    // as soon as one endpoint is ready, the terminating ones are dropped
    store.upsert('EndpointSlice', slice('n', { endpoints: [ep('10.0.0.10', { ready: true })] }));
    expect(idx.get('ns/web:http').endpoints.map((e) => [e.key, e.terminating])).toEqual([['10.0.0.10:8080', false]]);
  });

  it('an empty set when nothing is ready or serving', () => {
    const { store, idx } = setup();
    store.upsert('EndpointSlice', slice('m', { endpoints: [ep('10.0.0.5', { ready: false, serving: false })] }));
    expect(idx.get('ns/web:http')).toBe(EMPTY_ENDPOINT_SET);
    expect(idx.keys()).toEqual([]);
  });

  it('keeps set identity for untouched services and ports, new frozen set on change', async () => {
    const { store, idx } = setup();
    store.upsert('EndpointSlice', slice('web-a', { endpoints: [ep('10.0.0.1')] }));
    store.upsert(
      'EndpointSlice',
      slice('other', {
        service: 'other',
        ports: [
          { name: 'a', port: 1 },
          { name: 'b', port: 2 },
        ],
        endpoints: [ep('10.1.0.1')],
      }),
    );
    const web = idx.get('ns/web:http');
    const otherA = idx.get('ns/other:a');
    const otherB = idx.get('ns/other:b');
    expect(Object.isFrozen(web)).toBe(true);
    expect(Object.isFrozen(web.endpoints)).toBe(true);
    expect(Object.isFrozen(web.endpoints[0])).toBe(true);
    await Promise.resolve(); // let the first burst's notification pass

    const changes: string[][] = [];
    idx.onChange((keys) => changes.push([...keys].sort()));
    store.upsert('EndpointSlice', slice('web-a', { endpoints: [ep('10.0.0.1'), ep('10.0.0.2')] }));
    const web2 = idx.get('ns/web:http');
    expect(web2).not.toBe(web);
    expect(web2.endpoints.length).toBe(2);
    expect(idx.get('ns/other:a')).toBe(otherA);

    // a new copy of the same content (other resourceVersion) keeps the set
    store.upsert('EndpointSlice', slice('web-a', { endpoints: [ep('10.0.0.2'), ep('10.0.0.1')] }));
    expect(idx.get('ns/web:http')).toBe(web2);

    // a change of only port b keeps port a's set
    store.upsert(
      'EndpointSlice',
      slice('other', {
        service: 'other',
        ports: [
          { name: 'a', port: 1 },
          { name: 'b', port: 3 },
        ],
        endpoints: [ep('10.1.0.1')],
      }),
    );
    expect(idx.get('ns/other:a')).toBe(otherA);
    expect(idx.get('ns/other:b')).not.toBe(otherB);
    await Promise.resolve();
    expect(changes).toEqual([['ns/other:b', 'ns/web:http']]);
  });

  it('notifies once per burst with the changed keys', async () => {
    const { store, idx } = setup();
    const changes: string[][] = [];
    idx.onChange((keys) => changes.push([...keys].sort()));
    for (let i = 0; i < 10; i++) store.upsert('EndpointSlice', slice(`s${i}`, { endpoints: [ep(`10.0.0.${i}`)] }));
    store.upsert('EndpointSlice', slice('x', { service: 'x', endpoints: [ep('10.9.0.1')] }));
    expect(changes).toEqual([]);
    await Promise.resolve();
    expect(changes).toEqual([['ns/web:http', 'ns/x:http']]);
  });

  it('delete of the last slice leaves the shared empty set and reports the key', async () => {
    const { store, idx } = setup();
    store.upsert('EndpointSlice', slice('a', { endpoints: [ep('10.0.0.1')] }));
    store.upsert('EndpointSlice', slice('b', { endpoints: [ep('10.0.0.2')] }));
    await Promise.resolve();
    const changes: string[][] = [];
    idx.onChange((keys) => changes.push(keys));
    store.remove('EndpointSlice', 'ns/a');
    expect(keysOf(idx, 'ns/web:http')).toEqual(['10.0.0.2:8080']);
    store.remove('EndpointSlice', 'ns/b');
    expect(idx.get('ns/web:http')).toBe(EMPTY_ENDPOINT_SET);
    expect(idx.get('nope/nope:')).toBe(EMPTY_ENDPOINT_SET);
    expect(idx.size()).toBe(0);
    await Promise.resolve();
    expect(changes).toEqual([['ns/web:http']]);
  });

  it('follows a slice whose service-name label changes', () => {
    const { store, idx } = setup();
    store.upsert('EndpointSlice', slice('a', { endpoints: [ep('10.0.0.1')] }));
    store.upsert('EndpointSlice', slice('a', { service: 'moved', endpoints: [ep('10.0.0.1')] }));
    expect(idx.get('ns/web:http')).toBe(EMPTY_ENDPOINT_SET);
    expect(keysOf(idx, 'ns/moved:http')).toEqual(['10.0.0.1:8080']);
    store.upsert('EndpointSlice', slice('a', { service: null, endpoints: [ep('10.0.0.1')] }));
    expect(idx.keys()).toEqual([]);
  });

  it('loads slices already in the store when attached', () => {
    const store = new Store();
    store.upsert('EndpointSlice', slice('a', { endpoints: [ep('10.0.0.1')] }));
    const idx = new EndpointIndex();
    const detach = idx.attach(store);
    expect(keysOf(idx, 'ns/web:http')).toEqual(['10.0.0.1:8080']);
    detach();
    store.upsert('EndpointSlice', slice('b', { endpoints: [ep('10.0.0.2')] }));
    expect(keysOf(idx, 'ns/web:http')).toEqual(['10.0.0.1:8080']);
  });

  it('ignores other kinds, FQDN slices, slices without the service-name label, non-TCP ports', () => {
    const { store, idx } = setup();
    store.upsert('Service', { metadata: { namespace: 'ns', name: 'web' }, spec: { ports: [{ port: 80 }] } });
    store.upsert('EndpointSlice', slice('f', { addressType: 'FQDN', endpoints: [ep('example.com')] }));
    store.upsert('EndpointSlice', slice('nolabel', { service: null, endpoints: [ep('10.0.0.1')] }));
    store.upsert('EndpointSlice', slice('udp', { service: 'dns', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }], endpoints: [ep('10.0.0.2')] }));
    expect(idx.keys()).toEqual([]);
  });

  it('skips malformed slices and entries without throwing', () => {
    const { store, idx } = setup();
    const bad: unknown[] = [
      null,
      'string',
      { metadata: 'x' },
      { metadata: { name: 5 } },
      { metadata: { name: 'n', namespace: 'ns', labels: { 'kubernetes.io/service-name': 7 } }, addressType: 'IPv4' },
      { metadata: { name: 'n2', namespace: 'ns', labels: { 'kubernetes.io/service-name': 'web' } }, addressType: 'IPv4', ports: 'http' },
      { metadata: { name: 'n3', namespace: 'ns', labels: { 'kubernetes.io/service-name': 'web' } }, addressType: 'IPv4', endpoints: 5 },
    ];
    bad.forEach((b, i) => expect(() => idx.applySlice(`ns/bad${i}`, b)).not.toThrow());
    store.upsert('EndpointSlice', {
      ...slice('mixed'),
      ports: [{ name: 'http', port: 'x' }, { name: 3, port: 80 }, null, { name: 'http', port: 8080 }, { name: 'big', port: 70000 }],
      endpoints: [
        null,
        { addresses: 'x' },
        { addresses: [] },
        { addresses: [5] },
        { addresses: ['not-an-ip'] },
        { addresses: ['::1'] }, // wrong family for an IPv4 slice
        { addresses: ['10.0.0.1'], conditions: 'yes' },
        { addresses: ['10.0.0.2'], conditions: { ready: 'yes' } },
        { addresses: ['10.0.0.3', '10.0.0.4'] },
      ],
    } as unknown as EndpointSlice);
    expect(idx.keys()).toEqual(['ns/web:http']);
    expect(keysOf(idx, 'ns/web:http')).toEqual(['10.0.0.3:8080']);
  });

  it('defaults a missing namespace to "default"', () => {
    const idx = new EndpointIndex();
    idx.applySlice('s', {
      metadata: { name: 's', labels: { 'kubernetes.io/service-name': 'web' } },
      addressType: 'IPv4',
      ports: [{ port: 80 }],
      endpoints: [{ addresses: ['10.0.0.1'] }],
    });
    expect(keysOf(idx, 'default/web:')).toEqual(['10.0.0.1:80']);
  });

  it('holds 20,000 slices and updates one service without touching the others', () => {
    const make = () => {
      const slices: EndpointSlice[] = [];
      for (let s = 0; s < 5000; s++) {
        for (let k = 0; k < 4; k++) {
          const endpoints: Endpoint[] = [];
          for (let e = 0; e < 10; e++) endpoints.push(ep(`10.${s >> 8}.${s & 255}.${k * 10 + e}`));
          slices.push(slice(`svc${s}-${k}`, { service: `svc${s}`, endpoints }));
        }
      }
      return slices;
    };
    const store = new Store();
    const idx = new EndpointIndex(store);
    store.replaceKind('EndpointSlice', make());
    idx.flush();
    expect(idx.size()).toBe(5000);
    expect(idx.get('ns/svc42:http').endpoints.length).toBe(40);

    // Updates to one Service's slice rebuild that Service only: every other Service keeps the
    // very same entry object. (How fast is for benchmarks, not for a unit test on a busy machine.)
    const others = ['svc0', 'svc1', 'svc6', 'svc8', 'svc42', 'svc4999'].map((s) => [s, idx.get(`ns/${s}:http`)] as const);
    for (let i = 0; i < 1000; i++) {
      store.upsert('EndpointSlice', slice('svc7-0', { service: 'svc7', endpoints: [ep(`10.0.7.${i % 200}`)] }));
      idx.get('ns/svc7:http');
    }
    for (const [s, entry] of others) expect(idx.get(`ns/${s}:http`), s).toBe(entry);
    expect(idx.get('ns/svc7:http').endpoints.length).toBe(31);
  });
});
