// Runs one ACME order for one certificate Secret, start to end; decides nothing about when.
// The scheduler (manager.ts) picks the Secret and the moment, and turns the outcome into
// backoff, status and metrics.
//
// An order re-reads the Secret from the API first (the store may lag, e.g. behind our own
// write a moment ago) and stops if it no longer needs a certificate; otherwise it publishes
// each HTTP-01 token in the challenge Secret, waits until this replica's own ChallengeStore
// sees it plus a propagation delay (the other replicas' watches), lets the CA validate,
// finalizes, checks that the certificate covers every host, and writes `tls.crt` (full chain)
// and `tls.key` to the Secret. It stops without writing as soon as this replica no longer
// leads.

import { setTimeout as sleep } from 'node:timers/promises';
import * as acme from 'acme-client';
import type { Logger } from '../observe/log.ts';
import type { KubeApi } from '../sources/kubernetes/api.ts';
import { AccountStore } from './account.ts';
import {
  checkCertificate,
  HOSTS_ANNOTATION,
  MANAGED_ANNOTATION,
  parseCertificatePem,
  renewalTime,
  retryAfterFromMessage,
  uncoveredHosts,
  type CertificateCheck,
  type CertificateReason,
} from './certificates.ts';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, type ChallengePublisher, type ChallengeStore } from './challenges.ts';
import { b64, getSecret, mutateSecret, TLS_SECRET_TYPE } from './secrets.ts';
import type { AcmeSettings } from './settings.ts';
import { AcmeHttpError, explainError, runInOrderContext, type OrderContext } from './transport.ts';

/** The certificate to order: which Secret, for which hosts. */
export interface OrderJob {
  namespace: string;
  secretName: string;
  /** Lower-case, sorted. */
  hosts: readonly string[];
  /** Why the scheduler thinks a certificate is needed (from the store's copy of the Secret). */
  reason: CertificateReason;
}

export type OrderOutcome =
  /** The API's copy of the Secret is fine after all: nothing ordered. */
  | { type: 'not-needed'; check: CertificateCheck }
  | { type: 'issued'; reason: CertificateReason; check: CertificateCheck }
  | {
      type: 'failed';
      reason: CertificateReason;
      error: string;
      /** The longest wait the CA asked for (Retry-After, or a rate-limit message), ms; 0 when none. */
      retryAfterMs: number;
      /** What is known about the Secret now, when the order got that far. */
      check?: CertificateCheck;
    }
  /** This replica stopped leading: nothing was written. */
  | { type: 'aborted'; reason: CertificateReason; check?: CertificateCheck };

export interface OrderExecutorOptions {
  api: KubeApi;
  log: Logger;
  settings: AcmeSettings;
  challenges: ChallengeStore;
  publisher: ChallengePublisher;
  isLeading: () => boolean;
  now: () => number;
  jitter: (seed: string) => number;
}

class NotLeaderError extends Error {
  override name = 'NotLeaderError';
  constructor() {
    super('no longer the leader');
  }
}

export class OrderExecutor {
  private readonly opts: OrderExecutorOptions;
  private readonly settings: AcmeSettings;
  private readonly log: Logger;
  private readonly accounts: AccountStore;
  private clientPromise: Promise<acme.Client> | undefined;

  constructor(opts: OrderExecutorOptions) {
    this.opts = opts;
    this.settings = opts.settings;
    this.log = opts.log;
    this.accounts = new AccountStore({ api: opts.api, namespace: opts.settings.namespace, name: opts.settings.accountSecretName });
  }

  /**
   * Forgets the ACME client: the account is loaded again for the next order (a new leadership
   * term, or after a failure: the stored registration may be what failed).
   */
  reset(): void {
    this.clientPromise = undefined;
  }

  /** Runs one order to its end. Never throws: every ending is an outcome. */
  async run(job: OrderJob): Promise<OrderOutcome> {
    const { now } = this.opts;
    const started = now();
    const { hosts } = job;
    const ref = `${job.namespace}/${job.secretName}`;
    const ctx: OrderContext = { maxInlineRetryAfterMs: this.settings.maxInlineRetryAfterMs, now };
    let reason = job.reason;
    let known: CertificateCheck | undefined;
    try {
      this.assertLeading();
      // The store may lag behind the API: decide on the authoritative copy.
      const fresh = await getSecret(this.opts.api, job.namespace, job.secretName);
      const check = checkCertificate(fresh, hosts, now(), this.settings.renewal, this.opts.jitter);
      known = check;
      if (!check.need) return { type: 'not-needed', check };
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
      await this.writeCertificate(job, certPem, keyPem);
      const renewAt = renewalTime(cert.notBefore, cert.notAfter, this.settings.renewal, this.opts.jitter(`${ref}/${cert.serial}`));
      known = { need: false, reason: 'valid', serial: cert.serial, notAfter: cert.notAfter, renewAt };
      this.log.info('acme: certificate issued', {
        secret: ref,
        hosts,
        serial: cert.serial,
        notAfter: new Date(cert.notAfter).toISOString(),
        renewAt: new Date(renewAt).toISOString(),
        ms: now() - started,
      });
      if (now() >= renewAt) {
        // Do not spin ordering certificates that are due the moment they arrive.
        throw new Error('the new certificate is already due for renewal by this clock (clock skew, or a very short lifetime)');
      }
      return { type: 'issued', reason, check: known };
    } catch (err) {
      if (err instanceof NotLeaderError) return { type: 'aborted', reason, ...(known !== undefined ? { check: known } : {}) };
      const error = describeError(err, ctx);
      const retryAfterMs = Math.max(
        err instanceof AcmeHttpError ? (err.retryAfterMs ?? 0) : 0,
        ctx.retryAfterMs ?? 0,
        retryAfterFromMessage(error, now()) ?? 0,
      );
      return { type: 'failed', reason, error, retryAfterMs, ...(known !== undefined ? { check: known } : {}) };
    }
  }

  private assertLeading(): void {
    if (!this.opts.isLeading()) throw new NotLeaderError();
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
          await this.opts.publisher.publish(token, keyAuthorization);
          await this.opts.challenges.waitFor(token, keyAuthorization, this.settings.challengeVisibleTimeoutMs);
          if (this.settings.propagationDelayMs > 0) await sleep(this.settings.propagationDelayMs);
          this.assertLeading();
        },
        challengeRemoveFn: async (_authz, challenge) => {
          if (challenge.type !== 'http-01') return;
          await this.opts.publisher.remove((challenge as { token: string }).token);
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

  private async writeCertificate(job: OrderJob, certPem: string, keyPem: string): Promise<void> {
    const { namespace, secretName, hosts } = job;
    await mutateSecret(this.opts.api, namespace, secretName, (current) => {
      if (current?.type !== undefined && current.type !== TLS_SECRET_TYPE) {
        throw new Error(`Secret ${namespace}/${secretName} has type ${current.type}; not overwriting it`);
      }
      const annotations = { ...(current?.metadata.annotations ?? {}), [MANAGED_ANNOTATION]: 'true', [HOSTS_ANNOTATION]: hosts.join(',') };
      const data = { ...(current?.data ?? {}), 'tls.crt': b64(certPem), 'tls.key': b64(keyPem) };
      if (current === undefined) {
        return {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: secretName, namespace, annotations, labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE } },
          type: TLS_SECRET_TYPE,
          data,
        };
      }
      return { ...current, metadata: { ...current.metadata, annotations }, data };
    });
  }
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
