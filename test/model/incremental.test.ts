// The incremental translator against the full one: random sequences of store changes
// (Ingresses added, edited, deleted, status-only writes; Services and ports appearing and
// going; ConfigMaps that Ingresses name appearing, changing and going; IngressClasses changing), and after every step the incremental config must equal
// translate() of the same store: the same match() answers on a set of probe requests, the
// same routes, problems (order included), Ingresses and TLS bindings. Seeded, so a failure
// names its seed and step and reproduces.

import { describe, expect, it } from 'vitest';
import { IncrementalTranslator, type ChangeRef } from '../../src/model/incremental.ts';
import { RouteTable } from '../../src/model/route-table.ts';
import { translate } from '../../src/model/translate.ts';
import type { Route, RoutingConfig } from '../../src/model/types.ts';
import { routingRelevant } from '../../src/store/routing-relevant.ts';
import { Store, type Snapshot, type StoreChange } from '../../src/store/store.ts';
import type { ConfigMap, HTTPIngressPath, Ingress, IngressBackend, IngressClass, IngressRule, Service, ServicePort } from '../../src/store/types.ts';
import { CONTROLLER, ingress, ingressClass, OPTIONS, path, rule, service, svcBackend, target } from './helpers.ts';

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---- random objects --------------------------------------------------------------------

const NAMESPACES = ['a', 'b'];
const INGRESS_NAMES = ['i0', 'i1', 'i2', 'i3', 'i4', 'i5', 'i6', 'i7', 'i8', 'i9'];
const SERVICE_NAMES = ['s0', 's1', 's2', 's3'];
const RULE_HOSTS: (string | undefined)[] = [undefined, '', 'a.com', 'a.com', 'www.a.com', 'b.com', 'x.a.com', '*.a.com', '*.x.a.com', 'c.b.com', 'A.Com', 'bad host', '1.2.3.4', '*.b.com'];
const PATHS: (string | undefined)[] = ['/', '/a', '/a/', '/a/b', '/ab', '/b', '/b/c/', '', undefined, 'rel', '/a//b', '/x/y/z', '/api', '/api/v1', '/a(/|$)(.*)', '/(?=x)'];
const PATH_TYPES: (string | undefined)[] = ['Prefix', 'Prefix', 'Exact', 'Exact', 'ImplementationSpecific', undefined, 'Weird'];
const CREATED: (string | undefined)[] = ['2024-01-01T00:00:00Z', '2024-01-02T00:00:00Z', '2024-01-02T00:00:00Z', '2024-01-03T00:00:00Z', undefined, 'garbage'];
const ANNOTATIONS: [string, string[]][] = [
  ['portico.dev/load-balance', ['least-conn', 'ip-hash', 'nope']],
  ['portico.dev/ssl-redirect', ['true', 'false', 'maybe']],
  ['portico.dev/backend-protocol', ['GRPC', 'h2c', 'bogus']],
  ['portico.dev/unknown-thing', ['x']],
  // regex hosts: one Ingress's use-regex or rewrite changes how every rule of its hosts matches
  ['nginx.ingress.kubernetes.io/use-regex', ['true', 'false', 'yes']],
  ['nginx.ingress.kubernetes.io/rewrite-target', ['/$2', '/', '/$host']],
  ['nginx.ingress.kubernetes.io/whitelist-source-range', ['10.0.0.0/8']],
  ['nginx.ingress.kubernetes.io/proxy-body-size', ['8m', 'x']],
  ['nginx.ingress.kubernetes.io/from-to-www-redirect', ['true', 'true', 'nope']],
  ['nginx.ingress.kubernetes.io/canary', ['true', 'true', 'false']],
  ['nginx.ingress.kubernetes.io/server-alias', ['b.com', 'www.a.com, c.b.com', 'bad host']],
  ['nginx.ingress.kubernetes.io/canary-weight', ['30', '101']],
  ['nginx.ingress.kubernetes.io/permanent-redirect', ['https://x.test$request_uri', 'ftp://x']],
  ['kubernetes.io/ingress.class', ['portico', 'other', '']],
  // ConfigMaps read through the snapshot: a change to one re-translates its readers
  ['nginx.ingress.kubernetes.io/custom-headers', ['h0', 'a/h1', 'b/h0', 'bad/name/x']],
  ['nginx.ingress.kubernetes.io/auth-url', ['http://auth.svc/check']],
  ['portico.dev/auth-proxy-set-headers', ['h0', 'h1']],
  // a host-level property, as client certificates: any Ingress of the host sets it
  ['nginx.ingress.kubernetes.io/ssl-passthrough', ['true', 'true', 'no']],
  // error pages: an Ingress's own, or the global default backend's
  ['nginx.ingress.kubernetes.io/default-backend', ['s0', 's2', 'Bad_Name']],
  ['nginx.ingress.kubernetes.io/custom-http-errors', ['404', '500,502', 'x']],
  // TLS-host properties: the oldest Ingress naming the host in spec.tls that sets each decides
  ['nginx.ingress.kubernetes.io/ssl-ciphers', ['HIGH', 'HIGH:!AES', 'NOPE']],
  ['nginx.ingress.kubernetes.io/ssl-prefer-server-ciphers', ['true', 'false', 'on']],
];
const CONFIGMAP_NAMES = ['h0', 'h1'];
/** The translator options of the seeded comparison: flags that change translation on. */
const WITH_FLAGS = { ...OPTIONS, sslPassthrough: true };
/** And --default-backend-service: its Service comes and goes, and the Ingresses' error pages with it. */
const WITH_DEFAULT_BACKEND = { ...WITH_FLAGS, globalErrors: { service: { namespace: 'b', name: 's1' }, codes: [404, 503] } };

class Gen {
  readonly rand: () => number;
  private rv = 0;
  constructor(seed: number) {
    this.rand = rng(seed);
  }
  chance(p: number): boolean {
    return this.rand() < p;
  }
  int(n: number): number {
    return Math.floor(this.rand() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)] as T;
  }
  version(): string {
    return String(++this.rv);
  }

  backend(): IngressBackend {
    const r = this.rand();
    if (r < 0.03) return { resource: { apiGroup: 'x', kind: 'Bucket', name: 'b' } };
    if (r < 0.06) return { service: { name: this.pick(SERVICE_NAMES) } } as IngressBackend;
    if (r < 0.08) return {} as IngressBackend;
    return svcBackend(this.pick(SERVICE_NAMES), this.pick<number | string>([80, 80, 81, 'http', 'grpc']));
  }

  paths(many: boolean): HTTPIngressPath[] {
    const n = many ? 9 + this.int(5) : 1 + this.int(4);
    const out: HTTPIngressPath[] = [];
    for (let i = 0; i < n; i++) {
      const p = many && this.chance(0.6) ? `/p${this.int(20)}${this.pick(['', '/', '/q'])}` : this.pick(PATHS);
      out.push(path(p, this.pick(PATH_TYPES), this.backend()));
    }
    return out;
  }

  rules(): IngressRule[] {
    const n = this.int(4);
    const out: IngressRule[] = [];
    for (let i = 0; i < n; i++) {
      const host = this.pick(RULE_HOSTS);
      if (this.chance(0.1)) out.push(host === undefined ? {} : { host }); // host only
      else if (this.chance(0.03)) out.push({ ...(host === undefined ? {} : { host }), http: { paths: [] } });
      else out.push(rule(host, this.paths(this.chance(0.12))));
    }
    return out;
  }

  ingress(namespace: string, name: string): Ingress {
    const annotations: Record<string, string> = {};
    for (const [key, values] of ANNOTATIONS) if (this.chance(0.15)) annotations[key] = this.pick(values);
    const className = this.chance(0.65) ? 'portico' : this.chance(0.3) ? 'other' : null;
    const created = this.pick(CREATED);
    const ing = ingress(name, this.rules(), {
      namespace,
      className,
      ...(created === undefined ? {} : { created }),
      ...(Object.keys(annotations).length === 0 ? {} : { annotations }),
      ...(this.chance(0.2) ? { defaultBackend: this.backend() } : {}),
    });
    ing.metadata.resourceVersion = this.version();
    const spec = ing.spec as NonNullable<Ingress['spec']>;
    if (this.chance(0.3)) {
      spec.tls = [];
      const entries = 1 + this.int(2);
      for (let i = 0; i < entries; i++) {
        const hosts = this.chance(0.3) ? undefined : [this.pick(['a.com', 'b.com', 'x.a.com', '*.a.com', 'c.b.com', 'bad host', ''])];
        const secretName = this.pick(['cert1', 'cert2', 'cert2', '']);
        spec.tls.push({ ...(hosts === undefined ? {} : { hosts }), ...(secretName === '' ? {} : { secretName }) });
      }
    }
    // Rarely, things the API server would refuse (objects from files).
    if (this.chance(0.02)) (spec as Record<string, unknown>).rules = 'not a list';
    if (this.chance(0.01)) delete (ing as { spec?: unknown }).spec;
    return ing;
  }

  service(namespace: string, name: string): Service {
    const ports: ServicePort[] = [];
    if (this.chance(0.8)) ports.push({ port: 80 });
    if (this.chance(0.5)) ports.push({ port: 81, name: 'http' });
    if (this.chance(0.3)) ports.push({ port: 9000, name: 'grpc' });
    const s = service(namespace, name, ports, this.chance(0.08) ? 'ExternalName' : undefined);
    s.metadata.resourceVersion = this.version();
    return s;
  }

  configMap(namespace: string, name: string): ConfigMap {
    const data: Record<string, string> = {};
    if (this.chance(0.7)) data['X-Frame-Options'] = this.pick(['DENY', 'SAMEORIGIN']);
    if (this.chance(0.4)) data['X-Tenant'] = this.pick(['a', 'b', '', '$host']);
    if (this.chance(0.1)) data['Content-Length'] = '1'; // refused
    const cm: ConfigMap = { metadata: { namespace, name, resourceVersion: this.version() }, data };
    return cm;
  }

  ingressClass(): IngressClass {
    const name = this.pick(['portico', 'portico', 'alt', 'other']);
    const ic = ingressClass(name, {
      controller: name === 'other' ? 'example.com/other' : this.chance(0.85) ? CONTROLLER : 'example.com/other',
      isDefault: this.chance(0.4),
    });
    ic.metadata.resourceVersion = this.version();
    return ic;
  }
}

/** One random step: a few writes to the store. */
function step(g: Gen, store: Store): void {
  const ops = g.chance(0.1) ? 3 + g.int(6) : 1;
  for (let k = 0; k < ops; k++) {
    const r = g.rand();
    const namespace = g.pick(NAMESPACES);
    if (r < 0.42) {
      store.upsert('Ingress', g.ingress(namespace, g.pick(INGRESS_NAMES)));
    } else if (r < 0.52) {
      store.remove('Ingress', `${namespace}/${g.pick(INGRESS_NAMES)}`);
    } else if (r < 0.6) {
      // A status write (as our own status publishing causes): not routing-relevant.
      const key = `${namespace}/${g.pick(INGRESS_NAMES)}`;
      const old = store.get('Ingress', key);
      if (old !== undefined) {
        store.upsert('Ingress', { ...old, metadata: { ...old.metadata, resourceVersion: g.version() }, status: { loadBalancer: { ingress: [{ ip: `192.0.2.${g.int(200)}` }] } } });
      }
    } else if (r < 0.71) {
      store.upsert('Service', g.service(namespace, g.pick(SERVICE_NAMES)));
    } else if (r < 0.77) {
      store.upsert('ConfigMap', g.configMap(namespace, g.pick(CONFIGMAP_NAMES)));
    } else if (r < 0.8) {
      store.remove('ConfigMap', `${namespace}/${g.pick(CONFIGMAP_NAMES)}`);
    } else if (r < 0.9) {
      store.remove('Service', `${namespace}/${g.pick(SERVICE_NAMES)}`);
    } else if (r < 0.97) {
      store.upsert('IngressClass', g.ingressClass());
    } else {
      store.remove('IngressClass', g.pick(['portico', 'alt', 'other']));
    }
  }
}

// ---- comparison ------------------------------------------------------------------------

const PROBE_HOSTS = ['www.a.com', 'www.b.com', 'a.com', 'A.COM:8080', 'a.com.', 'b.com', 'x.a.com', 'y.a.com', 'z.x.a.com', 'c.b.com', 'd.b.com', 'unknown.org', '', '*.a.com', '[::1]:80'];
const PROBE_PATHS = ['/', '', '/a', '/a/', '/a/b', '/a/bc', '/ab', '/b', '/b/c', '/b/c/d', '/x/y/z', '/api/v1/x', '*', '/p3', '/p3/q', '/p17/', '/zz'];

function show(route: Route | null): string {
  return route === null ? 'null' : JSON.stringify(route);
}

/** Every difference between the two configs, as words; empty when they are equal. */
function differences(inc: RoutingConfig, full: RoutingConfig): string[] {
  const out: string[] = [];
  if (inc.version !== full.version) out.push(`version ${inc.version} != ${full.version}`);
  for (const h of PROBE_HOSTS) {
    for (const p of PROBE_PATHS) {
      const a = show(inc.match(h, p));
      const b = show(full.match(h, p));
      if (a !== b) out.push(`match(${JSON.stringify(h)}, ${JSON.stringify(p)}): incremental ${target(inc.match(h, p))}, full ${target(full.match(h, p))}`);
    }
    const pa = show(inc.passthrough?.(h) ?? null);
    const pb = show(full.passthrough?.(h) ?? null);
    if (pa !== pb) out.push(`passthrough(${JSON.stringify(h)}): incremental ${pa}, full ${pb}`);
  }
  const routes = (c: RoutingConfig) => [...c.routes()].map(show).sort();
  if (JSON.stringify(routes(inc)) !== JSON.stringify(routes(full))) out.push(`routes differ:\n  ${routes(inc).join('\n  ')}\nvs\n  ${routes(full).join('\n  ')}`);
  if (JSON.stringify(inc.problems) !== JSON.stringify(full.problems)) out.push(`problems differ:\n${JSON.stringify(inc.problems, null, 1)}\nvs\n${JSON.stringify(full.problems, null, 1)}`);
  if (JSON.stringify(inc.ingresses) !== JSON.stringify(full.ingresses)) out.push(`ingresses differ: ${JSON.stringify(inc.ingresses)} vs ${JSON.stringify(full.ingresses)}`);
  if (JSON.stringify(inc.tls) !== JSON.stringify(full.tls)) out.push(`tls differs: ${JSON.stringify(inc.tls)} vs ${JSON.stringify(full.tls)}`);
  return out;
}

/** A store that records its changes, and the translator fed with them. */
function harness(seedWorld?: (store: Store) => void, options: typeof WITH_DEFAULT_BACKEND | typeof WITH_FLAGS = WITH_FLAGS) {
  const store = new Store();
  store.upsert('IngressClass', ingressClass('portico'));
  seedWorld?.(store);
  const translator = new IncrementalTranslator(options);
  let version = 0;
  let config = translator.apply(store, undefined, version);
  let pending: StoreChange[] = [];
  store.subscribe((c) => {
    if (routingRelevant(c)) pending.push(c);
  });
  return {
    store,
    translator,
    /** Applies the changes since the last call; returns [incremental, full]. */
    next(): [RoutingConfig, RoutingConfig] {
      version++;
      const changes = pending;
      pending = [];
      config = translator.apply(store, changes, version);
      return [config, translate(store, { ...options, version })];
    },
    get config() {
      return config;
    },
  };
}

describe('incremental translation', () => {
  it('equals a full translation after every step of random change sequences', () => {
    const SEEDS = 12;
    const STEPS = 150;
    let steps = 0;
    let incremental = 0;
    let rules = 0;
    let problems = 0;
    let passthrough = 0;
    for (let seed = 1; seed <= SEEDS; seed++) {
      const g = new Gen(seed);
      // every other seed with --default-backend-service
      const h = harness(undefined, seed % 2 === 0 ? WITH_DEFAULT_BACKEND : WITH_FLAGS);
      for (let s = 0; s < STEPS; s++) {
        step(g, h.store);
        const [inc, full] = h.next();
        const diff = differences(inc, full);
        if (diff.length !== 0) {
          expect.fail(`seed ${seed}, step ${s}${h.translator.lastApply.full ? ' (full rebuild)' : ''}:\n${diff.slice(0, 5).join('\n')}`);
        }
        steps++;
        if (!h.translator.lastApply.full) incremental++;
        for (const _ of full.routes()) rules++;
        problems += full.problems.length;
        if (PROBE_HOSTS.some((host) => full.passthrough?.(host) != null)) passthrough++;
      }
    }
    expect(steps).toBe(SEEDS * STEPS);
    // The sequences exercise what they should: mostly incremental applies, real configs.
    expect(incremental).toBeGreaterThan(steps * 0.7);
    expect(rules / steps).toBeGreaterThan(5);
    expect(problems / steps).toBeGreaterThan(3);
    expect(passthrough).toBeGreaterThan(steps * 0.05);
  }, 90_000); // ~3 s alone; several times that while the whole suite loads both cores

  it('equals a full translation when a batch rewrites most Ingresses (full rebuild path)', () => {
    const g = new Gen(99);
    const h = harness((store) => {
      for (let i = 0; i < 400; i++) store.upsert('Ingress', g.ingress(`n${i % 7}`, `bulk${i}`));
    });
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 400; i++) if (g.chance(0.8)) h.store.upsert('Ingress', g.ingress(`n${i % 7}`, `bulk${i}`));
      const [inc, full] = h.next();
      expect(h.translator.lastApply.full).toBe(true);
      expect(differences(inc, full)).toEqual([]);
      // then small edits on top of it
      for (let k = 0; k < 20; k++) {
        h.store.upsert('Ingress', g.ingress(`n${k % 7}`, `bulk${g.int(400)}`));
        const [i2, f2] = h.next();
        expect(h.translator.lastApply.full).toBe(false);
        expect(differences(i2, f2)).toEqual([]);
      }
    }
  }, 90_000);

  it('re-processes only the Ingresses that name a changed Service, including a missing one that appears', () => {
    const h = harness((store) => {
      store.upsert('Ingress', ingress('uses-missing', [rule('m.com', [path('/', 'Prefix', svcBackend('later'))])]));
      store.upsert('Ingress', ingress('uses-web', [rule('w.com', [path('/', 'Prefix', svcBackend('web'))])]));
      store.upsert('Ingress', ingress('other', [rule('o.com', [path('/', 'Prefix', svcBackend('other'))])]));
      store.upsert('Service', service('default', 'web'));
      store.upsert('Service', service('default', 'other'));
    });
    expect(h.config.problems.map((p) => p.reason)).toEqual(['ServiceNotFound']);
    h.store.upsert('Service', service('default', 'later', [{ port: 80, name: 'http' }]));
    let [inc, full] = h.next();
    expect(h.translator.lastApply).toEqual({ full: false, ingresses: 1, hosts: 1 });
    expect(inc.problems).toEqual([]);
    expect(inc.match('m.com', '/')?.backend.endpointsKey).toBe('default/later:http');
    expect(differences(inc, full)).toEqual([]);

    h.store.upsert('Service', service('default', 'web', [{ port: 8080 }]));
    [inc, full] = h.next();
    expect(h.translator.lastApply).toEqual({ full: false, ingresses: 1, hosts: 1 });
    expect(inc.problems.map((p) => `${p.object.name}: ${p.reason}`)).toEqual(['uses-web: ServicePortNotFound']);
    expect(differences(inc, full)).toEqual([]);

    // A Service nobody names: nothing to redo.
    h.store.upsert('Service', service('default', 'unused'));
    [inc, full] = h.next();
    expect(h.translator.lastApply).toEqual({ full: false, ingresses: 0, hosts: 0 });
    expect(differences(inc, full)).toEqual([]);
  });

  it('re-processes only the Ingresses that name a changed ConfigMap: missing, then created, edited, deleted', () => {
    const ann = { 'nginx.ingress.kubernetes.io/custom-headers': 'default/headers' };
    const h = harness((store) => {
      store.upsert('Service', service('default', 'web'));
      store.upsert('Ingress', ingress('reader', [rule('r.com', [path('/', 'Prefix', svcBackend('web'))])], { annotations: ann }));
      store.upsert('Ingress', ingress('bystander', [rule('b.com', [path('/', 'Prefix', svcBackend('web'))])]));
    });
    expect(h.config.problems.map((p) => p.reason)).toEqual(['ConfigMapInvalid']);
    expect(h.config.match('r.com', '/')?.action).toMatchObject({ kind: 'direct', status: 503 });

    h.store.upsert('ConfigMap', { metadata: { namespace: 'default', name: 'headers', resourceVersion: '1' }, data: { 'X-Frame-Options': 'DENY' } });
    let [inc, full] = h.next();
    expect(h.translator.lastApply).toEqual({ full: false, ingresses: 1, hosts: 1 });
    expect(inc.problems).toEqual([]);
    expect(inc.match('r.com', '/')?.filters.customHeaders?.headers).toEqual(['x-frame-options', 'DENY']);
    expect(differences(inc, full)).toEqual([]);

    h.store.upsert('ConfigMap', { metadata: { namespace: 'default', name: 'headers', resourceVersion: '2' }, data: { 'X-Frame-Options': 'SAMEORIGIN' } });
    [inc, full] = h.next();
    expect(h.translator.lastApply).toEqual({ full: false, ingresses: 1, hosts: 1 });
    expect(inc.match('r.com', '/')?.filters.customHeaders?.headers).toEqual(['x-frame-options', 'SAMEORIGIN']);
    expect(differences(inc, full)).toEqual([]);

    // another namespace's ConfigMap of the same name reaches nobody
    h.store.upsert('ConfigMap', { metadata: { namespace: 'other', name: 'headers', resourceVersion: '3' }, data: {} });
    [inc, full] = h.next();
    expect(h.translator.lastApply.ingresses).toBe(0);

    h.store.remove('ConfigMap', 'default/headers');
    [inc, full] = h.next();
    expect(h.translator.lastApply).toEqual({ full: false, ingresses: 1, hosts: 1 });
    expect(inc.match('r.com', '/')?.action).toMatchObject({ kind: 'direct', status: 503 });
    expect(differences(inc, full)).toEqual([]);
  });

  it('a canary of an aliased host applies on its server-alias hosts, and leaves them with it', () => {
    const N = 'nginx.ingress.kubernetes.io/';
    const h = harness((store) => {
      store.upsert('Ingress', ingress('main', [rule('app.com', [path('/', 'Prefix', svcBackend('web'))])], { created: '2024-01-01T00:00:00Z', annotations: { [N + 'server-alias']: 'alias.com' } }));
      store.upsert('Service', service('default', 'web'));
      store.upsert('Service', service('default', 'next'));
    });
    expect(h.config.match('alias.com', '/')?.action.kind).toBe('forward');
    expect(h.config.match('alias.com', '/')?.action).not.toHaveProperty('canary');
    h.store.upsert('Ingress', ingress('canary', [rule('app.com', [path('/', 'Prefix', svcBackend('next'))])], { created: '2024-01-02T00:00:00Z', annotations: { [N + 'canary']: 'true', [N + 'canary-weight']: '10' } }));
    let [inc, full] = h.next();
    expect(h.translator.lastApply).toEqual({ full: false, ingresses: 1, hosts: 2 });
    const canaryOf = (c: RoutingConfig, host: string) => {
      const a = c.match(host, '/')?.action;
      return a?.kind === 'forward' ? a.canary?.backend.service : undefined;
    };
    expect(canaryOf(inc, 'app.com')).toBe('next');
    expect(canaryOf(inc, 'alias.com')).toBe('next');
    expect(differences(inc, full)).toEqual([]);
    h.store.remove('Ingress', 'default/canary');
    [inc, full] = h.next();
    expect(canaryOf(inc, 'alias.com')).toBeUndefined();
    expect(differences(inc, full)).toEqual([]);
  });

  it('shares the compiled tables of hosts an edit does not touch', () => {
    const h = harness((store) => {
      for (let i = 0; i < 50; i++) store.upsert('Ingress', ingress(`i${i}`, [rule(`h${i}.com`, [path('/', 'Prefix', svcBackend('web'))])]));
      store.upsert('Service', service('default', 'web'));
    });
    const before = h.config as RouteTable;
    h.store.upsert('Ingress', ingress('i7', [rule('h7.com', [path('/new', 'Prefix', svcBackend('web'))])]));
    const [inc, full] = h.next();
    expect(differences(inc, full)).toEqual([]);
    expect(h.translator.lastApply).toEqual({ full: false, ingresses: 1, hosts: 1 });
    const after = inc as RouteTable;
    expect(after.virtualHost('h8.com')).toBe(before.virtualHost('h8.com'));
    expect(after.virtualHost('h7.com')).not.toBe(before.virtualHost('h7.com'));
    expect(after.match('h7.com', '/')).toBeNull();
    expect(before.match('h7.com', '/')?.path).toBe('/'); // the previous config is unchanged
  });

  it('rebuilds everything when our IngressClasses change, and nothing when others do', () => {
    const h = harness((store) => {
      store.upsert('Ingress', ingress('classless', [rule('c.com', [path('/', 'Prefix', svcBackend('web'))])], { className: null }));
      store.upsert('Ingress', ingress('named', [rule('n.com', [path('/', 'Prefix', svcBackend('web'))])]));
    });
    expect(h.config.ingresses.map((r) => r.name)).toEqual(['named']);
    h.store.upsert('IngressClass', ingressClass('theirs', { controller: 'example.com/other', isDefault: true }));
    let [inc, full] = h.next();
    expect(h.translator.lastApply.full).toBe(false);
    expect(differences(inc, full)).toEqual([]);
    h.store.upsert('IngressClass', ingressClass('portico', { isDefault: true }));
    [inc, full] = h.next();
    expect(h.translator.lastApply.full).toBe(true);
    expect(inc.ingresses.map((r) => r.name)).toEqual(['classless', 'named']);
    expect(differences(inc, full)).toEqual([]);
  });

  it('after an exception, rebuilds everything on the next apply', () => {
    const store = new Store();
    store.upsert('IngressClass', ingressClass('portico'));
    store.upsert('Ingress', ingress('one', [rule('one.com', [path('/', 'Prefix', svcBackend('web'))])]));
    let failing = false;
    const flaky: Snapshot = {
      get: (kind, key) => store.get(kind, key),
      list: (kind) => {
        if (failing && kind === 'IngressClass') throw new Error('boom');
        return store.list(kind);
      },
      size: (kind) => store.size(kind),
    };
    const t = new IncrementalTranslator(OPTIONS);
    t.apply(flaky, undefined, 1);
    failing = true;
    store.upsert('Ingress', ingress('two', [rule('two.com', [path('/', 'Prefix', svcBackend('web'))])]));
    const changes: ChangeRef[] = [
      { kind: 'IngressClass', key: 'portico' },
      { kind: 'Ingress', key: 'default/two' },
    ];
    expect(() => t.apply(flaky, changes, 2)).toThrow('boom');
    failing = false;
    const config = t.apply(flaky, [], 3);
    expect(t.lastApply.full).toBe(true);
    expect(differences(config, translate(store, { ...OPTIONS, version: 3 }))).toEqual([]);
  });
});
