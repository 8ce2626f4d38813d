// Endpoint index benchmark: loading 20,000 EndpointSlices (5,000 Services × 4 slices × 10
// endpoints, as at start-up or after a relist), then one slice of one Service changing (an
// endpoint update costs O(that Service's slices), not O(all)). Printed as Markdown.
//
//   node_modules/.bin/node bench/endpoint-index.ts      (Node 24 strips the types)

import { EndpointIndex } from '../src/endpoints/index.ts';
import { Store } from '../src/store/store.ts';
import type { Endpoint, EndpointSlice } from '../src/store/types.ts';

const SERVICES = 5000;
const SLICES_PER_SERVICE = 4;
const ENDPOINTS_PER_SLICE = 10;
const LOADS = 5;
const UPDATES = 2000;

let rv = 0;
const slice = (service: string, k: number, endpoints: Endpoint[]): EndpointSlice => ({
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name: `${service}-${k}`, namespace: 'ns', resourceVersion: String(++rv), labels: { 'kubernetes.io/service-name': service } },
  addressType: 'IPv4',
  ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  endpoints,
});
const make = (): EndpointSlice[] => {
  const out: EndpointSlice[] = [];
  for (let s = 0; s < SERVICES; s++) {
    for (let k = 0; k < SLICES_PER_SERVICE; k++) {
      const endpoints: Endpoint[] = [];
      for (let e = 0; e < ENDPOINTS_PER_SLICE; e++) endpoints.push({ addresses: [`10.${s >> 8}.${s & 255}.${k * ENDPOINTS_PER_SLICE + e}`] });
      out.push(slice(`svc${s}`, k, endpoints));
    }
  }
  return out;
};
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;

const loads: number[] = [];
let store = new Store();
for (let i = 0; i < LOADS; i++) {
  const slices = make();
  store = new Store();
  const idx = new EndpointIndex(store);
  const t0 = performance.now();
  store.replaceKind('EndpointSlice', slices);
  idx.flush();
  loads.push(performance.now() - t0);
}
const idx = new EndpointIndex(store);
idx.flush();
const updates: number[] = [];
for (let i = 0; i < UPDATES; i++) {
  const t0 = performance.now();
  store.upsert('EndpointSlice', slice('svc7', 0, [{ addresses: [`10.0.7.${i % 200}`] }]));
  idx.get('ns/svc7:http');
  updates.push(performance.now() - t0);
}
const total = SERVICES * SLICES_PER_SERVICE;
console.log(`Endpoint index (${new Date().toISOString().slice(0, 10)}, node ${process.version}): ${total.toLocaleString('en')} slices, ${(total * ENDPOINTS_PER_SLICE).toLocaleString('en')} endpoints\n`);
console.log('| measure | median | p99 / max |');
console.log('|---|---:|---:|');
console.log(`| load all slices (${LOADS} runs) | ${pct(loads, 0.5).toFixed(0)} ms | max ${Math.max(...loads).toFixed(0)} ms |`);
console.log(`| one slice of one Service changes (${UPDATES} runs) | ${(pct(updates, 0.5) * 1000).toFixed(0)} µs | ${(pct(updates, 0.99) * 1000).toFixed(0)} µs |`);
