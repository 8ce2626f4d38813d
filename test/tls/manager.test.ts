import { describe, expect, it, beforeAll } from 'vitest';
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Store } from '../../src/store/store.ts';
import type { Secret } from '../../src/store/types.ts';
import { generateSelfSigned } from '../../src/tls/default-certificate.ts';
import { TlsManager, type TlsBinding } from '../../src/tls/manager.ts';
import { parseTlsSecret } from '../../src/tls/certificate.ts';
import { createLogger, silentLogger } from '../../src/observe/log.ts';

type Pair = { certPem: string; keyPem: string };
const b64 = (s: string) => Buffer.from(s).toString('base64');
const secret = (name: string, p: Pair, type = 'kubernetes.io/tls'): Secret => ({
  metadata: { namespace: 'web', name },
  type,
  data: { 'tls.crt': b64(p.certPem), 'tls.key': b64(p.keyPem) },
});
const ingress = { kind: 'Ingress', namespace: 'web', name: 'site' };
const bind = (host: string, s: string): TlsBinding => ({ host, secret: `web/${s}`, ingress });

let fallback: Pair, shop: Pair, wild: Pair, other: Pair, expired: Pair;

beforeAll(async () => {
  [fallback, shop, wild, other, expired] = await Promise.all([
    generateSelfSigned(),
    generateSelfSigned({ commonName: 'shop', dnsNames: ['shop.example.com'] }),
    generateSelfSigned({ commonName: 'wild', dnsNames: ['*.apps.example.com'] }),
    generateSelfSigned({ commonName: 'other', dnsNames: ['other.example.com'] }),
    generateSelfSigned({ commonName: 'old', dnsNames: ['old.example.com'], notBefore: new Date(Date.now() - 2 * 86400_000), notAfter: new Date(Date.now() - 86400_000) }),
  ]);
});

/** Handshake against a real TLS server using the manager's SNI callback; returns the served CN. */
async function servedCommonName(m: TlsManager, servername: string | undefined): Promise<string> {
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

describe('parseTlsSecret', () => {
  it('accepts a matching pair and reads its names', () => {
    const r = parseTlsSecret(secret('shop', shop));
    expect(r.ok && r.cert.dnsNames).toEqual(['shop.example.com']);
  });
  it('rejects a key that does not belong to the certificate, without quoting either', () => {
    const r = parseTlsSecret(secret('mixed', { certPem: shop.certPem, keyPem: other.keyPem }));
    expect(r).toMatchObject({ ok: false, reason: 'TLSKeyMismatch' });
    expect(JSON.stringify(r)).not.toContain('PRIVATE');
  });
  it('rejects expired certificates, garbage and missing keys', () => {
    expect(parseTlsSecret(secret('old', expired))).toMatchObject({ ok: false, reason: 'TLSCertificateExpired' });
    expect(parseTlsSecret({ metadata: { name: 'x', namespace: 'web' }, data: { 'tls.crt': b64('nope'), 'tls.key': b64('nope') } })).toMatchObject({ ok: false, reason: 'TLSCertificateInvalid' });
    expect(parseTlsSecret({ metadata: { name: 'x', namespace: 'web' }, data: {} })).toMatchObject({ ok: false, reason: 'TLSSecretIncomplete' });
  });
});

describe('TlsManager', () => {
  it('picks the certificate by SNI: exact, wildcard (one label), else the default', async () => {
    const store = new Store();
    store.upsert('Secret', secret('shop', shop));
    store.upsert('Secret', secret('wild', wild));
    const m = new TlsManager({ store, log: silentLogger, fallback });
    m.setBindings([bind('shop.example.com', 'shop'), bind('*.apps.example.com', 'wild')]);
    expect(await servedCommonName(m, 'shop.example.com')).toBe('shop');
    expect(await servedCommonName(m, 'SHOP.example.com')).toBe('shop');
    expect(await servedCommonName(m, 'a.apps.example.com')).toBe('wild');
    expect(await servedCommonName(m, 'a.b.apps.example.com')).toBe('Portico Default Certificate');
    expect(await servedCommonName(m, 'unknown.example.com')).toBe('Portico Default Certificate');
    expect(await servedCommonName(m, undefined)).toBe('Portico Default Certificate');
    expect(m.currentProblems).toEqual([]);
    expect(m.hasTls('shop.example.com')).toBe(true);
    expect(m.hasTls('x.apps.example.com')).toBe(true);
    expect(m.hasTls('plain.example.com')).toBe(false);
  });

  it('missing, broken and expired Secrets are problems on the Ingress and fall back to the default', async () => {
    const store = new Store();
    store.upsert('Secret', secret('old', expired));
    store.upsert('Secret', secret('opaque', shop, 'Opaque'));
    const problems: string[] = [];
    const m = new TlsManager({ store, log: silentLogger, fallback, onProblems: (ps) => problems.splice(0, problems.length, ...ps.map((p) => p.reason)) });
    m.setBindings([bind('shop.example.com', 'missing'), bind('old.example.com', 'old'), bind('x.example.com', 'opaque')]);
    expect(problems.sort()).toEqual(['TLSCertificateExpired', 'TLSSecretNotFound', 'TLSSecretWrongType']);
    expect(await servedCommonName(m, 'shop.example.com')).toBe('Portico Default Certificate');
    // the Secret appears: the host gets its certificate without anything else changing
    store.upsert('Secret', secret('missing', shop));
    expect(await servedCommonName(m, 'shop.example.com')).toBe('shop');
    expect(problems.sort()).toEqual(['TLSCertificateExpired', 'TLSSecretWrongType']);
  });

  it('a certificate that does not cover the host is served but reported', () => {
    const store = new Store();
    store.upsert('Secret', secret('other', other));
    const reasons: string[] = [];
    const m = new TlsManager({ store, log: silentLogger, fallback, onProblems: (ps) => reasons.push(...ps.map((p) => p.reason)) });
    m.setBindings([bind('shop.example.com', 'other')]);
    expect(reasons).toEqual(['TLSCertificateHostMismatch']);
  });

  it('a renewed Secret replaces the certificate without touching open connections', async () => {
    const store = new Store();
    store.upsert('Secret', secret('site', other));
    const m = new TlsManager({ store, log: silentLogger, fallback });
    m.setBindings([bind('shop.example.com', 'site')]);
    expect(await servedCommonName(m, 'shop.example.com')).toBe('other');
    store.upsert('Secret', secret('site', shop));
    expect(await servedCommonName(m, 'shop.example.com')).toBe('shop');
  });

  it('shared ticket keys reach attached servers, later servers, and survive a new default certificate', async () => {
    const store = new Store();
    const m = new TlsManager({ store, log: silentLogger, fallback, defaultSecret: 'web/default' });
    m.setBindings([]);
    const attached = tls.createServer(m.serverOptions());
    m.attach(attached);
    const keys = Buffer.alloc(48, 7);
    m.setTicketKeys(keys);
    expect(attached.getTicketKeys().equals(keys)).toBe(true);
    const later = tls.createServer(m.serverOptions());
    expect(later.getTicketKeys().equals(keys)).toBe(true);
    // The default Secret arrives: the server gets a new default context (setSecureContext),
    // which would otherwise come with random keys of its own.
    store.upsert('Secret', secret('default', shop));
    expect(await servedCommonName(m, undefined)).toBe('shop');
    expect(attached.getTicketKeys().equals(keys)).toBe(true);
    attached.close();
  });

  it('without shared keys, each server keeps its own (Node\'s default)', () => {
    const m = new TlsManager({ store: new Store(), log: silentLogger, fallback });
    const a = tls.createServer(m.serverOptions());
    const b = tls.createServer(m.serverOptions());
    expect(a.getTicketKeys().equals(b.getTicketKeys())).toBe(false);
  });

  it('quietProblems: problems still computed, the unusable default certificate not logged', () => {
    for (const quietProblems of [false, true]) {
      const lines: string[] = [];
      const m = new TlsManager({ store: new Store(), log: createLogger('info', { write: (l) => void lines.push(l) }), fallback, defaultSecret: 'web/missing', quietProblems });
      m.setBindings([bind('shop.example.com', 'nope')]);
      expect(m.currentProblems.map((p) => p.reason)).toEqual(['TLSSecretNotFound']);
      expect(lines.filter((l) => l.includes('default certificate unusable'))).toHaveLength(quietProblems ? 0 : 1);
    }
  });
});
