// ssl-ciphers / ssl-prefer-server-ciphers through real handshakes: one listener, hosts with
// and without their own cipher settings side by side, with a spec.tls certificate or the
// default one.

import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Store } from '../../src/store/store.ts';
import type { Secret } from '../../src/store/types.ts';
import { generateSelfSigned } from '../../src/tls/default-certificate.ts';
import { TlsManager, type TlsBinding } from '../../src/tls/manager.ts';
import { cipherProfileHosts } from '../../src/tls/cipher-hosts.ts';
import type { VirtualHost } from '../../src/model/virtual-host.ts';
import { startHandshakesByProfile } from '../../src/proxy/cipher-profiles.ts';
import { silentLogger } from '../../src/observe/log.ts';
import { requireProxyProtocol } from '../../src/proxy/proxy-protocol.ts';
import { enableSslPassthrough } from '../../src/proxy/ssl-passthrough.ts';
import { randomBytes } from 'node:crypto';

type Pair = { certPem: string; keyPem: string };
const b64 = (s: string) => Buffer.from(s).toString('base64');
const secret = (name: string, p: Pair): Secret => ({ metadata: { namespace: 'web', name }, type: 'kubernetes.io/tls', data: { 'tls.crt': b64(p.certPem), 'tls.key': b64(p.keyPem) } });
const ingress = { kind: 'Ingress', namespace: 'web', name: 'site' };

const AES128 = 'ECDHE-ECDSA-AES128-GCM-SHA256';
const AES256 = 'ECDHE-ECDSA-AES256-GCM-SHA384';

let fallback: Pair, site: Pair;
beforeAll(async () => {
  [fallback, site] = await Promise.all([generateSelfSigned(), generateSelfSigned({ commonName: 'site', dnsNames: ['strict.test', 'open.test', 'prefer.test', 'client.test', 'x.wild.test', '*.wild.test'] })]);
});

const cleanups: (() => void)[] = [];
afterEach(() => {
  while (cleanups.length > 0) cleanups.pop()!();
});

/** A route host: with a spec.tls binding to the `site` certificate unless `tls` is false, and its handshake settings. */
interface HostSpec {
  host: string;
  tls?: false;
  ciphers?: string;
  honorCipherOrder?: boolean;
}

/** As runtime/core.ts on a configuration swap: the bindings, and the hosts' handshake settings from the virtual hosts. */
function setHosts(manager: TlsManager, hosts: HostSpec[]): void {
  const bindings: TlsBinding[] = hosts.filter((h) => h.tls !== false).map((h) => ({ host: h.host, secret: 'web/site', ingress }));
  const virtualHosts: VirtualHost[] = hosts.map((h) => ({
    host: h.host,
    routes: [],
    fallback: null,
    ...(h.ciphers === undefined && h.honorCipherOrder === undefined
      ? {}
      : { handshake: { ...(h.ciphers === undefined ? {} : { ciphers: h.ciphers }), ...(h.honorCipherOrder === undefined ? {} : { honorCipherOrder: h.honorCipherOrder }), ingress } }),
  }));
  manager.setBindings(bindings, undefined, cipherProfileHosts(virtualHosts));
}

async function serve(hosts: HostSpec[], wrap: (server: tls.Server) => void = () => {}, ticketKeys?: Buffer): Promise<{ port: number; manager: TlsManager; server: tls.Server }> {
  const store = new Store();
  store.upsert('Secret', secret('site', site));
  const manager = new TlsManager({ store, log: silentLogger, fallback });
  setHosts(manager, hosts);
  if (ticketKeys !== undefined) manager.setTicketKeys(ticketKeys);
  const server = tls.createServer(manager.serverOptions(), (s) => s.end());
  manager.attach(server);
  // as the data plane does (runtime/data-plane.ts): the peek first, the other connection wrappers after it
  startHandshakesByProfile(server, { active: () => manager.hasCipherProfiles(), contextFor: (name) => manager.profileFor(name) });
  wrap(server);
  server.on('tlsClientError', () => {});
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(() => {
    server.close();
    manager.stop();
  });
  return { port: (server.address() as AddressInfo).port, manager, server };
}

const bind = (host: string, extra: Omit<HostSpec, 'host'> = {}): HostSpec => ({ host, ...extra });

/** One handshake: `cipher version CN`, or `refused`. */
async function handshake(port: number, servername: string | null, ciphers: string, maxVersion: tls.SecureVersion = 'TLSv1.2'): Promise<string> {
  const socket = tls.connect({ host: '127.0.0.1', port, ...(servername === null ? {} : { servername }), ciphers, maxVersion, rejectUnauthorized: false });
  try {
    await Promise.race([
      once(socket, 'secureConnect'),
      once(socket, 'error').then(([e]) => {
        throw e;
      }),
    ]);
    const cn = String(socket.getPeerCertificate().subject.CN);
    return `${socket.getCipher().name} ${socket.getProtocol()} ${cn}`;
  } catch {
    return 'refused';
  } finally {
    socket.destroy();
  }
}

describe('per-host ciphers on one listener', () => {
  it('a client limited to a cipher the host excludes fails the handshake; another host on the same listener still succeeds', async () => {
    const { port } = await serve([bind('strict.test', { ciphers: AES256 }), bind('open.test')]);
    expect(await handshake(port, 'strict.test', AES128)).toBe('refused');
    expect(await handshake(port, 'open.test', AES128)).toBe(`${AES128} TLSv1.2 site`);
    // the host's own certificate still comes from SNI
    expect(await handshake(port, 'strict.test', AES256)).toBe(`${AES256} TLSv1.2 site`);
    // a client that offers both gets the one the host allows
    expect(await handshake(port, 'strict.test', `${AES128}:${AES256}`)).toBe(`${AES256} TLSv1.2 site`);
    // no SNI: the listener's settings
    expect(await handshake(port, null, AES128)).toBe(`${AES128} TLSv1.2 Portico Default Certificate`);
  });

  it('TLS 1.3 suites are not restricted by a TLS 1.2 list (as nginx ssl_ciphers)', async () => {
    const { port } = await serve([bind('strict.test', { ciphers: AES256 })]);
    expect(await handshake(port, 'strict.test', AES128, 'TLSv1.3')).toMatch(/^TLS_\S+ TLSv1\.3 site$/);
  });

  it('a wildcard binding\'s ciphers apply to its names, not to an exact binding under it', async () => {
    const { port } = await serve([bind('*.wild.test', { ciphers: AES256 }), bind('x.wild.test')]);
    expect(await handshake(port, 'a.wild.test', AES128)).toBe('refused');
    expect(await handshake(port, 'A.WILD.test', AES256)).toBe(`${AES256} TLSv1.2 site`);
    expect(await handshake(port, 'x.wild.test', AES128)).toBe(`${AES128} TLSv1.2 site`);
  });

  it('cipher order: the server\'s with ssl-ciphers (default) or ssl-prefer-server-ciphers "true", the client\'s with "false" and on other hosts', async () => {
    const { port } = await serve([
      bind('strict.test', { ciphers: `${AES256}:${AES128}` }),
      bind('client.test', { ciphers: `${AES256}:${AES128}`, honorCipherOrder: false }),
      bind('prefer.test', { honorCipherOrder: true }),
      bind('open.test'),
    ]);
    const clientPrefers128 = `${AES128}:${AES256}`;
    expect(await handshake(port, 'strict.test', clientPrefers128)).toBe(`${AES256} TLSv1.2 site`);
    expect(await handshake(port, 'client.test', clientPrefers128)).toBe(`${AES128} TLSv1.2 site`);
    expect(await handshake(port, 'open.test', clientPrefers128)).toBe(`${AES128} TLSv1.2 site`);
    // the listener's own list puts AES-128 first: with the server's order it wins over the client's
    expect(await handshake(port, 'prefer.test', `${AES256}:${AES128}`)).toBe(`${AES128} TLSv1.2 site`);
    expect(await handshake(port, 'open.test', `${AES256}:${AES128}`)).toBe(`${AES256} TLSv1.2 site`);
  });

  it('hosts with the same settings share one context; without any the listener does not peek', async () => {
    const { manager } = await serve([bind('strict.test', { ciphers: AES256 }), bind('*.wild.test', { ciphers: AES256 }), bind('open.test')]);
    const a = manager.profileFor('strict.test');
    expect(a).not.toBeNull();
    expect(manager.profileFor('b.wild.test')).toBe(a);
    expect(manager.profileFor('open.test')).toBeNull();
    expect(manager.profileFor('elsewhere.test')).toBeNull();
    setHosts(manager, [bind('open.test')]);
    expect(manager.profileFor('strict.test')).toBeNull();
  });
});

describe('hosts without spec.tls (served with the default certificate), as ingress-nginx', () => {
  it('a host without spec.tls refuses a cipher its Ingress excludes; a host with spec.tls and one without settings on the same listener still accept it', async () => {
    const { port, manager } = await serve([bind('bare.test', { tls: false, ciphers: AES256 }), bind('open.test'), bind('plain.test', { tls: false })]);
    expect(manager.hasCipherProfiles()).toBe(true);
    expect(await handshake(port, 'bare.test', AES128)).toBe('refused');
    // the certificate is still the default one, which SNI picks for a host without spec.tls
    expect(await handshake(port, 'bare.test', AES256)).toBe(`${AES256} TLSv1.2 Portico Default Certificate`);
    expect(await handshake(port, 'bare.test', `${AES128}:${AES256}`)).toBe(`${AES256} TLSv1.2 Portico Default Certificate`);
    expect(await handshake(port, 'open.test', AES128)).toBe(`${AES128} TLSv1.2 site`);
    expect(await handshake(port, 'plain.test', AES128)).toBe(`${AES128} TLSv1.2 Portico Default Certificate`);
    // a name no host has: the listener's settings
    expect(await handshake(port, 'elsewhere.test', AES128)).toBe(`${AES128} TLSv1.2 Portico Default Certificate`);
  });

  it('a wildcard host without spec.tls: its names get its ciphers, an exact host under it keeps the listener\'s', async () => {
    const { port } = await serve([bind('*.wild.test', { tls: false, ciphers: AES256 }), bind('x.wild.test', { tls: false })]);
    expect(await handshake(port, 'a.wild.test', AES128)).toBe('refused');
    expect(await handshake(port, 'a.wild.test', AES256)).toBe(`${AES256} TLSv1.2 Portico Default Certificate`);
    expect(await handshake(port, 'x.wild.test', AES128)).toBe(`${AES128} TLSv1.2 Portico Default Certificate`);
  });

  it('ssl-prefer-server-ciphers alone on a host without spec.tls: the server\'s order', async () => {
    const { port } = await serve([bind('bare.test', { tls: false, honorCipherOrder: true }), bind('plain.test', { tls: false })]);
    // the listener's list puts AES-128 first
    expect(await handshake(port, 'bare.test', `${AES256}:${AES128}`)).toBe(`${AES128} TLSv1.2 Portico Default Certificate`);
    expect(await handshake(port, 'plain.test', `${AES256}:${AES128}`)).toBe(`${AES256} TLSv1.2 Portico Default Certificate`);
  });

  it('with --default-ssl-certificate, a host without spec.tls is served that certificate under its own ciphers', async () => {
    const store = new Store();
    store.upsert('Secret', secret('site', site));
    const manager = new TlsManager({ store, log: silentLogger, fallback, defaultSecret: 'web/site' });
    setHosts(manager, [bind('bare.test', { tls: false, ciphers: AES256 }), bind('plain.test', { tls: false })]);
    const server = tls.createServer(manager.serverOptions(), (sock) => sock.end());
    manager.attach(server);
    startHandshakesByProfile(server, { active: () => manager.hasCipherProfiles(), contextFor: (name) => manager.profileFor(name) });
    server.on('tlsClientError', () => {});
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => {
      server.close();
      manager.stop();
    });
    const port = (server.address() as AddressInfo).port;
    expect(await handshake(port, 'bare.test', AES128)).toBe('refused');
    expect(await handshake(port, 'bare.test', AES256)).toBe(`${AES256} TLSv1.2 site`);
    expect(await handshake(port, 'plain.test', AES128)).toBe(`${AES128} TLSv1.2 site`);
  });

  it('no host with settings: cipherProfileHosts is empty and the listener does not peek', async () => {
    expect(cipherProfileHosts([{ host: 'a.test', routes: [], fallback: null }, { host: '', routes: [], fallback: null }]).size).toBe(0);
    const { manager } = await serve([bind('open.test'), bind('plain.test', { tls: false })]);
    expect(manager.hasCipherProfiles()).toBe(false);
    expect(manager.profileFor('plain.test')).toBeNull();
    setHosts(manager, [bind('plain.test', { tls: false, ciphers: AES256 })]);
    expect(manager.hasCipherProfiles()).toBe(true);
    expect(manager.profileFor('plain.test')).not.toBeNull();
  });
});

describe('with the listener\'s other connection wrappers', () => {
  it('behind the PROXY protocol reader and the ssl-passthrough peek (data plane order), the host\'s ciphers still hold', async () => {
    const { port } = await serve([bind('strict.test', { ciphers: AES256 }), bind('open.test')], (server) => {
      enableSslPassthrough(server, { targets: { passthroughRoute: () => null, passthroughAllowed: () => true, passthroughUpstream: () => null }, connectTimeoutMs: 1000 });
      requireProxyProtocol(server, { trusted: null });
    });
    const viaProxyHeader = async (servername: string, ciphers: string): Promise<string> => {
      const raw = net.connect(port, '127.0.0.1');
      await once(raw, 'connect');
      raw.write('PROXY TCP4 192.0.2.1 127.0.0.1 5555 443\r\n');
      const socket = tls.connect({ socket: raw, servername, ciphers, maxVersion: 'TLSv1.2', rejectUnauthorized: false });
      try {
        await Promise.race([
          once(socket, 'secureConnect'),
          once(socket, 'error').then(([e]) => {
            throw e;
          }),
        ]);
        return socket.getCipher().name;
      } catch {
        return 'refused';
      } finally {
        socket.destroy();
      }
    };
    expect(await viaProxyHeader('strict.test', AES128)).toBe('refused');
    expect(await viaProxyHeader('strict.test', `${AES128}:${AES256}`)).toBe(AES256);
    expect(await viaProxyHeader('open.test', AES128)).toBe(AES128);
  });

  it('with shared ticket keys (workers), a session of a host with a profile resumes on another process\'s listener', async () => {
    const keys = randomBytes(48);
    const a = await serve([bind('strict.test', { ciphers: AES256 })], () => {}, keys);
    const b = await serve([bind('strict.test', { ciphers: AES256 })], () => {}, keys);
    const connect = async (port: number, session?: Buffer): Promise<{ session: Buffer | undefined; reused: boolean }> => {
      const socket = tls.connect({ host: '127.0.0.1', port, servername: 'strict.test', ciphers: AES256, maxVersion: 'TLSv1.2', rejectUnauthorized: false, ...(session ? { session } : {}) });
      const got = once(socket, 'session');
      await once(socket, 'secureConnect');
      const reused = socket.isSessionReused();
      const [ticket] = reused ? [undefined] : ((await got) as [Buffer]);
      socket.destroy();
      return { session: ticket, reused };
    };
    const first = await connect(a.port);
    expect(first.reused).toBe(false);
    expect((await connect(b.port, first.session)).reused).toBe(true);
  });
});

describe('startHandshakesByProfile', () => {
  it('a connection that never sends its ClientHello is closed after the hello timeout', async () => {
    const server = tls.createServer({ cert: fallback.certPem, key: fallback.keyPem });
    startHandshakesByProfile(server, { active: () => true, contextFor: () => null }, 100);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => server.close());
    const socket = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
    socket.on('error', () => {});
    const closed = once(socket, 'close');
    await once(socket, 'connect');
    await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error('not closed within 5 s')), 5000))]);
    expect(socket.destroyed).toBe(true);
  });

  it('without Node\'s internal server context, a host with a profile is refused (never served with the listener\'s ciphers)', async () => {
    const server = tls.createServer({ cert: fallback.certPem, key: fallback.keyPem });
    let reported = 0;
    const profile = tls.createSecureContext({ cert: fallback.certPem, key: fallback.keyPem, ciphers: AES256 });
    startHandshakesByProfile(server, { active: () => true, contextFor: (n) => (n === 'strict.test' ? profile : null), onUnavailable: () => reported++ });
    delete (server as unknown as { _sharedCreds?: unknown })._sharedCreds;
    server.on('tlsClientError', () => {});
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    cleanups.push(() => server.close());
    const port = (server.address() as AddressInfo).port;
    expect(await handshake(port, 'strict.test', AES256)).toBe('refused');
    expect(reported).toBe(1);
  });
});
