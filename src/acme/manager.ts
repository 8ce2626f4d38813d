// The ACME scheduler: keeps a certificate in every TLS Secret that an annotated Ingress of ours
// asks for, deciding which Secret needs an order and when; order-executor.ts runs each order.
// Certificates are renewed at ~2/3 of their lifetime.
//
// Only the leader works (`setLeading`). Followers answer challenge tokens (ChallengeStore)
// and serve the certificates that arrive through their Secret watch like any other.
//
// Flow: store change → (coalesced) evaluate: desired certificates from the routing model's TLS
// bindings whose Ingress carries an ACME annotation (the model, not this code, reads
// `spec.tls`), checked against the Secrets in the store → the ones that need a certificate and are not backing off
// are queued → at most `concurrency` orders run in the background (OrderExecutor). A failure
// backs off per Secret (doubling, capped, or longer if the CA sent a Retry-After); whatever
// certificate the Secret holds keeps serving meanwhile.
//
// Nothing here blocks a caller: `reconcile()` only schedules.

import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../observe/log.ts';
import type { Store, StoreChange } from '../store/store.ts';
import type { Secret } from '../store/types.ts';
import type { KubeApi } from '../sources/kubernetes/api.ts';
import {
  backoffDelay,
  checkCertificate,
  desiredCertificates,
  hashJitter,
  type CertificateCheck,
  type CertificateReason,
  type DesiredCertificate,
  type TlsView,
} from './certificates.ts';
import { ChallengePublisher, type ChallengeStore } from './challenges.ts';
import { OrderExecutor, type OrderOutcome } from './order-executor.ts';
import { DEFAULT_ACME_SETTINGS, type AcmeSettings } from './settings.ts';
import { configureAcmeHttp } from './transport.ts';

export { DEFAULT_ACME_SETTINGS, LETSENCRYPT_PRODUCTION, LETSENCRYPT_STAGING } from './settings.ts';
export type { AcmeSettings } from './settings.ts';

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
   * The current routing configuration (its TLS bindings and our Ingresses), e.g. the
   * reconciler's `current`. Read at each evaluation.
   */
  routing: () => TlsView;
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

const MAX_TIMER_MS = 2 ** 31 - 1;

export class AcmeManager {
  readonly settings: AcmeSettings;
  private readonly store: Store;
  private readonly log: Logger;
  private readonly challenges: ChallengeStore;
  private readonly publisher: ChallengePublisher;
  private readonly executor: OrderExecutor;
  private readonly routing: () => TlsView;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly jitter: (seed: string) => number;
  private readonly onOrder: ((e: OrderEvent) => void) | undefined;

  private leading = false;
  private started = false;
  private unsubscribe: (() => void) | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  /** The pending evaluation is for a store change: check again if the routing config lags. */
  private followUp = false;
  private wakeTimer: NodeJS.Timeout | undefined;
  private readonly states = new Map<string, CertState>();
  private readonly queue: CertState[] = [];
  private running = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly checkCache = new WeakMap<Secret, { hostsKey: string; check: CertificateCheck }>();
  private reportedProblems = new Set<string>();
  private readonly counters: Record<OrderResult, number> = { issued: 0, failed: 0, aborted: 0 };

  constructor(opts: AcmeManagerOptions) {
    this.settings = { ...DEFAULT_ACME_SETTINGS, ...stripUndefined(opts.settings), namespace: opts.settings.namespace } as AcmeSettings;
    this.store = opts.store;
    this.log = opts.log.child({ component: 'acme' });
    this.challenges = opts.challenges;
    this.routing = opts.routing;
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.jitter = opts.jitter ?? hashJitter;
    this.onOrder = opts.onOrder;
    this.publisher =
      opts.publisher ??
      new ChallengePublisher({ api: opts.api, namespace: this.settings.namespace, name: this.settings.challengeSecretName, log: opts.log });
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
    this.executor = new OrderExecutor({
      api: opts.api,
      log: this.log,
      settings: this.settings,
      challenges: this.challenges,
      publisher: this.publisher,
      isLeading: () => this.leading,
      now: this.now,
      jitter: this.jitter,
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
      this.executor.reset();
    }
  }

  get isLeading(): boolean {
    return this.leading;
  }

  /** Schedules an evaluation (coalesced: at most one per `debounceMs`). Never blocks. */
  reconcile(): void {
    this.scheduleEvaluation(true);
  }

  /**
   * `followUp`: the evaluation is for a store change. The routing configuration is rebuilt
   * after the same change on the reconciler's own timer; if it has not been swapped in by the
   * time we evaluate (or the change did not touch routing), we look once more, later.
   */
  private scheduleEvaluation(followUp: boolean): void {
    if (followUp) this.followUp = true;
    if (!this.leading || !this.started || this.debounceTimer) return;
    const seen = this.routing();
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = undefined;
      const again = this.followUp;
      this.followUp = false;
      this.evaluate();
      if (again && this.routing() === seen) this.scheduleEvaluation(false);
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
    const { certificates, problems } = desiredCertificates(this.routing(), (ref) => this.store.get('Ingress', `${ref.namespace}/${ref.name}`));
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

  /** Runs one order (OrderExecutor) and turns its outcome into this Secret's state and an event. */
  private async runOrder(st: CertState): Promise<void> {
    const started = this.now();
    // The hosts this order is for: the Ingresses may change while it runs.
    const hosts = st.hosts;
    const hostsKey = st.hostsKey;
    const ref = `${st.namespace}/${st.secretName}`;
    const outcome: OrderOutcome = await this.executor.run({ namespace: st.namespace, secretName: st.secretName, hosts, reason: st.check?.reason ?? 'missing' });
    if (outcome.check !== undefined) st.check = outcome.check;
    const event = (result: OrderResult, reason: CertificateReason, error?: string) => {
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
    switch (outcome.type) {
      case 'not-needed':
        return;
      case 'issued':
        st.failures = 0;
        st.retryAt = undefined;
        st.lastError = undefined;
        event('issued', outcome.reason);
        return;
      case 'aborted':
        this.log.info('acme: order abandoned, no longer the leader', { secret: ref });
        event('aborted', outcome.reason);
        return;
      case 'failed': {
        if (st.hostsKey !== hostsKey) {
          // The wanted hosts changed meanwhile: this failure says nothing about the new set.
          this.log.info('acme: order for a superseded host set ended', { secret: ref, hosts, err: outcome.error });
          event('aborted', outcome.reason, outcome.error);
          return;
        }
        st.failures++;
        this.executor.reset();
        const delay = Math.max(backoffDelay(st.failures, this.settings.backoff, this.random()), outcome.retryAfterMs);
        st.retryAt = this.now() + delay;
        st.lastError = outcome.error;
        this.log.warn('acme: certificate order failed; the current certificate, if any, keeps serving', {
          secret: ref,
          hosts,
          err: outcome.error,
          failures: st.failures,
          retryInMs: delay,
          ...(outcome.retryAfterMs > 0 ? { retryAfterMs: outcome.retryAfterMs } : {}),
        });
        event('failed', outcome.reason, outcome.error);
        return;
      }
    }
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
