// ACME (HTTP-01) for Portico: manager.ts decides which certificate to order and when,
// order-executor.ts runs one order, challenges.ts is how every replica answers challenge
// tokens, transport.ts holds the process-global acme-client HTTP settings.

export { AcmeManager, DEFAULT_ACME_SETTINGS, LETSENCRYPT_PRODUCTION, LETSENCRYPT_STAGING } from './manager.ts';
export type { AcmeManagerOptions, AcmeSettings, AcmeStatus, CertificatePhase, CertificateStatus, OrderEvent, OrderResult } from './manager.ts';
export { ACME_CHALLENGE_PATH, ChallengePublisher, ChallengeStore, DEFAULT_CHALLENGE_SECRET, serveAcmeChallenge } from './challenges.ts';
export type { ChallengeLookup, ChallengeStoreOptions } from './challenges.ts';
export { DEFAULT_ACCOUNT_SECRET } from './account.ts';
export { ACME_ANNOTATIONS, HOSTS_ANNOTATION, MANAGED_ANNOTATION, checkCertificate, desiredCertificates } from './certificates.ts';
export type { CertificateCheck, CertificateReason, DesiredCertificate } from './certificates.ts';
