// The typed parsers behind ssl-ciphers, ssl-prefer-server-ciphers, proxy-ssl-ciphers and
// proxy-ssl-protocols (model/cipher-list.ts, tls-cipher-options.ts, backend-tls-options.ts).

import { describe, expect, it } from 'vitest';
import { parseCipherList, parseTlsProtocols } from '../../src/model/cipher-list.ts';
import { readServerCipherOptions } from '../../src/model/tls-cipher-options.ts';
import { readBackendTlsHandshake } from '../../src/model/backend-tls-options.ts';

const N = 'nginx.ingress.kubernetes.io/';
const P = 'portico.dev/';

describe('parseCipherList', () => {
  it('keeps lists OpenSSL accepts, ingress-nginx\'s e2e lists included', () => {
    for (const list of ['HIGH:!aNULL', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ALL:!aNULL:!EXPORT56:RC4+RSA:+HIGH:+MEDIUM:+LOW:+SSLv2:+EXP', 'ALL:!aNULL:!EXPORT56:RC4+RSA@STRENGTH:+HIGH@SECLEVEL=0:+MEDIUM:+LOW:+SSLv2:+EXP', 'TLS_AES_256_GCM_SHA384']) {
      expect(parseCipherList(list, true)).toEqual({ ciphers: list });
    }
    expect(parseCipherList('  HIGH:!AES  ', false)).toEqual({ ciphers: 'HIGH:!AES' });
  });

  it('refuses what is not a cipher list: other characters, unknown commands, nothing OpenSSL matches', () => {
    const refused = (raw: unknown, listener: boolean): string => {
      const r = parseCipherList(raw, listener);
      if (!('invalid' in r)) throw new Error(`accepted ${String(raw)}`);
      return r.invalid;
    };
    expect(refused('HIGH; ssl_protocols SSLv3', true)).toMatch(/characters outside/);
    expect(refused('HIGH\nLOW', true)).toMatch(/characters outside/);
    expect(refused('HIGH:@STRENGTH', false)).toMatch(/characters outside/); // proxy-ssl-ciphers has no commands
    expect(refused('HIGH@SECLEVEL=6', true)).toMatch(/@SECLEVEL=6/);
    expect(refused('HIGH@FOO', true)).toMatch(/@FOO/);
    expect(refused('HIGH=1', true)).toMatch(/"=" only belong/);
    expect(refused('HIGH:@', true)).toMatch(/"@"/);
    expect(refused('NOPE', true)).toMatch(/no cipher/);
    expect(refused('!ALL', false)).toMatch(/no cipher/);
    expect(refused('', true)).toMatch(/empty/);
    expect(refused(42, true)).toMatch(/not a string/);
    expect(refused('A'.repeat(5000), true)).toMatch(/longer/);
  });
});

describe('parseTlsProtocols', () => {
  it('TLSv1.2 and TLSv1.3, in any order and spacing, as a version range', () => {
    expect(parseTlsProtocols('TLSv1.2 TLSv1.3')).toEqual({ minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3' });
    expect(parseTlsProtocols(' TLSv1.3   TLSv1.2 ')).toEqual({ minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3' });
    expect(parseTlsProtocols('TLSv1.2')).toEqual({ minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
    expect(parseTlsProtocols('TLSv1.3 TLSv1.3')).toEqual({ minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' });
  });

  it('older protocols, other words and empty values are refused (never widened to a range)', () => {
    for (const old of ['SSLv2', 'SSLv3', 'TLSv1', 'TLSv1.1']) expect(parseTlsProtocols(`${old} TLSv1.3`)).toEqual({ invalid: `${old} is not available (only TLSv1.2 and TLSv1.3 are, as in ingress-nginx)` });
    expect(parseTlsProtocols('TLSv1.2,TLSv1.3')).toMatchObject({ invalid: expect.stringMatching(/is not TLSv1.2 or TLSv1.3/) });
    expect(parseTlsProtocols('   ')).toEqual({ invalid: 'it names no protocol' });
    expect(parseTlsProtocols(true)).toEqual({ invalid: 'it is not a string' });
  });
});

describe('readServerCipherOptions (ssl-ciphers, ssl-prefer-server-ciphers)', () => {
  const read = (annotations: Record<string, unknown>) => {
    const problems: string[] = [];
    const options = readServerCipherOptions(annotations, (_r, m) => problems.push(m));
    return { options, problems };
  };

  it('reads both names, Go booleans for the order', () => {
    expect(read({ [N + 'ssl-ciphers']: 'HIGH', [N + 'ssl-prefer-server-ciphers']: 'F' })).toEqual({ options: { ciphers: 'HIGH', preferServerCiphers: false }, problems: [] });
    expect(read({ [P + 'ssl-prefer-server-ciphers']: '1' })).toEqual({ options: { preferServerCiphers: true }, problems: [] });
    expect(read({})).toEqual({ options: undefined, problems: [] });
  });

  it('an invalid value is a problem and is left out; the other one still applies', () => {
    const r = read({ [N + 'ssl-ciphers']: 'NOPE', [N + 'ssl-prefer-server-ciphers']: 'true' });
    expect(r.options).toEqual({ preferServerCiphers: true });
    expect(r.problems).toEqual([expect.stringMatching(/ssl-ciphers" is refused: OpenSSL finds no cipher/)]);
    expect(read({ [N + 'ssl-prefer-server-ciphers']: 'on' })).toEqual({ options: undefined, problems: [expect.stringMatching(/is "on", not "true" or "false"/)] });
  });

  it('the portico.dev/ name wins over the nginx one, with a problem', () => {
    const r = read({ [P + 'ssl-ciphers']: 'HIGH', [N + 'ssl-ciphers']: 'MEDIUM' });
    expect(r.options).toEqual({ ciphers: 'HIGH' });
    expect(r.problems).toEqual([expect.stringMatching(/both set/)]);
  });
});

describe('readBackendTlsHandshake (proxy-ssl-ciphers, proxy-ssl-protocols)', () => {
  const read = (annotations: Record<string, unknown>) => {
    const problems: string[] = [];
    const options = readBackendTlsHandshake(annotations, (_r, m) => problems.push(m));
    return { options, problems };
  };

  it('ciphers and a version range; both versions (the default) add nothing', () => {
    expect(read({ [N + 'proxy-ssl-ciphers']: 'HIGH:!AES', [N + 'proxy-ssl-protocols']: 'TLSv1.2' })).toEqual({ options: { ciphers: 'HIGH:!AES', minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' }, problems: [] });
    expect(read({ [N + 'proxy-ssl-protocols']: 'TLSv1.2 TLSv1.3' })).toEqual({ options: undefined, problems: [] });
  });

  it('invalid values are problems and the defaults are used', () => {
    const r = read({ [N + 'proxy-ssl-ciphers']: 'HIGH@STRENGTH', [N + 'proxy-ssl-protocols']: 'SSLv3 TLSv1.2' });
    expect(r.options).toBeUndefined();
    expect(r.problems).toHaveLength(2);
    expect(r.problems[1]).toMatch(/SSLv3 is not available/);
  });
});
