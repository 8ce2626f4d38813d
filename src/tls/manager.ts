// Certificates for the HTTPS listener: which SecureContext answers which SNI name.
//
// The routing configuration says which hosts want TLS and from which Secret; this module
// turns Secrets into SecureContexts (once per Secret version), checks that each certificate
// parses, matches its key, is current and covers the host, and builds a lookup table that the
// SNI callback reads per handshake (exact host, then `*.parent`, then the default
// certificate). Problems become Problems on the Ingress that asked for the host. The table is
// rebuilt off the request path: when the configuration changes or a referenced Secret does.
//
// A Secret that held a valid certificate and is then updated into something unusable (garbage,
// a key that does not match, an expired or not yet valid certificate, a wrong type) keeps
// serving its last valid certificate, while that one is current, and the problem is reported:
// one bad write must not switch a working host to the default certificate. A deleted Secret
// is not kept: deleting is a decision, not an accident of a write.

import tls, { type SecureContext } from 'node:tls';
import type { Store, StoreChange } from '../store/store.ts';
import type { Secret } from '../store/types.ts';
import type { Problem, TlsBinding } from '../model/types.ts';
import type { Logger } from '../observe/log.ts';
import { nameCovers, parseTlsSecret, type CertificateResult, type ParsedCertificate } from './certificate.ts';
import { armClientAuth, type HostClientAuth } from './client-auth.ts';
import type { ClientCertPolicy } from '../model/types.ts';
import type { HostHandshake } from '../model/virtual-host.ts';

export type { TlsBinding };

/** TLS 1.2 and 1.3 only; TLS 1.2 with forward-secret AEAD suites (Mozilla "intermediate"). */
export const TLS_OPTIONS: tls.SecureContextOptions = {
  minVersion: 'TLSv1.2',
  ciphers: [
    'ECDHE-ECDSA-AES128-GCM-SHA256',
    'ECDHE-RSA-AES128-GCM-SHA256',
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-CHACHA20-POLY1305',
    'ECDHE-RSA-CHACHA20-POLY1305',
  ].join(':'),
  ecdhCurve: 'X25519:P-256:P-384',
  honorCipherOrder: false,
};

interface Entry {
  context: SecureContext;
  cert: ParsedCertificate;
}

interface Unusable {
  reason: string;
  message: string;
}

/** What a Secret gives: its certificate, or a problem and perhaps its last valid certificate. */
type Resolved = { entry: Entry; problem: undefined } | { entry: Entry | undefined; problem: Unusable };

export interface CertificateInfo {
  host: string;
  secret: string;
  notAfter: Date;
}

export interface TlsManagerOptions {
  store: Store;
  log: Logger;
  /** PEM pair served when nothing else fits. */
  fallback: { certPem: string; keyPem: string };
  /** `namespace/name` of a Secret to use as the default certificate instead of `fallback`. */
  defaultSecret?: string;
  /** New TLS problems (each build reports the full current list). */
  onProblems?: (problems: readonly Problem[]) => void;
  /**
   * Leave problem reporting to another process: the unusable-default-certificate warning is
   * not logged (a proxy worker; the primary, which builds the same table, reports).
   */
  quietProblems?: boolean;
  /** ALPN protocols to offer, most preferred first. */
  alpn?: string[];
  now?: () => Date;
}

export class TlsManager {
  private readonly opts: TlsManagerOptions;
  private readonly parsed = new WeakMap<Secret, CertificateResult>();
  private readonly contexts = new WeakMap<Secret, Entry>();
  /** Secret key → the last valid certificate it held (Secrets still referenced only). */
  private readonly lastValid = new Map<string, Entry>();
  private readonly fallbackContext: SecureContext;
  private bindings: readonly TlsBinding[] = [];
  private referenced = new Set<string>();
  private exact = new Map<string, SecureContext>();
  private wildcard = new Map<string, SecureContext>();
  private tlsHosts = new Set<string>();
  private defaultContext: SecureContext;
  private certificates: CertificateInfo[] = [];
  private problems: Problem[] = [];
  private unsubscribe: (() => void) | undefined;
  /** PEM pair of the current default (for clients without SNI, the server's own context). */
  private defaultPair: { certPem: string; keyPem: string };
  private readonly servers = new Set<tls.Server>();
  /** Session ticket keys shared with other processes; undefined: each server's own (Node's default). */
  private ticketKeys: Buffer | undefined;
  /** Route hosts → client-certificate policy (null: none); empty when no host asks (client-auth.ts). */
  private clientAuth: ReadonlyMap<string, ClientCertPolicy | null> = new Map();
  /** Per SNI name (exact, then `*.parent` by parent): the handshake setup, or null for none. */
  private authExact = new Map<string, HostClientAuth | null>();
  private authWildcard = new Map<string, HostClientAuth | null>();
  /** Contexts with CAs, per certificate (Entry or PEM pair) and policy key; reused across rebuilds. */
  private authContexts = new WeakMap<object, Map<string, SecureContext>>();
  private armFailureLogged = false;
  /** Route hosts → their ssl-ciphers / ssl-prefer-server-ciphers (null: none); empty when no host sets them (cipher-hosts.ts). */
  private handshakes: ReadonlyMap<string, HostHandshake | null> = new Map();
  /**
   * Per SNI name (exact, then `*.parent` by parent): the context its handshakes start from when
   * its host sets ssl-ciphers / ssl-prefer-server-ciphers (proxy/cipher-profiles.ts), spec.tls
   * or not, or null for the listener's; both empty when no host sets them.
   */
  private profileExact = new Map<string, SecureContext | null>();
  private profileWildcard = new Map<string, SecureContext | null>();
  /** Profile contexts by `order|ciphers`, for the default certificate they were made with. */
  private profileContexts = new Map<string, SecureContext>();
  private profilePair: { certPem: string; keyPem: string } | null = null;

  constructor(opts: TlsManagerOptions) {
    this.opts = opts;
    this.fallbackContext = tls.createSecureContext({ ...TLS_OPTIONS, cert: opts.fallback.certPem, key: opts.fallback.keyPem });
    this.defaultContext = this.fallbackContext;
    this.defaultPair = opts.fallback;
    this.unsubscribe = opts.store.subscribe((c) => this.onStoreChange(c));
  }

  stop(): void {
    this.unsubscribe?.();
  }

  /**
   * After every configuration swap: the spec.tls bindings, and per route host its
   * client-certificate policy (client-auth.ts clientAuthHosts) and its handshake settings
   * (cipher-hosts.ts cipherProfileHosts); each left out keeps what it was.
   */
  setBindings(bindings: readonly TlsBinding[], clientAuth?: ReadonlyMap<string, ClientCertPolicy | null>, handshakes?: ReadonlyMap<string, HostHandshake | null>): void {
    this.bindings = bindings;
    if (clientAuth !== undefined) this.clientAuth = clientAuth;
    if (handshakes !== undefined) this.handshakes = handshakes;
    this.rebuild();
  }

  /**
   * Options for tls.createServer / https.createServer: the SNI callback plus the default
   * certificate for clients that send no server name (Node skips the callback for them).
   * Pass the server to `attach` so a changed default reaches it.
   */
  serverOptions(): tls.TlsOptions {
    return { ...this.defaultServerContext(), SNICallback: this.handshakeSni };
  }

  /**
   * Session ticket keys (48 bytes) for the attached servers and those created later, so that
   * processes sharing the keys resume each other's sessions. Tickets are encrypted with the
   * server's own keys even when SNI picks another SecureContext, so the server is enough.
   * Tickets issued under the previous keys stop resuming (Node keeps one key).
   */
  setTicketKeys(keys: Buffer): void {
    this.ticketKeys = keys;
    for (const server of this.servers) server.setTicketKeys(keys);
    // a handshake started from a profile context issues tickets with that context's keys
    for (const context of this.profileContexts.values()) (context as SecureContext & { context: { setTicketKeys(k: Buffer): void } }).context.setTicketKeys(keys);
  }

  attach(server: tls.Server): void {
    this.servers.add(server);
    server.once('close', () => this.servers.delete(server));
  }

  /** Whether any host has its own handshake settings (ssl-ciphers, ssl-prefer-server-ciphers). */
  hasCipherProfiles(): boolean {
    return this.profileExact.size !== 0 || this.profileWildcard.size !== 0;
  }

  /** The context handshakes for a server name (lower case) start from, or null for the listener's own. */
  profileFor(servername: string): SecureContext | null {
    const exact = this.profileExact.get(servername);
    if (exact !== undefined) return exact;
    const dot = servername.indexOf('.');
    return dot > 0 ? (this.profileWildcard.get(servername.slice(dot + 1)) ?? null) : null;
  }

  /** For the `SNICallback` option of tls.createServer. Never throws. */
  readonly sniCallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void => {
    cb(null, this.contextFor(servername));
  };

  /**
   * The SNI callback the servers get: Node calls it with the TLS socket as `this`, which a
   * host with client certificates needs (client-auth.ts). Hosts without: as sniCallback.
   */
  readonly handshakeSni: (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void = (() => {
    const manager = this;
    return function (this: unknown, servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void {
      const auth = manager.clientAuthFor(servername);
      if (auth === null) {
        cb(null, manager.contextFor(servername));
        return;
      }
      if (!armClientAuth(this, auth.policy)) {
        if (!manager.armFailureLogged) {
          manager.armFailureLogged = true;
          manager.opts.log.error('cannot request client certificates on this Node version; handshakes of hosts with auth-tls-secret are refused', { host: servername });
        }
        cb(new Error('client certificates cannot be requested'));
        return;
      }
      cb(null, auth.context);
    };
  })();

  /** The client-certificate setup for a server name, or null (most hosts: no lookup at all). */
  clientAuthFor(servername: string): HostClientAuth | null {
    if (this.authExact.size === 0 && this.authWildcard.size === 0) return null;
    if (!servername) return null;
    const host = servername.toLowerCase();
    const exact = this.authExact.get(host);
    if (exact !== undefined) return exact;
    const dot = host.indexOf('.');
    return dot > 0 ? (this.authWildcard.get(host.slice(dot + 1)) ?? null) : null;
  }

  /** The context for a server name (any case, may be empty). */
  contextFor(servername: string): SecureContext {
    if (!servername) return this.defaultContext;
    const host = servername.toLowerCase();
    const exact = this.exact.get(host);
    if (exact !== undefined) return exact;
    const dot = host.indexOf('.');
    if (dot > 0) {
      const wild = this.wildcard.get(host.slice(dot + 1));
      if (wild !== undefined) return wild;
    }
    return this.defaultContext;
  }

  /** True when the host (any case, no port) is configured for TLS, whether or not its certificate is usable. */
  hasTls(host: string): boolean {
    if (this.tlsHosts.size === 0) return false;
    if (this.tlsHosts.has(host)) return true;
    const dot = host.indexOf('.');
    return dot > 0 && this.tlsHosts.has(`*.${host.slice(dot + 1)}`);
  }

  get defaultSecureContext(): SecureContext {
    return this.defaultContext;
  }

  /** The certificates in use, for expiry metrics. */
  get inUse(): readonly CertificateInfo[] {
    return this.certificates;
  }

  get currentProblems(): readonly Problem[] {
    return this.problems;
  }

  private onStoreChange(change: StoreChange): void {
    if (change.kind === 'Secret' && this.referenced.has(change.key)) this.rebuild();
  }

  private rebuild(): void {
    const now = this.opts.now?.() ?? new Date();
    const exact = new Map<string, SecureContext>();
    const wildcard = new Map<string, SecureContext>();
    const tlsHosts = new Set<string>();
    const referenced = new Set<string>();
    const problems: Problem[] = [];
    const certificates: CertificateInfo[] = [];
    /** Binding host → its certificate (for contexts with client-certificate CAs). */
    const entries = new Map<string, Entry>();

    let defaultContext = this.fallbackContext;
    let defaultPair = this.opts.fallback;
    if (this.opts.defaultSecret) {
      referenced.add(this.opts.defaultSecret);
      const { entry, problem } = this.resolve(this.opts.defaultSecret, now);
      if (entry !== undefined) {
        defaultContext = entry.context;
        defaultPair = entry.cert;
      }
      if (problem !== undefined && !this.opts.quietProblems) {
        const what = entry !== undefined ? 'keeping its last valid certificate' : 'serving a generated one';
        this.opts.log.warn(`default certificate unusable, ${what}: ${problem.message}`, { secret: this.opts.defaultSecret });
      }
    }
    if (defaultContext !== this.defaultContext) {
      this.defaultContext = defaultContext;
      this.defaultPair = defaultPair;
      // setSecureContext replaces the server's ticket keys too, so the shared ones go along.
      for (const server of this.servers) server.setSecureContext(this.defaultServerContext());
    }

    for (const b of this.bindings) {
      referenced.add(b.secret);
      tlsHosts.add(b.host);
      const { entry, problem } = this.resolve(b.secret, now);
      if (problem !== undefined) {
        const served =
          entry !== undefined
            ? `${b.host} keeps the last valid certificate of this Secret (it expires on ${entry.cert.notAfter.toISOString()})`
            : `${b.host} is served with the default certificate`;
        problems.push({ object: b.ingress, reason: problem.reason, message: `${problem.message}; ${served}` });
      }
      if (entry === undefined) continue;
      if (!entry.cert.dnsNames.some((n) => nameCovers(n, b.host))) {
        problems.push({
          object: b.ingress,
          reason: 'TLSCertificateHostMismatch',
          message: `Secret ${b.secret} has a certificate for ${entry.cert.dnsNames.join(', ') || 'no DNS names'}, not for ${b.host}; it is served anyway`,
        });
      }
      const target = b.host.startsWith('*.') ? wildcard : exact;
      const key = b.host.startsWith('*.') ? b.host.slice(2) : b.host;
      if (!target.has(key)) target.set(key, entry.context);
      if (!entries.has(b.host)) entries.set(b.host, entry);
      certificates.push({ host: b.host, secret: b.secret, notAfter: entry.cert.notAfter });
    }

    this.buildClientAuth(entries, problems);
    this.buildProfiles(problems);
    this.exact = exact;
    this.wildcard = wildcard;
    this.tlsHosts = tlsHosts;
    this.referenced = referenced;
    for (const key of this.lastValid.keys()) if (!referenced.has(key)) this.lastValid.delete(key);
    this.certificates = certificates;
    this.problems = problems;
    this.opts.onProblems?.(problems);
  }

  /**
   * Per route host with a client-certificate policy: a context with the host's certificate
   * (its binding, the wildcard binding covering it, else the default) plus the policy's CAs
   * and CRLs. Hosts without a policy are recorded as null, so an exact host without client
   * authentication is not taken for a wildcard host with it (routing matches exact first).
   */
  private buildClientAuth(entries: ReadonlyMap<string, Entry>, problems: Problem[]): void {
    const exact = new Map<string, HostClientAuth | null>();
    const wildcard = new Map<string, HostClientAuth | null>();
    for (const [host, policy] of this.clientAuth) {
      const isWild = host.startsWith('*.');
      let setup: HostClientAuth | null = null;
      if (policy !== null) {
        const dot = host.indexOf('.');
        const entry = entries.get(host) ?? (!isWild && dot > 0 ? entries.get(`*.${host.slice(dot + 1)}`) : undefined);
        const pair: { certPem: string; keyPem: string } = entry?.cert ?? this.defaultPair;
        const context = this.authContext(entry ?? this.defaultPair, pair, policy);
        if (context instanceof Error) {
          problems.push({
            object: { kind: 'Secret', namespace: policy.secret.split('/')[0] ?? '', name: policy.secret.split('/')[1] ?? '' },
            reason: 'ClientCACertificateInvalid',
            message: `the CA bundle or CRL of Secret ${policy.secret} cannot be loaded (${context.message}); requests for ${host} are answered 421 until it is fixed`,
          });
          continue; // no context: contextFor serves the plain one, and the request stage answers 421
        }
        setup = { context, policy };
      }
      if (isWild) wildcard.set(host.slice(2), setup);
      else exact.set(host, setup);
    }
    this.authExact = exact;
    this.authWildcard = wildcard;
  }

  /**
   * Per host with ssl-ciphers or ssl-prefer-server-ciphers, spec.tls or not: the context its
   * handshakes start from (proxy/cipher-profiles.ts peeks at the ClientHello to use it). It
   * holds the default certificate; the SNI callback then switches to the host's own (its
   * binding's, or the default for a host without spec.tls), which keeps the cipher settings.
   * Without ssl-prefer-server-ciphers, a host with its own cipher list prefers the server's
   * order, as ingress-nginx's (whose http-level ssl_prefer_server_ciphers is on with its default
   * ConfigMap). Hosts without settings are recorded as null, so an exact host is not taken for
   * a wildcard host's profile.
   */
  private buildProfiles(problems: Problem[]): void {
    const exact = new Map<string, SecureContext | null>();
    const wildcard = new Map<string, SecureContext | null>();
    if (this.profilePair !== this.defaultPair) {
      this.profileContexts = new Map();
      this.profilePair = this.defaultPair;
    }
    const used = new Map<string, SecureContext>();
    let any = false;
    for (const [host, hs] of this.handshakes) {
      let context: SecureContext | null = null;
      const ciphers = hs?.ciphers ?? (TLS_OPTIONS.ciphers as string);
      const honor = hs?.honorCipherOrder ?? hs?.ciphers !== undefined;
      if (hs !== null && (ciphers !== TLS_OPTIONS.ciphers || honor !== TLS_OPTIONS.honorCipherOrder)) {
        const key = `${honor ? 'server' : 'client'}|${ciphers}`;
        context = used.get(key) ?? this.profileContexts.get(key) ?? null;
        if (context === null) {
          try {
            context = tls.createSecureContext({
              ...TLS_OPTIONS,
              ciphers,
              honorCipherOrder: honor,
              cert: this.defaultPair.certPem,
              key: this.defaultPair.keyPem,
              ...(this.ticketKeys ? { ticketKeys: this.ticketKeys } : {}),
            });
          } catch (err) {
            problems.push({
              object: hs.ingress,
              reason: 'TLSCiphersInvalid',
              message: `the ssl-ciphers of ${host} cannot be loaded (${err instanceof Error ? err.message : String(err)}); the host keeps the listener's ciphers`,
            });
          }
        }
        if (context !== null) {
          used.set(key, context);
          any = true;
        }
      }
      if (host.startsWith('*.')) wildcard.set(host.slice(2), context);
      else exact.set(host, context);
    }
    this.profileContexts = used;
    this.profileExact = any ? exact : new Map();
    this.profileWildcard = any ? wildcard : new Map();
  }

  private authContext(owner: object, pair: { certPem: string; keyPem: string }, policy: ClientCertPolicy): SecureContext | Error {
    let byKey = this.authContexts.get(owner);
    if (byKey === undefined) {
      byKey = new Map();
      this.authContexts.set(owner, byKey);
    }
    const cached = byKey.get(policy.key);
    if (cached !== undefined) return cached;
    try {
      const context = tls.createSecureContext({
        ...TLS_OPTIONS,
        cert: pair.certPem,
        key: pair.keyPem,
        ca: policy.caPem,
        ...(policy.crlPem !== '' ? { crl: policy.crlPem } : {}),
      });
      byKey.set(policy.key, context);
      return context;
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  /** The server's own context: the default certificate, and the shared ticket keys if any. */
  private defaultServerContext(): tls.SecureContextOptions {
    return { ...TLS_OPTIONS, cert: this.defaultPair.certPem, key: this.defaultPair.keyPem, ...(this.ticketKeys ? { ticketKeys: this.ticketKeys } : {}) };
  }

  /** The Secret's certificate; when it is unusable but was present, its last valid one (if still current). */
  private resolve(secretKey: string, now: Date): Resolved {
    const loaded = this.load(secretKey, now);
    if ('context' in loaded) {
      this.lastValid.set(secretKey, loaded);
      return { entry: loaded, problem: undefined };
    }
    const last = this.lastValid.get(secretKey);
    if (last === undefined) return { entry: undefined, problem: loaded };
    if (loaded.reason === 'TLSSecretNotFound' || last.cert.notAfter.getTime() <= now.getTime()) {
      this.lastValid.delete(secretKey);
      return { entry: undefined, problem: loaded };
    }
    return { entry: last, problem: loaded };
  }

  private load(secretKey: string, now: Date): Entry | Unusable {
    const secret = this.opts.store.get('Secret', secretKey);
    if (secret === undefined) return { reason: 'TLSSecretNotFound', message: `Secret ${secretKey} (type kubernetes.io/tls) was not found` };
    if (secret.type !== undefined && secret.type !== 'kubernetes.io/tls') {
      return { reason: 'TLSSecretWrongType', message: `Secret ${secretKey} has type ${secret.type}, not kubernetes.io/tls` };
    }
    let result = this.parsed.get(secret);
    if (result === undefined) {
      result = parseTlsSecret(secret, now);
      this.parsed.set(secret, result);
    }
    if (!result.ok) return result;
    if (result.cert.notAfter.getTime() <= now.getTime()) {
      return { reason: 'TLSCertificateExpired', message: `Secret ${secretKey}: the certificate expired on ${result.cert.notAfter.toISOString()}` };
    }
    let entry = this.contexts.get(secret);
    if (entry === undefined) {
      const context = tls.createSecureContext({ ...TLS_OPTIONS, cert: result.cert.certPem, key: result.cert.keyPem });
      entry = { context, cert: result.cert };
      this.contexts.set(secret, entry);
    }
    return entry;
  }
}
