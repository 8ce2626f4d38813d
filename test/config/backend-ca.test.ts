// --backend-ca-file: read at startup into Settings.backendCa (which the proxy trusts for backends
// with portico.dev/backend-tls-verify), through the flag or PORTICO_BACKEND_CA_FILE; a missing,
// unreadable or non-PEM file stops the program with a message naming the flag.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSettings, SettingsError } from '../../src/config/settings.ts';
import { generateSelfSigned } from '../../src/tls/default-certificate.ts';

let dir: string;
let ca1: string;
let ca2: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'portico-backend-ca-'));
  ca1 = (await generateSelfSigned({ commonName: 'ca-one.test', dnsNames: ['ca-one.test'] })).certPem;
  ca2 = (await generateSelfSigned({ commonName: 'ca-two.test', dnsNames: ['ca-two.test'] })).certPem;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** The error parseSettings throws, or a failure when it throws none. */
function errorOf(argv: string[], env: NodeJS.ProcessEnv = {}): Error {
  try {
    parseSettings(argv, env);
  } catch (err) {
    return err as Error;
  }
  throw new Error(`parseSettings ${argv.join(' ')} did not throw`);
}

describe('--backend-ca-file', () => {
  it('unset: no CA besides the default store', () => {
    const { settings } = parseSettings([], {});
    expect(settings.backendCaFile).toBeUndefined();
    expect(settings.backendCa).toBeUndefined();
  });

  it('a bundle of two certificates: both kept, in order, other text dropped', () => {
    const path = file('bundle.pem', `# private CAs\n${ca1}\nsome comment between\n${ca2}`);
    const { settings } = parseSettings([`--backend-ca-file=${path}`], {});
    expect(settings.backendCaFile).toBe(path);
    const blocks = settings.backendCa?.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
    expect(blocks.map((b) => new X509Certificate(b).subject)).toEqual(['CN=ca-one.test', 'CN=ca-two.test']);
    expect(settings.backendCa).not.toContain('comment');
  });

  it('PORTICO_BACKEND_CA_FILE sets it; the flag wins over the variable', () => {
    const one = file('one.pem', ca1);
    const two = file('two.pem', ca2);
    expect(parseSettings([], { PORTICO_BACKEND_CA_FILE: one }).settings.backendCa?.trim()).toBe(ca1.trim());
    expect(parseSettings([`--backend-ca-file=${two}`], { PORTICO_BACKEND_CA_FILE: one }).settings.backendCa?.trim()).toBe(ca2.trim());
  });

  it('a missing file: SettingsError naming the flag and the path', () => {
    const missing = join(dir, 'nope.pem');
    const err = errorOf([`--backend-ca-file=${missing}`]);
    expect(err).toBeInstanceOf(SettingsError);
    expect(err.message).toMatch(/^--backend-ca-file: cannot read ".*nope\.pem": ENOENT/);
    // the same through the environment variable
    expect(errorOf([], { PORTICO_BACKEND_CA_FILE: missing }).message).toMatch(/^--backend-ca-file: cannot read/);
  });

  it('a directory is unreadable as a file', () => {
    expect(errorOf([`--backend-ca-file=${dir}`]).message).toMatch(/^--backend-ca-file: cannot read .*EISDIR/);
  });

  it('not PEM (a key only, DER, empty): SettingsError saying there is no certificate', () => {
    const key = file('key.pem', '-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n');
    const der = file('ca.der', Buffer.from(new X509Certificate(ca1).raw).toString('latin1'));
    const empty = file('empty.pem', '');
    for (const path of [key, der, empty]) {
      const err = errorOf([`--backend-ca-file=${path}`]);
      expect(err, path).toBeInstanceOf(SettingsError);
      expect(err.message, path).toMatch(/^--backend-ca-file: ".*" holds no PEM certificate/);
    }
  });

  it('a damaged certificate block: SettingsError naming which one', () => {
    const body = ca2.split('\n');
    body[3] = body[3]!.replace(/[A-Za-z]/g, 'A'); // base64 still, but no longer DER of a certificate
    const path = file('damaged.pem', `${ca1}\n${body.join('\n')}`);
    expect(errorOf([`--backend-ca-file=${path}`]).message).toMatch(/^--backend-ca-file: certificate 2 of 2 in ".*damaged\.pem" does not parse/);
  });

  it('readFile replaces the file system (how the chart tests check mounted paths)', () => {
    const seen: string[] = [];
    const { settings } = parseSettings(['--backend-ca-file=/etc/portico/backend-ca/ca.crt'], {}, (path) => {
      seen.push(path);
      return ca1;
    });
    expect(seen).toEqual(['/etc/portico/backend-ca/ca.crt']);
    expect(settings.backendCa?.trim()).toBe(ca1.trim());
  });
});
