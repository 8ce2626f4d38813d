// Client certificates per SNI host (tls/client-auth.ts, TlsManager.handshakeSni): which server
// names get a context with the host's CAs and arm the connection, with real handshakes: a
// client-auth host sends a CertificateRequest naming its CA and keeps the connection when the
// client has no certificate (the proxy answers, not the handshake); a host without does not
// request one; an exact host without client authentication is not taken for a wildcard with it.

import { beforeAll, describe, expect, it } from 'vitest';
import tls from 'node:tls';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { Store } from '../../src/store/store.ts';
import { generateSelfSigned } from '../../src/tls/default-certificate.ts';
import { TlsManager } from '../../src/tls/manager.ts';
import { armedOf, clientAuthHosts } from '../../src/tls/client-auth.ts';
import { silentLogger } from '../../src/observe/log.ts';
import { DEFAULT_POLICY, FORWARD, type ClientCertPolicy, type Route } from '../../src/model/types.ts';
import { createTestCa, type CertAndKey } from '../fake-apiserver/certs.ts';

let fallback: { certPem: string; keyPem: string };
let caPem: string;
let client: CertAndKey;

beforeAll(async () => {
  const ca = await createTestCa('sni-ca');
  caPem = ca.certPem;
  [fallback, client] = await Promise.all([generateSelfSigned({ dnsNames: ['a.test'] }), ca.issue({ commonName: 'c', usage: 'client' })]);
});

const policy = (over: Partial<ClientCertPolicy> = {}): ClientCertPolicy => ({
  secret: 'web/ca', caPem, crlPem: '', verify: 'on', depth: 1, errorPage: '', passCertificate: false, matchCn: null, key: 'key-1', ...over,
});

function route(host: string, clientCert?: ClientCertPolicy): Route {
  return {
    host, path: '/', pathType: 'Prefix', backend: { namespace: 'web', service: 's', servicePort: 80, endpointsKey: 'web/s:' }, policy: DEFAULT_POLICY, action: FORWARD,
    filters: clientCert === undefined ? {} : { clientCert }, regex: null, ingress: { kind: 'Ingress', namespace: 'web', name: 'i' },
  };
}

function manager(routes: Route[]): TlsManager {
  const m = new TlsManager({ store: new Store(), log: silentLogger, fallback });
  m.setBindings([], clientAuthHosts(routes));
  return m;
}

describe('clientAuthHosts', () => {
  it('is empty when no host asks (the SNI callback then does no lookup)', () => {
    expect(clientAuthHosts([route('a.test'), route('b.test', policy({ verify: 'off' }))]).size).toBe(0);
  });
  it('maps every route host, null for those without', () => {
    const p = policy();
    expect([...clientAuthHosts([route('a.test', p), route('b.test'), route('', p)])]).toEqual([['a.test', p], ['b.test', null]]);
  });
});

describe('TlsManager.clientAuthFor', () => {
  it('exact hosts, then wildcards; an exact host without client auth shadows its wildcard', () => {
    const p = policy();
    const m = manager([route('*.apps.test', p), route('plain.apps.test'), route('a.test', p)]);
    expect(m.clientAuthFor('A.TEST')?.policy).toBe(p);
    expect(m.clientAuthFor('x.apps.test')?.policy).toBe(p);
    expect(m.clientAuthFor('plain.apps.test')).toBeNull();
    expect(m.clientAuthFor('other.test')).toBeNull();
    expect(m.clientAuthFor('')).toBeNull();
  });

  it('a CRL that cannot be loaded leaves the host without a context (its requests get 421), with a problem', () => {
    const m = manager([route('a.test', policy({ crlPem: '-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n' }))]);
    expect(m.clientAuthFor('a.test')).toBeNull();
    expect(m.currentProblems.map((p) => p.reason)).toEqual(['ClientCACertificateInvalid']);
  });
});

describe('handshakes', () => {
  async function handshake(m: TlsManager, servername: string, cert?: CertAndKey): Promise<{ requested: boolean; armed: string | undefined; authorized: boolean }> {
    const server = tls.createServer(m.serverOptions());
    const serverSide = once(server, 'secureConnection') as Promise<[tls.TLSSocket]>;
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      let requested = false;
      const socket = tls.connect({
        host: '127.0.0.1', port: (server.address() as AddressInfo).port, servername, rejectUnauthorized: false, maxVersion: 'TLSv1.2',
        // TLS 1.2: the client learns about the CertificateRequest before 'secureConnect'
        ...(cert ? { cert: cert.certPem, key: cert.keyPem } : {}),
      });
      const [s] = await serverSide;
      await once(socket, 'secureConnect');
      // TLS 1.2: the server's CertificateRequest is visible through the CA names offered
      requested = (s as unknown as { _requestCert?: boolean })._requestCert === true;
      const out = { requested, armed: armedOf(s)?.key, authorized: s.authorized };
      socket.destroy();
      s.destroy();
      return out;
    } finally {
      server.close();
    }
  }

  it('a client-auth host arms the connection and verifies the certificate; no certificate keeps the connection', async () => {
    const m = manager([route('a.test', policy()), route('b.test')]);
    expect(await handshake(m, 'a.test', client)).toEqual({ requested: true, armed: 'key-1', authorized: true });
    expect(await handshake(m, 'a.test')).toEqual({ requested: true, armed: 'key-1', authorized: false });
    expect(await handshake(m, 'b.test', client)).toEqual({ requested: false, armed: undefined, authorized: false });
  });
});
