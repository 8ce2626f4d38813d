// ssl-passthrough on the HTTPS listener, through sockets on loopback: a TLS backend with its
// own certificate reached through Portico (the client sees the backend's certificate, not
// Portico's), a terminated host on the same port (Portico's certificate, proxied as usual),
// endpoint changes, endpoints that are missing or refuse, PROXY protocol in front, the global
// source lists, half-close and large transfers both ways, the idle and ClientHello timeouts.

import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Route } from '../../src/model/types.ts';
import { silentLogger } from '../../src/observe/log.ts';
import { createHttpsListener } from '../../src/proxy/https-listener.ts';
import { DEFAULT_PROXY_SETTINGS, Proxy } from '../../src/proxy/proxy.ts';
import type { ProxySettings } from '../../src/proxy/proxy.ts';
import { requireProxyProtocol } from '../../src/proxy/proxy-protocol.ts';
import { enableSslPassthrough, type PassthroughOutcome, type SslPassthrough } from '../../src/proxy/ssl-passthrough.ts';
import { generateSelfSigned } from '../../src/tls/default-certificate.ts';
import { FakeConfig, FakeEndpoints, closeServer, startUpstream, until, type RouteSpec } from './fixtures.ts';

/** FakeConfig whose hosts in `passthrough` are passthrough hosts (their first route). */
class PassthroughConfig extends FakeConfig {
  private readonly hosts: ReadonlySet<string>;
  constructor(routes: RouteSpec[], hosts: ReadonlySet<string>) {
    super(routes);
    this.hosts = hosts;
  }
  passthrough(serverName: string): Route | null {
    if (!this.hosts.has(serverName)) return null;
    for (const r of this.routes()) if (r.host === serverName) return r;
    return null;
  }
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

type Cert = { certPem: string; keyPem: string };
let portico: Cert;
let backendCert: Cert;
let otherBackendCert: Cert;
beforeAll(async () => {
  portico = await generateSelfSigned({ commonName: 'portico.test', dnsNames: ['app.test', 'argo.test'] });
  backendCert = await generateSelfSigned({ commonName: 'argo-backend', dnsNames: ['argo.test'] });
  otherBackendCert = await generateSelfSigned({ commonName: 'argo-backend-2', dnsNames: ['argo.test'] });
});

async function listenOn(server: net.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  cleanups.push(() => closeServer(server));
  return (server.address() as AddressInfo).port;
}

/** A backend that terminates TLS itself: answers each line with its name and the line. */
async function tlsBackend(cert: Cert, name: string): Promise<number> {
  const server = tls.createServer({ cert: cert.certPem, key: cert.keyPem }, (s) => {
    s.on('data', (d: Buffer) => s.write(`${name}:${d.toString()}`));
    s.on('error', () => {});
  });
  return listenOn(server);
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

interface Setup {
  port: number;
  endpoints: FakeEndpoints;
  outcomes: PassthroughOutcome[];
  passthrough: SslPassthrough;
  proxy: Proxy;
}

async function setup(opts: { settings?: Partial<ProxySettings>; proxyProtocol?: boolean; idleTimeoutMs?: number; helloTimeoutMs?: number } = {}): Promise<Setup> {
  const app = await startUpstream((_req, res) => res.end('terminated by portico'));
  cleanups.push(() => app.close());
  const endpoints = new FakeEndpoints();
  endpoints.set('app', [app.port]);
  const config = new PassthroughConfig([{ host: 'app.test', key: 'app' }, { host: 'argo.test', key: 'argo' }], new Set(['argo.test']));
  const proxy = new Proxy({ config: () => config, endpoints, settings: { ...DEFAULT_PROXY_SETTINGS, ...opts.settings }, log: silentLogger });
  const l = createHttpsListener(proxy, { tls: { cert: portico.certPem, key: portico.keyPem }, http2: false });
  const outcomes: PassthroughOutcome[] = [];
  const passthrough = enableSslPassthrough(l.server, {
    targets: proxy,
    connectTimeoutMs: 1000,
    onConnection: (_route, outcome) => outcomes.push(outcome),
    ...(opts.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: opts.idleTimeoutMs }),
    ...(opts.helloTimeoutMs === undefined ? {} : { helloTimeoutMs: opts.helloTimeoutMs }),
  });
  if (opts.proxyProtocol === true) requireProxyProtocol(l.server, { trusted: null });
  const port = await listenOn(l.server);
  cleanups.push(
    () => proxy.close(200),
    () => {
      passthrough.closeAll();
      l.closeAllConnections();
    },
  );
  return { port, endpoints, outcomes, passthrough, proxy };
}

function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
    }),
  ]);
}

/** A TLS client through Portico: the certificate it was shown and the first answer to `line`. */
function tlsExchange(port: number, servername: string | undefined, line: string, first?: Buffer): Promise<{ subject: string; answer: string }> {
  return within(
    5000,
    `TLS exchange with ${servername ?? '(no SNI)'}`,
    new Promise((resolve, reject) => {
      const socket = first === undefined ? undefined : net.connect(port, '127.0.0.1');
      if (socket !== undefined && first !== undefined) socket.write(first);
      const c = tls.connect({ ...(socket === undefined ? { host: '127.0.0.1', port } : { socket }), servername: servername ?? '', rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] }, () => {
        const subject = c.getPeerCertificate().subject?.CN ?? '';
        c.write(line);
        c.once('data', (d: Buffer) => {
          resolve({ subject: String(subject), answer: d.toString() });
          c.destroy();
        });
      });
      c.on('error', reject);
    }),
  );
}

/** Resolves when the connection is closed by the other side; what was read until then. */
function closedBy(c: net.Socket): Promise<string> {
  return within(
    5000,
    'close',
    new Promise((resolve) => {
      let text = '';
      c.on('data', (d: Buffer) => (text += d.toString('latin1')));
      c.on('error', () => {});
      c.on('close', () => resolve(text));
    }),
  );
}

/** Node's ClientHello for this server name (captured on a loopback socket). */
async function clientHello(servername: string): Promise<Buffer> {
  const server = net.createServer();
  const port = await listenOn(server);
  return within(
    5000,
    'ClientHello',
    new Promise((resolve) => {
      server.once('connection', (s) => {
        s.once('data', (d: Buffer) => {
          resolve(d);
          s.destroy();
        });
      });
      tls.connect({ host: '127.0.0.1', port, servername }).on('error', () => {});
    }),
  );
}

const GET = 'GET / HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n';

describe('ssl-passthrough', () => {
  it("a passthrough host gets the backend's own certificate; another host on the same port gets Portico's", async () => {
    const s = await setup();
    s.endpoints.set('argo', [await tlsBackend(backendCert, 'argo')]);
    const through = await tlsExchange(s.port, 'argo.test', 'hello');
    expect(through).toEqual({ subject: 'argo-backend', answer: 'argo:hello' });
    const terminated = await tlsExchange(s.port, 'app.test', GET);
    expect(terminated.subject).toBe('portico.test');
    expect(terminated.answer).toMatch(/^HTTP\/1\.1 200/);
    expect(terminated.answer).toContain('terminated by portico');
    // without SNI the connection is terminated too
    expect((await tlsExchange(s.port, undefined, GET)).subject).toBe('portico.test');
    expect(s.outcomes).toEqual(['forwarded']);
  });

  it('follows endpoint changes: the next connection goes to the new endpoint', async () => {
    const s = await setup();
    s.endpoints.set('argo', [await tlsBackend(backendCert, 'one')]);
    expect((await tlsExchange(s.port, 'argo.test', 'x')).answer).toBe('one:x');
    s.endpoints.set('argo', [await tlsBackend(otherBackendCert, 'two')]);
    expect(await tlsExchange(s.port, 'argo.test', 'x')).toEqual({ subject: 'argo-backend-2', answer: 'two:x' });
  });

  it('no endpoint: closed; a refusing endpoint: the next one, else closed', async () => {
    const s = await setup();
    const hello = await clientHello('argo.test');
    const c1 = net.connect(s.port, '127.0.0.1');
    c1.write(hello);
    expect(await closedBy(c1)).toBe('');
    const dead = await closedPort();
    s.endpoints.set('argo', [dead]);
    const c2 = net.connect(s.port, '127.0.0.1');
    c2.write(hello);
    expect(await closedBy(c2)).toBe('');
    s.endpoints.set('argo', [dead, await tlsBackend(backendCert, 'alive')]);
    for (let i = 0; i < 2; i++) expect((await tlsExchange(s.port, 'argo.test', 'x')).answer).toBe('alive:x');
    expect(s.outcomes).toEqual(['no-endpoint', 'connect-failed', 'forwarded', 'forwarded']);
  });

  it('behind PROXY protocol: the header first, then the ClientHello; the PROXY source meets the global deny list', async () => {
    const s = await setup({ proxyProtocol: true, settings: { denySourceRange: ['203.0.113.66'] } });
    s.endpoints.set('argo', [await tlsBackend(backendCert, 'argo')]);
    const allowed = await tlsExchange(s.port, 'argo.test', 'hi', Buffer.from('PROXY TCP4 203.0.113.7 127.0.0.1 5000 443\r\n'));
    expect(allowed).toEqual({ subject: 'argo-backend', answer: 'argo:hi' });
    expect((await tlsExchange(s.port, 'app.test', GET, Buffer.from('PROXY TCP4 203.0.113.7 127.0.0.1 5000 443\r\n'))).subject).toBe('portico.test');
    const denied = net.connect(s.port, '127.0.0.1');
    denied.write(Buffer.concat([Buffer.from('PROXY TCP4 203.0.113.66 127.0.0.1 5000 443\r\n'), await clientHello('argo.test')]));
    expect(await closedBy(denied)).toBe('');
    expect(s.outcomes).toEqual(['forwarded', 'denied']);
  });

  it('with --global-auth-url the host is terminated (a connection cannot be asked about)', async () => {
    const s = await setup({ settings: { globalAuth: { url: 'http://127.0.0.1:1/auth' } as unknown as ProxySettings['globalAuth'] } });
    s.endpoints.set('argo', [await tlsBackend(backendCert, 'argo')]);
    const hello = await clientHello('argo.test');
    expect(s.proxy.passthroughRoute('argo.test')).toBeNull();
    const c = net.connect(s.port, '127.0.0.1');
    c.write(hello);
    c.end();
    await closedBy(c);
    expect(s.outcomes).toEqual([]);
  });

  it('pipes large data both ways and passes a half-close on', async () => {
    const s = await setup();
    // a raw TCP backend: reads until the client's FIN, then answers with the digest and more bytes
    const reply = randomBytes(3 * 1024 * 1024);
    const got: { bytes: number; digest: string } = { bytes: 0, digest: '' };
    const backend = net.createServer({ allowHalfOpen: true }, (sock) => {
      const hash = createHash('sha256');
      sock.on('data', (d: Buffer) => {
        got.bytes += d.length;
        hash.update(d);
      });
      sock.on('end', () => {
        got.digest = hash.digest('hex');
        sock.write(`${got.digest}\n`);
        sock.end(reply);
      });
      sock.on('error', () => {});
    });
    s.endpoints.set('argo', [await listenOn(backend)]);
    const hello = await clientHello('argo.test');
    const upload = randomBytes(4 * 1024 * 1024);
    const sent = Buffer.concat([hello, upload]);
    const c = net.connect({ port: s.port, host: '127.0.0.1', allowHalfOpen: true });
    const chunks: Buffer[] = [];
    c.on('data', (d: Buffer) => chunks.push(d));
    c.end(sent); // the client's FIN: the backend must still be able to answer
    await within(10_000, 'the answer after a half-close', new Promise<void>((r) => c.on('end', () => r())));
    const answer = Buffer.concat(chunks);
    const digest = createHash('sha256').update(sent).digest('hex');
    expect(got.bytes).toBe(sent.length);
    expect(answer.subarray(0, 65).toString()).toBe(`${digest}\n`);
    expect(answer.subarray(65).equals(reply)).toBe(true);
    await until(() => s.passthrough.size === 0, 5000, 'tunnel closed');
  });

  it('an idle tunnel is closed after the idle timeout; a silent connection after the ClientHello timeout', async () => {
    const s = await setup({ idleTimeoutMs: 150, helloTimeoutMs: 150 });
    const backend = net.createServer((sock) => sock.on('error', () => {}).resume());
    s.endpoints.set('argo', [await listenOn(backend)]);
    const c = net.connect(s.port, '127.0.0.1');
    c.write(await clientHello('argo.test'));
    await until(() => s.outcomes.length === 1, 5000, 'forwarded');
    expect(s.passthrough.size).toBe(1);
    expect(await closedBy(c)).toBe('');
    await until(() => s.passthrough.size === 0, 5000, 'tunnel closed');
    const silent = net.connect(s.port, '127.0.0.1');
    expect(await closedBy(silent)).toBe('');
  });

  it('closeAll ends open tunnels (shutdown after the grace period)', async () => {
    const s = await setup();
    const backend = net.createServer((sock) => sock.on('error', () => {}).resume());
    s.endpoints.set('argo', [await listenOn(backend)]);
    const c = net.connect(s.port, '127.0.0.1');
    c.write(await clientHello('argo.test'));
    await until(() => s.passthrough.size === 1, 5000, 'tunnel open');
    const closed = closedBy(c);
    s.passthrough.closeAll();
    expect(await closed).toBe('');
    await until(() => s.passthrough.size === 0, 5000, 'tunnel closed');
  });
});
