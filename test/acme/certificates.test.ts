// The renewal decision and the rest of the pure ACME logic, table-driven.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { X509Certificate } from 'node:crypto';
import {
  acmeRequested,
  backoffDelay,
  checkCertificate,
  desiredCertificates,
  normaliseHost,
  parseRetryAfter,
  renewalTime,
  retryAfterFromMessage,
  type RenewalPolicy,
} from '../../src/acme/certificates.ts';
import { translate } from '../../src/model/translate.ts';
import { Store } from '../../src/store/store.ts';
import type { Ingress } from '../../src/store/types.ts';
import { acmeIngress, CONTROLLER, ingressClass, selfSigned, tempDir, tlsSecret, type KeyPair } from './helpers.ts';

const DAY = 86_400_000;
const NO_JITTER = () => 0;
const POLICY: RenewalPolicy = { renewFraction: 2 / 3, jitterFraction: 0.05 };

describe('acmeRequested', () => {
  const ing = (annotations: Record<string, string>): Ingress => acmeIngress('ns', 'i', [{ hosts: ['a.test'], secretName: 's' }], { annotations });
  it.each([
    [{ 'kubernetes.io/tls-acme': 'true' }, true],
    [{ 'portico.dev/acme': 'true' }, true],
    [{ 'portico.dev/acme': 'True' }, true],
    [{ 'kubernetes.io/tls-acme': 'false' }, false],
    [{ 'portico.dev/acme': 'false', 'kubernetes.io/tls-acme': 'no' }, false],
    [{ 'portico.dev/acme': '' }, false],
    [{}, false],
  ])('%j → %s', (annotations, want) => {
    expect(acmeRequested(ing(annotations))).toBe(want);
  });
});

describe('normaliseHost', () => {
  it.each([
    ['App.Example.COM', 'app.example.com'],
    ['example.com.', 'example.com'],
  ])('%s → %s', (raw, want) => expect(normaliseHost(raw)).toEqual({ host: want }));
  it.each(['*.example.com', '10.0.0.1', '::1', 'bad_host.example.com', '-x.example.com', ''])('%s is refused', (raw) => {
    expect('problem' in normaliseHost(raw)).toBe(true);
  });
});

describe('desiredCertificates (from the model\'s TLS bindings)', () => {
  /** Ingresses → the model's routing config → the certificates ACME wants. */
  const desired = (ingresses: Ingress[]) => {
    const store = new Store();
    store.upsert('IngressClass', ingressClass('portico'));
    store.upsert('IngressClass', ingressClass('other', 'example.com/other'));
    for (const i of ingresses) store.upsert('Ingress', i);
    const config = translate(store, { controllerName: CONTROLLER, ingressClass: 'portico' });
    return desiredCertificates(config, (ref) => store.get('Ingress', `${ref.namespace}/${ref.name}`));
  };
  const aged = (ing: Ingress, created: string): Ingress => ({ ...ing, metadata: { ...ing.metadata, creationTimestamp: created } });

  it('collects annotated Ingresses of ours; ignores other classes, no annotation, annotation false', () => {
    const { certificates, problems } = desired([
      acmeIngress('web', 'a', [{ hosts: ['a.test'], secretName: 'a-tls' }]),
      acmeIngress('web', 'theirs', [{ hosts: ['t.test'], secretName: 't-tls' }], { className: 'other' }),
      acmeIngress('web', 'plain', [{ hosts: ['p.test'], secretName: 'p-tls' }], { annotations: {} }),
      acmeIngress('web', 'off', [{ hosts: ['o.test'], secretName: 'o-tls' }], { annotations: { 'portico.dev/acme': 'false' } }),
    ]);
    expect([...certificates.keys()]).toEqual(['web/a-tls']);
    expect(certificates.get('web/a-tls')).toEqual({ namespace: 'web', secretName: 'a-tls', hosts: ['a.test'], ingresses: ['web/a'] });
    expect(problems).toEqual([]);
  });

  it('unions the hosts of every Ingress naming one Secret, per namespace', () => {
    const { certificates } = desired([
      acmeIngress('web', 'a', [{ hosts: ['b.test', 'A.test'], secretName: 'shared' }]),
      acmeIngress('web', 'b', [{ hosts: ['c.test', 'a.test'], secretName: 'shared' }]),
      acmeIngress('other', 'c', [{ hosts: ['z.test'], secretName: 'shared' }]),
    ]);
    expect(certificates.get('web/shared')?.hosts).toEqual(['a.test', 'b.test', 'c.test']);
    expect(certificates.get('web/shared')?.ingresses).toEqual(['web/a', 'web/b']);
    expect(certificates.get('other/shared')?.hosts).toEqual(['z.test']);
  });

  it('a tls entry without hosts: the hosts the model binds (the rule hosts), as the proxy serves them', () => {
    const ing = acmeIngress('web', 'a', [{ hosts: ['a.test', 'b.test'], secretName: 'a-tls' }]);
    ing.spec!.tls = [{ secretName: 'a-tls' }];
    const { certificates, problems } = desired([ing]);
    expect(certificates.get('web/a-tls')?.hosts).toEqual(['a.test', 'b.test']);
    expect(problems).toEqual([]);
  });

  it('a host is ordered for the Ingress the model gives it to: the oldest one', () => {
    const older = aged(acmeIngress('web', 'older', [{ hosts: ['x.test'], secretName: 'older-tls' }], { annotations: {} }), '2024-01-01T00:00:00Z');
    const younger = aged(acmeIngress('web', 'younger', [{ hosts: ['x.test', 'y.test'], secretName: 'younger-tls' }]), '2025-01-01T00:00:00Z');
    const { certificates } = desired([older, younger]);
    // x.test is served with older-tls (no ACME asked for it); only y.test is younger's
    expect([...certificates.values()].map((c) => [c.secretName, c.hosts])).toEqual([['younger-tls', ['y.test']]]);
  });

  it('reports what HTTP-01 cannot do and keeps the rest', () => {
    const { certificates, problems } = desired([
      acmeIngress('web', 'w', [
        { hosts: ['*.wild.test', 'ok.test'], secretName: 'w-tls' },
        { hosts: ['*.only.test'], secretName: 'only-tls' },
      ]),
    ]);
    expect(certificates.get('web/w-tls')?.hosts).toEqual(['ok.test']);
    expect(certificates.has('web/only-tls')).toBe(false);
    expect(problems.map((p) => p.message).join('\n')).toMatch(/wildcard/);
    expect(problems.map((p) => p.message).join('\n')).toMatch(/Secret only-tls has no hosts/);
  });

  it('reports an annotated Ingress of ours that the model gives no TLS host', () => {
    const ing = acmeIngress('web', 'a', [{ hosts: ['a.test'], secretName: 'a-tls' }]);
    ing.spec!.tls = [];
    const { certificates, problems } = desired([ing]);
    expect(certificates.size).toBe(0);
    expect(problems).toEqual([{ ingress: 'web/a', message: expect.stringMatching(/no host of this Ingress is served over TLS/) }]);
  });
});

describe('checkCertificate (the renewal decision)', () => {
  let tmp: { dir: string; cleanup: () => void };
  let pair: KeyPair; // a.test + b.test, 90 days
  let other: KeyPair; // c.test
  let wildcard: KeyPair; // *.w.test
  let notBefore: number;
  let notAfter: number;
  beforeAll(() => {
    tmp = tempDir();
    pair = selfSigned(['a.test', 'b.test'], 90, tmp.dir);
    other = selfSigned(['c.test'], 90, tmp.dir);
    wildcard = selfSigned(['*.w.test'], 90, tmp.dir);
    const x = new X509Certificate(pair.certPem);
    notBefore = x.validFromDate.getTime();
    notAfter = x.validToDate.getTime();
  });
  afterAll(() => tmp.cleanup());

  const secret = (p: KeyPair) => tlsSecret('web', 'tls', p);

  it('missing Secret → order', () => {
    expect(checkCertificate(undefined, ['a.test'], Date.now())).toMatchObject({ need: true, reason: 'missing' });
  });

  it('unparseable content, missing key, or a key of another certificate → order', () => {
    const garbage = tlsSecret('web', 'tls', { certPem: 'not a certificate', keyPem: pair.keyPem });
    expect(checkCertificate(garbage, ['a.test'], notBefore)).toMatchObject({ need: true, reason: 'unparseable' });
    const noKey = secret(pair);
    delete noKey.data!['tls.key'];
    expect(checkCertificate(noKey, ['a.test'], notBefore)).toMatchObject({ need: true, reason: 'unparseable', detail: 'tls.key is missing' });
    const mismatched = tlsSecret('web', 'tls', { certPem: pair.certPem, keyPem: other.keyPem });
    expect(checkCertificate(mismatched, ['a.test'], notBefore)).toMatchObject({ need: true, reason: 'unparseable' });
  });

  it('SANs that do not cover every host → order', () => {
    const c = checkCertificate(secret(pair), ['a.test', 'new.test'], notBefore + DAY, POLICY, NO_JITTER);
    expect(c).toMatchObject({ need: true, reason: 'hosts', detail: 'not covered: new.test' });
  });

  it('a subset of the SANs is covered; so is a host under a wildcard SAN', () => {
    expect(checkCertificate(secret(pair), ['b.test'], notBefore + DAY, POLICY, NO_JITTER)).toMatchObject({ need: false, reason: 'valid' });
    expect(checkCertificate(secret(wildcard), ['x.w.test'], notBefore + DAY, POLICY, NO_JITTER)).toMatchObject({ need: false, reason: 'valid' });
    expect(checkCertificate(secret(wildcard), ['a.b.w.test'], notBefore + DAY, POLICY, NO_JITTER)).toMatchObject({ need: true, reason: 'hosts' });
  });

  it('renews at 2/3 of its own lifetime', () => {
    const renewAt = notBefore + ((notAfter - notBefore) * 2) / 3;
    const before = checkCertificate(secret(pair), ['a.test', 'b.test'], renewAt - 60_000, POLICY, NO_JITTER);
    expect(before).toMatchObject({ need: false, reason: 'valid', notAfter });
    expect(Math.abs(before.renewAt! - renewAt)).toBeLessThanOrEqual(1);
    expect(checkCertificate(secret(pair), ['a.test'], renewAt + 60_000, POLICY, NO_JITTER)).toMatchObject({ need: true, reason: 'renewal-due' });
    expect(checkCertificate(secret(pair), ['a.test'], notAfter + DAY, POLICY, NO_JITTER)).toMatchObject({ need: true, reason: 'renewal-due' });
  });

  it('jitter only moves renewal earlier, by at most jitterFraction of the lifetime, stably per Secret', () => {
    const a = checkCertificate(secret(pair), ['a.test'], notBefore, POLICY);
    const b = checkCertificate(secret(pair), ['a.test'], notBefore, POLICY);
    expect(a.renewAt).toBe(b.renewAt);
    const latest = renewalTime(notBefore, notAfter, POLICY, 0);
    const earliest = renewalTime(notBefore, notAfter, POLICY, 0.999999);
    expect(a.renewAt!).toBeLessThanOrEqual(latest);
    expect(a.renewAt!).toBeGreaterThanOrEqual(earliest);
    expect(latest - earliest).toBeCloseTo((notAfter - notBefore) * 0.05, -3);
  });
});

describe('backoff and Retry-After', () => {
  const policy = { initialMs: 60_000, maxMs: 24 * 3_600_000 };
  it('doubles from 1 min and caps at 24 h', () => {
    expect([1, 2, 3, 4].map((n) => backoffDelay(n, policy))).toEqual([60_000, 120_000, 240_000, 480_000]);
    expect(backoffDelay(11, policy)).toBe(61_440_000);
    expect(backoffDelay(12, policy)).toBe(24 * 3_600_000);
    expect(backoffDelay(500, policy)).toBe(24 * 3_600_000);
  });
  it('adds at most 10 % spread, never beyond the cap', () => {
    expect(backoffDelay(1, policy, 0.5)).toBe(63_000);
    expect(backoffDelay(40, policy, 0.99)).toBe(24 * 3_600_000);
  });
  it('parses Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 01:00:00 GMT', now)).toBe(3_600_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 01:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
  it("reads Let's Encrypt's 'retry after' from a rate-limit message", () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    const msg = 'too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s, retry after 2026-01-01 06:30:00 UTC: see https://letsencrypt.org/docs/rate-limits/';
    expect(retryAfterFromMessage(msg, now)).toBe(6.5 * 3_600_000);
    expect(retryAfterFromMessage('some other failure', now)).toBeUndefined();
  });
});
