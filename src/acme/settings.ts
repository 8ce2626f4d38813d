// ACME settings shared by the scheduler (manager.ts) and the order executor (order-executor.ts).

import { DEFAULT_ORDER_BACKOFF, DEFAULT_RENEWAL_POLICY, type BackoffPolicy, type RenewalPolicy } from './certificates.ts';

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
