// End to end against the real Pebble ACME server: two replicas' ChallengeStores, a fake API
// server, one AcmeManager leading. Pebble validates HTTP-01 on the NON-leader replica's
// challenge listener, so the test proves the token travelled leader → Secret → other replica.
// Then a clock moved past 2/3 of the lifetime forces a renewal: a new certificate (serial).
//
// Needs the Debian package `pebble` (and `openssl`); fails with an install hint without them.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { FakeApiServer, waitFor } from '../fake-apiserver/index.ts';
import { KubeApi } from '../../src/sources/kubernetes/api.ts';
import { KubernetesSource } from '../../src/sources/kubernetes/source.ts';
import { Store } from '../../src/store/store.ts';
import { silentLogger } from '../../src/observe/log.ts';
import { ChallengeStore, serveAcmeChallenge } from '../../src/acme/challenges.ts';
import { AcmeManager, type OrderEvent } from '../../src/acme/manager.ts';
import type { Secret } from '../../src/store/types.ts';
import { startPebble, type Pebble } from './pebble.ts';
import { acmeIngress, ingressClass, modelRouting } from './helpers.ts';

const POD_NS = 'portico-system';
const YEAR = 365 * 86_400_000;

function splitPem(chain: string): X509Certificate[] {
  return (chain.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => new X509Certificate(p));
}

function certOf(secret: Secret): { chain: X509Certificate[]; keyPem: string } {
  return {
    chain: splitPem(Buffer.from(secret.data!['tls.crt']!, 'base64').toString('utf8')),
    keyPem: Buffer.from(secret.data!['tls.key']!, 'base64').toString('utf8'),
  };
}

describe('ACME against Pebble', () => {
  let pebble: Pebble | undefined;
  let api: FakeApiServer;
  let source: KubernetesSource;
  let store: Store;
  let leaderChallenges: ChallengeStore;
  let followerChallenges: ChallengeStore;
  let followerServer: http.Server;
  const validationHits: string[] = [];
  let manager: AcmeManager | undefined;
  let clockOffset = 0;
  const orders: OrderEvent[] = [];

  beforeAll(async () => {
    api = await FakeApiServer.start({ bookmarkIntervalMs: 1000 });
    const kube = new KubeApi(api.kubeConfig());
    api.create(ingressClass('portico'));

    store = new Store();
    source = new KubernetesSource({ api: kube, store, log: silentLogger, namespaces: [] });
    await source.start();

    leaderChallenges = new ChallengeStore({ api: kube, namespace: POD_NS, log: silentLogger });
    followerChallenges = new ChallengeStore({ api: kube, namespace: POD_NS, log: silentLogger });
    leaderChallenges.start();
    followerChallenges.start();
    await Promise.all([leaderChallenges.whenSynced(), followerChallenges.whenSynced()]);

    // The follower replica's HTTP listener: the only one Pebble can reach.
    followerServer = http.createServer((req, res) => {
      if (serveAcmeChallenge(followerChallenges, req, res)) {
        validationHits.push(req.url ?? '');
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => followerServer.listen(0, '127.0.0.1', r));
    const httpPort = (followerServer.address() as AddressInfo).port;

    pebble = await startPebble({ httpPort });

    manager = new AcmeManager({
      api: kube,
      store,
      log: silentLogger,
      challenges: leaderChallenges,
      routing: modelRouting(store),
      settings: {
        namespace: POD_NS,
        directoryUrl: pebble.directoryUrl,
        email: 'admin@app.test',
        caBundlePath: pebble.caPath,
        propagationDelayMs: 200,
        debounceMs: 50,
        poll: { attempts: 30, minMs: 100, maxMs: 500 },
        backoff: { initialMs: 1000, maxMs: 5000 },
        httpRetryMaxAttempts: 1,
        httpRetryDelaySeconds: 1,
      },
      now: () => Date.now() + clockOffset,
      onOrder: (e) => orders.push(e),
    });
    manager.start();
    manager.setLeading(true);
  }, 40_000);

  afterAll(async () => {
    manager?.stop();
    await manager?.idle();
    await leaderChallenges?.stop();
    await followerChallenges?.stop();
    await source?.stop();
    if (followerServer) await new Promise((r) => followerServer.close(r));
    await pebble?.stop();
    await api?.close();
  }, 20_000);

  it('issues a certificate validated on the non-leader replica, then renews it past 2/3 of its lifetime', async () => {
    api.create(acmeIngress('web', 'app', [{ hosts: ['app.test', 'www.app.test'], secretName: 'app-tls' }]));

    const issued = () => api.list('v1/Secret', 'web').find((s) => (s as Secret).metadata.name === 'app-tls') as Secret | undefined;
    await waitFor(() => issued() !== undefined, 20_000, `the TLS Secret (orders: ${JSON.stringify(orders)})`).catch((err: Error) => {
      throw new Error(`${err.message}\n${pebble?.logs().slice(-3000)}`);
    });
    const first = issued()!;
    expect(first.type).toBe('kubernetes.io/tls');
    expect(first.metadata.annotations?.['portico.dev/acme-managed']).toBe('true');
    expect(first.metadata.annotations?.['portico.dev/acme-hosts']).toBe('app.test,www.app.test');

    // SANs, key, and the chain up to Pebble's root.
    const { chain, keyPem } = certOf(first);
    const [leaf, intermediate] = chain;
    expect(chain.length).toBeGreaterThanOrEqual(2);
    expect(leaf!.subjectAltName?.split(', ').sort()).toEqual(['DNS:app.test', 'DNS:www.app.test']);
    const { createPrivateKey } = await import('node:crypto');
    expect(leaf!.checkPrivateKey(createPrivateKey(keyPem))).toBe(true);
    const rootRes = await pebble!.get('/roots/0');
    expect(rootRes.status).toBe(200);
    const root = new X509Certificate(rootRes.body);
    expect(leaf!.checkIssued(intermediate!)).toBe(true);
    expect(leaf!.verify(intermediate!.publicKey)).toBe(true);
    expect(intermediate!.checkIssued(root)).toBe(true);
    expect(intermediate!.verify(root.publicKey)).toBe(true);

    // Pebble validated against the follower's listener, with tokens the leader published.
    expect(validationHits.length).toBeGreaterThanOrEqual(2);
    expect(validationHits.every((u) => u.startsWith('/.well-known/acme-challenge/'))).toBe(true);
    // Tokens are removed once validated; the account is stored for the next leader.
    await waitFor(() => followerChallenges.size === 0, 5000, 'tokens removed');
    const account = api.get('v1/Secret', POD_NS, 'portico-acme-account') as Secret;
    expect(Object.keys(account.data ?? {}).sort()).toEqual(['account-urls.json', 'account.key', 'email']);
    expect(Object.keys(JSON.parse(Buffer.from(account.data!['account-urls.json']!, 'base64').toString()))).toEqual([pebble!.directoryUrl]);

    // The store catches up; the certificate is valid, next renewal at ~2/3 of ~5 years.
    await waitFor(() => manager!.status().certificates[0]?.phase === 'valid', 5000, 'valid status');
    const status = manager!.status();
    expect(status.orders).toEqual({ issued: 1, failed: 0, aborted: 0 });
    const cert = status.certificates[0]!;
    expect(cert).toMatchObject({ namespace: 'web', secretName: 'app-tls', hosts: ['app.test', 'www.app.test'], phase: 'valid', failures: 0 });
    expect(cert.nextAttemptAt! - leaf!.validFromDate.getTime()).toBeGreaterThan(3 * YEAR);

    // Move the clock past 2/3 of the lifetime: a renewal order, new serial. The clock goes
    // back once the order is under way (its tokens are out), so the new certificate is not
    // itself "due" by the shifted clock.
    const hitsBefore = validationHits.length;
    clockOffset = 4 * YEAR;
    manager!.reconcileNow();
    await waitFor(() => leaderChallenges.size > 0, 10_000, 'renewal challenge published');
    clockOffset = 0;
    await waitFor(() => {
      const s = issued();
      return s !== undefined && certOf(s).chain[0]!.serialNumber !== leaf!.serialNumber;
    }, 20_000, 'a renewed certificate');
    const renewed = certOf(issued()!).chain[0]!;
    expect(renewed.subjectAltName?.split(', ').sort()).toEqual(['DNS:app.test', 'DNS:www.app.test']);
    expect(validationHits.length).toBeGreaterThan(hitsBefore);
    await manager!.idle();
    expect(manager!.status().orders).toEqual({ issued: 2, failed: 0, aborted: 0 });
    expect(orders.map((o) => [o.result, o.reason])).toEqual([
      ['issued', 'missing'],
      ['issued', 'renewal-due'],
    ]);
  }, 45_000);

  it('a new leader reuses the stored account and re-issues a deleted certificate', async () => {
    const accountBefore = api.get('v1/Secret', POD_NS, 'portico-acme-account') as Secret;
    const registrations = () => (pebble!.logs().match(/POST \/sign-me-up/g) ?? []).length;
    expect(registrations()).toBe(1);

    // Leadership moves: the old manager steps down, a fresh one (no cached client) leads.
    manager!.stop();
    await manager!.idle();
    const old = manager!;
    manager = new AcmeManager({
      api: new KubeApi(api.kubeConfig()),
      store,
      log: silentLogger,
      challenges: leaderChallenges,
      routing: modelRouting(store),
      settings: { ...old.settings, propagationDelayMs: 100 },
    });
    manager.start();
    manager.setLeading(true);

    api.delete('v1/Secret', 'web', 'app-tls');
    await waitFor(() => api.list('v1/Secret', 'web').some((s) => (s as Secret).metadata.name === 'app-tls'), 20_000, 're-issued Secret');
    await manager.idle();
    expect(manager.status().orders).toEqual({ issued: 1, failed: 0, aborted: 0 });
    expect(registrations()).toBe(1);
    const accountAfter = api.get('v1/Secret', POD_NS, 'portico-acme-account') as Secret;
    expect(accountAfter.data).toEqual(accountBefore.data);
  }, 30_000);
});
