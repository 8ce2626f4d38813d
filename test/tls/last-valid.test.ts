// A bad update to a working TLS Secret keeps the host on the Secret's last valid certificate
// while the problem is reported; a valid update replaces it; deletion and expiry do not keep it.

import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { createLogger, silentLogger } from '../../src/observe/log.ts';
import type { Problem } from '../../src/model/types.ts';
import { Store } from '../../src/store/store.ts';
import type { Secret } from '../../src/store/types.ts';
import { generateSelfSigned } from '../../src/tls/default-certificate.ts';
import { TlsManager, type TlsBinding } from '../../src/tls/manager.ts';

type Pair = { certPem: string; keyPem: string };
const b64 = (s: string) => Buffer.from(s).toString('base64');
const secret = (name: string, p: Pair): Secret => ({
  metadata: { namespace: 'web', name },
  type: 'kubernetes.io/tls',
  data: { 'tls.crt': b64(p.certPem), 'tls.key': b64(p.keyPem) },
});
const ingress = { kind: 'Ingress', namespace: 'web', name: 'site' };
const bind = (host: string, s: string): TlsBinding => ({ host, secret: `web/${s}`, ingress });
const DAY = 86_400_000;

let fallback: Pair, shop: Pair, shop2: Pair, other: Pair, expired: Pair, shortLived: Pair;
const shortLivedUntil = new Date(Date.now() + 2 * DAY);

beforeAll(async () => {
  [fallback, shop, shop2, other, expired, shortLived] = await Promise.all([
    generateSelfSigned(),
    generateSelfSigned({ commonName: 'shop', dnsNames: ['shop.example.com'] }),
    generateSelfSigned({ commonName: 'shop2', dnsNames: ['shop.example.com'] }),
    generateSelfSigned({ commonName: 'other', dnsNames: ['other.example.com'] }),
    generateSelfSigned({ commonName: 'old', dnsNames: ['shop.example.com'], notBefore: new Date(Date.now() - 2 * DAY), notAfter: new Date(Date.now() - DAY) }),
    generateSelfSigned({ commonName: 'short', dnsNames: ['shop.example.com'], notAfter: shortLivedUntil }),
  ]);
});

/** The CN a TLS client gets for `servername` from a server using the manager (loopback). */
async function served(m: TlsManager, servername?: string): Promise<string> {
  const server = tls.createServer(m.serverOptions(), (s) => s.end());
  m.attach(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const socket = tls.connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, rejectUnauthorized: false, ...(servername ? { servername } : {}) });
    await once(socket, 'secureConnect');
    const cert = socket.getPeerX509Certificate() as X509Certificate;
    socket.destroy();
    return /CN=([^\n]+)/.exec(cert.subject)![1]!;
  } finally {
    server.close();
  }
}

function setup(now: () => Date = () => new Date()) {
  const store = new Store();
  let problems: readonly Problem[] = [];
  const m = new TlsManager({ store, log: silentLogger, fallback, now, onProblems: (ps) => (problems = ps) });
  return { store, m, problems: () => problems };
}

describe('TlsManager keeps the last valid certificate of a Secret', () => {
  it.each([
    ['garbage', 'TLSCertificateInvalid', (): Secret => ({ metadata: { namespace: 'web', name: 'site' }, type: 'kubernetes.io/tls', data: { 'tls.crt': b64('nope'), 'tls.key': b64('nope') } })],
    ['a key that does not match', 'TLSKeyMismatch', (): Secret => secret('site', { certPem: shop2.certPem, keyPem: other.keyPem })],
    ['an expired certificate', 'TLSCertificateExpired', (): Secret => secret('site', expired)],
    ['a wrong type', 'TLSSecretWrongType', (): Secret => ({ ...secret('site', shop2), type: 'Opaque' })],
  ])('after an update to %s: serves the previous certificate and reports %s', async (_what, reason, bad) => {
    const { store, m, problems } = setup();
    store.upsert('Secret', secret('site', shop));
    m.setBindings([bind('shop.example.com', 'site')]);
    expect(await served(m, 'shop.example.com')).toBe('shop');
    expect(problems()).toEqual([]);

    store.upsert('Secret', bad());
    expect(await served(m, 'shop.example.com')).toBe('shop');
    expect(problems().map((p) => p.reason)).toEqual([reason]);
    expect(problems()[0]!.message).toContain('shop.example.com keeps the last valid certificate of this Secret');
    expect(problems()[0]!.message).not.toContain('PRIVATE');
    expect(m.inUse.map((c) => c.host)).toEqual(['shop.example.com']);

    // a configuration swap in between does not lose it
    m.setBindings([bind('shop.example.com', 'site')]);
    expect(await served(m, 'shop.example.com')).toBe('shop');

    // the next valid write is served, and the problem is gone
    store.upsert('Secret', secret('site', shop2));
    expect(await served(m, 'shop.example.com')).toBe('shop2');
    expect(problems()).toEqual([]);
  });

  it('a deleted Secret is not kept: the host falls back to the default certificate', async () => {
    const { store, m, problems } = setup();
    store.upsert('Secret', secret('site', shop));
    m.setBindings([bind('shop.example.com', 'site')]);
    store.remove('Secret', 'web/site');
    expect(await served(m, 'shop.example.com')).toBe('Portico Default Certificate');
    expect(problems().map((p) => p.reason)).toEqual(['TLSSecretNotFound']);
    // and coming back broken, nothing valid is left to keep
    store.upsert('Secret', secret('site', expired));
    expect(await served(m, 'shop.example.com')).toBe('Portico Default Certificate');
  });

  it('the kept certificate is dropped once it has expired itself', async () => {
    let now = new Date();
    const { store, m, problems } = setup(() => now);
    store.upsert('Secret', secret('site', shortLived));
    m.setBindings([bind('shop.example.com', 'site')]);
    store.upsert('Secret', secret('site', expired));
    expect(await served(m, 'shop.example.com')).toBe('short');
    now = new Date(shortLivedUntil.getTime() + 1000);
    m.setBindings([bind('shop.example.com', 'site')]);
    expect(await served(m, 'shop.example.com')).toBe('Portico Default Certificate');
    expect(problems()[0]!.message).toContain('is served with the default certificate');
  });

  it('a Secret no longer referenced forgets its certificate', async () => {
    const { store, m } = setup();
    store.upsert('Secret', secret('site', shop));
    m.setBindings([bind('shop.example.com', 'site')]);
    m.setBindings([]);
    store.upsert('Secret', secret('site', expired));
    m.setBindings([bind('shop.example.com', 'site')]);
    expect(await served(m, 'shop.example.com')).toBe('Portico Default Certificate');
  });

  it('the default certificate Secret keeps its last valid certificate too, with a warning', async () => {
    const store = new Store();
    const lines: string[] = [];
    const m = new TlsManager({ store, log: createLogger('info', { write: (l) => void lines.push(l) }), fallback, defaultSecret: 'web/default' });
    store.upsert('Secret', secret('default', other));
    m.setBindings([]);
    expect(await served(m, 'unknown.example.com')).toBe('other');
    store.upsert('Secret', secret('default', { certPem: other.certPem, keyPem: shop.keyPem }));
    expect(await served(m, 'unknown.example.com')).toBe('other');
    expect(await served(m)).toBe('other');
    expect(lines.filter((l) => l.includes('default certificate unusable, keeping its last valid certificate'))).toHaveLength(1);
    expect(lines.join('')).not.toContain('PRIVATE');
  });
});
