// proxy-ssl-secret → BackendTlsSecret: what a usable Secret holds, and every way it fails
// closed ('denied': the rules answer 503) with a problem that never quotes key material.

import { describe, expect, it } from 'vitest';
import { readBackendTlsSecret } from '../../src/model/backend-tls-options.ts';
import { Store } from '../../src/store/store.ts';
import { generateSelfSigned } from '../../src/tls/default-certificate.ts';

const N = 'nginx.ingress.kubernetes.io/';
const b64 = (s: string) => Buffer.from(s).toString('base64');

function storeWith(data: Record<string, string>, name = 'client', namespace = 'shop'): Store {
  const store = new Store();
  store.upsert('Secret', { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace }, type: 'kubernetes.io/tls', data } as never);
  return store;
}

function read(store: Store, value: unknown): { result: ReturnType<typeof readBackendTlsSecret>; problems: string[] } {
  const problems: string[] = [];
  const result = readBackendTlsSecret({ [N + 'proxy-ssl-secret']: value }, store, 'shop', (_r, m) => problems.push(m));
  return { result, problems };
}

describe('proxy-ssl-secret', async () => {
  const a = await generateSelfSigned({ commonName: 'client-a' });
  const b = await generateSelfSigned({ commonName: 'client-b' });

  it('a certificate pair and a CA: all three, by name or namespace/name', () => {
    const store = storeWith({ 'tls.crt': b64(a.certPem), 'tls.key': b64(a.keyPem), 'ca.crt': b64(b.certPem) });
    for (const ref of ['client', 'shop/client']) {
      const { result, problems } = read(store, ref);
      expect(problems).toEqual([]);
      expect(result).toEqual({ secret: 'shop/client', cert: a.certPem, key: a.keyPem, ca: b.certPem });
    }
  });

  it('a CA alone is enough (verification only)', () => {
    expect(read(storeWith({ 'ca.crt': b64(b.certPem) }), 'client').result).toEqual({ secret: 'shop/client', ca: b.certPem });
  });

  it.each([
    ['a missing Secret', () => new Store(), 'client', /"shop\/client" was not found/],
    ['a name that is not one', () => new Store(), 'Bad Name', /has the value "Bad Name", which is not valid; accepted values are a Secret name/],
    ['only tls.crt', () => storeWith({ 'tls.crt': b64(a.certPem) }), 'client', /only one of tls.crt and tls.key/],
    ['nothing usable', () => storeWith({ other: b64('x') }), 'client', /neither tls.crt \+ tls.key .* nor ca.crt/],
    ['a key of another certificate', () => storeWith({ 'tls.crt': b64(a.certPem), 'tls.key': b64(b.keyPem) }), 'client', /tls.key does not belong to the certificate/],
    ['a broken certificate', () => storeWith({ 'tls.crt': b64('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'), 'tls.key': b64(a.keyPem) }), 'client', /tls.crt is not a PEM certificate/],
    ['a broken CA', () => storeWith({ 'ca.crt': b64('not pem') }), 'client', /ca.crt is not a PEM certificate bundle/],
  ])('%s: denied (503) with a problem', (_what, store, ref, message) => {
    const { result, problems } = read(store(), ref);
    expect(result).toBe('denied');
    expect(problems.join('\n')).toMatch(message);
    expect(problems.join('\n')).toMatch(/answers 503/);
    expect(problems.join('\n')).not.toContain('PRIVATE KEY');
  });

  it('absent: nothing', () => {
    expect(readBackendTlsSecret({}, new Store(), 'shop', () => {})).toBeUndefined();
  });
});
