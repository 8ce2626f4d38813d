// Challenge tokens: the leader's publisher writes the Secret, every replica's ChallengeStore
// follows it through its own watch, and the HTTP helper answers only tokens it knows.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeApiServer, waitFor } from '../fake-apiserver/index.ts';
import { KubeApi } from '../../src/sources/kubernetes/api.ts';
import { silentLogger } from '../../src/observe/log.ts';
import { ChallengePublisher, ChallengeStore, serveAcmeChallenge } from '../../src/acme/challenges.ts';
import type { Secret } from '../../src/store/types.ts';

const NS = 'portico-system';
const TOKEN = 'tok_en-123';
const KEYAUTH = `${TOKEN}.thumbprint-abc`;

describe('ChallengeStore + ChallengePublisher', () => {
  let api: FakeApiServer;
  let kube: KubeApi;
  const stores: ChallengeStore[] = [];
  beforeEach(async () => {
    api = await FakeApiServer.start();
    kube = new KubeApi(api.kubeConfig());
  });
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.stop();
    await api.close();
  });

  const replica = async () => {
    const s = new ChallengeStore({ api: kube, namespace: NS, log: silentLogger, backoff: { initialMs: 50, maxMs: 200 } });
    stores.push(s);
    s.start();
    await s.whenSynced();
    return s;
  };

  it('every replica sees a published token through its watch, and loses it on removal', async () => {
    const a = await replica();
    const b = await replica();
    const pub = new ChallengePublisher({ api: kube, namespace: NS, log: silentLogger });
    await pub.publish(TOKEN, KEYAUTH);
    await Promise.all([a.waitFor(TOKEN, KEYAUTH, 3000), b.waitFor(TOKEN, KEYAUTH, 3000)]);
    expect(b.lookup(TOKEN)).toBe(KEYAUTH);
    expect(b.has(TOKEN)).toBe(true);
    expect(b.has(TOKEN, 'other')).toBe(false);

    const secret = api.get('v1/Secret', NS, 'portico-acme-challenges') as Secret;
    expect(secret.type).toBe('Opaque');
    expect(secret.metadata.labels?.['app.kubernetes.io/managed-by']).toBe('portico');

    await pub.remove(TOKEN);
    await waitFor(() => a.lookup(TOKEN) === undefined && b.lookup(TOKEN) === undefined, 3000, 'token removal');
  });

  it('concurrent publishes are serialised (no lost update) and clear() drops everything', async () => {
    const a = await replica();
    const pub = new ChallengePublisher({ api: kube, namespace: NS, log: silentLogger });
    await Promise.all(Array.from({ length: 6 }, (_, i) => pub.publish(`t${i}`, `t${i}.k`)));
    await waitFor(() => a.size === 6, 3000, 'six tokens');
    await pub.clear();
    await waitFor(() => a.size === 0, 3000, 'tokens cleared');
  });

  it('a token written by another writer in between is kept (409 → re-read)', async () => {
    const a = await replica();
    const pub = new ChallengePublisher({ api: kube, namespace: NS, log: silentLogger });
    await pub.publish('first', 'first.k');
    // Someone else updates the Secret behind our back; our next write must not drop it.
    const s = api.get('v1/Secret', NS, 'portico-acme-challenges') as Secret;
    api.update({ ...s, data: { ...s.data, other: Buffer.from('other.k').toString('base64') } });
    await pub.publish('second', 'second.k');
    await waitFor(() => a.size === 3, 3000, 'three tokens');
    expect(a.lookup('other')).toBe('other.k');
  });

  it('retries a write that loses the optimistic-concurrency race (409) after re-reading', async () => {
    const a = await replica();
    const pub = new ChallengePublisher({ api: kube, namespace: NS, log: silentLogger });
    await pub.publish('first', 'first.k');
    api.failNext(2, 409, { methods: ['PUT'], pathPrefix: `/api/v1/namespaces/${NS}/secrets` });
    await pub.publish('second', 'second.k');
    await waitFor(() => a.size === 2, 3000, 'two tokens');
    expect(api.requestCount((r) => r.method === 'PUT' && r.status === 409)).toBe(2);
  });

  it('keeps following the Secret after its watch is cut', async () => {
    const a = await replica();
    const pub = new ChallengePublisher({ api: kube, namespace: NS, log: silentLogger });
    await pub.publish('before', 'before.k');
    await a.waitFor('before', 'before.k', 3000);
    api.resetWatches();
    await pub.publish('after', 'after.k');
    await a.waitFor('after', 'after.k', 5000);
  });

  it('ignores data keys that are not tokens', () => {
    const s = new ChallengeStore({ log: silentLogger });
    s.apply({ metadata: { name: 'x' }, data: { good: Buffer.from('v').toString('base64'), 'bad.key': 'dg==' } });
    expect(s.lookup('good')).toBe('v');
    expect(s.lookup('bad.key')).toBeUndefined();
  });

  it('waitFor rejects with a clear message when the token never shows up', async () => {
    const s = new ChallengeStore({ log: silentLogger });
    await expect(s.waitFor('never', 'x', 50)).rejects.toThrow(/did not appear/);
  });
});

describe('serveAcmeChallenge', () => {
  let server: http.Server;
  let base: string;
  const store = new ChallengeStore({ log: silentLogger });
  store.apply({ metadata: { name: 'c' }, data: { [TOKEN]: Buffer.from(KEYAUTH).toString('base64') } });

  beforeEach(async () => {
    server = http.createServer((req, res) => {
      if (serveAcmeChallenge(store, req, res)) return;
      res.writeHead(404, { 'x-routed': 'yes' }).end('routed');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    await new Promise((r) => server.close(r));
  });

  it('answers a known token with its key authorization, as plain text', async () => {
    const res = await fetch(`${base}/.well-known/acme-challenge/${TOKEN}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain');
    expect(await res.text()).toBe(KEYAUTH);
    const head = await fetch(`${base}/.well-known/acme-challenge/${TOKEN}?x=1`, { method: 'HEAD' });
    expect(head.status).toBe(200);
  });

  it('passes unknown tokens, other methods and other paths on to routing', async () => {
    for (const [path, method] of [
      [`/.well-known/acme-challenge/unknown`, 'GET'],
      [`/.well-known/acme-challenge/${TOKEN}`, 'POST'],
      [`/.well-known/acme-challenge/../x`, 'GET'],
      [`/${TOKEN}`, 'GET'],
    ] as const) {
      const res = await fetch(`${base}${path}`, { method });
      expect(res.headers.get('x-routed'), `${method} ${path}`).toBe('yes');
      await res.text();
    }
  });
});
