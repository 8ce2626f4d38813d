// The client-certificate stage (proxy/filters/client-cert.ts) in memory, on fake TLS sockets:
// nginx's answers per verify mode (ngx_http_process_request: 400 for a missing or failed
// certificate, optional_no_ca tolerating issuer faults), the error page's 302, match-cn's
// 403, the ssl-client-* headers upstream (client-sent ones removed), 421 on a connection not
// verified for the host's policy, and the check of resumed sessions against the host's CAs.

import { X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { chainFault, clientCertStage, escapePem, rfc2253 } from '../../src/proxy/filters/client-cert.ts';
import { compilePlan, type PlanHead } from '../../src/proxy/plan.ts';
import { kArmed, type ArmedConnection } from '../../src/tls/client-auth.ts';
import { compileUserRegex, type UserRegex } from '../../src/model/regex.ts';
import type { ClientCertPolicy, Route } from '../../src/model/types.ts';
import { DEFAULT_POLICY, FORWARD } from '../../src/model/types.ts';
import { createTestCa, type CertAndKey, type TestCa } from '../fake-apiserver/certs.ts';
import { loadRevocations } from '../../src/proxy/filters/client-crl.ts';

let ca: CertAndKey;
let client: CertAndKey;
let foreign: CertAndKey;
let expired: CertAndKey;
let otherCaCert: string;
let revoked: CertAndKey;
let caObj: TestCa;
let strangerCa: TestCa;


beforeAll(async () => {
  const [a, b] = await Promise.all([createTestCa('stage-ca'), createTestCa('stranger-ca')]);
  ca = a;
  caObj = a;
  strangerCa = b;
  otherCaCert = b.certPem;
  [client, foreign, expired, revoked] = await Promise.all([
    a.issue({ commonName: 'alice', organizations: ['dev'], usage: 'client' }),
    b.issue({ commonName: 'alice', usage: 'client' }),
    a.issue({ commonName: 'old', usage: 'client', notBefore: new Date(Date.now() - 86_400_000 * 3), notAfter: new Date(Date.now() - 86_400_000) }),
    a.issue({ commonName: 'revoked', usage: 'client' }),
  ]);
});

function policy(over: Partial<Omit<ClientCertPolicy, 'matchCn'>> & { matchCn?: string } = {}): ClientCertPolicy {
  const { matchCn, ...rest } = over;
  const re = matchCn === undefined ? null : (compileUserRegex(matchCn) as UserRegex);
  return { secret: 'default/ca', caPem: ca.certPem, crlPem: '', verify: 'on', depth: 1, errorPage: '', passCertificate: false, key: 'k1', ...rest, matchCn: re };
}

interface FakeSocketOptions {
  cert?: string;
  authorized?: boolean;
  error?: string;
  reused?: boolean;
  armedKey?: string | null;
  encrypted?: boolean;
}

/** A TLS socket as the stage reads it. */
function socket(o: FakeSocketOptions = {}): { sock: object; armed: ArmedConnection | undefined } {
  const x509 = o.cert === undefined ? undefined : new X509Certificate(o.cert);
  const sock: Record<string | symbol, unknown> = {
    encrypted: o.encrypted ?? true,
    authorized: o.authorized ?? (x509 !== undefined && o.error === undefined),
    authorizationError: o.error,
    isSessionReused: () => o.reused === true,
    getPeerX509Certificate: () => x509,
  };
  let armed: ArmedConnection | undefined;
  if (o.armedKey !== null) {
    armed = { key: o.armedKey ?? 'k1', socket: sock as never, verdict: null };
    sock[kArmed] = armed;
  }
  return { sock, armed };
}

function head(connection: object | null, headers: string[] = ['host', 'app.test']): PlanHead {
  return {
    host: 'app.test', url: '/', path: '/', hasBody: false, bodyLength: -1, reject: 0, requestId: 'r', clientIp: '192.0.2.1', headers, upgrade: '', te: false, accessScheme: 'https', method: 'GET',
    answerHeaders: null, responseHeaders: null, onDone: null, connection: connection as never,
  };
}

const upstream = (h: PlanHead): Record<string, string> => {
  const out: Record<string, string> = {};
  for (let i = 0; i < h.headers.length; i += 2) out[h.headers[i]!] = h.headers[i + 1]!;
  return out;
};

describe('verify on (default)', () => {
  it('no certificate: 400', () => {
    expect(clientCertStage(policy())(head(socket().sock))).toBe(400);
  });

  it('a certificate that failed verification: 400', () => {
    expect(clientCertStage(policy())(head(socket({ cert: foreign.certPem, error: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' }).sock))).toBe(400);
  });

  it('a verified certificate: on, with the verification headers upstream and client-sent ones removed', () => {
    const h = head(socket({ cert: client.certPem }).sock, ['host', 'app.test', 'SSL-Client-Verify', 'SUCCESS', 'ssl-client-subject-dn', 'CN=admin', 'ssl-client-cert', 'forged']);
    expect(clientCertStage(policy())(h)).toBe(0);
    const up = upstream(h);
    // RFC 2253 reverses the certificate's RDN sequence (the test CA encodes CN first, then O)
    expect(up).toEqual({ host: 'app.test', 'ssl-client-verify': 'SUCCESS', 'ssl-client-subject-dn': 'O=dev,CN=alice', 'ssl-client-issuer-dn': 'CN=stage-ca' });
  });

  it('pass-certificate-to-upstream: ssl-client-cert is the PEM URL-encoded', () => {
    const h = head(socket({ cert: client.certPem }).sock);
    expect(clientCertStage(policy({ passCertificate: true }))(h)).toBe(0);
    const sent = upstream(h)['ssl-client-cert']!;
    expect(sent.startsWith('-----BEGIN%20CERTIFICATE-----%0A')).toBe(true);
    expect(sent).not.toMatch(/[ \n+/=]/);
    expect(decodeURIComponent(sent)).toBe(new X509Certificate(client.certPem).toString());
  });

  it('error page: a 302 to it instead of the 400, for a missing and a failed certificate', () => {
    const p = policy({ errorPage: 'https://errors.example.com/cert' });
    for (const s of [socket(), socket({ cert: foreign.certPem, error: 'CERT_HAS_EXPIRED' })]) {
      const h = head(s.sock);
      expect(clientCertStage(p)(h)).toBe(302);
      expect(h.answerHeaders).toEqual(['location', 'https://errors.example.com/cert']);
    }
  });

  it('the chain is counted through ca.crt: a certificate Node verified through an intermediate the bundle lacks fails', () => {
    // (the depth itself is checked end to end with openssl-made chains in e2e/client-cert.test.ts)
    const h = head(socket({ cert: foreign.certPem, authorized: true }).sock);
    expect(clientCertStage(policy({ verify: 'optional' }))(h)).toBe(400);
  });

  it('the verdict is computed once per connection', () => {
    const s = socket({ cert: client.certPem });
    const stage = clientCertStage(policy());
    expect(stage(head(s.sock))).toBe(0);
    const first = s.armed!.verdict;
    expect(first).not.toBeNull();
    expect(stage(head(s.sock))).toBe(0);
    expect(s.armed!.verdict).toBe(first);
  });
});

describe('other modes', () => {
  it('optional: no certificate passes with NONE; a failed one gets 400', () => {
    const h = head(socket().sock);
    expect(clientCertStage(policy({ verify: 'optional' }))(h)).toBe(0);
    expect(upstream(h)).toEqual({ host: 'app.test', 'ssl-client-verify': 'NONE' });
    expect(clientCertStage(policy({ verify: 'optional' }))(head(socket({ cert: foreign.certPem, error: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' }).sock))).toBe(400);
  });

  it.each(['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_GET_ISSUER_CERT'])(
    'optional_no_ca: %s passes, with the failure upstream',
    (code) => {
      const h = head(socket({ cert: foreign.certPem, error: code }).sock);
      expect(clientCertStage(policy({ verify: 'optional_no_ca' }))(h)).toBe(0);
      expect(upstream(h)['ssl-client-verify']).toMatch(/^FAILED:/);
      expect(upstream(h)['ssl-client-subject-dn']).toBe('CN=alice');
    },
  );

  it('optional_no_ca: other faults (expired, revoked) get 400', () => {
    for (const code of ['CERT_HAS_EXPIRED', 'CERT_REVOKED']) {
      expect(clientCertStage(policy({ verify: 'optional_no_ca' }))(head(socket({ cert: client.certPem, error: code }).sock))).toBe(400);
    }
  });

  it('the failure reason is OpenSSL\'s text, as nginx\'s $ssl_client_verify', () => {
    const h = head(socket({ cert: foreign.certPem, error: 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY' }).sock);
    clientCertStage(policy({ verify: 'optional_no_ca' }))(h);
    expect(upstream(h)['ssl-client-verify']).toBe('FAILED:unable to get local issuer certificate');
  });

  it('off: nothing is checked, ssl-client-verify NONE', () => {
    const h = head(socket({ armedKey: null }).sock);
    expect(clientCertStage(policy({ verify: 'off' }))(h)).toBe(0);
    expect(upstream(h)['ssl-client-verify']).toBe('NONE');
  });
});

describe('match-cn', () => {
  it('searches the subject DN: 403 without a match, on with one', () => {
    expect(clientCertStage(policy({ matchCn: 'CN=notgonnamatch' }))(head(socket({ cert: client.certPem }).sock))).toBe(403);
    expect(clientCertStage(policy({ matchCn: 'CN=(bob|alice)' }))(head(socket({ cert: client.certPem }).sock))).toBe(0);
  });

  it('no certificate under optional: the empty DN does not match (403)', () => {
    expect(clientCertStage(policy({ verify: 'optional', matchCn: 'CN=alice' }))(head(socket().sock))).toBe(403);
  });
});

describe('the connection must have been verified for the host', () => {
  it.each(['on', 'optional', 'optional_no_ca'] as const)('%s: not armed (no SNI, another host) or armed for another policy: 421', (verify) => {
    expect(clientCertStage(policy({ verify }))(head(socket({ cert: client.certPem, armedKey: null }).sock))).toBe(421);
    expect(clientCertStage(policy({ verify }))(head(socket({ cert: client.certPem, armedKey: 'another' }).sock))).toBe(421);
  });

  it('plain HTTP: on answers 400 (nginx would not look), optional passes with NONE', () => {
    expect(clientCertStage(policy())(head(socket({ encrypted: false, armedKey: null }).sock))).toBe(400);
    expect(clientCertStage(policy())(head(null))).toBe(400);
    const h = head(socket({ encrypted: false, armedKey: null }).sock, ['host', 'app.test', 'ssl-client-verify', 'SUCCESS']);
    expect(clientCertStage(policy({ verify: 'optional' }))(h)).toBe(0);
    expect(upstream(h)['ssl-client-verify']).toBe('NONE');
  });
});

describe('resumed sessions are checked against the host\'s CAs', () => {
  it('the right CA: on; whatever the handshake said or was armed for', () => {
    const h = head(socket({ cert: client.certPem, reused: true, armedKey: null, authorized: true }).sock);
    expect(clientCertStage(policy())(h)).toBe(0);
    expect(upstream(h)['ssl-client-verify']).toBe('SUCCESS');
  });

  it('the check is made once per connection and policy', () => {
    const { sock } = socket({ cert: client.certPem, reused: true, armedKey: null });
    let reads = 0;
    const inner = sock as { getPeerX509Certificate: () => unknown };
    const original = inner.getPeerX509Certificate;
    inner.getPeerX509Certificate = () => (reads++, original());
    const stage = clientCertStage(policy());
    expect(stage(head(sock))).toBe(0);
    expect(stage(head(sock))).toBe(0);
    expect(reads).toBe(1);
    // another policy (another CA) on the same connection is checked anew, and fails
    expect(clientCertStage(policy({ key: 'k2', caPem: otherCaCert }))(head(sock))).toBe(400);
    expect(reads).toBe(2);
  });

  it('another CA (a session verified on another host): 400 even though Node says authorized', () => {
    expect(clientCertStage(policy())(head(socket({ cert: foreign.certPem, reused: true, authorized: true }).sock))).toBe(400);
  });

  it('no certificate in the session: 400 under on', () => {
    expect(clientCertStage(policy())(head(socket({ reused: true, armedKey: null }).sock))).toBe(400);
  });

  it('a host with a CRL: a resumed session waits for the CRLs to load; then revoked certificates fail and others pass', async () => {
    const stage = clientCertStage(policy({ crlPem: await caObj.crl([revoked.certPem]) }));
    const resumed = (pem: string): number | Promise<number> => stage(head(socket({ cert: pem, reused: true }).sock));
    const first = resumed(client.certPem);
    expect(first).toBeInstanceOf(Promise); // still loading: it waits
    expect(await first).toBe(0);
    expect(resumed(revoked.certPem)).toBe(400); // loaded: synchronous
    expect(resumed(client.certPem)).toBe(0);
    // a full handshake never waits (OpenSSL checked the CRL)
    expect(stage(head(socket({ cert: client.certPem }).sock))).toBe(0);
  });

  it('revocation checks: revoked, no CRL from the issuer, an expired CRL, a CRL with a wrong signature', async () => {
    const cas = [new X509Certificate(ca.certPem)];
    const now = Date.now();
    const r = await loadRevocations(await caObj.crl([revoked.certPem]), cas);
    expect(chainFault(new X509Certificate(revoked.certPem), cas, 1, now, r)).toBe('CERT_REVOKED');
    expect(chainFault(new X509Certificate(client.certPem), cas, 1, now, r)).toBe('');
    expect(chainFault(new X509Certificate(client.certPem), cas, 1, now + 2 * 86_400_000, r)).toBe('CRL_HAS_EXPIRED');
    // a CRL signed by another CA is not this CA's
    const stranger = await loadRevocations(await strangerCa.crl([]), cas);
    expect(stranger.size).toBe(0);
    expect(chainFault(new X509Certificate(client.certPem), cas, 1, now, stranger)).toBe('UNABLE_TO_GET_CRL');
  });

  it('chainFault: issuer, self-signed, expiry, depth', () => {
    const cas = [new X509Certificate(ca.certPem)];
    const now = Date.now();
    expect(chainFault(new X509Certificate(client.certPem), cas, 1, now)).toBe('');
    expect(chainFault(new X509Certificate(client.certPem), cas, 0, now)).toBe('');
    expect(chainFault(new X509Certificate(foreign.certPem), cas, 1, now)).toBe('UNABLE_TO_GET_ISSUER_CERT_LOCALLY');
    expect(chainFault(new X509Certificate(otherCaCert), cas, 1, now)).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    expect(chainFault(new X509Certificate(ca.certPem), cas, 1, now)).toBe(''); // the anchor itself
    expect(chainFault(new X509Certificate(expired.certPem), cas, 1, now)).toBe('CERT_HAS_EXPIRED');
  });
});

describe('helpers', () => {
  it('rfc2253: most specific first, comma-separated, multi-valued RDNs joined by +', () => {
    expect(rfc2253('C=US\nO=Acme\\, Inc.\nCN=alice')).toBe('CN=alice,O=Acme\\, Inc.,C=US');
    expect(rfc2253('CN=a + UID=1')).toBe('CN=a+UID=1');
    expect(rfc2253('')).toBe('');
  });

  it('escapePem: only unreserved characters stay', () => {
    expect(escapePem("-----BEGIN CERTIFICATE-----\nab+/=!'()*\n")).toBe('-----BEGIN%20CERTIFICATE-----%0Aab%2B%2F%3D%21%27%28%29%2A%0A');
  });
});

describe('in a plan', () => {
  it('runs first, before CORS and the other stages', () => {
    const route: Route = {
      host: 'app.test', path: '/', pathType: 'Prefix', backend: { namespace: 'd', service: 's', servicePort: 80, endpointsKey: 'd/s:' }, policy: DEFAULT_POLICY, action: FORWARD,
      filters: { clientCert: policy(), cors: { origins: '*', methods: 'GET', headers: '', expose: '', credentials: false, maxAge: 1 } }, regex: null, ingress: { kind: 'Ingress', namespace: 'd', name: 'i' },
    };
    const plan = compilePlan(route);
    expect(plan.sync).toBe(true);
    const h = { ...head(socket().sock, ['host', 'app.test', 'origin', 'https://x.test']), method: 'OPTIONS' };
    expect(plan.stages[0]!(h)).toBe(400);
  });
});
