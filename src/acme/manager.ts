// The ACME manager: keeps a certificate in every TLS Secret that an annotated Ingress of ours
// asks for, ordering it over HTTP-01 from an ACME CA and renewing it at ~2/3 of its lifetime.
//
// Only the leader works (`setLeading`). Followers answer challenge tokens (ChallengeStore)
// and serve the certificates that arrive through their Secret watch like any other.
//
// Flow: store change → (coalesced) evaluate: desired certificates from the Ingresses, checked
// against the Secrets in the store → the ones that need a certificate and are not backing off
// are queued → at most `concurrency` orders run in the background. An order re-reads the
// Secret from the API first (the store may lag), publishes each token in the challenge Secret,
// waits until this replica's own ChallengeStore sees it plus a propagation delay (the other
// replicas' watches), lets the CA validate, finalizes, and writes `tls.crt` (full chain) and
// `tls.key` to the Secret. A failure backs off per Secret (doubling, capped, or longer if the
// CA sent a Retry-After); whatever certificate the Secret holds keeps serving meanwhile.
//
// Nothing here blocks a caller: `reconcile()` only schedules.

import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import * as acme from 'acme-client';
import type { Logger } from '../observe/log.ts';
import type { Store, StoreChange } from '../store/store.ts';
import type { Ingress, IngressClass, Secret } from '../store/types.ts';
import type { KubeApi } from '../sources/kubernetes/api.ts';
import type { ClassSelector } from '../model/ingress-class.ts';
import { AccountStore } from './account.ts';
import {
  backoffDelay,
  checkCertificate,
  DEFAULT_ORDER_BACKOFF,
  DEFAULT_RENEWAL_POLICY,
  desiredCertificates,
  hashJitter,
  HOSTS_ANNOTATION,
  MANAGED_ANNOTATION,
  parseCertificatePem,
  renewalTime,
  retryAfterFromMessage,
  uncoveredHosts,
  type BackoffPolicy,
  type CertificateCheck,
  type CertificateReason,
  type DesiredCertificate,
  type RenewalPolicy,
} from './certificates.ts';
import { ChallengePublisher, MANAGED_BY_LABEL, MANAGED_BY_VALUE, type ChallengeStore } from './challenges.ts';
import { b64, getSecret, mutateSecret, TLS_SECRET_TYPE } from './secrets.ts';
import { AcmeHttpError, configureAcmeHttp, explainError, runInOrderContext, type OrderContext } from './transport.ts';

export const LETSENCRYPT_PRODUCTION = 'https://acme-v02.api.letsencrypt.org/directory';
export const LETSENCRYPT_STAGING = 'https://acme-staging-v02.api.letsencrypt.org/directory';

export interface AcmeSettings {
  /** ACME directory URL; default Let's Encrypt production. */
  directoryUrl: string;
  /** Account contact (optional; Let's Encrypt no longer mails expiry notices). */
  email: string | undefined;
  /** PEM file of CAs to trust for the directory (private or test CA). Process-global, see transport.ts. */
  caBundlePath: string | undefined;
  /** Namespace of the account and challenge Secrets (the pod's). */
  namespace: string;
  accountSecretName: string;
  challengeSecretName: string;
  /** Orders running at once. */
  concurrency: number;
  /** After this replica sees a token, wait this long for the other replicas' watches. */
  propagationDelayMs: number;
  /** Give up on an order when this replica has not seen its token after this long. */
  challengeVisibleTimeoutMs: number;
  /** Give up on an order (as a failure) after this long. */
  orderTimeoutMs: number;
  /** Store changes within this window are evaluated together. */
  debounceMs: number;
  /** Evaluate at least this often even when nothing changes. */
  resyncIntervalMs: number;
  /** Per-Secret backoff after failed orders (1 min doubling to 24 h). */
  backoff: BackoffPolicy;
  renewal: RenewalPolicy;
  /** Certificate key type. */
  keyType: 'ecdsa-p256' | 'rsa-2048';
  /** acme-client's polling of pending authorizations/orders. */
  poll: { attempts: number; minMs: number; maxMs: number };
  /** A 429/503 Retry-After longer than this fails the order rather than sleeping inside it. */
  maxInlineRetryAfterMs: number;
  /** acme-client's own inline retries of network errors/429/5xx (process-global). */
  httpRetryMaxAttempts: number;
  httpRetryDelaySeconds: number;
  httpTimeoutMs: number;
}

export const DEFAULT_ACME_SETTINGS: Omit<AcmeSettings, 'namespace'> = {
  directoryUrl: LETSENCRYPT_PRODUCTION,
  email: undefined,
  caBundlePath: undefined,
  accountSecretName: 'portico-acme-account',
  challengeSecretName: 'portico-acme-challenges',
  concurrency: 2,
  propagationDelayMs: 2_000,
  challengeVisibleTimeoutMs: 30_000,
  orderTimeoutMs: 10 * 60_000,
  debounceMs: 1_000,
  resyncIntervalMs: 3_600_000,
  backoff: DEFAULT_ORDER_BACKOFF,
  renewal: DEFAULT_RENEWAL_POLICY,
  keyType: 'ecdsa-p256',
  poll: { attempts: 10, minMs: 2_000, maxMs: 30_000 },
  maxInlineRetryAfterMs: 30_000,
  httpRetryMaxAttempts: 3,
  httpRetryDelaySeconds: 5,
  httpTimeoutMs: 30_000,
};

export type OrderResult = 'issued' | 'failed' | 'aborted';

export interface OrderEvent {
  namespace: string;
  secretName: string;
  hosts: readonly string[];
  result: OrderResult;
  /** Why the order was placed. */
  reason: CertificateReason;
  durationMs: number;
  error?: string;
}

export type CertificatePhase = 'valid' | 'queued' | 'ordering' | 'backoff' | 'pending';

export interface CertificateStatus {
  namespace: string;
  secretName: string;
  hosts: readonly string[];
  phase: CertificatePhase;
  /** The last verdict on the Secret's content. */
  reason: CertificateReason;
  notAfter: number | undefined;
  /** When the next order is due: the renewal time of a valid certificate, else the end of the backoff (or now). */
  nextAttemptAt: number | undefined;
  failures: number;
  lastError: string | undefined;
}

export interface AcmeStatus {
  leading: boolean;
  /** Orders since start, by result (counters). */
  orders: Record<OrderResult, number>;
  certificates: CertificateStatus[];
}

export interface AcmeManagerOptions {
  api: KubeApi;
  store: Store;
  log: Logger;
  /** This replica's ChallengeStore (already started): the leader waits until it sees each token. */
  challenges: ChallengeStore;
  /**
   * Which Ingresses are ours, from the IngressClasses in the store: model/ingress-class.ts
   * classSelector with our controller name and class, handed in by the wiring (main.ts).
   */
  selectClasses: (classes: Iterable<IngressClass>) => ClassSelector;
  settings: Partial<AcmeSettings> & { namespace: string };
  /** Test hooks. */
  now?: () => number;
  random?: () => number;
  jitter?: (seed: string) => number;
  publisher?: ChallengePublisher;
  /** Called after every order (for metrics). */
  onOrder?: (event: OrderEvent) => void;
}

interface CertState {
  key: string;
  namespace: string;
  secretName: string;
  hosts: readonly string[];
  hostsKey: string;
  wanted: boolean;
  phase: 'idle' | 'queued' | 'ordering';
  check: CertificateCheck | undefined;
  failures: number;
  retryAt: number | undefined;
  lastError: string | undefined;
}

class NotLeaderError extends Error {
  override name = 'NotLeaderError';
  constructor() {
    super('no longer the leader');
  }
}

const MAX_TIMER_MS = 2 ** 31 - 1;

export class AcmeManager {
  readonly settings: AcmeSettings;
  private readonly api: KubeApi;
  private readonly store: Store;
  private readonly log: Logger;
  private readonly challenges: ChallengeStore;
  private readonly publisher: ChallengePublisher;
  private readonly accounts: AccountStore;
  private readonly selectClasses: (classes: Iterable<IngressClass>) => ClassSelector;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly jitter: (seed: string) => number;
  private readonly onOrder: ((e: OrderEvent) => void) | undefined;

  private leading = false;
  private started = false;
  private unsubscribe: (() => void) | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private wakeTimer: NodeJS.Timeout | undefined;
  private readonly states = new Map<string, CertState>();
  private readonly queue: CertState[] = [];
  private running = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private clientPromise: Promise<acme.Client> | undefined;
  private readonly checkCache = new WeakMap<Secret, { hostsKey: string; check: CertificateCheck }>();
  private reportedProblems = new Set<string>();
  private readonly counters: Record<OrderResult, number> = { issued: 0, failed: 0, aborted: 0 };

  constructor(opts: AcmeManagerOptions) {
    this.settings = { ...DEFAULT_ACME_SETTINGS, ...stripUndefined(opts.settings), namespace: opts.settings.namespace } as AcmeSettings;
    this.api = opts.api;
    this.store = opts.store;
    this.log = opts.log.child({ component: 'acme' });
    this.challenges = opts.challenges;
    this.selectClasses = opts.selectClasses;
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.jitter = opts.jitter ?? hashJitter;
    this.onOrder = opts.onOrder;
    this.publisher =
      opts.publisher ??
      new ChallengePublisher({ api: opts.api, namespace: this.settings.namespace, name: this.settings.challengeSecretName, log: opts.log });
    this.accounts = new AccountStore({ api: opts.api, namespace: this.settings.namespace, name: this.settings.accountSecretName });
    if (!(this.settings.concurrency >= 1)) throw new Error('acme: concurrency must be at least 1');
    const s = this.settings;
    let caBundle: string | undefined;
    if (s.caBundlePath !== undefined && s.caBundlePath !== '') {
      try {
        caBundle = readFileSync(s.caBundlePath, 'utf8');
      } catch (err) {
        throw new Error(`acme: cannot read the CA bundle ${s.caBundlePath}: ${(err as Error).message}`);
      }
      if (!caBundle.includes('BEGIN CERTIFICATE')) throw new Error(`acme: ${s.caBundlePath} holds no PEM certificate`);
    }
    configureAcmeHttp({
      ...(caBundle !== undefined ? { caBundle } : {}),
      retryMaxAttempts: s.httpRetryMaxAttempts,
      retryDefaultDelaySeconds: s.httpRetryDelaySeconds,
      requestTimeoutMs: s.httpTimeoutMs,
    });
  }

  /** Follows store changes (Ingress, IngressClass, Secret). Work happens only while leading. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.unsubscribe = this.store.subscribe((c: StoreChange) => {
      if (c.kind === 'Ingress' || c.kind === 'IngressClass' || c.kind === 'Secret') this.reconcile();
    });
    if (this.leading) this.reconcile();
  }

  /** Stops scheduling. Orders already running cannot be cancelled; they finish without writing when no longer leading. */
  stop(): void {
    this.started = false;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.setLeading(false);
  }

  /** Wire to the leader elector's onStartedLeading / onStoppedLeading. */
  setLeading(leading: boolean): void {
    if (leading === this.leading) return;
    this.leading = leading;
    if (leading) {
      this.log.info('acme: leading; managing certificates', { directory: this.settings.directoryUrl });
      // Tokens left by a previous leader that died mid-order are stale.
      this.publisher.clear().catch((err: unknown) => this.log.warn('acme: could not clear stale challenge tokens', { err: errorMessage(err) }));
      this.reportedProblems = new Set();
      if (this.started) this.reconcile();
    } else {
      this.clearTimers();
      for (const st of this.queue.splice(0)) st.phase = 'idle';
      this.clientPromise = undefined;
    }
  }

  get isLeading(): boolean {
    return this.leading;
  }

  /** Schedules an evaluation (coalesced: at most one per `debounceMs`). Never blocks. */
  reconcile(): void {
    if (!this.leading || !this.started || this.debounceTimer) return;
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = undefined;
      this.evaluate();
    }, this.settings.debounceMs);
  }

  /** Evaluates now (synchronously) and starts whatever orders are due. */
  reconcileNow(): void {
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    this.debounceTimer = undefined;
    this.evaluate();
  }

  /** Resolves when no order is queued or running (tests, shutdown). */
  async idle(): Promise<void> {
    for (let i = 0; i < 10_000 && (this.inFlight.size > 0 || this.queue.length > 0); i++) {
      await Promise.allSettled([...this.inFlight]);
      if (this.inFlight.size === 0 && this.queue.length > 0) await sleep(10);
    }
  }

  status(): AcmeStatus {
    const certificates: CertificateStatus[] = [];
    for (const st of this.states.values()) {
      if (!st.wanted) continue;
      const now = this.now();
      let phase: CertificatePhase;
      if (st.phase === 'queued') phase = 'queued';
      else if (st.phase === 'ordering') phase = 'ordering';
      else if (st.retryAt !== undefined && st.retryAt > now && st.check?.need !== false) phase = 'backoff';
      else if (st.check?.need === false) phase = 'valid';
      else phase = 'pending';
      certificates.push({
        namespace: st.namespace,
        secretName: st.secretName,
        hosts: st.hosts,
        phase,
        reason: st.check?.reason ?? 'missing',
        notAfter: st.check?.notAfter,
        nextAttemptAt: st.check?.need === false ? st.check.renewAt : Math.max(st.retryAt ?? now, now),
        failures: st.failures,
        lastError: st.lastError,
      });
    }
    certificates.sort((a, b) => (a.namespace + '/' + a.secretName).localeCompare(b.namespace + '/' + b.secretName));
    return { leading: this.leading, orders: { ...this.counters }, certificates };
  }

  // ---------------------------------------------------------------------------------------

  private clearTimers(): void {
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.debounceTimer = undefined;
    this.wakeTimer = undefined;
  }

  private evaluate(): void {
    if (!this.leading) return;
    const now = this.now();
    const selector = this.selectClasses(this.store.list('IngressClass'));
    const { certificates, problems } = desiredCertificates(this.store.list('Ingress'), (i: Ingress) => selector.isOurs(i));
    this.reportProblems(problems);

    for (const [key, st] of this.states) {
      if (certificates.has(key)) continue;
      st.wanted = false; // no longer requested: never renewed again
      if (st.phase === 'queued') removeFrom(this.queue, st);
      if (st.phase !== 'ordering') this.states.delete(key);
    }

    for (const [key, want] of certificates) {
      const st = this.stateFor(key, want);
      if (st.phase !== 'idle') continue;
      st.check = this.cachedCheck(this.store.get('Secret', key), st, now);
      if (!st.check.need) continue;
      if (st.retryAt !== undefined && st.retryAt > now) continue;
      st.phase = 'queued';
      this.queue.push(st);
    }
    this.pump();
    this.armWakeTimer(now);
  }

  private stateFor(key: string, want: DesiredCertificate): CertState {
    const hostsKey = want.hosts.join(',');
    let st = this.states.get(key);
    if (!st) {
      st = {
        key,
        namespace: want.namespace,
        secretName: want.secretName,
        hosts: want.hosts,
        hostsKey,
        wanted: true,
        phase: 'idle',
        check: undefined,
        failures: 0,
        retryAt: undefined,
        lastError: undefined,
      };
      this.states.set(key, st);
    }
    st.wanted = true;
    if (st.hostsKey !== hostsKey) {
      // Different hosts: a fresh start, the old failures were about other names.
      st.hosts = want.hosts;
      st.hostsKey = hostsKey;
      st.failures = 0;
      st.retryAt = undefined;
      st.lastError = undefined;
    }
    return st;
  }

  /** checkCertificate, with the time-independent part cached per Secret object and host set. */
  private cachedCheck(secret: Secret | undefined, st: CertState, now: number): CertificateCheck {
    if (secret === undefined) return checkCertificate(undefined, st.hosts, now);
    let c = this.checkCache.get(secret);
    if (!c || c.hostsKey !== st.hostsKey) {
      c = { hostsKey: st.hostsKey, check: checkCertificate(secret, st.hosts, -Infinity, this.settings.renewal, this.jitter) };
      this.checkCache.set(secret, c);
    }
    const check = c.check;
    if (check.reason === 'valid' && check.renewAt !== undefined && now >= check.renewAt) return { ...check, need: true, reason: 'renewal-due' };
    return check;
  }

  private armWakeTimer(now: number): void {
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    if (!this.leading) return;
    let next = now + this.settings.resyncIntervalMs;
    for (const st of this.states.values()) {
      if (st.phase !== 'idle' || !st.check) continue;
      const at = st.check.need ? st.retryAt : st.check.renewAt;
      if (at !== undefined && at > now && at < next) next = at;
    }
    const delay = Math.min(MAX_TIMER_MS, Math.max(10, next - now));
    this.wakeTimer = setTimeout(() => {
      this.wakeTimer = undefined;
      this.evaluate();
    }, delay);
    this.wakeTimer.unref?.();
  }

  private pump(): void {
    while (this.leading && this.running < this.settings.concurrency && this.queue.length > 0) {
      const st = this.queue.shift()!;
      if (!st.wanted) {
        st.phase = 'idle';
        continue;
      }
      st.phase = 'ordering';
      this.running++;
      const p: Promise<void> = this.runOrder(st).finally(() => {
        this.running--;
        this.inFlight.delete(p);
        st.phase = 'idle';
        if (!st.wanted && this.states.get(st.key) === st) this.states.delete(st.key);
        if (this.leading) this.evaluate();
      });
      this.inFlight.add(p);
    }
  }

  private assertLeading(): void {
    if (!this.leading) throw new NotLeaderError();
  }

  private async runOrder(st: CertState): Promise<void> {
    const started = this.now();
    // The hosts this order is for: the Ingresses may change while it runs.
    const hosts = st.hosts;
    const hostsKey = st.hostsKey;
    const ref = `${st.namespace}/${st.secretName}`;
    const ctx: OrderContext = { maxInlineRetryAfterMs: this.settings.maxInlineRetryAfterMs, now: this.now };
    let reason: CertificateReason = st.check?.reason ?? 'missing';
    const event = (result: OrderResult, error?: string) => {
      this.counters[result]++;
      try {
        this.onOrder?.({
          namespace: st.namespace,
          secretName: st.secretName,
          hosts,
          result,
          reason,
          durationMs: this.now() - started,
          ...(error !== undefined ? { error } : {}),
        });
      } catch {
        /* a metrics hook must not break ordering */
      }
    };
    try {
      this.assertLeading();
      // The store may lag behind the API (e.g. our own write a moment ago): decide on the
      // authoritative copy.
      const fresh = await getSecret(this.api, st.namespace, st.secretName);
      const check = checkCertificate(fresh, hosts, this.now(), this.settings.renewal, this.jitter);
      st.check = check;
      if (!check.need) return;
      reason = check.reason;
      if (fresh?.type !== undefined && fresh.type !== TLS_SECRET_TYPE) {
        throw new Error(`Secret ${ref} exists with type ${fresh.type}; Portico only writes ${TLS_SECRET_TYPE} Secrets (delete it or use another secretName)`);
      }
      this.log.info('acme: ordering a certificate', { secret: ref, hosts, reason: check.reason, ...(check.detail ? { detail: check.detail } : {}) });
      const { certPem, keyPem } = await runInOrderContext(ctx, () => this.order(hosts));
      const cert = parseCertificatePem(certPem);
      const missing = uncoveredHosts(cert.x509, hosts);
      if (missing.length > 0) throw new Error(`the CA issued a certificate that does not cover ${missing.join(', ')}`);
      this.assertLeading();
      await this.writeCertificate(st, hosts, certPem, keyPem);
      const renewAt = renewalTime(cert.notBefore, cert.notAfter, this.settings.renewal, this.jitter(`${ref}/${cert.serial}`));
      st.check = { need: false, reason: 'valid', serial: cert.serial, notAfter: cert.notAfter, renewAt };
      this.log.info('acme: certificate issued', {
        secret: ref,
        hosts,
        serial: cert.serial,
        notAfter: new Date(cert.notAfter).toISOString(),
        renewAt: new Date(renewAt).toISOString(),
        ms: this.now() - started,
      });
      if (this.now() >= renewAt) {
        // Do not spin ordering certificates that are due the moment they arrive.
        throw new Error('the new certificate is already due for renewal by this clock (clock skew, or a very short lifetime)');
      }
      st.failures = 0;
      st.retryAt = undefined;
      st.lastError = undefined;
      event('issued');
    } catch (err) {
      if (err instanceof NotLeaderError) {
        this.log.info('acme: order abandoned, no longer the leader', { secret: ref });
        event('aborted');
        return;
      }
      const message = describeError(err, ctx);
      if (st.hostsKey !== hostsKey) {
        // The wanted hosts changed meanwhile: this failure says nothing about the new set.
        this.log.info('acme: order for a superseded host set ended', { secret: ref, hosts, err: message });
        event('aborted', message);
        return;
      }
      const now = this.now();
      const retryAfter = Math.max(
        err instanceof AcmeHttpError ? (err.retryAfterMs ?? 0) : 0,
        ctx.retryAfterMs ?? 0,
        retryAfterFromMessage(message, now) ?? 0,
      );
      st.failures++;
      // Reload the account next time: the stored registration may be what failed.
      this.clientPromise = undefined;
      const delay = Math.max(backoffDelay(st.failures, this.settings.backoff, this.random()), retryAfter);
      st.retryAt = now + delay;
      st.lastError = message;
      this.log.warn('acme: certificate order failed; the current certificate, if any, keeps serving', {
        secret: ref,
        hosts,
        err: message,
        failures: st.failures,
        retryInMs: delay,
        ...(retryAfter > 0 ? { retryAfterMs: retryAfter } : {}),
      });
      event('failed', message);
    }
  }

  /** Places one order with acme-client's auto() and returns the chain and its key (PEM). */
  private async order(hosts: readonly string[]): Promise<{ certPem: string; keyPem: string }> {
    const client = await this.client();
    const key =
      this.settings.keyType === 'rsa-2048' ? await acme.crypto.createPrivateRsaKey(2048) : await acme.crypto.createPrivateEcdsaKey('P-256');
    const first = hosts[0]!;
    const [, csr] = await acme.crypto.createCsr({ altNames: [...hosts], ...(first.length <= 64 ? { commonName: first } : {}) }, key);
    const email = this.settings.email;
    const certPem = await withTimeout(
      client.auto({
        csr,
        ...(email ? { email } : {}),
        termsOfServiceAgreed: true,
        challengePriority: ['http-01'],
        // The built-in self-check would fetch http://<host>/ from inside the cluster, which
        // often cannot reach the load balancer (hairpin); the CA's validation is the check.
        skipChallengeVerification: true,
        challengeCreateFn: async (authz, challenge, keyAuthorization) => {
          if (challenge.type !== 'http-01') throw new Error(`the CA offered no http-01 challenge for ${authz.identifier.value}`);
          this.assertLeading();
          const token = (challenge as { token: string }).token;
          await this.publisher.publish(token, keyAuthorization);
          await this.challenges.waitFor(token, keyAuthorization, this.settings.challengeVisibleTimeoutMs);
          if (this.settings.propagationDelayMs > 0) await sleep(this.settings.propagationDelayMs);
          this.assertLeading();
        },
        challengeRemoveFn: async (_authz, challenge) => {
          if (challenge.type !== 'http-01') return;
          await this.publisher.remove((challenge as { token: string }).token);
        },
      }),
      this.settings.orderTimeoutMs,
      'the ACME order',
    );
    return { certPem, keyPem: key.toString('utf8') };
  }

  /** The ACME client for the stored (or a newly registered) account; one per leadership term. */
  private client(): Promise<acme.Client> {
    if (!this.clientPromise) {
      const p = this.loadClient();
      this.clientPromise = p;
      p.catch(() => {
        if (this.clientPromise === p) this.clientPromise = undefined;
      });
    }
    return this.clientPromise;
  }

  private async loadClient(): Promise<acme.Client> {
    try {
      return await this.registerClient();
    } catch (err) {
      // Shared by concurrent orders: make the message stand on its own.
      throw explainError(err);
    }
  }

  private async registerClient(): Promise<acme.Client> {
    const { directoryUrl, email } = this.settings;
    const account = await this.accounts.loadOrCreate();
    const accountUrl = account.urls[directoryUrl];
    const client = new acme.Client({
      directoryUrl,
      accountKey: account.keyPem,
      ...(accountUrl ? { accountUrl } : {}),
      backoffAttempts: this.settings.poll.attempts,
      backoffMin: this.settings.poll.minMs,
      backoffMax: this.settings.poll.maxMs,
    });
    const contact = email ? [`mailto:${email}`] : [];
    if (!accountUrl) {
      this.assertLeading();
      await client.createAccount({ termsOfServiceAgreed: true, contact });
      const url = client.getAccountUrl();
      await this.accounts.saveRegistration(account.keyPem, directoryUrl, url, email);
      this.log.info('acme: account registered', { directory: directoryUrl, account: url, secret: this.accounts.secretRef });
    } else if ((account.email ?? undefined) !== email) {
      this.assertLeading();
      await client.updateAccount({ contact });
      await this.accounts.saveRegistration(account.keyPem, directoryUrl, accountUrl, email);
      this.log.info('acme: account contact updated', { directory: directoryUrl, account: accountUrl });
    }
    return client;
  }

  private async writeCertificate(st: CertState, hosts: readonly string[], certPem: string, keyPem: string): Promise<void> {
    await mutateSecret(this.api, st.namespace, st.secretName, (current) => {
      if (current?.type !== undefined && current.type !== TLS_SECRET_TYPE) {
        throw new Error(`Secret ${st.namespace}/${st.secretName} has type ${current.type}; not overwriting it`);
      }
      const annotations = { ...(current?.metadata.annotations ?? {}), [MANAGED_ANNOTATION]: 'true', [HOSTS_ANNOTATION]: hosts.join(',') };
      const data = { ...(current?.data ?? {}), 'tls.crt': b64(certPem), 'tls.key': b64(keyPem) };
      if (current === undefined) {
        return {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: st.secretName, namespace: st.namespace, annotations, labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE } },
          type: TLS_SECRET_TYPE,
          data,
        };
      }
      return { ...current, metadata: { ...current.metadata, annotations }, data };
    });
  }

  private reportProblems(problems: readonly { ingress: string; message: string }[]): void {
    const next = new Set<string>();
    for (const p of problems) {
      const line = `${p.ingress}: ${p.message}`;
      next.add(line);
      if (!this.reportedProblems.has(line)) this.log.warn('acme: cannot order for an Ingress', { ingress: p.ingress, problem: p.message });
    }
    this.reportedProblems = next;
  }
}

function removeFrom<T>(arr: T[], item: T): void {
  const i = arr.indexOf(item);
  if (i !== -1) arr.splice(i, 1);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A readable reason, replacing acme-client's TypeError after exhausted network retries. */
function describeError(err: unknown, ctx: OrderContext): string {
  return errorMessage(explainError(err, ctx)) || (ctx.lastNetworkError ?? 'unknown error');
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  p.catch(() => undefined); // an abandoned order may still fail later; nobody listens then
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
