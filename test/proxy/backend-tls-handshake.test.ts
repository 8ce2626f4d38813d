// proxy-ssl-ciphers / proxy-ssl-protocols through sockets: a TLS backend that speaks only
// TLS 1.2 with one cipher is reached or refused per the route's settings, and routes to the
// same endpoint with other settings never share a pooled connection.

import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type net from 'node:net';
import tls from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UpstreamModes, backendTlsOptions } from '../../src/proxy/upstreams.ts';
import type { BackendTlsHandshake } from '../../src/model/types.ts';
import { generateSelfSigned } from '../../src/tls/default-certificate.ts';
import { FakeEndpoints, closeServer, makeRoute, request, startProxy } from './fixtures.ts';
import type { RouteSpec } from './fixtures.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

let cert = { certPem: '', keyPem: '' };
beforeAll(async () => {
  cert = await generateSelfSigned({ commonName: 'backend.test', dnsNames: ['backend.test'] }); // an ECDSA key
});

/** HTTPS backend limited to TLS 1.2 and ECDHE-ECDSA-AES256-GCM-SHA384; records each handshake's cipher. */
async function strictBackend(): Promise<{ port: number; handshakes: string[]; refused: () => number }> {
  const handshakes: string[] = [];
  let refused = 0;
  const server = https.createServer({ cert: cert.certPem, key: cert.keyPem, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384' }, (_req, res) => res.end('reached'));
  server.on('secureConnection', (s: tls.TLSSocket) => handshakes.push(`${s.getProtocol()} ${s.getCipher().name}`));
  server.on('tlsClientError', () => refused++);
  const sockets = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await closeServer(server);
  });
  return { port: (server.address() as AddressInfo).port, handshakes, refused: () => refused };
}

function route(host: string, handshake?: BackendTlsHandshake): RouteSpec {
  return { host, key: 'web', backendProtocol: 'HTTPS', ...(handshake === undefined ? {} : { filters: Object.freeze({ backendTlsHandshake: handshake }) }) };
}

describe('backend TLS ciphers and protocols (proxy-ssl-ciphers, proxy-ssl-protocols)', () => {
  it('reaches a TLS 1.2-only backend by default and with a matching cipher; TLS 1.3 only or another cipher gets 502', async () => {
    const up = await strictBackend();
    const endpoints = new FakeEndpoints();
    endpoints.set('web', [up.port]);
    const p = await startProxy({
      routes: [
        route('default.test'),
        route('tls13.test', { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' }),
        route('aes128.test', { ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' }),
        route('aes256.test', { ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384', minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' }),
      ],
      endpoints,
    });
    cleanups.push(() => p.close());
    // the default route first: its keep-alive connection to the endpoint must not serve the others
    const first = await request(p.port, { host: 'default.test' });
    expect([first.status, first.body.toString()]).toEqual([200, 'reached']);
    expect(up.handshakes).toEqual(['TLSv1.2 ECDHE-ECDSA-AES256-GCM-SHA384']);
    expect((await request(p.port, { host: 'tls13.test' })).status).toBe(502);
    expect((await request(p.port, { host: 'aes128.test' })).status).toBe(502);
    expect(up.refused()).toBe(2);
    const matching = await request(p.port, { host: 'aes256.test' });
    expect([matching.status, matching.body.toString()]).toEqual([200, 'reached']);
    // its own connection (its own pool), not the default route's
    expect(up.handshakes).toEqual(['TLSv1.2 ECDHE-ECDSA-AES256-GCM-SHA384', 'TLSv1.2 ECDHE-ECDSA-AES256-GCM-SHA384']);
    expect((await request(p.port, { host: 'default.test' })).status).toBe(200);
    expect(up.handshakes).toHaveLength(2);
  });
});

describe('upstream modes', () => {
  it('routes that differ only in ciphers or versions get modes (pools) of their own; equal settings share one', () => {
    const modes = new UpstreamModes();
    const plain = modes.of(makeRoute(route('a.test')));
    const v13 = modes.of(makeRoute(route('b.test', { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' })));
    const v13again = modes.of(makeRoute(route('c.test', { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' })));
    const ciphers = modes.of(makeRoute(route('d.test', { ciphers: 'HIGH:!AES' })));
    expect(new Set([plain.key, v13.key, ciphers.key]).size).toBe(3);
    expect(v13again).toBe(v13);
    expect(backendTlsOptions(v13, null)).toMatchObject({ minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' });
    expect(backendTlsOptions(ciphers, null)).toMatchObject({ ciphers: 'HIGH:!AES' });
    const defaults = backendTlsOptions(plain, null);
    expect('ciphers' in defaults || 'minVersion' in defaults || 'maxVersion' in defaults).toBe(false);
  });

  it('a cleartext route ignores the settings (no TLS to negotiate)', () => {
    const modes = new UpstreamModes();
    const m = modes.of(makeRoute({ host: 'a.test', key: 'web', backendProtocol: 'H2C', filters: Object.freeze({ backendTlsHandshake: { ciphers: 'HIGH' } }) }));
    expect(m.key).toBe('H2C');
    expect(m.handshake).toBeNull();
  });
});
