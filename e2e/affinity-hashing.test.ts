// ingress-nginx's affinity and hashing annotations through the built program in file mode:
// session-cookie-conditional-samesite-none (the cookie's SameSite by User-Agent) and
// upstream-hash-by-subset (a key reaches a subset of the endpoints, not one), and a canary
// Ingress's own balancing (load-balance, upstream-hash-by, affinity-canary-behavior).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { get, startNamedBackend, startPorticoProcess, waitFor, type PorticoProcess } from './harness.ts';
import { annotatedIngressYaml, INGRESS_CLASS_YAML, serviceYaml } from './manifests.ts';

const N = 'nginx.ingress.kubernetes.io/';
const SAFARI_MACOS_10_14 = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/12.1.2 Safari/605.1.15';
const CHROME_62 = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/62.0.3202.94 Safari/537.36';
const CHROME_131 = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

type Backend = Awaited<ReturnType<typeof startNamedBackend>>;

describe('affinity and hashing annotations (built program, file mode)', () => {
  let dir: string;
  const pods: Backend[] = [];
  let main: Backend;
  let portico: PorticoProcess;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'portico-affinity-e2e-'));
    // six pods of one Service, each answering with its name, as ingress-nginx's e2e test of
    // upstream-hash-by-subset (6 replicas, subsets of 3)
    for (const name of ['pod-a', 'pod-b', 'pod-c', 'pod-d', 'pod-e', 'pod-f']) pods.push(await startNamedBackend(name));
    main = await startNamedBackend('main');
    writeFileSync(
      path.join(dir, 'services.yaml'),
      INGRESS_CLASS_YAML + '---\n' + serviceYaml('six', pods.map((p) => p.port)) + '---\n' + serviceYaml('one', [pods[0]!.port]) + '---\n' + serviceYaml('main', [main.port]),
    );
    // primaries with cookie affinity on `main`, canaries on the six pods, hashed by user
    const canaryRules = { [N + 'canary']: 'true', [N + 'canary-by-header']: 'X-Canary', [N + 'canary-weight']: '50', [N + 'upstream-hash-by']: '$http_x_user' };
    writeFileSync(
      path.join(dir, 'canaries.yaml'),
      [
        annotatedIngressYaml({ name: 'legacy-main', host: 'canary-legacy.test', annotations: { [N + 'affinity']: 'cookie' }, paths: [{ path: '/', service: 'main' }] }),
        annotatedIngressYaml({
          name: 'legacy-canary',
          host: 'canary-legacy.test',
          annotations: { ...canaryRules, [N + 'affinity-canary-behavior']: 'legacy', [N + 'affinity']: 'cookie' },
          paths: [{ path: '/', service: 'six' }],
        }),
        annotatedIngressYaml({ name: 'sticky-main', host: 'canary-sticky.test', annotations: { [N + 'affinity']: 'cookie' }, paths: [{ path: '/', service: 'main' }] }),
        annotatedIngressYaml({ name: 'sticky-canary', host: 'canary-sticky.test', annotations: canaryRules, paths: [{ path: '/', service: 'six' }] }),
      ].join('---\n'),
    );
    writeFileSync(
      path.join(dir, 'ingresses.yaml'),
      [
        annotatedIngressYaml({
          name: 'subset',
          host: 'subset.test',
          annotations: { [N + 'upstream-hash-by']: '$request_uri', [N + 'upstream-hash-by-subset']: 'true', [N + 'upstream-hash-by-subset-size']: '3' },
          paths: [{ path: '/', service: 'six' }],
        }),
        annotatedIngressYaml({ name: 'hashed', host: 'hashed.test', annotations: { [N + 'upstream-hash-by']: '$request_uri' }, paths: [{ path: '/', service: 'six' }] }),
        annotatedIngressYaml({ name: 'plain', host: 'plain.test', annotations: {}, paths: [{ path: '/', service: 'six' }] }),
        annotatedIngressYaml({
          name: 'bad-subset',
          host: 'bad-subset.test',
          annotations: { [N + 'upstream-hash-by']: '$request_uri', [N + 'upstream-hash-by-subset']: 'true', [N + 'upstream-hash-by-subset-size']: 'many' },
          paths: [{ path: '/', service: 'six' }],
        }),
        annotatedIngressYaml({
          name: 'cross-site',
          host: 'cross-site.test',
          annotations: { [N + 'affinity']: 'cookie', [N + 'session-cookie-samesite']: 'None', [N + 'session-cookie-conditional-samesite-none']: 'true' },
          paths: [{ path: '/', service: 'one' }],
        }),
        annotatedIngressYaml({
          name: 'cross-site-persistent',
          host: 'cross-site-persistent.test',
          annotations: { [N + 'affinity']: 'cookie', [N + 'affinity-mode']: 'persistent', [N + 'session-cookie-samesite']: 'None', [N + 'session-cookie-conditional-samesite-none']: 'true' },
          paths: [{ path: '/', service: 'one' }],
        }),
        annotatedIngressYaml({
          name: 'cross-site-always',
          host: 'cross-site-always.test',
          annotations: { [N + 'affinity']: 'cookie', [N + 'session-cookie-samesite']: 'None' },
          paths: [{ path: '/', service: 'one' }],
        }),
      ].join('---\n'),
    );
    portico = await startPorticoProcess(['--manifests', dir, '--access-log', 'false']);
    await waitFor('readyz', async () => (await get(portico.healthPort, '/readyz')).status === 200, 10_000);
  });

  afterAll(async () => {
    await portico?.stop('SIGKILL');
    for (const p of pods) await p.close();
    await main?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** The pods `n` requests for `target` on `host` reach. */
  async function podsReached(host: string, target: string, n: number): Promise<Set<string>> {
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) {
      const r = await get(portico.httpPort, target, { host });
      expect(r.status, `${host}${target}`).toBe(200);
      seen.add(r.body.split(' ')[0]!);
    }
    return seen;
  }

  it('upstream-hash-by-subset: one URI reaches exactly its 3 pods of 6; without subsets 1; unhashed all 6', async () => {
    const first = await podsReached('subset.test', '/same', 24);
    expect(first.size).toBe(3);
    // the subset is the URI's: asked again, the same three
    expect(await podsReached('subset.test', '/same', 6)).toEqual(first);
    expect((await podsReached('hashed.test', '/same', 12)).size).toBe(1);
    expect((await podsReached('plain.test', '/same', 12)).size).toBe(6);
    // an invalid size falls back to 3, with a problem naming the annotation
    expect((await podsReached('bad-subset.test', '/same', 24)).size).toBe(3);
    await waitFor('the invalid subset size reported', () =>
      portico.logs.some((l) => l.reason === 'InvalidAnnotation' && String(l.msg ?? l.message).includes(`${N}upstream-hash-by-subset-size`)),
    );
  });

  it('session-cookie-conditional-samesite-none: old Safari and Chrome 62 get the cookie without SameSite=None, current Chrome with it', async () => {
    for (const host of ['cross-site.test', 'cross-site-persistent.test']) {
      for (const ua of [SAFARI_MACOS_10_14, CHROME_62]) {
        const old = await get(portico.httpPort, '/', { host, 'user-agent': ua });
        expect(old.status).toBe(200);
        expect(String(old.headers['set-cookie']), `${host} ${ua}`).toMatch(/^INGRESSCOOKIE=[0-9a-f]{20}; Path=\/; Secure; HttpOnly$/);
      }
      const current = await get(portico.httpPort, '/', { host, 'user-agent': CHROME_131 });
      expect(String(current.headers['set-cookie']), host).toMatch(/^INGRESSCOOKIE=[0-9a-f]{20}; Path=\/; SameSite=None; Secure; HttpOnly$/);
      // no User-Agent: SameSite=None, as ingress-nginx
      const none = await get(portico.httpPort, '/', { host });
      expect(String(none.headers['set-cookie']), host).toContain('SameSite=None');
    }
    // without the annotation every browser gets SameSite=None
    const always = await get(portico.httpPort, '/', { host: 'cross-site-always.test', 'user-agent': SAFARI_MACOS_10_14 });
    expect(String(always.headers['set-cookie'])).toMatch(/; SameSite=None; Secure; HttpOnly$/);
  });

  it('a canary Ingress: its upstream-hash-by balances the canary backend; legacy sets no cookie there and keeps primary-pinned clients', async () => {
    const host = 'canary-legacy.test';
    const onCanary = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const r = await get(portico.httpPort, '/', { host, 'x-canary': 'always', 'x-user': 'alice' });
      expect(r.status).toBe(200);
      expect(r.headers['set-cookie'], 'no affinity on a legacy canary').toBeUndefined();
      onCanary.add(r.body.split(' ')[0]!);
    }
    // hashed by user on the canary's own key: one pod of six
    expect(onCanary.size).toBe(1);
    expect(onCanary.has('main')).toBe(false);
    // the primary pins the client, and the 50 % canary weight no longer moves it
    const first = await get(portico.httpPort, '/', { host, 'x-canary': 'never' });
    expect(first.body).toMatch(/^main /);
    const cookie = String(first.headers['set-cookie']).split(';')[0]!;
    expect(cookie).toMatch(/^INGRESSCOOKIE=[0-9a-f]{20}$/);
    for (let i = 0; i < 10; i++) expect((await get(portico.httpPort, '/', { host, cookie })).body).toMatch(/^main /);
    // the canary's own affinity annotation has no effect, and says so
    await waitFor('the canary affinity problem', () =>
      portico.logs.some((l) => l.reason === 'InvalidAnnotation' && String(l.msg ?? l.message).includes('no effect on a canary Ingress')),
    );
  });

  it('a canary Ingress, sticky (the default): the primary\'s cookie affinity holds a client on the canary backend', async () => {
    const host = 'canary-sticky.test';
    const first = await get(portico.httpPort, '/', { host, 'x-canary': 'always', 'x-user': 'alice' });
    const pod = first.body.split(' ')[0]!;
    expect(pod).toMatch(/^pod-/);
    const cookie = String(first.headers['set-cookie']).split(';')[0]!;
    // the session key marked as the canary's
    expect(cookie).toMatch(/^INGRESSCOOKIE=[0-9a-f]{20}c$/);
    // without the header, and for other users: the cookie keeps the client on its canary pod
    for (let i = 0; i < 10; i++) expect((await get(portico.httpPort, '/', { host, cookie, 'x-user': `user-${i}` })).body.split(' ')[0]).toBe(pod);
  });

  it('reports none of these annotations as unsupported', () => {
    const names = ['upstream-hash-by-subset', 'upstream-hash-by-subset-size', 'session-cookie-conditional-samesite-none'];
    // the log carries the problems of this configuration (the invalid size above is one)
    expect(portico.logs.some((l) => l.reason === 'InvalidAnnotation')).toBe(true);
    const unsupported = portico.logs.filter((l) => l.reason === 'UnsupportedAnnotation' && names.some((n) => String(l.msg ?? l.message).includes(N + n)));
    expect(unsupported).toEqual([]);
  });
});
